"""The monitoring centre under load: simulated hubs speaking the real uplink protocol.

    .venv/bin/python -m bench.centre --hubs 1000 --minutes 2

Starts a 3-node NATS cluster and PostgreSQL, registers the homes, runs `telecare centre run`
as its own process (so its CPU and memory are its own), and connects light simulated hubs that
send heartbeats and incidents, accelerated (`--beat-s`, a heartbeat every 60 s in real life).
Then, in turn: one NATS node killed mid-run (nothing lost, nothing written twice); the centre
stopped for `--outage-s` while the hubs go on (the drain time once it is back); one hub
silenced (how long until its alarm). Prints the figures.
"""

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import asyncpg

from centre.bus import CentreBus
from centre.db import homes
from centre.db.models import HubCredentials
from centre.db.pool import open_pool
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.servers.postgres import LocalPostgres
from centre.simhub import SimulatedHub

SILENT_AFTER_S = 30


def _config(folder: Path, cluster: NatsCluster, dsn: str, workers: int) -> Path:
    path = folder / "centre.toml"
    path.write_text(
        f"""workers = {workers}
{cluster.nats_section()}[postgres]
dsn = "{dsn}"
[silence]
silent_after_s = {SILENT_AFTER_S}
tick_s = 0.5
"""
    )
    path.chmod(0o600)
    return path


def _start_centre(config: Path) -> subprocess.Popen[bytes]:
    command = [sys.executable, "-m", "centre.cli", "run", "--config", str(config)]
    log = (config.parent / "centre.log").open("ab")
    return subprocess.Popen(command, stderr=log, start_new_session=True)


def _proc_stats(pid: int) -> tuple[float, int]:
    """CPU seconds and RSS (kB) of a process and its children, from /proc."""
    cpu, rss = 0.0, 0
    pids = [pid] + [int(p) for p in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]
    for one in pids:
        with contextlib.suppress(OSError):
            fields = Path(f"/proc/{one}/stat").read_text().rsplit(")", 1)[1].split()
            cpu += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            status = Path(f"/proc/{one}/status").read_text()
            rss += sum(int(ln.split()[1]) for ln in status.splitlines() if ln.startswith("VmRSS"))
    return cpu, rss


async def _register(pool: asyncpg.Pool, bus: CentreBus, cluster: NatsCluster, n: int):
    async def one(index: int) -> HubCredentials:
        home = f"home-{index:05d}"
        async with pool.acquire() as conn:
            made = await homes.register_home(conn, home, f"Home {index}")
        await bus.ensure_hub_consumer(home)
        return made

    credentials: list[HubCredentials] = []
    for start in range(0, n, 8):
        credentials += await asyncio.gather(*(one(i) for i in range(start, min(n, start + 8))))
    async with pool.acquire() as conn:
        hashes = await homes.hub_password_hashes(conn)
    await asyncio.to_thread(cluster.set_hubs, hashes)
    return credentials


async def _count(pool: asyncpg.Pool, sql: str) -> int:
    async with pool.acquire() as conn:
        return int(await conn.fetchval(sql))


async def _wait_written(pool: asyncpg.Pool, sent: int, timeout_s: float = 120) -> float:
    started = time.monotonic()
    while (stored := await _count(pool, "SELECT count(*) FROM uplink_messages")) < sent:
        if time.monotonic() - started > timeout_s:
            print(f"  gave up waiting: {stored} of {sent} stored after {timeout_s:.0f} s")
            break
        await asyncio.sleep(0.1)
    return time.monotonic() - started


class Traffic:
    """Heartbeats from every hub every `beat_s`, an unanswered incident now and then."""

    def __init__(self, hubs: list[SimulatedHub], beat_s: float) -> None:
        self.hubs = hubs
        self.beat_s = beat_s
        self.sent = 0
        self.failed = 0
        self.pressed: dict[str, datetime] = {}
        self.silenced: set[str] = set()

    async def run(self, seconds: float) -> None:
        deadline = time.monotonic() + seconds
        rounds = 0
        while time.monotonic() < deadline:
            started = time.monotonic()
            await asyncio.gather(*(self._one(hub, rounds) for hub in self.hubs))
            rounds += 1
            await asyncio.sleep(max(0.0, self.beat_s - (time.monotonic() - started)))

    async def _one(self, hub: SimulatedHub, rounds: int) -> None:
        if hub.hub_id in self.silenced:
            return
        try:
            await hub.heartbeat()
            self.sent += 1
            if hash((hub.hub_id, rounds)) % 50 == 0:  # one press in 50 heartbeats
                incident = f"{hub.hub_id}-{rounds}"
                self.pressed[incident] = datetime.now(UTC)
                await hub.incident(incident, "firing", family_exhausted=True)
                self.sent += 1
        except Exception:  # a publish the stream did not confirm; counted
            self.failed += 1


def _pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


