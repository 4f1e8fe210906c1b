"""Which alarms are owed once their provider is back, and the pass that sends them."""

from typing import Any

from notifier.model import Delivery, OutboxEntry
from notifier.redelivery import Owed, Redelivery
from tests.notifier.entries import entry


def failed(entry_id: int, key: str, **fields: Any) -> OutboxEntry:
    """An alarm whose provider never answered."""
    incident, _, rest = key.partition("/")
    contact, *channels = rest.split("/")[1:]
    channel = channels[-1].removeprefix("via-")
    values = {"contact": contact, "channel": channel, "state": "failed", "unreachable": True}
    return entry(id=entry_id, key=key, incident_id=incident, **{**values, **fields})


def test_alarms_are_owed_oldest_first_to_whoever_has_not_had_them() -> None:
    entries = [
        failed(1, "fall-2/step0/Alice/ntfy"),
        failed(2, "help-1/step0/Alice/ntfy"),
        failed(3, "help-1/step1/Bob/sms"),
        failed(4, "help-1/step1/Bob/sms/via-whatsapp"),
        failed(5, "help-1/step0/Alice/ntfy/via-outbox", state="delivered", unreachable=False),
    ]
    found = Owed(entries[::-1], {"help-1": 0, "fall-2": 0})
    assert [e.id for e in found.ready()] == [1, 2, 3, 4], "the hub's own outbox tells nobody"


def test_an_alarm_had_another_way_is_not_owed_and_one_on_its_way_waits() -> None:
    entries = [
        failed(1, "help-1/step0/Alice/ntfy"),
        failed(2, "help-1/step0/Alice/ntfy/via-sms", state="sent", unreachable=False),
        failed(3, "help-1/step1/Bob/sms"),
        failed(4, "help-1/step1/Bob/sms/via-whatsapp", state="pending", unreachable=False),
    ]
    found = Owed(entries, {"help-1": 0})
    assert [e.id for e in found.alarms()] == [3], "Alice has it; Bob may yet not"
    assert found.ready() == [], "nothing goes to Bob while his WhatsApp is on its way"


def test_only_the_alarms_of_the_current_round_and_no_refusal_or_news_are_owed() -> None:
    entries = [
        failed(1, "help-1/step0/Alice/ntfy"),  # round 0: acknowledged, re-fired since
        failed(2, "help-1/ack/Bob/sms"),  # news that someone is on it
        failed(3, "help-1/r1.step0/Alice/ntfy"),
        failed(4, "help-1/r1.step1/Bob/sms", unreachable=False),  # a bad number
    ]
    assert [e.id for e in Owed(entries, {"help-1": 1}).alarms()] == [3]
    assert Owed(entries, {}).alarms() == [], "an incident that no longer fires is owed nothing"


class _Owed:
    """A store whose owed alarms are settled as the sends are answered."""

    def __init__(self, entries: list[OutboxEntry]) -> None:
        self.entries = entries

    async def owed_notifications(self) -> Owed:
        return Owed(list(self.entries), {"a-1": 0, "b-2": 0})


async def test_a_pass_sends_each_channel_s_backlog_in_order_until_its_provider_fails() -> None:
    store = _Owed([
        failed(1, "a-1/step0/Alice/ntfy"),
        failed(2, "a-1/step1/Bob/sms"),
        failed(3, "b-2/step0/Alice/ntfy"),
        failed(4, "b-2/step1/Bob/sms"),
    ])  # fmt: skip
    sent: list[int] = []

    async def send(e: OutboxEntry) -> Delivery:
        if e.channel == "sms":
            return Delivery("failed", "Twilio timed out", unreachable=True)
        sent.append(e.id)
        store.entries.remove(e)
        return Delivery("sent")

    redelivery = Redelivery(store, send)
    redelivery.gave_up("ntfy")
    await redelivery.resend()

    assert sent == [1, 3]
    assert [e.id for e in store.entries] == [2, 4], "tried once, Twilio's backlog waits"
    assert redelivery.is_down("sms")
    assert not redelivery.is_down("ntfy"), "nothing owed on ntfy: it is back"


async def test_one_of_a_provider_s_channels_down_is_all_of_them_down() -> None:
    async def send(e: OutboxEntry) -> Delivery:
        return Delivery("failed", "Twilio timed out", unreachable=True)

    providers = {"sms": "twilio", "whatsapp": "twilio", "voice": "twilio"}
    redelivery = Redelivery(_Owed([]), send, providers=providers)
    redelivery.gave_up("sms")
    assert redelivery.is_down("voice") and redelivery.is_down("whatsapp")
    assert not redelivery.is_down("ntfy")
