"""Mixed-fault soak: the real hub at a steady rate, with kills, broker restarts and provider faults.

Run: .venv/bin/python -m bench.chaos [--minutes 30] [--rate 50] [--fault-every-s 90]
     .venv/bin/python -m bench.chaos --provider-outage-s 600   (one long outage: bench/outage.py)

A real Mosquitto, the real hub process, an ntfy stand-in (Alice's phone) and a Twilio stand-in
(Bob's SMS). Devices publish `--rate` events a second at QoS 1, a pendant is pressed every
`--press-every-s` and cancelled once Alice has it. Every `--fault-every-s` the next fault in turn:
the hub killed with SIGKILL and started again, Mosquitto restarted (down `--broker-down-s`), ntfy
answering 503 for a while, ntfy hanging until the hub times out, Twilio answering 500.

Prints a line per sample, then the summary: events lost (acknowledged by the broker, never
stored) and stored twice; emergencies that reached neither, and repeats on either path; the
hub's RSS slope within each run between kills, and its open files and asyncio tasks at the
first and last sample of each run.
"""

import argparse
import asyncio
import contextlib
import itertools
import json
import statistics
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt
import httpx

from bench.outage import main as outage_main
from bench.soak import PENDANTS, AlicesPhone, household, report, write_hub_toml
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from notifier.channels.twiml import ACK_HINT
from tests.support.hubs import HubProcess
from tests.support.load import dashboard_url, memory_mib, read_metrics
from tests.support.standins import Fault, TwilioStandIn, serving, twilio_toml
from wire.schema import event_topic

BOB = "+447700900456"
Body = dict[str, str | int | float]
FAULTS = ("hub_killed", "broker_restarted", "ntfy_5xx", "ntfy_hangs", "twilio_5xx")
WARM_UP_S = 30.0


@dataclass
class Ledger:
    """What the devices sent, as the broker acknowledged it."""

    acked: set[tuple[str, int]] = field(default_factory=set)
    resent: set[tuple[str, int]] = field(default_factory=set)
    presses: dict[str, tuple[float, datetime]] = field(default_factory=dict)  # "pendant-3#7"
    cancelled: set[str] = field(default_factory=set)
    faults: Counter[str] = field(default_factory=Counter)


@dataclass
class Run:
    """One life of the hub process, between start and kill (or the end)."""

    pid: int
    samples: list[tuple[float, float, int, int]] = field(default_factory=list)  # t, rss, fds, tasks


def config(broker: LocalBroker, workdir: Path, phone_url: str, twilio_url: str, n: int) -> Path:
    lines = [
        "[home]",
        'person = "Mum"',
        "[mqtt]",
        f"port = {broker.port}",
        'client_id = "chaos-hub"',
        "[store]",
        f'path = "{workdir / "hub.db"}"',
        "[web]",
        "port = 0",
        "[ntfy]",
        f'server = "{phone_url}"',
        'ack_topic = "chaos-acknowledgements"',
        "timeout_s = 2",
        twilio_toml(twilio_url),
        "sms_per_hour = 1000  # Bob's budget is not what is under test",
        "sms_per_day = 10000",
        "[[contacts]]",
        'name = "Alice"',
        'ntfy_topic = "alice-phone"',
        "[[contacts]]",
        'name = "Bob"',
        f'phone = "{BOB}"',
        "[escalation.emergency]",
        "steps = [",
        '  { contact = "Alice", channel = "ntfy", after_s = 0 },',
        '  { contact = "Bob", channel = "sms", after_s = 0 },',
        "]",
    ]
    for number, (device_id, role) in enumerate(household(n)):
        lines += ["[[devices]]", f'id = "{device_id}"', f'role = "{role}"']
        lines += [f'room = "room {number % 12}"', f'name = "{device_id}"']
    return write_hub_toml(workdir, lines)


