"""Delivery guarantees: retries, failover, budgets, the emergency lane and restarts mid-send."""

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.store.store import Store
from notifier.budget import Budget, Budgets
from notifier.channels.ntfy import NtfyChannel
from notifier.channels.twilio import TwilioChannel, TwilioGateway
from notifier.dispatcher import Dispatcher, Unreached
from notifier.failover import Failover, routes_for
from notifier.model import Delivery, OutboxEntry
from notifier.ports import Channel
from notifier.retrying import RetryPolicy
from notifier.settings import NtfySettings
from notifier.tracking import StatusTracker
from tests.notifier.entries import ALICE, CONTACTS
from tests.notifier.outbox import add_alert, wait_for
from tests.notifier.test_twilio import settings as twilio_settings
from tests.support.standins import Fault, NtfyStandIn, TwilioStandIn, serving

FAST = RetryPolicy(
    attempts=5,
    timeout_s=10,
    emergency_timeout_s=10,
    wait_initial_s=0.01,
    wait_max_s=0.05,
    wait_jitter_s=0.01,
)


class Rig:
    """The stand-ins, a real store and the channels that reach them."""

    def __init__(self, store: Store, twilio: TwilioStandIn, ntfy: NtfyStandIn) -> None:
        self.store = store
        self.twilio = twilio
        self.ntfy = ntfy
        self.channels: dict[str, Channel] = {}
        self.gateway: TwilioGateway | None = None

    def dispatcher(
        self,
        *,
        budgets: Budgets | None = None,
        unreached: Unreached | None = None,
        **extra: Channel,
    ) -> Dispatcher:
        channels = {**self.channels, **extra}
        routes = routes_for(CONTACTS, set(channels), set())
        failover = Failover(routes)
        return Dispatcher(
            self.store,
            channels,
            retry=FAST,
            failover=failover,
            budgets=budgets,
            unreached=unreached,
        )

    def tracker(self, dispatcher: Dispatcher) -> StatusTracker:
        """Delivery tracking of the SMS channel, failing over through `dispatcher`."""
        return StatusTracker(
            self.store, {"sms": self.channels["sms"]}, dispatcher.fail_over, poll_s=60
        )

    async def states(self) -> dict[str, str]:
        return {e.key: e.state for e in await self.store.notifications()}


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[Rig]:
    twilio, ntfy = TwilioStandIn(), NtfyStandIn()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving(twilio))
        await stack.enter_async_context(serving(ntfy))
        store = await stack.enter_async_context(Store.open(tmp_path / "hub.db"))
        gateway = TwilioGateway(twilio_settings(twilio.url, timeout_s=0.3))
        stack.push_async_callback(gateway.close)
        push = NtfyChannel(NtfySettings(server=ntfy.url, timeout_s=0.3), CONTACTS)
        stack.push_async_callback(push.close)
        found = Rig(store, twilio, ntfy)
        found.channels = {"sms": TwilioChannel("sms", gateway, CONTACTS), "ntfy": push}
        found.gateway = gateway
        yield found


async def test_transient_failures_are_retried_until_the_message_goes_once(rig: Rig) -> None:
    rig.twilio.faults.extend([Fault(500), Fault(429, retry_after="0"), Fault(hang=True)])
    entry = await add_alert(rig.store, "pendant-1")

    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()

    assert len(rig.twilio.requests) == 4
    assert len(rig.twilio.outbound()) == 1
    assert await rig.states() == {entry.key: "sent"}


async def test_a_bad_number_fails_over_at_once_and_raises_a_notice(rig: Rig) -> None:
    rig.twilio.bad_numbers.add(str(ALICE.phone))
    entry = await add_alert(rig.store, "pendant-1")

    async with rig.dispatcher(outbox=_Recorder()) as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()

    assert len(rig.twilio.requests) == 1  # a permanent failure is not retried
    [pushed] = rig.ntfy.on_topic("alice-phone")
    assert pushed["message"] == entry.text
    notes = {e.key: e for e in await rig.store.notifications()}
    assert notes[entry.key].state == "failed"
    assert notes[f"{entry.key}/via-ntfy"].state == "sent"
    notice = notes[f"{entry.key}/notice"]
    assert notice.channel == "outbox"
    assert notice.state == "delivered"
    assert "Delivery failing" in notice.text
    assert "21211" in notice.text
    assert "trying ntfy instead" in notice.text


