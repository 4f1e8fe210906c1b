"""The steady phase in pairs, the hub's and the bare forwarder's back to back: their p99 ratio.

A shared machine's speed moves over minutes (the same tree's CPU per message went from 120 to
175 us between two runs on one machine): the hub's steady phase and the forwarder's, minutes
apart in `bench.perf --floor`, can fall on either side of such a change and make their ratio
whatever the machine did meanwhile. Here each pair is taken within half a minute, the two in
turn first (hub then forwarder, then forwarder then hub, ...), both running all along on
brokers and stand-ins of their own; the goal's ratio is the median of the pairs' ratios.
"""

import statistics
from typing import Any

from bench.latency import Publisher, run_phase
from bench.phones import Phones
from bench.traffic import Household

PAIRS = 5
MESSAGES, ALERT_SHARE, RATE = 2000, 0.4, 200.0  # the steady phase of bench.perf

Rig = tuple[Publisher, Phones]


def _p99(rig: Rig, home: Household) -> float:
    outcome = run_phase(*rig, home.stream(MESSAGES, ALERT_SHARE), RATE)
    if outcome.delivered < outcome.expected or outcome.duplicated or outcome.wrongly_sent:
        raise SystemExit(f"a paired steady phase went wrong: {outcome.summary()}")
    p99 = outcome.percentile(0.99)
    assert p99 is not None, "every alert was delivered"
    return p99


def paired_steady(
    hub: Rig, hub_home: Household, floor: Rig, *, pairs: int = PAIRS
) -> dict[str, Any]:
    """`pairs` steady phases each of the hub (`hub_home` keeps its devices' sequence numbers)
    and of the bare forwarder, in turn; each pair's p99s and ratio, and the median ratio."""
    floor_home = Household()
    rows = []
    for index in range(pairs):
        if index % 2 == 0:
            ours, theirs = _p99(hub, hub_home), _p99(floor, floor_home)
        else:
            theirs, ours = _p99(floor, floor_home), _p99(hub, hub_home)
        rows.append({"hub_p99_ms": ours, "floor_p99_ms": theirs, "ratio": ours / theirs})
    return {"pairs": rows, "median_ratio": statistics.median(r["ratio"] for r in rows)}
