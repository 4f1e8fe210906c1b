"""Soak: the real hub under steady load for a long time. Is memory flat, do queues stay short?

Run: .venv/bin/python -m bench.soak [--minutes 30] [--rate 200] [--devices 500]

A real Mosquitto, the real hub process, and an ntfy stand-in as the carer's phone. Simulated
devices publish `--rate` events a second at QoS 1 (motion, temperature, heartbeats); every
`--press-every-s` one of the pendants is pressed, and cancelled once the carer has been told
(0: never, a quiet home; what an alarm clears away cannot hide a leak then).
Prints a line per sample (hub memory, inbox, outbox, backlog), then the summary: memory growth,
missed heartbeats (the hub's dead-man pings, devices wrongly marked offline) and each emergency's
time to reach the phone against the 60 s deadline (TSA KPI: alarm calls answered within 60 s).
With TELECARE_RELIABILITY_OUT set, the summary is also recorded for docs/RELIABILITY.md.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import statistics
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from pathlib import Path

import httpx
from aiohttp import web

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import HubProcess, device_client
from tests.support.load import Message, dashboard_url, memory_mib, publish_paced, read_metrics
from tests.support.reliability import record
from tests.support.standins import NtfyStandIn, serving
from wire.schema import event_topic

DEADLINE_S = 60.0
PENDANTS = 20
HEARTBEAT_S = 2.0
POLL_S = 0.2
ROLES = ("motion", "temperature")


class Phone(NtfyStandIn):
    """The carer's phone (ntfy) and the dead-man monitor, noting when each request arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.pushed_at: list[float] = []
        self.pinged_at: list[float] = []
        self.arrived = asyncio.Event()

    def app(self) -> web.Application:
        app = super().app()
        app.router.add_get("/ping", self._ping)
        return app

    def _note(self, request: web.Request) -> None:
        super()._note(request)
        if request.method == "POST":
            self.pushed_at.append(time.monotonic())
            self.arrived.set()

    async def _ping(self, request: web.Request) -> web.StreamResponse:
        self.pinged_at.append(time.monotonic())
        return web.Response(text="OK")


class AlicesPhone(Phone):
    """The ntfy stand-in, noting when each push it took (not each it refused) arrived."""

    def __init__(self) -> None:
        super().__init__()
        self.took_at: dict[str, float] = {}  # by the stand-in's message id

    async def _publish(self, request: web.Request) -> web.StreamResponse:
        response = await super()._publish(request)
        now = time.monotonic()
        for message in self.published[-8:]:  # this one, and any taken while it was answered
            self.took_at.setdefault(message["id"], now)
        return response


@dataclass
class Presses:
    """When each pendant press was published (by pendant and number), and all that was sent."""

    at: dict[str, float] = field(default_factory=dict)
    cancelled: set[str] = field(default_factory=set)
    sent: int = 0


def write_hub_toml(workdir: Path, lines: list[str]) -> Path:
    """The hub's configuration file in `workdir`, readable by its owner alone (it may hold a
    token)."""
    path = workdir / "hub.toml"
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o600)
    return path


def report(figures: dict[str, object], workdir: Path, section: str, name: str) -> None:
    """Print a run's figures and where it left its files; record the plain ones."""
    print(json.dumps(figures, indent=2))
    print(f"(the hub's store, its log and the broker's in {workdir})")
    plain = {k: v for k, v in figures.items() if isinstance(v, int | float | str)}
    record(section, name, **plain)


def config(broker: LocalBroker, workdir: Path, phone_url: str, devices: int) -> Path:
    lines = [
        "[home]",
        'person = "Mum"',
        "[mqtt]",
        f"port = {broker.port}",
        'client_id = "soak-hub"',
        "[store]",
        f'path = "{workdir / "hub.db"}"',
        "[web]",
        "port = 0",
        "[ntfy]",
        f'server = "{phone_url}"',
        'ack_topic = "soak-acknowledgements"',
        "[heartbeat]",
        f'url = "{phone_url}/ping"',
        f"interval_s = {HEARTBEAT_S}",
        "[supervision.check_in_h]",
        "motion = 0.1",
        "temperature = 0.1",
        "[[contacts]]",
        'name = "Alice"',
        'ntfy_topic = "alice-phone"',
        "[escalation.emergency]",
        'steps = [{ contact = "Alice", channel = "ntfy", after_s = 0 }]',
    ]
    for number, (device_id, role) in enumerate(household(devices)):
        room = f"room {number % 12}"
        lines += ["[[devices]]", f'id = "{device_id}"', f'role = "{role}"', f'room = "{room}"']
        lines.append(f'name = "{device_id}"')
    return write_hub_toml(workdir, lines)