async def test_when_retries_run_out_the_alert_fails_over(rig: Rig) -> None:
    rig.twilio.faults.extend([Fault(500)] * 5)
    entry = await add_alert(rig.store, "pendant-1")

    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()

    assert len(rig.twilio.requests) == FAST.attempts
    assert rig.twilio.outbound() == []
    assert len(rig.ntfy.on_topic("alice-phone")) == 1
    states = await rig.states()
    assert states[entry.key] == "failed"
    assert states[f"{entry.key}/via-ntfy"] == "sent"


async def test_info_that_fails_is_noticed_but_not_rerouted(rig: Rig) -> None:
    rig.twilio.bad_numbers.add(str(ALICE.phone))
    entry = await add_alert(rig.store, "battery-1", severity="info")

    async with rig.dispatcher(outbox=_Recorder()) as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()

    assert rig.ntfy.published == []
    assert set(await rig.states()) == {entry.key, f"{entry.key}/notice"}


async def test_an_exhausted_sms_budget_moves_emergencies_to_push(rig: Rig) -> None:
    budgets = Budgets(rig.store, [Budget("SMS", ("sms",), per_hour=1, per_day=5)])
    first = await add_alert(rig.store, "pendant-1")

    async with rig.dispatcher(budgets=budgets, outbox=_Recorder()) as dispatcher:
        dispatcher.submit([first])
        await dispatcher.drain()
        second = await add_alert(rig.store, "pendant-2")
        dispatcher.submit([second])
        await dispatcher.drain()

    assert len(rig.twilio.outbound()) == 1
    assert [m["message"] for m in rig.ntfy.on_topic("alice-phone")] == [second.text]
    notes = {e.key: e for e in await rig.store.notifications()}
    assert "budget exhausted: 1 SMS to Alice in the last hour" in notes[f"{second.key}/notice"].text


async def test_budgets_count_what_was_sent_before_a_restart(rig: Rig) -> None:
    first = await add_alert(rig.store, "pendant-1")
    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([first])
        await dispatcher.drain()

    budgets = Budgets(rig.store, [Budget("SMS", ("sms",), per_hour=5, per_day=1)])
    async with rig.dispatcher(budgets=budgets, outbox=_Recorder()) as dispatcher:
        second = await add_alert(rig.store, "pendant-2")
        dispatcher.submit([second])
        await dispatcher.drain()

    assert len(rig.twilio.outbound()) == 1
    notes = {e.key: e for e in await rig.store.notifications()}
    assert "1 SMS to Alice in the last day (limit 1)" in notes[f"{second.key}/notice"].text


async def test_a_send_that_failed_does_not_spend_the_budget(rig: Rig) -> None:
    budgets = Budgets(rig.store, [Budget("SMS", ("sms",), per_hour=1, per_day=1)])
    rig.twilio.faults.append(Fault(400))
    first = await add_alert(rig.store, "pendant-1")
    async with rig.dispatcher(budgets=budgets, outbox=_Recorder()) as dispatcher:
        dispatcher.submit([first])
        await dispatcher.drain()
        second = await add_alert(rig.store, "pendant-2")
        dispatcher.submit([second])
        await dispatcher.drain()

    assert len(rig.twilio.outbound()) == 1
    assert (await rig.states())[second.key] == "sent"


@pytest.mark.parametrize("severity", ["emergency", "urgent"])
async def test_an_alarm_does_not_wait_behind_slow_information(rig: Rig, severity: str) -> None:
    slow = _Recorder(hold=True)
    routine = [
        await add_alert(rig.store, f"battery-{n}", channel="outbox", severity="info")
        for n in range(6)
    ]

    async with rig.dispatcher(outbox=slow) as dispatcher:
        dispatcher.submit(routine)
        await wait_for(lambda: len(slow.started) == 4)  # every info slot is held up
        alarm = await add_alert(rig.store, "pendant-1", severity=severity)  # type: ignore[arg-type]
        dispatcher.submit([alarm])
        await wait_for(lambda: len(rig.twilio.outbound()) == 1)
        assert len(slow.started) == 4
        slow.release.set()
        await dispatcher.drain()

    assert len(slow.started) == 6


