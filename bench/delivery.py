"""Per channel: decision to provider request, and how fast a failed delivery moves on.

Three measurements, through the real store, dispatcher, delivery tracking, channels and SDKs, with
the stand-ins (Twilio, ntfy, Pushover) in a child process, as remote services would be; both
processes read the same monotonic clock.
1. Decision to provider request, per channel (sms, whatsapp, voice, ntfy, pushover): from just
   before an emergency's decision is committed to the stand-in receiving the request.
2. Moving on after a failed delivery: the stand-ins report the failure late, after a random
   delay (an SMS `undelivered`, a call `no-answer`), or never deliver (a Pushover emergency no
   phone receives, which counts as failed once its `delivery_window_s` has passed). Timed from
   the moment the failure is there to be seen to the next path's request (the contact's ntfy
   push), with the defaults a hub runs with: Twilio polled every 15 s, Pushover every 5 s.
3. False acceptances: 1,000 calls answered by voicemail (no key pressed), not answered, or busy,
   reported both by status callback and by polling, with the voicemail calls' key-press hook
   posted without digits as Twilio does. None may count as an acceptance.

Run: .venv/bin/python -m bench.delivery [--per-channel N] [--failures N] [--calls N]
Target (issue 21): next path within 30 s of a failed delivery; 0 false acceptances.
"""

import argparse
import asyncio
import logging
import multiprocessing
import random
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from pydantic import SecretStr

from bench.delivery_standins import (
    CONTACTS,
    FAILING,
    TWILIO_CALL_OUTCOMES,
    Arrivals,
    decision,
    serve_stand_ins,
)
from hub.store.store import Store
from notifier.acks import Acknowledgement, AckTokens
from notifier.channels.ntfy import NtfyChannel
from notifier.channels.pushover import PushoverChannel
from notifier.channels.twilio import TwilioChannel, TwilioGateway, TwilioKind
from notifier.dispatcher import Dispatcher
from notifier.failover import Failover, routes_for
from notifier.inbox import Inbox
from notifier.model import Delivery, OutboxEntry
from notifier.ports import Channel
from notifier.replies import Standing
from notifier.retrying import RetryPolicy
from notifier.settings import NtfySettings, PushoverSettings, TwilioSettings
from notifier.tracking import StatusTracker
from notifier.twilio_hooks import TwilioHooks
from tests.support.pushover_standin import APP_TOKEN
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER

CHANNELS: tuple[str, ...] = ("sms", "whatsapp", "voice", "ntfy", "pushover")
WAIT_S = 5.0
POLL_S = 0.0002
TWILIO_POLL_S = 15.0  # the hub's default `[twilio] poll_s`
TARGET_MOVE_ON_S = 30.0
PUBLIC_URL = "https://hub.example.org"


class Rig:
    """Channels to the stand-ins, a store, a dispatcher that fails over."""

    def __init__(self, urls: dict[str, str], stack: AsyncExitStack) -> None:
        twilio = TwilioSettings(
            account_sid=ACCOUNT_SID,
            auth_token=SecretStr(AUTH_TOKEN),
            from_number=FROM_NUMBER,
            api_base=urls["twilio"],
            public_url=PUBLIC_URL,
            poll_s=TWILIO_POLL_S,
        )
        self.gateway = TwilioGateway(twilio)
        stack.push_async_callback(self.gateway.close)
        self.tokens = AckTokens(b"bench-key")
        kinds: tuple[TwilioKind, ...] = ("sms", "whatsapp", "voice")
        self.twilio = {
            k: TwilioChannel(k, self.gateway, CONTACTS, ack_token=self.tokens.token) for k in kinds
        }
        self.ntfy = NtfyChannel(NtfySettings(server=urls["ntfy"]), CONTACTS)
        stack.push_async_callback(self.ntfy.close)
        pushover = PushoverSettings(app_token=SecretStr(APP_TOKEN), api_base=urls["pushover"])
        self.pushover = PushoverChannel(pushover, CONTACTS)
        stack.push_async_callback(self.pushover.close)
        self.channels: dict[str, Channel] = {
            **self.twilio,
            "ntfy": self.ntfy,
            "pushover": self.pushover,
        }


