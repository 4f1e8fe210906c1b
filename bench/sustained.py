"""The sustained phase of `bench.perf`: the fastest rate the hub keeps up with, over several runs.

A run raises the rate step by step (1 % alert-worthy) and stops at the first step the hub does
not keep up with: an alert's p99 over 100 ms, an alert not delivered, or the last commit more
than 100 ms after the last publish. On two shared cores one stall of the machine decides where
a run stops, so the phase is run several times and the median reported. For each step it also
takes the hub's CPU time (every thread, from the step's first publish until the phones are
quiet) over the messages committed: what a message costs, which a stall does not change.
"""

import sqlite3
import statistics
import threading
import time
from pathlib import Path
from typing import Any

from bench.hubproc import HubUnderTest
from bench.latency import Publisher, run_phase
from bench.phones import Phones
from bench.traffic import Household

SUSTAINED_RATES = (1000, 2000, 3000, 4000, 5000, 5500, 6000, 6500, 7000, 8000, 10000, 15000)
SUSTAINED_P99_MS = 100.0
BEHIND_LIMIT_S = 0.1  # the engine keeps up: the last commit comes this soon after the last publish
ALERT_SHARE = 0.01


class CommitWatch:
    """Watches the store from another thread: when did it last take an event?

    One read-only connection for the whole watch: opening one per look cost some 15 % of a
    core, taken from the hub on a machine the phase keeps busy.
    """

    def __init__(self, db: Path) -> None:
        self._conn = sqlite3.connect(f"file:{db}?mode=ro", uri=True, check_same_thread=False)
        self.first = self.newest = self._last_event_id()
        self.grew_at = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def __enter__(self) -> "CommitWatch":
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()
        self._conn.close()

    def _last_event_id(self) -> int:
        row = self._conn.execute("SELECT coalesce(max(id), 0) FROM events").fetchone()
        return int(row[0])

    def _watch(self) -> None:
        while not self._stop.wait(0.002):
            newest = self._last_event_id()
            if newest != self.newest:
                self.newest, self.grew_at = newest, time.monotonic()


def kept_up(step: dict[str, Any]) -> bool:
    """Whether the hub kept up with a step: alerts on time and all told, commits not behind."""
    p99 = step["p99_ms"]
    return (
        p99 is not None
        and p99 <= SUSTAINED_P99_MS
        and step["delivered"] == step["alerts_expected"]
        and step["behind_s"] <= BEHIND_LIMIT_S
    )


def _step(
    rig: tuple[Publisher, Phones, HubUnderTest], home: Household, db: Path, rate: int, step_s: float
) -> dict[str, Any]:
    publisher, phones, hub = rig
    messages = home.stream(int(rate * step_s), ALERT_SHARE)
    before = hub.usage()
    with CommitWatch(db) as watch:
        started = time.monotonic()
        outcome = run_phase(publisher, phones, messages, rate)
    after = hub.usage()
    committed = watch.newest - watch.first
    took_s = max(watch.grew_at - started, 1e-9)
    return {
        "offered_msg_per_s": len(messages) / outcome.published_s,
        # The hub takes messages in order: once the step's last event row is committed, so is
        # every message before it.
        "messages_per_s": len(messages) / took_s,
        "committed_events": committed,
        "events_per_s": committed / took_s,
        "behind_s": watch.grew_at - started - outcome.published_s,
        "cpu_us_per_msg": (after.cpu_s - before.cpu_s) * 1e6 / len(messages),
        **outcome.summary(),
    }


def ramp(
    rig: tuple[Publisher, Phones, HubUnderTest], home: Household, db: Path, step_s: float
) -> list[dict[str, Any]]:
    """One run: each rate in turn, up to and including the first the hub did not keep up with."""
    steps: list[dict[str, Any]] = []
    for rate in SUSTAINED_RATES:
        steps.append(_step(rig, home, db, rate, step_s))
        if not kept_up(steps[-1]):
            break
    return steps


def best(steps: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The step that committed most messages a second while the hub kept up."""
    good = [step for step in steps if kept_up(step)]
    return max(good, key=lambda step: step["messages_per_s"]) if good else None


def sustained(
    rig: tuple[Publisher, Phones, HubUnderTest],
    home: Household,
    db: Path,
    *,
    step_s: float,
    runs: int,
) -> dict[str, Any]:
    """`runs` ramps; the medians over them of the best step's msg/s, event rows/s and CPU."""
    ramps = [ramp(rig, home, db, step_s) for _ in range(runs)]
    bests = [best(steps) or {} for steps in ramps]

    def median(key: str, missing: float | None) -> float | None:
        values = [b.get(key, missing) for b in bests]
        present = [v for v in values if v is not None]
        return statistics.median(present) if present else None

    return {
        "runs": ramps,
        # A run that kept up with no step at all counts as 0 msg/s, not as no run.
        "median_msg_per_s": median("messages_per_s", 0.0),
        "median_events_per_s": median("events_per_s", 0.0),
        "median_cpu_us_per_msg": median("cpu_us_per_msg", None),
    }
