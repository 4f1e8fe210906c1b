"""A long outage of ntfy and Twilio together: nothing lost, nothing twice, the backlog in order.

Run: .venv/bin/python -m bench.chaos --provider-outage-s 600 [--alarm-every-s 30]

A real Mosquitto, the real hub process with its default delivery settings (45 s of retries for
an emergency, 300 s for the rest, 10 s request timeouts, owed alarms tried again every 15 s),
and three carers: Alice by ntfy push, Bob by SMS (WhatsApp and a call after it), Carol by
Pushover. For `--provider-outage-s` ntfy and Twilio both fail every send: 503 for the first
half, then hanging past the hub's timeout. Pushover stays up. Every `--alarm-every-s` an alarm
is raised in a room of its own (a pendant press, smoke, a fall, then cold rooms), and every
fourth one is accepted by Carol once her Pushover has it. Once the providers are back, the
alarms still open must reach Alice and Bob in the order they were raised, once each, and the
accepted ones never.

Prints the summary: alarms raised and accepted; the worst time from an alarm to Carol's
Pushover during the outage; for Alice and Bob the alarms lost (open, never received), received
twice, received though accepted, and received out of raised order; and the seconds from
recovery to the first and the last of the backlog out.
"""

import argparse
import asyncio
import itertools
import json
import tempfile
import time
from collections import Counter
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import aiomqtt

from bench.soak import AlicesPhone, report, write_hub_toml
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import HubProcess
from tests.support.pushover_standin import APP_TOKEN, BEN_USER, PushoverStandIn
from tests.support.standins import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    Fault,
    TwilioStandIn,
    serving,
)
from wire.control import ACK_TOPIC
from wire.schema import event_topic

BOB = "+447700900456"
CAROL = BEN_USER  # a user key the Pushover stand-in knows
Body = dict[str, str | int | float]
EMERGENCIES: tuple[tuple[str, str, Body], ...] = (
    ("pendant-1", "pendant", {"type": "pendant.pressed", "seq": 1}),
    ("smoke-1", "smoke", {"type": "smoke.detected"}),
    ("fall-1", "fall_detector", {"type": "fall.detected"}),
)
SETTLE_S = 300.0  # at most this long after recovery for the backlog to go out
WATCH_S = 45.0  # then this long (three tries of the owed alarms) for anything more


@dataclass(frozen=True)
class Alarm:
    """One alarm of the run: its device, its room (which names it in every text), its event."""

    device_id: str
    role: str
    room: str
    body: Body


@dataclass
class Run:
    """What happened: alarms raised (in order), accepted, when Carol had each, recovery."""

    raised: list[Alarm] = field(default_factory=list)
    accepted: set[str] = field(default_factory=set)  # rooms
    to_carol_s: list[float] = field(default_factory=list)
    recovered_mono: float = 0.0
    recovered_at: datetime = field(default_factory=lambda: datetime.now(UTC))


def alarms(count: int) -> list[Alarm]:
    """The emergencies, then cold rooms: each in a room of its own."""
    found = [Alarm(d, role, f"room {n + 1:03d}", b) for n, (d, role, b) in enumerate(EMERGENCIES)]
    for n in range(len(found), count):
        cold: Body = {"type": "temperature.reading", "value": 5.0}
        found.append(Alarm(f"temp-{n + 1}", "temperature", f"room {n + 1:03d}", cold))
    return found


def config(broker: LocalBroker, workdir: Path, urls: dict[str, str], plan: list[Alarm]) -> Path:
    """The hub's configuration: every delivery setting at its default."""
    steps = [
        '  { contact = "Alice", channel = "ntfy", after_s = 0 },',
        '  { contact = "Bob", channel = "sms", after_s = 0 },',
        '  { contact = "Carol", channel = "pushover", after_s = 0 },',
    ]
    lines = [
        '[home]\nperson = "Mum"',
        f'[mqtt]\nport = {broker.port}\nclient_id = "outage-hub"',
        f'[store]\npath = "{workdir / "hub.db"}"',
        "[web]\nport = 0",
        f'[ntfy]\nserver = "{urls["ntfy"]}"',
        f'[twilio]\naccount_sid = "{ACCOUNT_SID}"\nauth_token = "{AUTH_TOKEN}"',
        f'from_number = "{FROM_NUMBER}"\napi_base = "{urls["twilio"]}"',
        "sms_per_hour = 1000  # Bob's budget is not what is under test\nsms_per_day = 10000",
        "calls_per_hour = 1000\ncalls_per_day = 10000",
        f'[pushover]\napp_token = "{APP_TOKEN}"\napi_base = "{urls["pushover"]}"',
        "[policy.fall]\nconfirm_s = 0\n[policy.temperature]\nfor_s = 0",
        '[[contacts]]\nname = "Alice"\nntfy_topic = "alice-phone"',
        f'[[contacts]]\nname = "Bob"\nphone = "{BOB}"',
        f'[[contacts]]\nname = "Carol"\npushover_user = "{CAROL}"',
    ]
    ladder = "\n".join(steps)
    lines += [f"[escalation.{s}]\nsteps = [\n{ladder}\n]" for s in ("emergency", "urgent")]
    for alarm in plan:
        lines.append(f'[[devices]]\nid = "{alarm.device_id}"\nrole = "{alarm.role}"')
        lines.append(f'room = "{alarm.room}"\nname = "{alarm.role} in {alarm.room}"')
    return write_hub_toml(workdir, lines)


