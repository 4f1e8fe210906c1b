"""The Pushover channel and its receipts, against the local Pushover stand-in."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from pathlib import Path

import pytest
from pydantic import ValidationError

from hub.store.store import Store
from notifier.channels.pushover import PushoverChannel
from notifier.channels.twilio import TwilioChannel, TwilioGateway
from notifier.dispatcher import Dispatcher
from notifier.failover import Failover, routes_for
from notifier.model import Delivery, OutboxEntry, TransientError
from notifier.settings import PushoverSettings
from notifier.tracking import StatusTracker
from rules.policy import Contact
from tests.notifier.entries import ALICE, BEN, entry
from tests.notifier.outbox import add_alert
from tests.notifier.test_dispatcher import FAST
from tests.notifier.test_twilio import settings as twilio_settings
from tests.support.pushover_standin import (
    ALICE_USER,
    APP_TOKEN,
    BEN_USER,
    STRANGER_USER,
    Message,
    PushoverStandIn,
)
from tests.support.standins import Fault, TwilioStandIn, serving

CONTACTS = {
    "Alice": ALICE.model_copy(update={"pushover_user": ALICE_USER}),
    "Ben": BEN.model_copy(update={"pushover_user": BEN_USER}),
}


def settings(url: str, **overrides: object) -> PushoverSettings:
    return PushoverSettings.model_validate(
        {"app_token": APP_TOKEN, "api_base": url, "timeout_s": 0.5, **overrides}
    )


@pytest.fixture
async def pushover() -> AsyncIterator[PushoverStandIn]:
    stand_in = PushoverStandIn()
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def channel(pushover: PushoverStandIn) -> AsyncIterator[PushoverChannel]:
    found = PushoverChannel(settings(pushover.url), CONTACTS, dashboard_url="http://hub.local/")
    yield found
    await found.close()


def alarm(**overrides: object) -> OutboxEntry:
    return entry(channel="pushover", key="pendant-1/step0/Alice/pushover", **overrides)


async def test_an_emergency_rings_until_acknowledged_and_comes_back_with_its_receipt(
    pushover: PushoverStandIn, channel: PushoverChannel
) -> None:
    delivery = await channel.send(alarm())

    [sent] = pushover.to(ALICE_USER)
    assert sent.form["priority"] == "2"
    assert (sent.form["retry"], sent.form["expire"]) == ("60", "1800")
    assert sent.form["sound"] == "persistent"
    assert sent.form["message"].startswith("Mum pressed her pendant")
    assert sent.form["title"] == "EMERGENCY: telecare"
    assert sent.form["url"] == "http://hub.local/"
    assert (delivery.state, delivery.ref) == ("sent", sent.receipt)


@pytest.mark.parametrize(
    ("severity", "key", "priority"),
    [
        ("urgent", "door-1/step0/Alice/pushover", "1"),
        ("info", "door-1/step0/Alice/pushover", "-1"),
        ("emergency", "pendant-1/ack/Alice/pushover", "0"),
        ("emergency", "pendant-1/resolved/Alice/pushover", "0"),
    ],
)
async def test_anything_but_an_emergency_s_alarm_has_no_receipt_and_does_not_repeat(
    pushover: PushoverStandIn, channel: PushoverChannel, severity: str, key: str, priority: str
) -> None:
    incident = key.split("/", 1)[0]
    delivery = await channel.send(
        entry(channel="pushover", severity=severity, key=key, incident_id=incident)
    )

    [sent] = pushover.to(ALICE_USER)
    assert sent.form["priority"] == priority
    assert "retry" not in sent.form
    assert sent.receipt is None
    assert (delivery.state, delivery.ref) == ("sent", None)


async def test_a_contact_without_a_user_key_fails_at_once(
    pushover: PushoverStandIn, pushover_less: PushoverChannel
) -> None:
    delivery = await pushover_less.send(alarm())

    assert (delivery.state, delivery.detail) == ("failed", "Alice has no pushover_user")
    assert pushover.messages == []


@pytest.fixture
async def pushover_less(pushover: PushoverStandIn) -> AsyncIterator[PushoverChannel]:
    found = PushoverChannel(settings(pushover.url), {"Alice": ALICE})
    yield found
    await found.close()


async def test_a_refused_user_key_or_token_fails_in_pushover_s_words(
    pushover: PushoverStandIn,
) -> None:
    pushover.users.discard(ALICE_USER)
    wrong_token = settings(pushover.url, app_token="b" * 30)
    async with AsyncExitStack() as stack:
        right = PushoverChannel(settings(pushover.url), CONTACTS)
        wrong = PushoverChannel(wrong_token, CONTACTS)
        stack.push_async_callback(right.close)
        stack.push_async_callback(wrong.close)
        unknown_user = await right.send(alarm())
        bad_token = await wrong.send(alarm())

    assert unknown_user.state == "failed"
    assert "user identifier is not a valid user" in (unknown_user.detail or "")
    assert bad_token.state == "failed"
    assert "application token is invalid" in (bad_token.detail or "")


@pytest.mark.parametrize(("status", "retry_after"), [(500, None), (429, "7")])
async def test_server_errors_and_throttling_are_transient(
    pushover: PushoverStandIn, channel: PushoverChannel, status: int, retry_after: str | None
) -> None:
    pushover.faults.append(Fault(status=status, retry_after=retry_after))

    with pytest.raises(TransientError) as raised:
        await channel.send(alarm())

    assert raised.value.retry_after_s == (7.0 if retry_after else None)


async def _receipt(channel: PushoverChannel) -> str:
    sent = await channel.send(alarm())
    assert sent.ref is not None
    return sent.ref


async def test_a_received_emergency_nobody_acknowledged_is_still_ringing(
    channel: PushoverChannel,
) -> None:
    receipt = await _receipt(channel)

    assert await channel.status(receipt) is None


async def test_acknowledged_in_the_app_is_that_carer_s_acceptance(
    pushover: PushoverStandIn, channel: PushoverChannel
) -> None:
    receipt = await _receipt(channel)
    pushover.acknowledge(receipt, BEN_USER)  # a user key shared in a Pushover group

    verdict = await channel.status(receipt)

    assert verdict is not None
    assert (verdict.state, verdict.accepted_by, verdict.ref) == ("delivered", "Ben", receipt)
    assert "iphone" in (verdict.detail or "")


async def test_an_acknowledgement_by_someone_not_a_contact_accepts_nothing(
    pushover: PushoverStandIn, channel: PushoverChannel
) -> None:
    receipt = await _receipt(channel)
    pushover.acknowledge(receipt, STRANGER_USER)

    verdict = await channel.status(receipt)

    assert verdict is not None
    assert (verdict.state, verdict.accepted_by) == ("delivered", None)


async def test_an_emergency_no_phone_received_in_its_window_is_withdrawn_and_failed(
    pushover: PushoverStandIn, channel: PushoverChannel
) -> None:
    pushover.delivery_delay_s[ALICE_USER] = None  # her phone is off
    receipt = await _receipt(channel)
    assert await channel.status(receipt) is None  # its window is still open
    pushover.backdate(receipt, 25)

    verdict = await channel.status(receipt)

    assert verdict is not None
    assert verdict.state == "failed"
    assert "no phone received it within 20 s" in (verdict.detail or "")
    assert pushover.by_receipt(receipt).cancelled


async def test_a_late_phone_is_not_failed_once_it_has_received_the_emergency(
    pushover: PushoverStandIn, channel: PushoverChannel
) -> None:
    receipt = await _receipt(channel)
    pushover.backdate(receipt, 25)  # received at once, 25 s ago, and ringing since

    assert await channel.status(receipt) is None
    assert not pushover.by_receipt(receipt).cancelled


async def test_withdrawing_cancels_the_repeats(
    pushover: PushoverStandIn, channel: PushoverChannel
) -> None:
    receipt = await _receipt(channel)

    last = await channel.withdraw(receipt)

    assert last.state == "delivered"
    assert "withdrawn" in (last.detail or "")
    assert pushover.by_receipt(receipt).cancelled


async def test_an_unknown_receipt_is_a_failure_in_pushover_s_words(
    channel: PushoverChannel,
) -> None:
    verdict = await channel.status("r" * 30)

    assert verdict is not None
    assert verdict.state == "failed"
    assert "receipt not found" in (verdict.detail or "")


@pytest.mark.parametrize(
    ("overrides", "words"),
    [
        ({"app_token": "short"}, "is not a Pushover application token"),
        ({"retry_s": 10}, "greater than or equal to 30"),
        ({"expire_s": 20000}, "less than or equal to 10800"),
        ({"retry_s": 600, "expire_s": 300}, "would never ring again"),
    ],
)
def test_settings_outside_pushover_s_limits_are_refused_with_a_clear_error(
    overrides: dict[str, object], words: str
) -> None:
    with pytest.raises(ValidationError, match=words):
        settings("http://127.0.0.1:1", **overrides)


def test_a_user_key_that_is_not_one_is_refused_with_a_clear_error() -> None:
    with pytest.raises(ValidationError, match="is not a Pushover user key"):
        Contact(name="Alice", pushover_user="alice@example.org")


class Rig:
    """A real store, Pushover and Twilio stand-ins, a dispatcher and Pushover's tracker."""

    def __init__(self, store: Store, pushover: PushoverStandIn, twilio: TwilioStandIn) -> None:
        self.store = store
        self.pushover = pushover
        self.twilio = twilio
        self.accepted: list[tuple[str, str]] = []
        self.open_incidents = {"pendant-1"}

    async def accept(self, entry: OutboxEntry, contact: str) -> None:
        self.accepted.append((entry.incident_id, contact))

    async def wanted(self, entry: OutboxEntry) -> bool:
        return entry.incident_id in self.open_incidents