@dataclass
class Carers:
    """Alice's phone (ntfy) and Bob's (SMS): when each heard of a press."""

    phone: AlicesPhone
    twilio: TwilioStandIn

    def alice_after_s(self, press: tuple[float, datetime], pendant: str) -> float | None:
        for message in self.phone.published:
            at = self.phone.took_at.get(message["id"])
            if at is not None and at >= press[0] and f"the {pendant} (" in message["message"]:
                return at - press[0]
        return None

    def bob_after_s(self, press: tuple[float, datetime], pendant: str) -> float | None:
        for message in self.twilio.outbound(BOB):
            if message["created"] >= press[1] and f"the {pendant} (" in message["body"]:
                return float((message["created"] - press[1]).total_seconds())
        return None

    def reached_after_s(self, ledger: Ledger, key: str) -> float | None:
        """Seconds from a press to the first carer who heard of it; None if nobody did."""
        press, pendant = ledger.presses[key], key.split("#", maxsplit=1)[0]
        heard = [self.alice_after_s(press, pendant), self.bob_after_s(press, pendant)]
        return min((h for h in heard if h is not None), default=None)


def traffic(args: argparse.Namespace, ledger: Ledger, carers: Carers) -> Iterator[tuple[str, Body]]:
    """Sensor events round the household until time is up, a press every so often.

    A press is cancelled once a carer has heard of it; the next comes only after that (a press
    while another alarm is open joins it, and would be told of as that one).
    """
    sensors = [d for d in household(args.devices) if d[1] != "pendant"]
    end = time.monotonic() + args.minutes * 60
    next_press = time.monotonic() + args.press_every_s / 2
    pendants = itertools.cycle(f"pendant-{n}" for n in range(PENDANTS))
    for count in itertools.count():
        now = time.monotonic()
        if now >= end:
            return
        for key in ledger.presses:
            if key not in ledger.cancelled and carers.reached_after_s(ledger, key) is not None:
                ledger.cancelled.add(key)
                yield key.split("#")[0], {"type": "pendant.cancelled"}
        if now >= next_press and len(ledger.cancelled) == len(ledger.presses):
            pendant = next(pendants)
            ledger.presses[f"{pendant}#{len(ledger.presses)}"] = (now, datetime.now(UTC))
            next_press = now + args.press_every_s
            yield pendant, {"type": "pendant.pressed"}
        device_id, role = sensors[count % len(sensors)]
        seq = count // len(sensors) + 1
        kind = "temperature.reading" if role == "temperature" else f"{role}.detected"
        body: Body = {"type": kind, "seq": seq}
        if role == "temperature":
            body["value"] = 20.5
        yield device_id, body


async def publish(
    broker: LocalBroker, args: argparse.Namespace, ledger: Ledger, carers: Carers
) -> None:
    """Publish paced at QoS 1; through a broker restart, reconnect and send the message again."""
    started, sent = time.monotonic(), 0
    messages = traffic(args, ledger, carers)
    pending = next(messages, None)
    while pending is not None:
        try:
            async with aiomqtt.Client(broker.host, broker.port, identifier="chaos-devices") as c:
                while pending is not None:
                    device_id, body = pending
                    await c.publish(event_topic(device_id), json.dumps(body), qos=1)
                    if "seq" in body:
                        ledger.acked.add((device_id, int(body["seq"])))
                    sent += 1
                    pending = next(messages, None)
                    if (ahead := started + sent / args.rate - time.monotonic()) > 0:
                        await asyncio.sleep(ahead)
        except aiomqtt.MqttError:
            if pending is not None and "seq" in pending[1]:
                ledger.resent.add((pending[0], int(pending[1]["seq"])))
            await asyncio.sleep(0.5)