@dataclass
class Carers:
    """The three phones: what each received, in the order it received it."""

    alice: AlicesPhone
    twilio: TwilioStandIn
    pushover: PushoverStandIn

    def to_alice(self) -> list[tuple[str, float]]:
        """(text, monotonic arrival) of each push Alice received."""
        return [(m["message"], self.alice.took_at[m["id"]]) for m in self.alice.published]

    def to_bob(self) -> list[tuple[str, datetime]]:
        """(text, arrival) of each SMS, WhatsApp message and call Bob received, in order."""
        sent = [(m["sid"], m["body"], m["created"]) for m in self.twilio.outbound()]
        for call in self.twilio.calls.values():
            at = datetime.strptime(call["date_created"], "%a, %d %b %Y %H:%M:%S %z")
            sent.append((call["sid"], call["twiml"], at))
        return [(text, at) for _, text, at in sorted(sent, key=lambda s: int(s[0][2:], 16))]

    def carol_has(self, alarm: Alarm) -> float | None:
        """When (Unix time) Carol's Pushover had `alarm`, if it has."""
        found = [m.sent_at for m in self.pushover.to(CAROL) if alarm.room in m.form["message"]]
        return found[0] if found else None


async def accept(client: aiomqtt.Client, db: Path, alarm: Alarm) -> None:
    """Carol accepts the incident `alarm` opened (as `telecare ack` would)."""
    async with Store.open(db, readonly=True) as store:
        incident = next(i for i in await store.incidents() if i.device_id == alarm.device_id)
    body = json.dumps({"incident_id": incident.id, "by": "Carol"})
    await client.publish(ACK_TOPIC, body, qos=1)


async def raise_during_outage(
    args: argparse.Namespace, broker: LocalBroker, db: Path, carers: Carers, run: Run
) -> None:
    """The outage itself: 503 for half of it, then hanging; an alarm every `alarm_every_s`."""
    plan = alarms(args.alarms)
    started = time.monotonic()
    end, half = started + args.provider_outage_s, started + args.provider_outage_s / 2
    carers.alice.outage = carers.twilio.outage = Fault(503)
    print(f"outage: ntfy and Twilio answer 503 for {args.provider_outage_s / 2:g} s", flush=True)
    async with aiomqtt.Client(broker.host, broker.port, identifier="outage-devices") as client:
        for number, alarm in zip(itertools.count(), plan, strict=False):
            due = started + args.alarm_every_s * (number + 0.5)
            if due >= end:
                break
            await _until(due, half, carers)
            raised_at = time.time()
            await client.publish(event_topic(alarm.device_id), json.dumps(alarm.body), qos=1)
            run.raised.append(alarm)
            if (had := await carol_told(carers, alarm, end)) is not None:
                run.to_carol_s.append(had - raised_at)
                if number % 4 == 3:
                    await accept(client, db, alarm)
                    run.accepted.add(alarm.room)
            print(f"{(time.monotonic() - started) / 60:5.1f} min  alarm in {alarm.room}"
                  f"{' (accepted)' if alarm.room in run.accepted else ''}", flush=True)  # fmt: skip
        await _until(end, half, carers)
    carers.alice.outage = carers.twilio.outage = None
    run.recovered_mono, run.recovered_at = time.monotonic(), datetime.now(UTC)
    print("outage over: ntfy and Twilio answer again", flush=True)


async def carol_told(carers: Carers, alarm: Alarm, end: float) -> float | None:
    """When Carol's Pushover had `alarm` (Unix time), waiting for it until `end` at most."""
    while time.monotonic() < end:
        if (had := carers.carol_has(alarm)) is not None:
            return had
        await asyncio.sleep(0.1)
    return None


async def _until(moment: float, half: float, carers: Carers) -> None:
    """Wait until `moment`; from `half` on, the providers hang instead of answering 503."""
    while (now := time.monotonic()) < moment:
        if now >= half and carers.alice.outage is not None and not carers.alice.outage.hang:
            carers.alice.outage = carers.twilio.outage = Fault(hang=True)
            print("outage: ntfy and Twilio now hang past the hub's timeout", flush=True)
        await asyncio.sleep(min(0.2, moment - now))