@pytest.fixture
async def rig(tmp_path: Path, pushover: PushoverStandIn) -> AsyncIterator[Rig]:
    twilio = TwilioStandIn()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving(twilio))
        store = await stack.enter_async_context(Store.open(tmp_path / "hub.db"))
        yield Rig(store, pushover, twilio)


async def _ladder(rig: Rig, stack: AsyncExitStack) -> tuple[Dispatcher, StatusTracker]:
    push = PushoverChannel(settings(rig.pushover.url), CONTACTS)
    stack.push_async_callback(push.close)
    gateway = TwilioGateway(twilio_settings(rig.twilio.url))
    stack.push_async_callback(gateway.close)
    channels = {"pushover": push, "sms": TwilioChannel("sms", gateway, CONTACTS)}
    routes = routes_for(CONTACTS, set(channels), set())
    dispatcher = Dispatcher(rig.store, channels, retry=FAST, failover=Failover(routes))
    await stack.enter_async_context(dispatcher)
    tracker = StatusTracker(
        rig.store,
        {"pushover": push},
        dispatcher.fail_over,
        poll_s=5,
        accept=rig.accept,
        wanted=rig.wanted,
    )
    return dispatcher, tracker


async def _alarm_sent(
    rig: Rig, stack: AsyncExitStack
) -> tuple[Dispatcher, StatusTracker, OutboxEntry, Message]:
    """Alice's emergency, sent on Pushover: the dispatcher, its tracker, the entry, the message."""
    alert = await add_alert(rig.store, "pendant-1", channel="pushover")
    dispatcher, tracker = await _ladder(rig, stack)
    dispatcher.submit([alert])
    await dispatcher.drain()
    [sent] = rig.pushover.to(ALICE_USER)
    assert sent.receipt is not None
    return dispatcher, tracker, alert, sent