def household(devices: int) -> list[tuple[str, str]]:
    """The pendants, then motion and temperature sensors up to `devices` in all."""
    sensors = [(f"{ROLES[n % 2]}-{n}", ROLES[n % 2]) for n in range(devices - PENDANTS)]
    return [(f"pendant-{n}", "pendant") for n in range(PENDANTS)] + sensors


def load(args: argparse.Namespace, presses: Presses, phone: Phone) -> Iterator[Message]:
    """Everything the devices send, counted."""
    for message in traffic(args, presses, phone):
        presses.sent += 1
        yield message


def traffic(args: argparse.Namespace, presses: Presses, phone: Phone) -> Iterator[Message]:
    """Sensor events round the household until time is up, with a press every so often."""
    sensors = [d for d in household(args.devices) if d[1] != "pendant"]
    end = time.monotonic() + args.minutes * 60
    quiet = args.press_every_s <= 0
    next_press = math.inf if quiet else time.monotonic() + args.press_every_s / 2
    pendants = itertools.cycle(f"pendant-{n}" for n in range(PENDANTS))
    for count in itertools.count():
        now = time.monotonic()
        if now >= end:
            return
        yield from cancels(presses, phone)
        if now >= next_press:
            pendant = next(pendants)
            presses.at[pendant + f"#{len(presses.at)}"] = now
            next_press = now + args.press_every_s
            yield event_topic(pendant), b'{"type": "pendant.pressed"}', 1
        device_id, role = sensors[count % len(sensors)]
        seq = count // len(sensors) + 1
        body = {"type": "device.heartbeat" if seq % 5 == 0 else f"{role}.detected", "seq": seq}
        if role == "temperature" and seq % 5:
            body = {"type": "temperature.reading", "seq": seq, "value": 20.5}
        yield event_topic(device_id), json.dumps(body).encode(), 1


def cancels(presses: Presses, phone: Phone) -> Iterator[Message]:
    """Once the carer has been told of a press, the person cancels it ("I'm all right")."""
    for key in presses.at:
        if key not in presses.cancelled and told_at(key, presses, phone) is not None:
            presses.cancelled.add(key)
            yield event_topic(key.split("#", maxsplit=1)[0]), b'{"type": "pendant.cancelled"}', 1


def told_at(key: str, presses: Presses, phone: Phone) -> float | None:
    """When the phone got the alarm for one press: the first push naming its pendant after it."""
    pendant = key.split("#", maxsplit=1)[0]
    for message, at in zip(phone.published, phone.pushed_at, strict=False):
        if at >= presses.at[key] and f"the {pendant} (" in message["message"]:
            return at
    return None


async def all_told(presses: Presses, phone: Phone, *, timeout_s: float) -> None:
    """Wait until the phone has the alarm of every press, or the time is up."""
    deadline = time.monotonic() + timeout_s
    while any(told_at(k, presses, phone) is None for k in presses.at):
        phone.arrived.clear()
        left = deadline - time.monotonic()
        if left <= 0:
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(phone.arrived.wait(), left)


async def all_stored(web_client: httpx.AsyncClient, sent: int, *, timeout_s: float) -> None:
    """Wait until the hub has stored all that was sent (or the time is up: some were lost)."""
    for _ in range(int(timeout_s / POLL_S)):
        if (await read_metrics(web_client))["telecare_events_total"] >= sent:
            return
        await asyncio.sleep(POLL_S)


async def sample(web_client: httpx.AsyncClient, pid: int, started: float) -> dict[str, float]:
    metrics = await read_metrics(web_client)
    memory = memory_mib(pid)
    row = {
        "minute": (time.monotonic() - started) / 60,
        "rss_mib": memory["VmRSS"],
        "hwm_mib": memory["VmHWM"],
        "inbox": metrics["telecare_inbox_messages"],
        "inbox_peak": metrics["telecare_inbox_peak_messages"],
        "outbox_pending": metrics['telecare_notifications{state="pending"}'],
        "stored": metrics["telecare_events_total"],
    }
    print(
        f"{row['minute']:6.1f} min  rss {row['rss_mib']:6.1f} MiB  inbox {row['inbox']:4.0f}"
        f" (peak {row['inbox_peak']:4.0f})  outbox {row['outbox_pending']:3.0f}"
        f"  stored {row['stored']:8.0f}",
        flush=True,
    )
    return row


