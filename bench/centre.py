"""The monitoring centre under load: simulated hubs speaking the real uplink protocol.

    .venv/bin/python -m bench.centre --hubs 1000 --minutes 2

Starts a 3-node NATS cluster and PostgreSQL, registers the homes, runs `telecare centre run`
as its own process (so its CPU and memory are its own), and connects light simulated hubs that
send heartbeats and incidents, accelerated (`--beat-s`, a heartbeat every 60 s in real life),
from then on without a pause, as real hubs do. Then, in turn: one NATS node killed mid-run and
started again (nothing lost, nothing written twice); the centre stopped (SIGINT) for
`--outage-s` and started again: the time until every held message is written, the rows a
second, the time until the workers have caught up with the hubs, and whether each hub's rows
were written in its sequence order; one hub silenced as the centre comes back, in the middle
of that drain (from its last stored heartbeat to its alarm; no alarm for the hubs that went
on). Prints the figures, and exits non-zero saying which check failed (a message lost, a drain
not finished within a timeout scaled to the messages held, no alarm within 3 minutes, a centre
that did not stop on SIGINT).
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

from bench.centre_checks import (
    POLL_S,
    Sent,
    Silence,
    cleared_since,
    duplicated,
    out_of_order,
    silent_alarms,
    stale_hubs,
    wait_timeout_s,
    wait_written,
)
from bench.centre_traffic import Traffic
from centre.bus import BusError, CentreBus
from centre.db import homes
from centre.db.models import HubCredentials
from centre.db.pool import open_pool
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.servers.postgres import LocalPostgres
from centre.simhub import SimulatedHub

SILENT_AFTER_S = 30
SILENT_WAIT_S = 180.0
STOP_S = 60.0  # the bound: a silent hub raised within 3 minutes


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


async def _stop(centre: subprocess.Popen[bytes]) -> list[str]:
    """SIGINT, as an operator would; killed (with its worker processes) if it does not stop."""
    centre.send_signal(signal.SIGINT)
    try:
        await asyncio.to_thread(centre.wait, STOP_S)
    except subprocess.TimeoutExpired:
        os.killpg(centre.pid, signal.SIGKILL)  # its own session: the centre and its workers
        centre.wait()
        return [f"the centre did not stop within {STOP_S:.0f} s of SIGINT: killed"]
    return []


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


async def _written_once(pool: asyncpg.Pool, sent: list[Sent], failed: int, what: str) -> list[str]:
    """Wait for every message in `sent`; print lost and duplicated; the failures."""
    written = await wait_written(pool, sent)
    print(
        f"{what}: {len(sent)} confirmed sent, lost {written.missing}, duplicated "
        f"{await duplicated(pool)} (unconfirmed sends so far {failed}); all written "
        f"{written.done_s:.1f} s after"
    )
    failure = written.failure(f"{what}: writing every confirmed message")
    return [failure] if failure else []


async def _traffic_phase(
    args: argparse.Namespace, pool: asyncpg.Pool, cluster: NatsCluster, traffic: Traffic, pid: int
) -> list[str]:
    """Traffic with one NATS node killed and back; nothing lost, nothing twice."""
    cpu0, _ = _proc_stats(pid)
    t0 = time.monotonic()
    start = len(traffic.sent)
    await asyncio.sleep(args.minutes * 20)
    cluster.stop_node(1, kill=True)
    print("NATS node n2 killed")
    await asyncio.sleep(args.minutes * 20)
    cluster.start_node(1)
    print("NATS node n2 back")
    await asyncio.sleep(args.minutes * 20)
    phase = traffic.sent[start:]
    failures = await _written_once(
        pool, phase, traffic.failed, "traffic phase, node n2 killed and back"
    )
    silenced = len(await silent_alarms(pool, datetime.fromtimestamp(0, UTC)))
    print(
        f"'hub silent' raised in the phase: {silenced} hubs "
        f"(no heartbeat taken for {SILENT_AFTER_S} s)"
    )
    elapsed = time.monotonic() - t0
    cpu1, rss = _proc_stats(pid)
    stored = await _count(pool, "SELECT count(*) FROM uplink_messages")
    print(f"rows/s into PostgreSQL over the phase: {stored / elapsed:.0f}")
    print(f"centre CPU {100 * (cpu1 - cpu0) / elapsed:.0f} % of a core, RSS {rss / 1024:.0f} MB")
    lat = await _latencies(pool, traffic.pressed)
    if lat:
        print(
            f"exhausted press to queue: p50 {_pct(lat, 50):.2f} s, p99 {_pct(lat, 99):.2f} s "
            f"(n={len(lat)}, timers tick 0.5 s)"
        )
    return failures


async def _wait_silent(
    pool: asyncpg.Pool, hub_id: str, since: datetime, deadline: float
) -> Silence | None:
    while True:
        if hub_id in (found := await silent_alarms(pool, since)):
            return found[hub_id]
        if time.monotonic() > deadline:
            return None
        await asyncio.sleep(POLL_S)


async def _caught_up(bus: CentreBus, below: int, timeout_s: float) -> tuple[float, int]:
    """Seconds until the workers' backlog is under `below` (or the timeout), and the backlog."""
    started = time.monotonic()
    backlog = below
    while time.monotonic() - started < timeout_s:
        with contextlib.suppress(BusError):  # a cluster busy electing leaders: ask again
            if (backlog := await bus.backlog()) < below:
                break
        await asyncio.sleep(POLL_S)
    return time.monotonic() - started, backlog


