"""Carers' answers over outbound connections: the ntfy ack topic and polled SMS replies."""

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from hub.store.store import Store
from notifier.acks import Acknowledgement, AckTokens
from notifier.channels.ntfy import NtfyChannel
from notifier.channels.twilio import TwilioGateway
from notifier.inbox import Inbox
from notifier.replies import Standing
from notifier.settings import NtfySettings
from tests.notifier.entries import ALICE, BEN, CONTACTS
from tests.notifier.outbox import add_alert, wait_for
from tests.notifier.test_twilio import settings as twilio_settings
from tests.support.reliability import record
from tests.support.standins import FROM_NUMBER, NtfyStandIn, TwilioStandIn, serving

ACK_TOPIC = "hub-acks-5f1c2d9e8a7b6c4d"
ACKNOWLEDGED_AT = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


class RecordingDesk:
    """The hub's side of the seam, recording what it is asked to do."""

    def __init__(self) -> None:
        self.acks: list[Acknowledgement] = []
        self.occupancy: list[tuple[str, bool]] = []
        self.open_incident: str | None = "pendant-3"
        self.closed: set[str] = set()  # over by the time an acknowledgement reaches the engine

    async def acknowledge(self, ack: Acknowledgement) -> bool:
        if ack.incident_id in self.closed:
            return False
        if any(a.incident_id == ack.incident_id for a in self.acks):
            return False
        self.acks.append(ack)
        return True

    async def incident_to_ack(self, contact: str, number: int | None) -> str | None:
        if number is not None:
            return f"pendant-{number}" if number == 3 else None
        return self.open_incident

    async def standing(self, incident_id: str) -> Standing:
        if incident_id in self.closed:
            return Standing("resolved")
        first = next(a for a in self.acks if a.incident_id == incident_id)
        return Standing("acknowledged", by=first.contact, since=ACKNOWLEDGED_AT)

    async def status_text(self) -> str:
        return "All OK: no open alarms. Last activity 10:42 Kitchen (motion.detected)."

    async def note_occupancy(self, contact: str, *, home: bool) -> None:
        self.occupancy.append((contact, home))


class Rig:
    def __init__(self, store: Store, twilio: TwilioStandIn, ntfy: NtfyStandIn) -> None:
        self.store, self.twilio, self.ntfy = store, twilio, ntfy
        self.desk = RecordingDesk()
        self.tokens = AckTokens(b"k" * 32)


@pytest.fixture
async def rig(tmp_path: Path) -> AsyncIterator[tuple[Rig, Inbox]]:
    twilio, ntfy = TwilioStandIn(), NtfyStandIn()
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(serving(twilio))
        await stack.enter_async_context(serving(ntfy))
        store = await stack.enter_async_context(Store.open(tmp_path / "hub.db"))
        gateway = TwilioGateway(twilio_settings(twilio.url))
        stack.push_async_callback(gateway.close)
        push = NtfyChannel(NtfySettings(server=ntfy.url, ack_topic=ACK_TOPIC), CONTACTS)
        stack.push_async_callback(push.close)
        found = Rig(store, twilio, ntfy)
        inbox = Inbox(
            found.desk, store, found.tokens, CONTACTS, ntfy=(push, ACK_TOPIC), twilio=gateway
        )
        yield found, inbox  # entered by the tests that need its listeners running


async def press_button(url: str, body: str) -> None:
    """What the ntfy app does when the carer taps "I'm on it"."""
    async with httpx.AsyncClient() as phone:
        response = await phone.post(f"{url}/{ACK_TOPIC}", content=body)
        response.raise_for_status()


async def test_the_im_on_it_button_acknowledges_over_the_subscription(
    rig: tuple[Rig, Inbox],
) -> None:
    found, inbox = rig
    entry = await add_alert(found.store, "pendant-1", channel="ntfy")
    async with inbox:
        await wait_for(lambda: bool(found.ntfy._listeners))  # subscribed
        await press_button(found.ntfy.url, found.tokens.token(entry))
        await wait_for(lambda: len(found.desk.acks) == 1)
    [ack] = found.desk.acks
    assert (ack.incident_id, ack.contact, ack.channel) == ("pendant-1", "Alice", "ntfy")


