"""The pure rules engine: decisions per second and time per decision over a mixed event stream.

Run: .venv/bin/python -m bench.engine [--events N] [--runs R]
Target (issue 3): >= 100,000 events/s and p99 < 0.2 ms per decision for 1 million events from
200 devices; memory flat over the run. Prints the median of each figure over the runs.
"""

import argparse
import gc
import random
import resource
import statistics
import time
from array import array
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from rules.engine import Engine, EngineState
from rules.policy import Contact, DeviceInfo, EscalationPlan, EscalationStep, RulesConfig
from rules.routines import Medication
from wire.event import DeviceEvent, EventType

DEVICES = 200
START = datetime(2026, 11, 23, 6, 0, tzinfo=UTC)
# (role, share of devices, what it reports: (event type, value, weight))
ROLES: list[tuple[str, int, list[tuple[EventType, float | None, int]]]] = [
    ("motion", 60, [("motion.detected", None, 50), ("device.heartbeat", None, 5)]),
    ("temperature", 30, [("temperature.reading", 19.5, 40), ("temperature.reading", 8.0, 1)]),
    ("door", 30, [("door.opened", None, 10), ("door.closed", None, 10)]),
    (
        "pendant",
        20,
        [
            ("device.heartbeat", None, 30),
            ("pendant.pressed", None, 1),
            ("pendant.cancelled", None, 1),
        ],
    ),
    (
        "fall_detector",
        20,
        [("device.heartbeat", None, 30), ("fall.detected", None, 1), ("fall.cleared", None, 1)],
    ),
    (
        "water",
        20,
        [("device.heartbeat", None, 30), ("water.leak", None, 1), ("water.clear", None, 2)],
    ),
    (
        "smoke",
        15,
        [
            ("device.heartbeat", None, 40),
            ("smoke.detected", None, 1),
            ("smoke.clear", None, 2),
            ("device.battery_low", None, 1),
        ],
    ),
    ("medication", 5, [("medication.taken", None, 1), ("device.heartbeat", None, 5)]),
]


def config() -> RulesConfig:
    devices: dict[str, DeviceInfo] = {}
    for role, count, _ in ROLES:
        for n in range(count):
            devices[f"{role}-{n}"] = DeviceInfo.model_validate(
                {"name": f"{role} {n}", "role": role, "room": "room"}
            )
    assert len(devices) == DEVICES
    plan = EscalationPlan(
        steps=(EscalationStep(contact="Alice"), EscalationStep(contact="Bob", after_s=60)),
        repeat=2,
    )
    return RulesConfig(
        contacts=(Contact(name="Alice"), Contact(name="Bob")),
        devices=devices,
        escalation={"emergency": plan, "urgent": plan},
        medication=(Medication.model_validate({"name": "heart", "times": ["08:00", "20:00"]}),),
    )


def stream(count: int, seed: int) -> Iterator[DeviceEvent]:
    """`count` events from the 200 devices, about 0.2 s apart (a busy home, ~2 days)."""
    rng = random.Random(seed)
    sources = [(f"{role}-{n}", kinds) for role, c, kinds in ROLES for n in range(c)]
    now = START
    for _ in range(count):
        now += timedelta(milliseconds=rng.randint(1, 400))
        device_id, kinds = rng.choice(sources)
        kind, value, _ = rng.choices(kinds, weights=[k[2] for k in kinds])[0]
        battery = rng.randint(5, 100) if kind == "device.heartbeat" else None
        yield DeviceEvent.model_construct(
            device_id=device_id,
            type=kind,
            received_at=now,
            source="native",
            ts=None,
            seq=None,
            battery=battery,
            value=value,
        )


def one_run(engine: Engine, count: int, seed: int) -> tuple[float, float, float, int, int]:
    """(events/s, p50 µs, p99 µs, max RSS KiB after 10 %, max RSS KiB at the end)."""
    state = EngineState(since=START)
    timings = array("q", bytes(8 * count))
    early_rss = 0
    clock = time.perf_counter_ns
    gc.collect()
    for index, event in enumerate(stream(count, seed)):
        began = clock()
        state, _ = engine.evaluate(state, event, now=event.received_at)
        timings[index] = clock() - began
        if index == count // 10:
            early_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    late_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    total_s = sum(timings) / 1e9
    timings = array("q", sorted(timings))
    p50 = timings[count // 2] / 1000
    p99 = timings[min(count - 1, count * 99 // 100)] / 1000
    return count / total_s, p50, p99, early_rss, late_rss


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=1_000_000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args()
    engine = Engine(config())
    results = [one_run(engine, args.events, seed) for seed in range(args.runs)]
    rate = statistics.median(r[0] for r in results)
    p50 = statistics.median(r[1] for r in results)
    p99 = statistics.median(r[2] for r in results)
    print(f"{args.events:,} events from {DEVICES} devices, median of {args.runs} run(s):")
    print(f"  throughput: {rate:,.0f} events/s (target >= 100,000)")
    print(f"  decision time: p50 {p50:.1f} us, p99 {p99:.1f} us (target p99 < 200 us)")
    print(
        f"  max RSS: {results[0][3] / 1024:.0f} MiB after 10 % of the first run,"
        f" {results[0][4] / 1024:.0f} MiB at its end"
    )


if __name__ == "__main__":
    main()
