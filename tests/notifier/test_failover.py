"""Where a failed alert goes next: a channel it has not been through yet."""

from datetime import UTC, datetime

from notifier.failover import Failover, step_key
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


def test_only_an_alert_with_nothing_but_the_outbox_left_has_not_reached_its_contact() -> None:
    failover = Failover(BOB_ROUTES)
    sms = entry(key="help-1/step1/Bob/sms", contact="Bob", channel="sms")
    whatsapp = entry(key="help-1/step1/Bob/sms/via-whatsapp", contact="Bob", channel="whatsapp")
    call = entry(key="help-1/step1/Bob/sms/via-whatsapp/via-voice", contact="Bob", channel="voice")

    assert [failover.unreached(e) for e in (sms, whatsapp, call)] == [False, False, True]
    assert step_key(call) == step_key(sms) == "help-1/step1/Bob/sms"
    info = call.model_copy(update={"severity": "info"})
    notice = entry(key=f"{call.key}/notice", contact="Bob", channel="outbox", severity="urgent")
    assert not failover.unreached(info)  # information is never rerouted
    assert not failover.unreached(notice)