async def test_in_a_burst_each_alarm_s_first_request_goes_before_earlier_second_ones(
    rig: Rig,
) -> None:
    slow = _Recorder(hold=True)

    async def alert(incident_id: str, contact: str) -> OutboxEntry:
        return await add_alert(
            rig.store, incident_id, channel="outbox", severity="info", contact=contact
        )

    blockers = [await alert(f"battery-{n}", "Alice") for n in range(4)]
    first = [await alert("door-1", "Alice"), await alert("door-1", "Ben")]
    second = [await alert("door-2", "Alice"), await alert("door-2", "Ben")]

    async with rig.dispatcher(outbox=slow) as dispatcher:
        dispatcher.submit(blockers)
        await wait_for(lambda: len(slow.started) == 4)  # every info slot is taken
        dispatcher.submit(first)
        dispatcher.submit(second)
        slow.release.set()
        await dispatcher.drain()

    assert [(e.incident_id, e.contact) for e in slow.started[4:]] == [
        ("door-1", "Alice"),
        ("door-2", "Alice"),
        ("door-1", "Ben"),
        ("door-2", "Ben"),
    ]


async def test_a_restart_after_the_provider_took_the_message_does_not_send_it_again(
    rig: Rig,
) -> None:
    rig.twilio.hold_after_create = True  # the provider has it; the hub never hears back
    entry = await add_alert(rig.store, "pendant-1")
    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([entry])
        await asyncio.wait_for(rig.twilio.created.wait(), timeout=10)
    # The dispatcher was stopped mid-send, as a killed hub would be.
    assert await rig.states() == {entry.key: "pending"}

    rig.twilio.hold_after_create = False
    async with rig.dispatcher() as dispatcher:
        await dispatcher.drain()

    assert len(rig.twilio.outbound()) == 1
    assert await rig.states() == {entry.key: "sent"}


async def test_a_restart_after_ntfy_took_the_push_does_not_publish_it_again(rig: Rig) -> None:
    rig.ntfy.hold_after_publish = True
    entry = await add_alert(rig.store, "pendant-1", channel="ntfy")
    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([entry])
        await wait_for(lambda: bool(rig.ntfy.published))

    rig.ntfy.hold_after_publish = False
    async with rig.dispatcher() as dispatcher:
        await dispatcher.drain()

    assert len(rig.ntfy.published) == 1
    assert await rig.states() == {entry.key: "sent"}


async def test_an_entry_submitted_again_is_not_sent_again(rig: Rig) -> None:
    entry = await add_alert(rig.store, "pendant-1")

    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([entry])  # also resumed from the store at start
        await dispatcher.drain()
        dispatcher.submit([entry])
        await dispatcher.drain()

    assert len(rig.twilio.outbound()) == 1


async def test_a_restart_before_the_provider_took_the_message_sends_it_once(rig: Rig) -> None:
    rig.twilio.faults.append(Fault(hang=True))
    entry = await add_alert(rig.store, "pendant-1")
    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([entry])
        await asyncio.wait_for(rig.twilio.first_request.wait(), timeout=10)

    async with rig.dispatcher() as dispatcher:
        await dispatcher.drain()

    assert len(rig.twilio.outbound()) == 1
    assert await rig.states() == {entry.key: "sent"}


async def _door_alerts(rig: Rig, *incidents: str, step: str = "step0") -> list[OutboxEntry]:
    """Each incident's notification to Alice, then to Ben (entered after the dispatcher)."""
    return [
        await add_alert(rig.store, incident, channel="outbox", contact=contact, step=step)
        for incident in incidents
        for contact in ("Alice", "Ben")
    ]


async def _while_busy(
    rig: Rig, submits: Callable[[], Awaitable[list[list[OutboxEntry]]]], *, first: int
) -> tuple[list[OutboxEntry], list[OutboxEntry]]:
    """Submit each list while the hub is busy, then not: what started in each state.

    The entries are made once the dispatcher runs (it would take pending ones at its start).
    """
    recorder = _Recorder()
    busy = True

    async with rig.dispatcher(outbox=recorder) as dispatcher:
        dispatcher.hold_second_channels(lambda: busy, limit_s=60)
        for entries in await submits():
            dispatcher.submit(entries)
        await wait_for(lambda: len(recorder.started) == first)
        await asyncio.sleep(0.05)  # time enough for a held entry to start, were it not held
        while_busy = list(recorder.started)
        busy = False
        dispatcher.release_held()
        await dispatcher.drain()
    return while_busy, recorder.started


async def test_while_the_hub_is_busy_second_channels_wait_for_every_first_one(
    rig: Rig,
) -> None:
    async def two_alarms() -> list[list[OutboxEntry]]:
        entries = await _door_alerts(rig, "door-1", "door-2")
        return [entries[:2], entries[2:]]

    while_busy, started = await _while_busy(rig, two_alarms, first=2)

    assert [e.contact for e in while_busy] == ["Alice", "Alice"]
    assert [(e.incident_id, e.contact) for e in started] == [
        ("door-1", "Alice"),
        ("door-2", "Alice"),
        ("door-1", "Ben"),
        ("door-2", "Ben"),
    ]