@asynccontextmanager
async def dispatching(
    rig: Rig, workdir: Path, name: str, *, failover: bool = True
) -> AsyncIterator[tuple[Store, Dispatcher]]:
    """A fresh store and a dispatcher over `rig`'s channels."""
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(Store.open(workdir / f"{name}.db"))
        routes = routes_for(CONTACTS, set(rig.channels), set())
        dispatcher = Dispatcher(
            store,
            rig.channels,
            retry=RetryPolicy(wait_initial_s=0.2, wait_max_s=1.0, wait_jitter_s=0.2),
            failover=Failover(routes) if failover else None,
        )
        yield store, await stack.enter_async_context(dispatcher)


async def time_requests(
    store: Store, dispatcher: Dispatcher, arrivals: Arrivals, per_channel: int
) -> dict[str, list[float]]:
    """Decision to provider request (ms) for each channel, one emergency at a time."""
    timings: dict[str, list[float]] = {}
    for channel in CHANNELS:
        found = timings.setdefault(channel, [])
        for number in range(per_channel):
            seen = arrivals.count.value
            decided = time.monotonic()
            batch = decision(f"{channel}-{number}", "Alice", channel)
            dispatcher.submit(await store.commit(batch, at=_now()))
            while arrivals.count.value == seen:
                if time.monotonic() > decided + WAIT_S:
                    msg = f"{channel} emergency {number} did not reach the stand-in"
                    raise RuntimeError(msg)
                await asyncio.sleep(POLL_S)
            found.append((arrivals.last_at.value - decided) * 1000)
            await asyncio.sleep(0.002)  # let the answer come back before the next alarm
    return timings


async def time_moving_on(
    rig: Rig, workdir: Path, control: Any, results: Any, failures: int
) -> dict[str, list[float]]:
    """Seconds from a failed delivery being there to see to the next path's request."""
    async with dispatching(rig, workdir, "failures") as (store, dispatcher), AsyncExitStack() as s:
        twilio = {"sms": rig.twilio["sms"], "voice": rig.twilio["voice"]}
        await s.enter_async_context(
            StatusTracker(store, twilio, dispatcher.fail_over, poll_s=TWILIO_POLL_S)
        )
        await s.enter_async_context(
            StatusTracker(
                store,
                {"pushover": rig.pushover},
                dispatcher.fail_over,
                poll_s=rig.pushover.settings.poll_s,
                name="notify-tracking-pushover",
            )
        )
        incidents = [
            f"{c}-fails-{n}" for c in ("sms", "voice", "pushover") for n in range(failures)
        ]
        rng = random.Random(30)

        async def alarm(incident: str) -> None:
            # Spread over a polling interval: each failure comes at a different point of it.
            await asyncio.sleep(rng.uniform(0, TWILIO_POLL_S))
            channel = incident.split("-", 1)[0]
            dispatcher.submit(await store.commit(decision(incident, FAILING, channel), at=_now()))

        await asyncio.gather(*(alarm(incident) for incident in incidents))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            control.put("report")
            seen = results.get(timeout=10)
            if all(i in seen["next_path"] for i in incidents):
                break
            await asyncio.sleep(1.0)
        else:
            msg = "not every failed delivery moved on within 120 s"
            raise RuntimeError(msg)
    moved: dict[str, list[float]] = {}
    for incident in incidents:
        channel = incident.split("-", 1)[0]
        failed_at = seen["failed_at"][incident]
        moved.setdefault(channel, []).append(seen["next_path"][incident] - failed_at)
    return moved


class CountingDesk:
    """Counts acknowledgements; nothing else a carer's answer could do is expected here."""

    def __init__(self) -> None:
        self.acknowledged: list[Acknowledgement] = []

    async def acknowledge(self, ack: Acknowledgement) -> bool:
        self.acknowledged.append(ack)
        return True

    async def incident_to_ack(self, contact: str, number: int | None) -> str | None:
        return None

    async def standing(self, incident_id: str) -> Standing:
        return Standing(None)

    async def status_text(self) -> str:
        return ""

    async def note_occupancy(self, contact: str, *, home: bool) -> None:
        return None