class Chaos:
    """Plays the faults in turn and samples the hub."""

    def __init__(
        self, hub: HubProcess, broker: LocalBroker, phone: AlicesPhone, twilio: TwilioStandIn
    ):
        self.hub, self.broker, self.phone, self.twilio = hub, broker, phone, twilio
        self.runs: list[Run] = []
        self.client: httpx.AsyncClient | None = None

    async def start_hub(self) -> None:
        offset = self.hub.log_path.stat().st_size if self.hub.log_path.exists() else 0
        await asyncio.to_thread(self.hub.start)
        assert self.hub.process is not None
        if self.client is not None:
            await self.client.aclose()
        base = dashboard_url(self.hub.log_path.read_text()[offset:])
        self.client = httpx.AsyncClient(base_url=base, timeout=10)
        self.runs.append(Run(self.hub.process.pid))

    async def fault(self, kind: str, args: argparse.Namespace) -> None:
        print(f"  fault: {kind}", flush=True)
        if kind == "hub_killed":
            self.hub.kill()
            await asyncio.sleep(2)
            await self.start_hub()
        elif kind == "broker_restarted":
            await asyncio.to_thread(self.broker.stop)
            await asyncio.sleep(args.broker_down_s)
            await asyncio.to_thread(self.broker.start)
        elif kind == "ntfy_5xx":
            self.phone.faults.extend(Fault(503) for _ in range(20))
        elif kind == "ntfy_hangs":
            self.phone.faults.extend(Fault(200, hang=True) for _ in range(3))
        else:
            self.twilio.faults.extend(Fault(500) for _ in range(10))

    async def sample(self, started: float) -> None:
        run = self.runs[-1]
        assert self.client is not None
        with contextlib.suppress(httpx.HTTPError, OSError, KeyError):
            tasks = int((await read_metrics(self.client))["telecare_tasks"])
            fds = await asyncio.to_thread(open_files, run.pid)
            rss = memory_mib(run.pid)["VmRSS"]
            run.samples.append((time.monotonic() - started, rss, fds, tasks))
            print(f"{run.samples[-1][0] / 60:6.1f} min  rss {rss:6.1f} MiB  fds {fds:3d}  "
                  f"tasks {tasks:3d}", flush=True)  # fmt: skip

    async def play(self, args: argparse.Namespace, done: asyncio.Event, ledger: Ledger) -> None:
        started = time.monotonic()
        next_fault, faults = started + args.fault_every_s, itertools.cycle(FAULTS)
        while not done.is_set():
            if time.monotonic() >= next_fault:
                kind = next(faults)
                ledger.faults[kind] += 1
                await self.fault(kind, args)
                next_fault = time.monotonic() + args.fault_every_s
            await self.sample(started)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), args.sample_s)


def open_files(pid: int) -> int:
    """How many files (sockets, the store, its log) a process holds open."""
    return len(list(Path(f"/proc/{pid}/fd").iterdir()))


def rss_slope_mib_per_10_min(runs: list[Run]) -> float | str:
    """The slope of RSS over time within runs (each run's own level taken out), past warm-up."""
    dx_dy, dx_dx = 0.0, 0.0
    for run in runs:
        points = [(t, rss) for t, rss, *_ in run.samples]
        points = [p for p in points if p[0] - points[0][0] >= WARM_UP_S] if points else []
        if len(points) < 3:
            continue
        mean_t = statistics.fmean(t for t, _ in points)
        mean_r = statistics.fmean(r for _, r in points)
        dx_dy += sum((t - mean_t) * (r - mean_r) for t, r in points)
        dx_dx += sum((t - mean_t) ** 2 for t, _ in points)
    return round(dx_dy / dx_dx * 600, 2) if dx_dx else "n/a: no run long enough"


async def stored(db: Path) -> tuple[Counter[tuple[str, int]], int]:
    async with Store.open(db, readonly=True) as store:
        events = await store.events()
    seqs = Counter((e.event.device_id, e.event.seq) for e in events if e.event.seq is not None)
    presses = sum(1 for e in events if e.event.type == "pendant.pressed")
    return seqs, presses


async def repeats(db: Path, carers: Carers) -> tuple[int, int]:
    """Pushes Alice got twice for one incident; SMS Bob got beyond what the hub meant to send."""
    pushes = Counter(
        (m["headers"].get("X-Sequence-ID"), m["message"])
        for m in carers.phone.on_topic("alice-phone")
    )
    async with Store.open(db, readonly=True) as store:
        meant = Counter(n.text for n in await store.notifications() if n.contact == "Bob")
    got = Counter(m["body"].removesuffix(f" {ACK_HINT}") for m in carers.twilio.outbound(BOB))
    return sum(n - 1 for n in pushes.values()), (got - meant).total()