async def _latencies(pool: asyncpg.Pool, pressed: dict[str, datetime]) -> list[float]:
    async with pool.acquire() as conn:
        rows = await conn.fetch("SELECT incident_id, raised_at FROM alarms WHERE kind='incident'")
    return [
        (r["raised_at"] - pressed[r["incident_id"]]).total_seconds()
        for r in rows
        if r["incident_id"] in pressed
    ]


async def bench(args: argparse.Namespace, folder: Path) -> None:  # noqa: PLR0915 - one script
    with NatsCluster(folder / "nats") as cluster, LocalPostgres() as pg:
        async with open_pool(pg.dsn()) as pool:
            bus = await CentreBus.connect(
                cluster.servers, user=CENTRE_USER, password=cluster.centre_password,
                ca_file=cluster.ca_file, name="bench",
            )  # fmt: skip
            await bus.ensure_streams(replicas=3)
            t0 = time.monotonic()
            credentials = await _register(pool, bus, cluster, args.hubs)
            print(f"{args.hubs} homes registered in {time.monotonic() - t0:.1f} s")
            config = _config(folder, cluster, pg.dsn(), args.workers)
            centre = _start_centre(config)
            hubs = [
                SimulatedHub(c.hub_id, bytes.fromhex(c.key_hex), c.nats_password,
                             cluster.servers, cluster.ca_file)
                for c in credentials
            ]  # fmt: skip
            t0 = time.monotonic()
            for hub in hubs:
                await hub.__aenter__()
            print(f"{len(hubs)} hubs connected over TLS in {time.monotonic() - t0:.1f} s")
            traffic = Traffic(hubs, args.beat_s)
            cpu0, _ = _proc_stats(centre.pid)
            t0 = time.monotonic()
            phase = asyncio.create_task(traffic.run(args.minutes * 60))
            await asyncio.sleep(args.minutes * 20)
            cluster.stop_node(1, kill=True)
            print("NATS node n2 killed")
            await asyncio.sleep(args.minutes * 20)
            cluster.start_node(1)
            print("NATS node n2 back")
            await phase
            drained = await _wait_written(pool, traffic.sent)
            elapsed = time.monotonic() - t0
            cpu1, rss = _proc_stats(centre.pid)
            stored = await _count(pool, "SELECT count(*) FROM uplink_messages")
            print(
                f"sent {traffic.sent} (unconfirmed {traffic.failed}), stored {stored}: "
                f"lost {max(0, traffic.sent - stored)}, duplicated rows impossible (PK hub, seq)"
            )
            print(
                f"rows/s into PostgreSQL: {stored / elapsed:.0f} "
                f"(drain after traffic {drained:.1f} s)"
            )
            print(
                f"centre CPU {100 * (cpu1 - cpu0) / elapsed:.0f} % of a core, "
                f"RSS {rss / 1024:.0f} MB"
            )
            lat = await _latencies(pool, traffic.pressed)
            if lat:
                print(
                    f"exhausted press to queue: p50 {_pct(lat, 50):.2f} s, "
                    f"p99 {_pct(lat, 99):.2f} s "
                    f"(n={len(lat)}, timers tick 0.5 s)"
                )
            # The centre stopped while the hubs go on.
            centre.send_signal(signal.SIGINT)
            centre.wait(60)
            before = traffic.sent
            await traffic.run(args.outage_s)
            backlog = traffic.sent - before
            t0 = time.monotonic()
            centre = _start_centre(config)
            drain = await _wait_written(pool, traffic.sent)
            print(
                f"centre stopped {args.outage_s:.0f} s: {backlog} messages held; drained "
                f"{drain:.1f} s after restart (includes start-up)"
            )
            # One hub silenced.
            quiet = hubs[0]
            traffic.silenced.add(quiet.hub_id)
            silenced_at = time.monotonic()
            watcher = asyncio.create_task(traffic.run(SILENT_AFTER_S * 3))
            while not await _count(pool, "SELECT count(*) FROM alarms WHERE kind='hub_silent'"):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
            print(
                f"silent hub raised {time.monotonic() - silenced_at:.1f} s after its last "
                f"heartbeat (silent_after_s {SILENT_AFTER_S}, heartbeat every {args.beat_s} s)"
            )
            watcher.cancel()
            await asyncio.gather(watcher, return_exceptions=True)
            centre.send_signal(signal.SIGINT)
            centre.wait(60)
            for hub in hubs:
                await hub.__aexit__(None, None, None)
            await bus.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the traffic phase")
    parser.add_argument("--beat-s", type=float, default=5.0, help="seconds between heartbeats")
    parser.add_argument("--outage-s", type=float, default=60.0, help="seconds the centre is down")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # TLS teardown chatter
    logging.getLogger("nats").setLevel(logging.CRITICAL)  # the killed node's reconnects
    folder = Path(tempfile.mkdtemp(prefix="telecare-bench-centre-"))
    asyncio.run(bench(args, folder))
    print(f"(servers' and centre's logs in {folder})")


if __name__ == "__main__":
    main()