async def _drain(
    args: argparse.Namespace, pool: asyncpg.Pool, bus: CentreBus, held: list[Sent]
) -> list[str]:
    """Wait for the held messages, then for the workers to catch up with the hubs going on."""
    hubs = len({s.hub_id for s in held})
    drain = await wait_written(pool, held)
    failures = [f] if (f := drain.failure("the drain")) else []
    caught_s, backlog = await _caught_up(bus, hubs, wait_timeout_s(len(held)) - drain.done_s)
    print(
        f"centre stopped {args.outage_s:.0f} s: {len(held)} messages held; all written "
        f"{drain.done_s:.1f} s after restart (the first {drain.first_s or 0:.1f} s after it: "
        f"start-up), {drain.rows_s:.0f} rows/s; caught up with the hubs going on "
        f"({hubs / args.beat_s:.0f} messages/s; backlog {backlog}, under one round) "
        f"{drain.done_s + caught_s:.1f} s after restart"
    )
    if backlog >= hubs:
        failures.append(f"the workers did not catch up: a backlog of {backlog} at the timeout")
    return failures


async def _order(pool: asyncpg.Pool, since: datetime, hubs: int) -> list[str]:
    order = await out_of_order(pool, since)
    stale = await stale_hubs(pool)
    print(
        f"drain order: {order.hubs} of {hubs} hubs had rows written out of sequence order "
        f"({order.pairs} pairs{'; e.g. ' if order.example else ''}{order.example}); "
        f"hubs whose stored state is not their newest message: {stale}"
    )
    failures = [f"{stale} hubs show an older message than their newest"] if stale else []
    if order.pairs:
        failures.append(f"{order.hubs} hubs had rows written out of their order")
    return failures


async def _silences(pool: asyncpg.Pool, quiet: str, since: datetime, by: float) -> list[str]:
    """The quiet hub's alarm (within 3 minutes), and none for the hubs that went on."""
    silence = await _wait_silent(pool, quiet, since, by)
    if silence is not None:
        print(
            f"silent hub raised {silence.after_s:.1f} s after its last stored heartbeat "
            f"(silent_after_s {SILENT_AFTER_S}, timers tick 0.5 s; {silence.why})"
        )
    others = sorted(set(await silent_alarms(pool, since)) - {quiet})
    print(f"'hub silent' raised since the restart for hubs that went on: {len(others)}")
    before = await cleared_since(pool, since)
    if before.raised:
        cleared = (
            "none cleared after it"
            if before.last_cleared_s is None
            else f"the last cleared {before.last_cleared_s:.1f} s after it"
        )
        print(
            f"'hub silent' raised before the restart: {before.raised}; {cleared}, "
            f"{before.still_open} still open"
        )
    failures = [f"'hub silent' for {len(others)} hubs that went on"] if others else []
    if silence is None or silence.after_s > SILENT_WAIT_S:
        failures.append(f"no 'hub silent' for {quiet} within {SILENT_WAIT_S:.0f} s")
    return failures


async def _outage_phase(
    args: argparse.Namespace, pool: asyncpg.Pool, bus: CentreBus, config: Path, traffic: Traffic
) -> tuple[subprocess.Popen[bytes], datetime, list[str]]:
    """The centre stopped while the hubs go on; its drain once back, with one hub silenced.

    Returns:
        The centre started again, when, and the checks that failed.
    """
    before = len(traffic.sent)
    await asyncio.sleep(args.outage_s)
    held = traffic.sent[before:]
    restarted = datetime.now(UTC)
    centre = _start_centre(config)
    quiet = traffic.hubs[0].hub_id  # silent from the moment the centre is back
    traffic.silenced.add(quiet)
    silent_by = time.monotonic() + SILENT_WAIT_S
    failures = await _drain(args, pool, bus, held)
    failures += await _silences(pool, quiet, restarted, silent_by)
    return centre, restarted, failures


async def bench(args: argparse.Namespace, folder: Path) -> list[str]:
    """Run the phases; the checks that failed."""
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
            going = asyncio.create_task(traffic.run(float("inf")))  # the hubs never stop
            failures = await _traffic_phase(args, pool, cluster, traffic, centre.pid)
            failures += await _stop(centre)
            centre, restarted, more = await _outage_phase(args, pool, bus, config, traffic)
            traffic.stop()
            await going
            failures += more
            failures += await _written_once(pool, traffic.sent, traffic.failed, "the whole run")
            stored = await _count(pool, "SELECT count(*) FROM uplink_messages")
            print(
                f"stored {stored}: {stored - len(traffic.sent)} unconfirmed sends the stream took"
            )
            failures += await _order(pool, restarted, len(hubs))
            failures += await _stop(centre)
            for hub in hubs:
                await hub.__aexit__(None, None, None)
            await bus.close()
    return failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--hubs", type=int, default=1000)
    parser.add_argument("--minutes", type=float, default=2.0, help="length of the traffic phase")
    parser.add_argument("--beat-s", type=float, default=5.0, help="seconds between heartbeats")
    parser.add_argument("--outage-s", type=float, default=60.0, help="seconds the centre is down")
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    # Started in the background by a shell, the bench ignores SIGINT, and so would the centre
    # it starts (an ignored signal stays ignored across exec; a handled one does not).
    signal.signal(signal.SIGINT, signal.default_int_handler)
    logging.getLogger("asyncio").setLevel(logging.CRITICAL)  # TLS teardown chatter
    logging.getLogger("nats").setLevel(logging.CRITICAL)  # the killed node's reconnects
    folder = Path(tempfile.mkdtemp(prefix="telecare-bench-centre-"))
    failures = asyncio.run(bench(args, folder))
    print(f"(servers' and centre's logs in {folder})")
    if failures:
        sys.exit("FAILED:\n" + "\n".join(failures))


if __name__ == "__main__":
    main()
