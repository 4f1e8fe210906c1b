"""Where a failed alert goes next: a channel it has not been through yet."""

from datetime import UTC, datetime

from notifier.failover import Failover
from notifier.model import Delivery
from tests.notifier.entries import entry

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)
BOB_ROUTES = {"Bob": ("sms", "whatsapp", "voice", "outbox")}


def test_an_alert_moved_on_never_goes_back_to_the_channel_it_was_meant_for() -> None:
    moved = entry(key="help-1/step1/Bob/sms/via-whatsapp", contact="Bob", channel="whatsapp")

    notes = Failover(BOB_ROUTES).plan(moved, Delivery("failed", "Twilio answered 503"), at=NOW)

    assert [(n.key, n.channel) for n in notes] == [
        ("help-1/step1/Bob/sms/via-whatsapp/via-voice", "voice"),
        ("help-1/step1/Bob/sms/via-whatsapp/notice", "outbox"),
    ], "the SMS failed already: WhatsApp's failure moves it to a call, not to SMS again"