async def count_false_acceptances(rig: Rig, workdir: Path, calls: int) -> dict[str, int]:
    """Place `calls` calls that end in voicemail, no answer or busy; count what they did."""
    moved_on: list[OutboxEntry] = []
    accepted: list[str] = []

    async def fail_over(entry: OutboxEntry, delivery: Delivery) -> None:
        moved_on.append(entry)

    async def accept(entry: OutboxEntry, contact: str) -> None:
        accepted.append(contact)

    outcomes = list(TWILIO_CALL_OUTCOMES)
    async with dispatching(rig, workdir, "calls", failover=False) as (store, dispatcher):
        entries = [
            entry
            for n in range(calls)
            for entry in await store.commit(
                decision(f"call-{n}", outcomes[n % len(outcomes)], "voice"), at=_now()
            )
        ]
        dispatcher.submit(entries)
        await dispatcher.drain()
        tracker = StatusTracker(
            store, {"voice": rig.twilio["voice"]}, fail_over, poll_s=60, accept=accept
        )
        desk = CountingDesk()
        inbox = Inbox(desk, store, rig.tokens, CONTACTS)
        settings = rig.gateway.settings
        hooks = TwilioHooks(settings, PUBLIC_URL, inbox, tracker, person="Mum")
        awaiting = await store.awaiting_status(["voice"], since=entries[0].created_at)
        sent = {waiting.entry.id: waiting.ref for waiting in awaiting}
        for number, entry in enumerate(entries):
            sid = str(sent[entry.id])
            outcome = TWILIO_CALL_OUTCOMES[entry.contact]
            if outcome == "completed":  # voicemail: Twilio posts the gather with no digits
                await hooks.voice(rig.tokens.token(entry), {"CallSid": sid})
            if number % 2 == 0:  # half are reported by callback, the rest only polled
                await hooks.status({"CallSid": sid, "CallStatus": outcome})
        while await tracker.check_once():
            pass
        states = [e.state for e in await store.notifications()]
    return {
        "calls": calls,
        "delivered (answered)": states.count("delivered"),
        "moved on (busy, no answer)": len(moved_on),
        "accepted": len(accepted) + len(desk.acknowledged),
    }


def _now() -> datetime:
    return datetime.now(UTC)


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def report(
    requests: dict[str, list[float]], moved: dict[str, list[float]], calls: dict[str, int]
) -> None:
    print("decision -> provider request, per channel (emergencies, one at a time)")
    for channel, values in requests.items():
        print(
            f"  {channel:<9} n={len(values):<4} p50 {statistics.median(values):6.2f} ms"
            f"   p99 {percentile(values, 0.99):6.2f} ms   max {max(values):6.2f} ms"
        )
    print("failed delivery -> next path's request (Twilio polled every 15 s, Pushover every 5 s)")
    worst = 0.0
    for channel, values in moved.items():
        worst = max(worst, *values)
        print(
            f"  {channel:<9} n={len(values):<4} p50 {statistics.median(values):6.2f} s"
            f"   p99 {percentile(values, 0.99):6.2f} s   max {max(values):6.2f} s"
        )
    met = worst < TARGET_MOVE_ON_S
    print(f"target: next path within {TARGET_MOVE_ON_S:.0f} s: {'met' if met else 'NOT met'}")
    print(
        "calls ending in voicemail, no answer or busy: "
        + ", ".join(f"{k} {v}" for k, v in calls.items())
    )
    print(f"target: 0 false acceptances: {'met' if calls['accepted'] == 0 else 'NOT met'}")


async def run(
    args: argparse.Namespace, urls: dict[str, str], arrivals: Arrivals, control: Any, results: Any
) -> None:
    with tempfile.TemporaryDirectory() as folder:
        workdir = Path(folder)
        async with AsyncExitStack() as stack:
            rig = Rig(urls, stack)
            async with dispatching(rig, workdir, "requests") as (store, dispatcher):
                requests = await time_requests(store, dispatcher, arrivals, args.per_channel)
            moved = await time_moving_on(rig, workdir, control, results, args.failures)
            calls = await count_false_acceptances(rig, workdir, args.calls)
    report(requests, moved, calls)


def main() -> None:
    logging.getLogger("stamina").setLevel(logging.ERROR)
    logging.getLogger("telecare").setLevel(logging.CRITICAL)  # failures are the point here
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--per-channel", type=int, default=200)
    parser.add_argument("--failures", type=int, default=20, help="failed deliveries per channel")
    parser.add_argument("--calls", type=int, default=1000)
    args = parser.parse_args()
    arrivals = Arrivals()
    urls: Any = multiprocessing.Queue()
    control: Any = multiprocessing.Queue()
    results: Any = multiprocessing.Queue()
    child = multiprocessing.Process(
        target=serve_stand_ins, args=(arrivals, urls, control, results), daemon=True
    )
    child.start()
    try:
        found = urls.get(timeout=30)
        asyncio.run(run(args, found, arrivals, control, results))
    finally:
        child.terminate()
        child.join(10)


if __name__ == "__main__":
    main()