async def watch(
    web_client: httpx.AsyncClient, pid: int, every_s: float, done: asyncio.Event
) -> list[dict[str, float]]:
    started = time.monotonic()
    rows = []
    while not done.is_set():
        rows.append(await sample(web_client, pid, started))
        try:
            await asyncio.wait_for(done.wait(), every_s)
        except TimeoutError:
            continue
    rows.append(await sample(web_client, pid, started))
    return rows


async def offline_marks(db: Path) -> int:
    """Devices the hub took for offline although every one of them kept reporting."""
    async with Store.open(db, readonly=True) as store:
        return sum(1 for e in await store.events() if e.event.type == "device.offline")


def summary(
    rows: list[dict[str, float]],
    presses: Presses,
    phone: Phone,
    offline: int,
    args: argparse.Namespace,
) -> dict[str, float | int | str]:
    settled = [r for r in rows if r["minute"] >= 1]  # the first minute is the warm-up
    growth: float | str = "n/a: shorter than 3 samples after the first minute"
    if len(settled) >= 3:
        minutes, rss = [r["minute"] for r in settled], [r["rss_mib"] for r in settled]
        growth = round(statistics.linear_regression(minutes, rss).slope * 10, 2)
    latencies = [
        (told - presses.at[key])
        if (told := told_at(key, presses, phone)) is not None
        else float("inf")
        for key in presses.at
    ]
    gaps = [b - a for a, b in itertools.pairwise(phone.pinged_at)]
    return {
        "minutes": args.minutes,
        "events_per_s": args.rate,
        "devices": args.devices,
        "events_sent": presses.sent,
        "events_stored": int(rows[-1]["stored"]),
        "events_lost": presses.sent - int(rows[-1]["stored"]),
        "rss_after_warm_up_mib": round((settled or rows)[0]["rss_mib"], 1),
        "rss_end_mib": round(rows[-1]["rss_mib"], 1),
        "peak_rss_mib": round(rows[-1]["hwm_mib"], 1),
        "rss_growth_mib_per_10_min": growth,
        "inbox_peak": int(rows[-1]["inbox_peak"]),
        "outbox_pending_max": int(max(r["outbox_pending"] for r in rows)),
        "dead_man_pings": len(phone.pinged_at),
        "missed_heartbeats": sum(1 for gap in gaps if gap > 2 * HEARTBEAT_S),
        "devices_wrongly_offline": offline,
        "emergencies": len(latencies),
        "notified_within_deadline": sum(1 for s in latencies if s <= DEADLINE_S),
        "worst_notify_s": round(max(latencies), 3) if latencies else "n/a",
    }


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, float | int | str]:
    presses, phone = Presses(), Phone()
    async with AsyncExitStack() as stack:
        broker = stack.enter_context(LocalBroker(workdir / "broker", kind="mosquitto"))
        phone_url = await stack.enter_async_context(serving(phone))
        hub = HubProcess(config(broker, workdir, phone_url, args.devices), workdir / "hub.log")
        await asyncio.to_thread(hub.start)
        assert hub.process is not None
        stack.callback(hub.terminate)
        base = dashboard_url(hub.log_path.read_text())
        web_client = await stack.enter_async_context(httpx.AsyncClient(base_url=base))
        devices = await stack.enter_async_context(device_client(broker, "soak-devices"))
        done = asyncio.Event()
        watcher = asyncio.create_task(watch(web_client, hub.process.pid, args.sample_s, done))
        await publish_paced(devices, load(args, presses, phone), per_s=args.rate)
        await all_told(presses, phone, timeout_s=DEADLINE_S)
        await all_stored(web_client, presses.sent, timeout_s=DEADLINE_S)
        done.set()
        rows = await watcher
    return summary(rows, presses, phone, await offline_marks(workdir / "hub.db"), args)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run (default 30)")
    parser.add_argument("--rate", type=float, default=200.0, help="events a second (default 200)")
    parser.add_argument("--devices", type=int, default=500, help="simulated devices (default 500)")
    parser.add_argument(
        "--press-every-s",
        type=float,
        default=30.0,
        help="seconds between presses (default 30; 0: none, a quiet home)",
    )
    parser.add_argument("--sample-s", type=float, default=60.0, help="seconds between samples")
    args = parser.parse_args()
    if args.devices <= PENDANTS:
        sys.exit(f"--devices must be more than the {PENDANTS} pendants")
    with tempfile.TemporaryDirectory(prefix="telecare-soak-") as workdir:
        figures = asyncio.run(run(args, Path(workdir)))
    print(json.dumps(figures, indent=2))
    record(
        "soak",
        f"{args.minutes:g} min at {args.rate:g} events/s from {args.devices} devices",
        **figures,
    )


if __name__ == "__main__":
    main()