async def settle(db: Path, ledger: Ledger, carers: Carers, timeout_s: float) -> None:
    """Wait until every acknowledged event is stored and a carer has every press, or time is up."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        seqs, _ = await stored(db)
        reached = all(carers.reached_after_s(ledger, k) is not None for k in ledger.presses)
        if ledger.acked <= set(seqs) and reached:
            return
        await asyncio.sleep(1)


def summary(
    ledger: Ledger,
    seqs: Counter[tuple[str, int]],
    presses: int,
    chaos: Chaos,
    repeated: tuple[int, int],
) -> dict[str, object]:
    runs = [r for r in chaos.runs if r.samples]
    carers = Carers(chaos.phone, chaos.twilio)
    reached = [carers.reached_after_s(ledger, k) for k in ledger.presses]
    heard = sorted(r for r in reached if r is not None)
    alice = [carers.alice_after_s(p, k.split("#")[0]) for k, p in ledger.presses.items()]
    return {
        "events_acked_by_broker": len(ledger.acked),
        "events_lost": len(ledger.acked - set(seqs)),
        "events_stored_twice": sum(1 for k, n in seqs.items() if n > 1 and k not in ledger.resent),
        "events_resent_by_devices": len(ledger.resent),
        "presses": len(ledger.presses),
        "presses_stored": presses,
        "presses_nobody_heard_of": len(reached) - len(heard),
        "press_to_first_carer_p50_s": round(statistics.median(heard), 2) if heard else "n/a",
        "press_to_first_carer_max_s": round(heard[-1], 2) if heard else "n/a",
        "presses_alice_never_told": sum(1 for a in alice if a is None),
        "alice_repeats": repeated[0],
        "bob_repeats": repeated[1],
        "faults": dict(ledger.faults),
        "hub_runs": len(chaos.runs),
        "rss_slope_mib_per_10_min": rss_slope_mib_per_10_min(runs),
        "fds_first_last_per_run": [(r.samples[0][2], r.samples[-1][2]) for r in runs],
        "tasks_first_last_per_run": [(r.samples[0][3], r.samples[-1][3]) for r in runs],
    }


async def run(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    ledger, phone, twilio = Ledger(), AlicesPhone(), TwilioStandIn()
    async with AsyncExitStack() as stack:
        broker = stack.enter_context(LocalBroker(workdir / "broker", kind="mosquitto"))
        phone_url = await stack.enter_async_context(serving(phone))
        twilio_url = await stack.enter_async_context(serving(twilio))
        path = config(broker, workdir, phone_url, twilio_url, args.devices)
        hub = HubProcess(path, workdir / "hub.log")
        chaos = Chaos(hub, broker, phone, twilio)
        await chaos.start_hub()
        stack.callback(hub.terminate)
        done = asyncio.Event()
        player = asyncio.create_task(chaos.play(args, done, ledger))
        carers = Carers(phone, twilio)
        await publish(broker, args, ledger, carers)
        await settle(workdir / "hub.db", ledger, carers, timeout_s=120)
        done.set()
        await player
        seqs, presses = await stored(workdir / "hub.db")
        repeated = await repeats(workdir / "hub.db", carers)
        if chaos.client is not None:
            await chaos.client.aclose()
    return summary(ledger, seqs, presses, chaos, repeated)


def main() -> None:
    if any(arg.startswith("--provider-outage-s") for arg in sys.argv[1:]):
        outage_main()
        return
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--minutes", type=float, default=30.0, help="how long (default 30)")
    parser.add_argument("--rate", type=float, default=50.0, help="events a second (default 50)")
    parser.add_argument("--devices", type=int, default=100, help="devices (default 100)")
    parser.add_argument("--press-every-s", type=float, default=20.0, help="default 20")
    parser.add_argument("--fault-every-s", type=float, default=90.0, help="default 90")
    parser.add_argument("--broker-down-s", type=float, default=5.0, help="default 5")
    parser.add_argument("--sample-s", type=float, default=10.0, help="default 10")
    args = parser.parse_args()
    workdir = Path(tempfile.mkdtemp(prefix="telecare-chaos-"))
    figures = asyncio.run(run(args, workdir))
    report(
        figures, workdir, "soak", f"mixed faults, {args.minutes:g} min at {args.rate:g} events/s"
    )


if __name__ == "__main__":
    main()
