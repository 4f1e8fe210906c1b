"""The Twilio channels, through the real SDK, against the local Twilio stand-in."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import ValidationError

from notifier.channels.twilio import TwilioChannel, TwilioGateway
from notifier.channels.twiml import callback_verdict, webhook_signed
from notifier.model import TransientError
from notifier.settings import TwilioSettings
from tests.notifier.entries import ALICE, CONTACTS, entry
from tests.support.reliability import record
from tests.support.standins import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    Fault,
    TwilioStandIn,
    serving,
)


def settings(url: str, **overrides: object) -> TwilioSettings:
    return TwilioSettings.model_validate(
        {
            "account_sid": ACCOUNT_SID,
            "auth_token": AUTH_TOKEN,
            "from_number": FROM_NUMBER,
            "api_base": url,
            "timeout_s": 0.5,
            **overrides,
        }
    )


@pytest.fixture
async def twilio() -> AsyncIterator[TwilioStandIn]:
    stand_in = TwilioStandIn()
    async with serving(stand_in):
        yield stand_in


@pytest.fixture
async def gateway(twilio: TwilioStandIn) -> AsyncIterator[TwilioGateway]:
    gateway = TwilioGateway(settings(twilio.url))
    yield gateway
    await gateway.close()


async def test_sms_reaches_the_stand_in_with_an_ack_hint(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    delivery = await TwilioChannel("sms", gateway, CONTACTS).send(entry())

    [sent] = twilio.outbound()
    assert (sent["to"], sent["from"]) == (ALICE.phone, FROM_NUMBER)
    assert sent["body"].startswith("Mum pressed her pendant")
    assert "Reply OK" in sent["body"]
    assert delivery.state == "sent"
    assert delivery.ref == sent["sid"]


async def test_whatsapp_addresses_both_ends_as_whatsapp(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    await TwilioChannel("whatsapp", gateway, CONTACTS).send(entry(channel="whatsapp"))

    [sent] = twilio.outbound()
    assert sent["to"] == f"whatsapp:{ALICE.phone}"
    assert sent["from"] == f"whatsapp:{FROM_NUMBER}"


async def test_voice_call_speaks_the_alert_and_asks_for_1(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    delivery = await TwilioChannel("voice", gateway, CONTACTS).send(entry(channel="voice"))

    [call] = twilio.calls.values()
    assert call["to"] == ALICE.phone
    assert "<Gather action=" not in call["twiml"]  # no public URL: nowhere to post the digit
    assert '<Gather method="POST" numDigits="1"' in call["twiml"]
    assert "Mum pressed her pendant" in call["twiml"]
    assert "Press 1" in call["twiml"]
    assert delivery.ref == call["sid"]


async def test_an_alphanumeric_sender_sends_the_sms_and_the_number_places_the_call(
    twilio: TwilioStandIn,
) -> None:
    async with TwilioGateway(settings(twilio.url, sms_from="Mums Hub")) as gateway:
        await TwilioChannel("sms", gateway, CONTACTS).send(entry())
        await TwilioChannel("whatsapp", gateway, CONTACTS).send(entry(channel="whatsapp"))
        await TwilioChannel("voice", gateway, CONTACTS).send(entry(channel="voice"))

    assert [m["from"] for m in twilio.outbound()] == ["Mums Hub", f"whatsapp:{FROM_NUMBER}"]
    [call] = twilio.calls.values()
    assert call["from"] == FROM_NUMBER


@pytest.mark.parametrize("sender", ["", "12345", "TwelveChars1", "Mum's hub", "+44 7700"])
def test_an_sms_sender_is_a_number_or_an_alphanumeric_sender_id(sender: str) -> None:
    with pytest.raises(ValidationError, match="alphanumeric sender ID"):
        settings("http://twilio.test", sms_from=sender)


async def test_with_a_public_url_sends_ask_for_status_callbacks_and_the_call_names_its_alert(
    twilio: TwilioStandIn,
) -> None:
    public = settings(twilio.url, public_url="https://hub.example.org/telecare/")
    async with TwilioGateway(public) as gateway:
        tokens = {7: "7.signed-by-the-hub"}
        kinds = ("sms", "voice")
        channels = {
            k: TwilioChannel(k, gateway, CONTACTS, ack_token=lambda e: tokens[e.id]) for k in kinds
        }
        sms = await channels["sms"].send(entry())
        call = await channels["voice"].send(entry(id=7, channel="voice"))

    hook = "https://hub.example.org/telecare/hooks/twilio"
    assert twilio.status_callbacks == {sms.ref: f"{hook}/status", call.ref: f"{hook}/status"}
    twiml = twilio.calls[str(call.ref)]["twiml"]
    assert f'<Gather action="{hook}/voice?entry=7.signed-by-the-hub"' in twiml


async def test_without_a_public_url_nothing_asks_for_callbacks(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    await TwilioChannel("sms", gateway, CONTACTS).send(entry())
    await TwilioChannel("voice", gateway, CONTACTS, ack_token=str).send(entry(channel="voice"))

    assert twilio.status_callbacks == {}


@pytest.mark.parametrize(
    ("form", "state", "detail"),
    [
        (
            {"MessageSid": "SM1", "MessageStatus": "undelivered", "ErrorCode": "30003"},
            "failed",
            "Twilio: undelivered: error 30003",
        ),
        (
            {"MessageSid": "SM1", "MessageStatus": "failed"},
            "failed",
            "Twilio: failed: error not given",
        ),
        ({"MessageSid": "SM1", "MessageStatus": "delivered"}, "delivered", None),
        ({"MessageSid": "SM1", "MessageStatus": "read"}, "delivered", None),
        ({"CallSid": "CA1", "CallStatus": "no-answer"}, "failed", "Twilio: call no-answer"),
        ({"CallSid": "CA1", "CallStatus": "busy"}, "failed", "Twilio: call busy"),
        ({"CallSid": "CA1", "CallStatus": "completed"}, "delivered", "call answered"),
    ],
)
def test_status_callbacks_are_read_as_delivered_or_failed(
    form: dict[str, str], state: str, detail: str | None
) -> None:
    verdict = callback_verdict(form)

    assert verdict is not None
    assert (verdict.state, verdict.detail, verdict.ref) == (
        state,
        detail,
        form.get("MessageSid", form.get("CallSid")),
    )


@pytest.mark.parametrize(
    "form",
    [
        {"MessageSid": "SM1", "MessageStatus": "sent"},
        {"MessageSid": "SM1", "MessageStatus": "queued"},
        {"CallSid": "CA1", "CallStatus": "ringing"},
        {"MessageStatus": "undelivered"},
        {},
    ],
)
def test_news_of_a_message_still_in_transit_settles_nothing(form: dict[str, str]) -> None:
    assert callback_verdict(form) is None


async def test_wrong_credentials_are_a_permanent_failure_with_twilio_s_words(
    twilio: TwilioStandIn,
) -> None:
    gateway = TwilioGateway(settings(twilio.url, auth_token="wrong"))
    try:
        delivery = await TwilioChannel("sms", gateway, CONTACTS).send(entry())
    finally:
        await gateway.close()

    assert delivery.state == "failed"
    assert "20003" in (delivery.detail or "")
    assert twilio.outbound() == []


async def test_an_invalid_number_fails_at_once_with_the_provider_s_error(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    twilio.bad_numbers.add(str(ALICE.phone))

    delivery = await TwilioChannel("sms", gateway, CONTACTS).send(entry())

    assert delivery.state == "failed"
    assert "21211" in (delivery.detail or "")
    assert "not a valid phone number" in (delivery.detail or "")


@pytest.mark.parametrize(
    ("fault", "retry_after_s"),
    [(Fault(500), None), (Fault(503), None), (Fault(429, retry_after="2"), 2.0)],
)
async def test_server_errors_and_throttling_are_transient(
    twilio: TwilioStandIn, gateway: TwilioGateway, fault: Fault, retry_after_s: float | None
) -> None:
    twilio.faults.append(fault)

    with pytest.raises(TransientError) as caught:
        await TwilioChannel("sms", gateway, CONTACTS).send(entry())

    assert caught.value.retry_after_s == retry_after_s
    assert str(fault.status) in caught.value.detail


async def test_a_provider_that_does_not_answer_times_out_as_transient(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    twilio.faults.append(Fault(hang=True))

    with pytest.raises(TransientError, match="timed out"):
        await TwilioChannel("sms", gateway, CONTACTS).send(entry())


async def test_an_unreachable_provider_is_transient() -> None:
    gateway = TwilioGateway(settings("http://127.0.0.1:9"))
    try:
        with pytest.raises(TransientError, match="unreachable"):
            await TwilioChannel("sms", gateway, CONTACTS).send(entry())
    finally:
        await gateway.close()


async def test_status_follows_the_message_to_delivered_or_undelivered(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    channel = TwilioChannel("sms", gateway, CONTACTS)
    first = await channel.send(entry())
    second = await channel.send(entry(id=2, key="other"))
    assert first.ref is not None
    assert second.ref is not None

    assert await channel.status(first.ref) is None  # still queued
    twilio.set_status(first.ref, "delivered")
    twilio.set_status(second.ref, "undelivered", error_code=30003)

    delivered = await channel.status(first.ref)
    undelivered = await channel.status(second.ref)
    assert delivered is not None
    assert delivered.state == "delivered"
    assert undelivered is not None
    assert undelivered.state == "failed"
    assert "undelivered" in (undelivered.detail or "")
    assert "30003" in (undelivered.detail or "")


@pytest.mark.parametrize("outcome", ["busy", "no-answer", "failed", "canceled"])
async def test_a_polled_call_nobody_answered_is_a_failed_delivery(
    twilio: TwilioStandIn, gateway: TwilioGateway, outcome: str
) -> None:
    channel = TwilioChannel("voice", gateway, CONTACTS)
    sent = await channel.send(entry(channel="voice"))
    assert sent.ref is not None
    assert await channel.status(sent.ref) is None  # still ringing

    twilio.call_outcome[str(ALICE.phone)] = outcome
    verdict = await channel.status(sent.ref)

    assert verdict is not None
    assert (verdict.state, verdict.detail) == ("failed", f"Twilio: call {outcome}")
    assert verdict.accepted_by is None


async def test_a_polled_call_that_was_answered_is_delivered_but_never_an_acceptance(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    channel = TwilioChannel("voice", gateway, CONTACTS)
    sent = await channel.send(entry(channel="voice"))
    assert sent.ref is not None
    twilio.call_outcome[str(ALICE.phone)] = "completed"  # she, or her voicemail, answered

    verdict = await channel.status(sent.ref)

    assert verdict is not None
    assert (verdict.state, verdict.accepted_by) == ("delivered", None)


async def test_find_recognises_a_message_sent_before_a_restart(
    twilio: TwilioStandIn, gateway: TwilioGateway
) -> None:
    channel = TwilioChannel("sms", gateway, CONTACTS)
    started = datetime.now(UTC)
    sent = await channel.send(entry())

    found = await channel.find(entry(), since=started)
    other = await channel.find(entry(text="Kitchen leak"), since=started)
    later = await channel.find(entry(), since=started + timedelta(hours=1))

    assert found is not None
    assert found.ref == sent.ref
    assert other is None
    assert later is None


HOOK_URL = "https://hub.example.org/hooks/twilio/sms"
HOOK_FORM = {"From": "+447700900123", "To": FROM_NUMBER, "Body": "OK", "MessageSid": "SM1"}


def signed_by_twilio(url: str, form: dict[str, str]) -> str:
    from twilio.request_validator import RequestValidator

    return str(RequestValidator(AUTH_TOKEN).compute_signature(url, form))


def test_a_webhook_signed_with_the_account_s_token_is_accepted() -> None:
    config = settings("https://api.twilio.com")
    signature = signed_by_twilio(HOOK_URL, HOOK_FORM)

    assert webhook_signed(config, HOOK_URL, HOOK_FORM, signature)


@pytest.mark.parametrize(
    ("url", "form", "signature"),
    [
        (HOOK_URL, HOOK_FORM, None),
        (HOOK_URL, HOOK_FORM, ""),
        (HOOK_URL, {**HOOK_FORM, "Body": "ACK 12"}, "original"),
        (HOOK_URL, {**HOOK_FORM, "From": "+447700900777"}, "original"),
        ("https://evil.example.org/hooks/twilio/sms", HOOK_FORM, "original"),
        (HOOK_URL, HOOK_FORM, "AAAAAAAAAAAAAAAAAAAAAAAAAAA="),
    ],
    ids=["missing", "empty", "tampered-body", "tampered-sender", "other-url", "forged"],
)
def test_unsigned_or_tampered_webhooks_are_refused(
    url: str, form: dict[str, str], signature: str | None, request: pytest.FixtureRequest
) -> None:
    config = settings("https://api.twilio.com")
    if signature == "original":
        signature = signed_by_twilio(HOOK_URL, HOOK_FORM)

    assert not webhook_signed(config, url, form, signature)
    record("abuse", f"Twilio webhook signature: {request.node.callspec.id}", accepted=0)