async def test_a_forged_token_acknowledges_nothing(rig: tuple[Rig, Inbox]) -> None:
    found, inbox = rig
    target = await add_alert(found.store, "pendant-1", channel="ntfy")
    other = await add_alert(found.store, "pendant-2", channel="ntfy")
    async with inbox:
        await wait_for(lambda: bool(found.ntfy._listeners))  # subscribed
        await press_button(found.ntfy.url, f"{target.id}.AAAAAAAAAAAAAAAAAAAAAA")
        await press_button(found.ntfy.url, found.tokens.token(other))  # then a genuine one
        await wait_for(lambda: bool(found.desk.acks))

    assert [a.incident_id for a in found.desk.acks] == ["pendant-2"]
    assert await inbox.accept_token(f"{target.id}.forged") == "not genuine"
    record("abuse", "ntfy acknowledgement, forged token", forged=2, obeyed=0, genuine_obeyed=1)


async def test_ok_by_sms_acknowledges_the_open_incident_and_answers(
    rig: tuple[Rig, Inbox],
) -> None:
    found, inbox = rig
    found.twilio.receive(str(ALICE.phone), "ok")

    assert await inbox.poll_sms_once() == 1
    assert await inbox.poll_sms_once() == 0  # each reply is handled once

    [ack] = found.desk.acks
    assert (ack.incident_id, ack.contact, ack.channel) == ("pendant-3", "Alice", "sms")
    [answer] = found.twilio.outbound(to=str(ALICE.phone))
    assert answer["from"] == FROM_NUMBER
    assert answer["body"].startswith("Thank you, Alice")


@pytest.mark.parametrize(
    ("body", "answer_starts"),
    [
        ("ACK 3", "Thank you, Alice"),
        ("ACK 9", "There is no open alarm number 9"),
        ("STATUS", "All OK: no open alarms. Last activity 10:42 Kitchen"),
        ("home", "Noted: Alice is with Mum"),
        ("HELP", "Telecare hub: reply OK"),
        ("what is going on?", "Telecare hub: reply OK"),
    ],
)
async def test_keywords_get_their_answers(
    rig: tuple[Rig, Inbox], body: str, answer_starts: str
) -> None:
    found, inbox = rig
    found.twilio.receive(str(ALICE.phone), body)

    await inbox.poll_sms_once()

    [answer] = found.twilio.outbound(to=str(ALICE.phone))
    assert answer["body"].startswith(answer_starts)


async def test_an_ok_that_does_not_take_gets_the_truth_not_a_thank_you(
    rig: tuple[Rig, Inbox],
) -> None:
    found, inbox = rig
    found.twilio.receive(str(ALICE.phone), "OK")
    await inbox.poll_sms_once()
    found.twilio.receive(str(BEN.phone), "ok")
    found.twilio.receive(str(ALICE.phone), "ACK 3")
    await inbox.poll_sms_once()
    found.desk.closed.add("pendant-3")
    found.twilio.receive(str(BEN.phone), "OK")
    await inbox.poll_sms_once()

    assert [a.contact for a in found.desk.acks] == ["Alice"]
    to_alice = [m["body"] for m in found.twilio.outbound(to=str(ALICE.phone))]
    assert to_alice[0].startswith("Thank you, Alice")
    assert to_alice[1] == "You are already down as dealing with it (since 10:42)."
    to_ben = [m["body"] for m in found.twilio.outbound(to=str(BEN.phone))]
    assert to_ben == ["Alice is already dealing with it (since 10:42).", "That alarm is over."]