async def test_news_for_the_first_person_is_not_held_but_waits_behind_a_held_alarm(
    rig: Rig,
) -> None:
    async def alarm_then_all_ok() -> list[list[OutboxEntry]]:
        alarm = await _door_alerts(rig, "door-1")
        all_ok = await _door_alerts(rig, "door-1", step="resolved")  # the same people
        return [alarm + all_ok]

    while_busy, started = await _while_busy(rig, alarm_then_all_ok, first=2)

    keys = [e.key.split("/", 1)[1] for e in started]
    assert keys[:2] == ["step0/Alice/outbox", "resolved/Alice/outbox"]
    assert keys[2:] == ["step0/Ben/outbox", "resolved/Ben/outbox"], "Ben's, held, in order"
    assert [e.contact for e in while_busy] == ["Alice", "Alice"]


async def test_a_held_channel_goes_once_the_hold_limit_passes(rig: Rig) -> None:
    recorder = _Recorder()

    async with rig.dispatcher(outbox=recorder) as dispatcher:
        dispatcher.hold_second_channels(lambda: True, limit_s=0.05)  # busy for ever
        dispatcher.submit(await _door_alerts(rig, "door-1"))
        await wait_for(lambda: len(recorder.started) == 2)

    assert [e.contact for e in recorder.started] == ["Alice", "Ben"]


async def test_when_the_hub_is_not_busy_nothing_is_held(rig: Rig) -> None:
    recorder = _Recorder(hold=True)

    async with rig.dispatcher(outbox=recorder) as dispatcher:
        dispatcher.hold_second_channels(lambda: False, limit_s=60)
        dispatcher.submit(await _door_alerts(rig, "door-1"))
        await wait_for(lambda: len(recorder.started) == 2)  # both under way at once
        recorder.release.set()
        await dispatcher.drain()


async def test_second_channels_wait_until_the_first_ones_are_answered(rig: Rig) -> None:
    # After a burst the first people's requests may still be going out: the second ones follow
    # once those are answered, not alongside them.
    recorder = _Recorder(hold=True)
    busy = True

    async with rig.dispatcher(outbox=recorder) as dispatcher:
        dispatcher.hold_second_channels(lambda: busy, limit_s=60)
        dispatcher.submit(await _door_alerts(rig, "door-1", "door-2"))
        await wait_for(lambda: len(recorder.started) == 2)  # Alice's two, not yet answered
        busy = False
        dispatcher.release_when_answered()
        await asyncio.sleep(0.05)  # time enough for Ben's to start, were they released
        assert [e.contact for e in recorder.started] == ["Alice", "Alice"]
        recorder.release.set()
        await wait_for(lambda: len(recorder.started) == 4)
        dispatcher.release_when_answered()  # nothing held: nothing to wait for
        await dispatcher.drain()

    assert [(e.incident_id, e.contact) for e in recorder.started[2:]] == [
        ("door-1", "Ben"),
        ("door-2", "Ben"),
    ]


class _Recorder:
    """A local channel that records what it is given and can be held up."""

    name = "outbox"

    def __init__(self, *, hold: bool = False) -> None:
        self.started: list[OutboxEntry] = []
        self.release = asyncio.Event()
        if not hold:
            self.release.set()

    async def send(self, entry: OutboxEntry) -> Delivery:
        self.started.append(entry)
        await self.release.wait()
        return Delivery("delivered")


@pytest.mark.parametrize("push_fails", [False, True])
async def test_the_hub_hears_once_when_an_alarm_failed_on_its_last_phone_path(
    rig: Rig, push_fails: bool
) -> None:
    rig.twilio.bad_numbers.add(str(ALICE.phone))
    if push_fails:
        rig.ntfy.faults.append(Fault(400))
    entry = await add_alert(rig.store, "pendant-1")
    heard: list[tuple[str, str | None]] = []

    async def unreached(failed: OutboxEntry, delivery: Delivery) -> None:
        heard.append((failed.key, delivery.detail))

    async with rig.dispatcher(outbox=_Recorder(), unreached=unreached) as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()
        notes = {e.key: e for e in await rig.store.notifications()}
        pushed = notes[f"{entry.key}/via-ntfy"]
        if push_fails:  # the same news again (a callback, then a poll) adds nothing
            await dispatcher.fail_over(pushed, Delivery("failed", "reported again"))
            await dispatcher.drain()

    if not push_fails:  # the push went: Alice was reached
        assert heard == []
        return
    [(key, detail)] = heard
    assert key == pushed.key
    assert detail is not None and "400" in detail