async def test_an_acknowledgement_in_pushover_flows_into_the_acceptance_path(rig: Rig) -> None:
    async with AsyncExitStack() as stack:
        _, tracker, _, sent = await _alarm_sent(rig, stack)
        assert await tracker.check_once() == 0
        rig.pushover.acknowledge(sent.receipt, ALICE_USER)
        assert await tracker.check_once() == 1
        assert await tracker.check_once() == 0  # settled: not asked about again

    assert rig.accepted == [("pendant-1", "Alice")]
    [note] = await rig.store.notifications()
    assert note.state == "delivered"


async def test_a_pushover_alarm_no_phone_received_moves_on_to_sms_at_once(rig: Rig) -> None:
    rig.pushover.delivery_delay_s[ALICE_USER] = None
    async with AsyncExitStack() as stack:
        dispatcher, tracker, alert, sent = await _alarm_sent(rig, stack)
        rig.pushover.backdate(sent.receipt, 30)
        assert await tracker.check_once() == 1
        await dispatcher.drain()

    [sms] = rig.twilio.outbound(to=ALICE.phone)
    assert sms["body"].startswith(alert.text)
    assert rig.accepted == []
    assert sent.cancelled
    notes = {e.key: e for e in await rig.store.notifications()}
    assert notes[alert.key].state == "failed"
    assert "trying sms instead" in notes[f"{alert.key}/notice"].text


async def test_an_alarm_accepted_elsewhere_stops_ringing_without_failing_over(rig: Rig) -> None:
    async with AsyncExitStack() as stack:
        dispatcher, tracker, alert, sent = await _alarm_sent(rig, stack)
        rig.open_incidents.clear()  # Ben replied OK by SMS
        assert await tracker.check_once() == 1
        await dispatcher.drain()

    assert sent.cancelled
    assert rig.twilio.outbound() == []
    assert rig.accepted == []
    assert [e.key for e in await rig.store.notifications()] == [alert.key]


def test_delivery_records_carry_no_acceptance_unless_a_provider_heard_one() -> None:
    assert Delivery("delivered", "call answered").accepted_by is None