async def test_nothing_is_obeyed_or_answered_from_an_unknown_number(
    rig: tuple[Rig, Inbox],
) -> None:
    found, inbox = rig
    found.twilio.receive("+447700900777", "OK")
    found.twilio.receive("+447700900777", "STATUS")

    await inbox.poll_sms_once()

    assert found.desk.acks == []
    assert found.twilio.outbound() == []
    record("abuse", "SMS from a number that is not a contact", sms=2, obeyed=0, answered=0)


async def test_after_a_restart_old_replies_are_not_obeyed_again_and_new_ones_are(
    rig: tuple[Rig, Inbox],
) -> None:
    found, inbox = rig
    found.twilio.receive(str(ALICE.phone), "OK")
    assert await inbox.poll_sms_once() == 1

    found.twilio.receive(str(ALICE.phone), "STATUS")  # while the hub is down
    async with TwilioGateway(twilio_settings(found.twilio.url)) as gateway:
        restarted = Inbox(found.desk, found.store, found.tokens, CONTACTS, twilio=gateway)
        assert await restarted.poll_sms_once() == 1

    assert len(found.desk.acks) == 1
    answers = [m["body"] for m in found.twilio.outbound(to=str(ALICE.phone))]
    assert answers[0].startswith("Thank you, Alice")
    assert answers[1].startswith("All OK")
    assert len(answers) == 2
    record("abuse", "SMS replies seen again after a restart", replayed=1, obeyed_again=0)


async def test_a_reply_sent_while_the_hub_was_down_is_read_even_if_none_came_before(
    rig: tuple[Rig, Inbox],
) -> None:
    found, _ = rig
    now = datetime.now(UTC)
    first_start = now - timedelta(hours=2)
    assert await found.store.replies_since(first_start) == first_start  # the hub's first read
    found.twilio.receive(str(ALICE.phone), "HOME", at=now - timedelta(hours=3))  # before it
    found.twilio.receive(str(ALICE.phone), "OK", at=now - timedelta(minutes=40))  # hub down

    async with TwilioGateway(twilio_settings(found.twilio.url)) as gateway:
        restarted = Inbox(found.desk, found.store, found.tokens, CONTACTS, twilio=gateway)
        assert await restarted.poll_sms_once() == 1

    assert [a.contact for a in found.desk.acks] == ["Alice"]
    assert found.desk.occupancy == []  # older than the hub: about none of its alarms
    assert await found.store.replies_since(now) > first_start  # resumes from the one handled


async def test_with_web_hooks_replies_sent_while_the_hub_was_down_are_read_once_at_start(
    rig: tuple[Rig, Inbox],
) -> None:
    found, _ = rig
    await found.store.replies_since(datetime.now(UTC) - timedelta(hours=1))
    found.twilio.receive(str(ALICE.phone), "OK", at=datetime.now(UTC) - timedelta(minutes=10))
    hooked = twilio_settings(found.twilio.url, public_url="https://hub.example.org")
    async with TwilioGateway(hooked) as gateway:
        inbox = Inbox(
            found.desk, found.store, found.tokens, CONTACTS, twilio=gateway, webhooks=True
        )
        async with inbox:
            await wait_for(lambda: len(found.twilio.outbound(to=str(ALICE.phone))) == 1)

    assert [a.contact for a in found.desk.acks] == ["Alice"]


async def test_a_whatsapp_reply_is_heard_and_answered_on_whatsapp(
    rig: tuple[Rig, Inbox],
) -> None:
    found, _ = rig
    settings = twilio_settings(found.twilio.url, whatsapp_from=FROM_NUMBER)
    async with TwilioGateway(settings) as gateway:
        inbox = Inbox(found.desk, found.store, found.tokens, CONTACTS, twilio=gateway)
        found.twilio.receive(f"whatsapp:{ALICE.phone}", "OK", to=f"whatsapp:{FROM_NUMBER}")
        assert await inbox.poll_sms_once() == 1

    [ack] = found.desk.acks
    assert (ack.contact, ack.channel) == ("Alice", "whatsapp")
    [answer] = found.twilio.outbound(to=f"whatsapp:{ALICE.phone}")
    assert answer["from"] == f"whatsapp:{FROM_NUMBER}"
