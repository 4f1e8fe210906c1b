"""`telecare centre run --workers 3`: a killed worker process is replaced, none outlives the centre.

The real command runs as a subprocess against the test cluster and database; its processes are
found in /proc (Linux, as the servers are).
"""

import asyncio
import contextlib
import os
import signal
import sys
from collections.abc import Iterator
from pathlib import Path

import asyncpg
import pytest

from centre.partitions import partition_of, share
from centre.processes import restart_pause
from centre.servers.nats import NatsCluster
from centre.simhub import SimulatedHub
from tests.centre.conftest import ConsumerState, HubFactory
from tests.centre.support import centre_toml, count, until

REDELIVERY_S = 90.0  # what a killed worker held comes again after the ack wait (30 s)


def _slot(pid: int) -> int:
    """The `--slot` a worker process was started with."""
    args = (Path("/proc") / str(pid) / "cmdline").read_bytes().decode().split("\0")
    return int(args[args.index("--slot") + 1])


def _one_hub_per_slot(workers: int) -> list[str]:
    """Hub ids whose partitions give every worker slot one hub."""
    names = (f"home-{n}" for n in range(1000))
    by_slot: dict[int, str] = {}
    for name in names:
        by_slot.setdefault(partition_of(name) % workers, name)
        if len(by_slot) == workers:
            return [by_slot[slot] for slot in range(workers)]
    raise AssertionError


def _processes_with(marker: str) -> dict[int, int]:
    """Live (not zombie) processes whose command line holds `marker`: pid to parent pid."""
    found: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError):
            cmdline = (entry / "cmdline").read_bytes()
            state, ppid = (entry / "stat").read_text().rsplit(")", 1)[1].split()[:2]
            if marker.encode() in cmdline and state != "Z":
                found[int(entry.name)] = int(ppid)
    return found


@pytest.fixture
def config(tmp_path: Path, nats_cluster: NatsCluster, centre_dsn: str) -> Iterator[Path]:
    """The centre's configuration, console off; any of its processes left is killed after."""
    path = centre_toml(tmp_path, nats_cluster, centre_dsn, "[console]\nenabled = false\n")
    yield path
    for pid in _processes_with(str(path)):
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)


async def _heartbeats(hubs: list[SimulatedHub], rounds: int) -> set[tuple[str, int]]:
    sent: set[tuple[str, int]] = set()
    for _ in range(rounds):
        for hub in hubs:
            envelope = await hub.heartbeat()
            sent.add((hub.hub_id, envelope.seq))
    return sent


async def _written(pool: asyncpg.Pool) -> list[tuple[str, int]]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT hub_id, seq FROM uplink_messages ORDER BY hub_id, seq")
    return [(row["hub_id"], row["seq"]) for row in rows]


@pytest.mark.timeout(300)
async def test_a_killed_worker_process_is_replaced_and_none_outlives_the_centre(
    config: Path,
    centre_pool: asyncpg.Pool,
    make_hub: HubFactory,
    partition_consumers: ConsumerState,
):
    hubs = [await make_hub(name) for name in _one_hub_per_slot(3)]
    centre = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "centre", "run", "--config", str(config), "--workers", "3"
    )  # fmt: skip

    def workers() -> set[int]:
        return {pid for pid, ppid in _processes_with(str(config)).items() if ppid == centre.pid}

    async def two_workers() -> bool:
        return len(workers()) == 2

    try:
        await until(two_workers, "the centre starting two worker processes", timeout_s=60)
        victim, other = sorted(workers())
        victim_slot = _slot(victim)
        sent = await _held_by_a_killed_worker(
            centre.pid, victim, other, hubs, centre_pool, partition_consumers
        )

        async def replaced() -> bool:
            now = workers()
            return len(now) == 2 and victim not in now and victim_slot in map(_slot, now)

        await until(replaced, "a worker process started in place of the killed one")
        sent |= await _heartbeats(hubs, rounds=50)

        async def all_written() -> bool:
            return await count(centre_pool, "SELECT count(*) FROM uplink_messages") >= len(sent)

        await until(all_written, "every message written", timeout_s=REDELIVERY_S)
        assert await _written(centre_pool) == sorted(sent)
    finally:
        os.kill(centre.pid, signal.SIGCONT)
        centre.send_signal(signal.SIGTERM)
        returncode = await asyncio.wait_for(centre.wait(), 60)
    assert returncode == 0
    assert _processes_with(str(config)) == {}, "worker processes outlived the centre"


async def _held_by_a_killed_worker(
    centre: int,
    victim: int,
    other: int,
    hubs: list[SimulatedHub],
    pool: asyncpg.Pool,
    consumer: ConsumerState,
) -> set[tuple[str, int]]:
    """Send heartbeats while only `victim` works; kill it while it holds some unacknowledged.

    The centre (a worker itself) and the other worker process are stopped first; what the
    victim holds is counted on its own partitions' consumers.
    """
    for pid in (centre, other):
        os.kill(pid, signal.SIGSTOP)
    sending = asyncio.create_task(_heartbeats(hubs, rounds=100))
    await until(
        lambda: count(pool, "SELECT (count(*) >= 30)::int FROM uplink_messages"),
        "the victim writing",
    )
    os.kill(victim, signal.SIGSTOP)
    held = sum([(await consumer(p)).num_ack_pending for p in share(_slot(victim), 3)])
    os.kill(victim, signal.SIGKILL)
    for pid in (centre, other):
        os.kill(pid, signal.SIGCONT)
    sent = await sending
    assert held > 0, "the killed worker held no message: nothing to deliver again"
    return sent


async def test_worker_processes_stop_by_themselves_when_the_centre_is_killed(config: Path):
    centre = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub", "centre", "run", "--config", str(config), "--workers", "2"
    )  # fmt: skip

    async def one_worker() -> bool:
        return centre.pid in _processes_with(str(config)).values()

    await until(one_worker, "the centre starting its worker process", timeout_s=60)
    centre.kill()  # SIGKILL: the centre cannot stop its workers itself
    await centre.wait()

    async def none_left() -> bool:
        return not _processes_with(str(config))

    await until(none_left, "the orphaned worker process stopping")


def test_a_worker_process_dying_soon_after_starting_waits_longer_each_time():
    pauses = [0.0]
    for _ in range(7):
        pauses.append(restart_pause(pauses[-1], ran_s=2.0))
    assert pauses[1:] == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert restart_pause(30.0, ran_s=3600.0) == 0.0