async def test_an_sms_reported_undelivered_fails_over_to_push(rig: Rig) -> None:
    entry = await add_alert(rig.store, "pendant-1")

    async with rig.dispatcher(outbox=_Recorder()) as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()
        tracker = rig.tracker(dispatcher)
        assert await tracker.check_once() == 0  # still queued at the carrier
        [sent] = rig.twilio.outbound()
        rig.twilio.set_status(sent["sid"], "undelivered", error_code=30003)
        assert await tracker.check_once() == 1
        await dispatcher.drain()

    notes = {e.key: e for e in await rig.store.notifications()}
    assert notes[entry.key].state == "failed"
    assert "undelivered" in (notes[entry.key].detail or "")
    assert [m["message"] for m in rig.ntfy.on_topic("alice-phone")] == [entry.text]
    assert "30003" in notes[f"{entry.key}/notice"].text


async def test_an_undelivered_report_from_twilio_fails_over_once_and_polling_then_rests(
    rig: Rig,
) -> None:
    entry = await add_alert(rig.store, "pendant-1")

    async with rig.dispatcher(outbox=_Recorder()) as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()
        tracker = rig.tracker(dispatcher)
        [sent] = rig.twilio.outbound()
        rig.twilio.set_status(sent["sid"], "undelivered", error_code=30003)
        report = Delivery("failed", "Twilio: undelivered: error 30003", ref=sent["sid"])
        assert await tracker.report(report)
        assert not await tracker.report(report)  # Twilio saying it again changes nothing
        assert not await tracker.report(Delivery("failed", "made up", ref="SM-unknown"))
        assert await tracker.check_once() == 0  # settled: the poll does not ask again
        await dispatcher.drain()

    notes = {e.key: e for e in await rig.store.notifications()}
    assert notes[entry.key].state == "failed"
    assert [m["message"] for m in rig.ntfy.on_topic("alice-phone")] == [entry.text]
    assert "30003" in notes[f"{entry.key}/notice"].text


async def test_a_delivered_sms_is_marked_delivered(rig: Rig) -> None:
    entry = await add_alert(rig.store, "pendant-1")
    async with rig.dispatcher() as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()
        [sent] = rig.twilio.outbound()
        rig.twilio.set_status(sent["sid"], "delivered")
        tracker = rig.tracker(dispatcher)
        assert await tracker.check_once() == 1
        assert await tracker.check_once() == 0  # settled entries are not asked about again

    assert await rig.states() == {entry.key: "delivered"}
    assert rig.ntfy.published == []


async def test_messages_older_than_a_day_are_no_longer_followed(rig: Rig) -> None:
    entry = await add_alert(rig.store, "pendant-1")
    two_days_ago = datetime.now(UTC) - timedelta(days=2)
    await rig.store.record_delivery(
        entry, "sms", Delivery("sent", ref="SM123"), started=two_days_ago, at=two_days_ago
    )
    tracker = StatusTracker(rig.store, {"sms": rig.channels["sms"]}, _never, poll_s=60)

    assert await tracker.check_once() == 0
    assert rig.twilio.requests == []


async def _never(entry: OutboxEntry, delivery: Delivery) -> None:
    raise AssertionError("nothing should fail over")


@pytest.mark.parametrize("outcome", ["busy", "no-answer"])
async def test_a_call_nobody_answered_moves_on_at_the_next_poll(rig: Rig, outcome: str) -> None:
    entry = await add_alert(rig.store, "pendant-1", channel="voice")
    assert rig.gateway is not None
    voice = TwilioChannel("voice", rig.gateway, CONTACTS)

    async with rig.dispatcher(voice=voice, outbox=_Recorder()) as dispatcher:
        dispatcher.submit([entry])
        await dispatcher.drain()
        tracker = StatusTracker(rig.store, {"voice": voice}, dispatcher.fail_over, poll_s=60)
        assert await tracker.check_once() == 0  # still ringing
        rig.twilio.call_outcome[str(ALICE.phone)] = outcome
        assert await tracker.check_once() == 1
        await dispatcher.drain()

    notes = {e.key: e for e in await rig.store.notifications()}
    assert notes[entry.key].state == "failed"
    assert [m["message"] for m in rig.ntfy.on_topic("alice-phone")] == [entry.text]
    assert f"call {outcome}" in notes[f"{entry.key}/notice"].text
