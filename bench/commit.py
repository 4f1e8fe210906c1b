"""The store's commit alone: time per batch and per event, by batch size.

Run: .venv/bin/python -m bench.commit [--repeat N]

Commits batches of telemetry events (not synced, as the event path does) to a fresh database
in a temporary directory and prints the median time per commit and per event for each batch
size. It shows what a larger batch saves, and how long an alarm that arrives during a commit
waits for it: the pipeline's batch sizes (hub/pipeline/pipeline.py) are chosen from these figures.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from hub.store.store import AcceptedEvent, Batch, Store
from wire.event import DeviceEvent

SIZES = (1, 16, 64, 128, 256, 512)
DEVICES = 50
NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


def telemetry(size: int) -> Batch:
    events = [
        AcceptedEvent(
            DeviceEvent(
                device_id=f"temp-{n % DEVICES}",
                type="temperature.reading",
                value=21.0,
                received_at=NOW,
            ),
            f"telecare/v1/temp-{n % DEVICES}/event",
            n,
            n.to_bytes(16, "big"),
        )
        for n in range(size)
    ]
    return Batch(events=events)


async def measure(repeat: int) -> list[tuple[int, float]]:
    results: list[tuple[int, float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        async with Store.open(Path(tmp) / "hub.db") as store:
            for size in SIZES:
                times: list[float] = []
                for _ in range(repeat):
                    batch = telemetry(size)
                    started = time.perf_counter()
                    await store.commit(batch, at=NOW, flush=False)
                    times.append(time.perf_counter() - started)
                results.append((size, statistics.median(times)))
    return results


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=21, help="commits per batch size")
    args = parser.parse_args()
    print(f"{'events':>8} {'per commit (ms)':>16} {'per event (us)':>15}")
    for size, seconds in asyncio.run(measure(args.repeat)):
        print(f"{size:>8} {seconds * 1000:>16.2f} {seconds / size * 1e6:>15.1f}")


if __name__ == "__main__":
    main()