def rooms_in(texts: list[str], run: Run) -> list[str]:
    """The alarm (by room) each text is about, in order; texts about none are left out."""
    rooms = [a.room for a in run.raised]
    return [next(r for r in rooms if r in t) for t in texts if any(r in t for r in rooms)]


def figures_for(received: list[str], run: Run) -> dict[str, int]:
    """Lost, twice, though accepted and out of raised order, for one carer's received rooms."""
    order = [a.room for a in run.raised]
    counts = Counter(received)
    open_rooms = [r for r in order if r not in run.accepted]
    first = [r for n, r in enumerate(received) if r not in received[:n]]
    ranks = [order.index(r) for r in first]
    return {
        "lost": sum(1 for r in open_rooms if counts[r] == 0),
        "twice": sum(n - 1 for n in counts.values() if n > 1),
        "though_accepted": sum(counts[r] for r in run.accepted),
        "out_of_order": sum(1 for a, b in itertools.pairwise(ranks) if b < a),
    }


async def backlog_out(carers: Carers, run: Run) -> None:
    """Wait until Alice and Bob have every open alarm (at most `SETTLE_S`), then watch a while."""
    wanted = {a.room for a in run.raised} - run.accepted
    deadline = time.monotonic() + SETTLE_S
    while time.monotonic() < deadline:
        alice = set(rooms_in([t for t, _ in carers.to_alice()], run))
        bob = set(rooms_in([t for t, _ in carers.to_bob()], run))
        if wanted <= alice and wanted <= bob:
            break
        await asyncio.sleep(0.5)
    await asyncio.sleep(WATCH_S)


def summary(carers: Carers, run: Run) -> dict[str, object]:
    alice = [
        (r, at - run.recovered_mono) for t, at in carers.to_alice() for r in rooms_in([t], run)
    ]
    bob = [
        (r, (at - run.recovered_at).total_seconds())
        for t, at in carers.to_bob()
        for r in rooms_in([t], run)
    ]
    after = sorted(s for _, s in alice + bob)
    figures: dict[str, object] = {
        "alarms_raised": len(run.raised),
        "alarms_accepted_in_the_outage": len(run.accepted),
        "carol_pushover_had": len(run.to_carol_s),
        "raise_to_carol_max_s": round(max(run.to_carol_s), 2) if run.to_carol_s else "n/a",
    }
    for name, got in (("alice", alice), ("bob", bob)):
        for key, value in figures_for([r for r, _ in got], run).items():
            figures[f"{name}_{key}"] = value
        figures[f"{name}_received_during_outage"] = sum(1 for _, s in got if s < 0)
    figures["recovery_to_first_out_s"] = round(after[0], 2) if after else "n/a"
    figures["recovery_to_backlog_out_s"] = round(after[-1], 2) if after else "n/a"
    return figures


async def run_outage(args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    """The whole run; returns the summary."""
    carers = Carers(AlicesPhone(), TwilioStandIn(), PushoverStandIn())
    run = Run()
    async with AsyncExitStack() as stack:
        broker = stack.enter_context(LocalBroker(workdir / "broker", kind="mosquitto"))
        urls = {
            "ntfy": await stack.enter_async_context(serving(carers.alice)),
            "twilio": await stack.enter_async_context(serving(carers.twilio)),
            "pushover": await stack.enter_async_context(serving(carers.pushover)),
        }
        hub = HubProcess(config(broker, workdir, urls, alarms(args.alarms)), workdir / "hub.log")
        await asyncio.to_thread(hub.start)
        stack.callback(hub.terminate)
        await raise_during_outage(args, broker, workdir / "hub.db", carers, run)
        await backlog_out(carers, run)
    return summary(carers, run)


def main() -> None:
    """`python -m bench.chaos --provider-outage-s N`: parse the options, run, print the figures."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.chaos",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--provider-outage-s", type=float, required=True, help="e.g. 600")
    parser.add_argument("--alarm-every-s", type=float, default=30.0, help="default 30")
    parser.add_argument("--alarms", type=int, default=40, help="at most (default 40)")
    args = parser.parse_args()
    if args.provider_outage_s <= 0 or args.alarm_every_s <= 0 or args.alarms < 1:
        parser.error("--provider-outage-s and --alarm-every-s must be positive, --alarms >= 1")
    workdir = Path(tempfile.mkdtemp(prefix="telecare-outage-"))
    figures = asyncio.run(run_outage(args, workdir))
    name = f"ntfy and Twilio down together for {args.provider_outage_s:g} s"
    report(figures, workdir, "faults", name)
