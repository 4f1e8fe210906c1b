"""The ntfy channel against the ntfy stand-in, and its error handling."""

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from hub.mqtt.broker import free_port
from notifier.channels.ntfy import NtfyChannel, sequence_id
from notifier.model import TransientError
from notifier.settings import NtfySettings
from tests.notifier.entries import CONTACTS, entry
from tests.support.standins import Fault, NtfyStandIn, serving

TOKEN = "tk_standin"  # a test token for the stand-in
ACK_TOPIC = "hub-acks-5f1c2d9e8a7b6c4d"


@pytest.fixture
async def ntfy() -> AsyncIterator[NtfyStandIn]:
    stand_in = NtfyStandIn(token=TOKEN)
    async with serving(stand_in):
        yield stand_in


def channel(url: str, **overrides: object) -> NtfyChannel:
    settings = NtfySettings.model_validate(
        {
            "server": url,
            "token": TOKEN,
            "ack_topic": ACK_TOPIC,
            "home_phone": "+441632960000",
            "dashboard_url": "http://hub.local:8080/",
            "timeout_s": 0.5,
            **overrides,
        }
    )
    return NtfyChannel(settings, CONTACTS, ack_body=lambda e: f"ack {e.id} secret-token")


async def test_an_emergency_is_priority_5_with_tags_and_three_buttons(ntfy: NtfyStandIn) -> None:
    push = channel(ntfy.url)
    try:
        delivery = await push.send(entry(channel="ntfy"))
    finally:
        await push.close()

    [message] = ntfy.on_topic("alice-phone")
    headers = message["headers"]
    assert message["message"].startswith("Mum pressed her pendant")
    assert headers["X-Priority"] == "5"
    assert "rotating_light" in headers["X-Tags"]
    assert headers["X-Sequence-ID"] == sequence_id("pendant-1")
    buttons = headers["X-Actions"].split("; ")
    assert [b.split(", ")[1] for b in buttons] == ["I'm on it", "Call home", "Open dashboard"]
    assert f"{ntfy.url}/{ACK_TOPIC}" in buttons[0]
    assert "body=ack 1 secret-token" in buttons[0]
    assert delivery.state == "sent"
    assert delivery.ref == message["id"]


@pytest.mark.parametrize(
    ("text", "in_header"),
    [
        ("Mum pressed her pendant in the Bedroom at 10:42.", "as it is"),
        ("Zoë's pull-cord — bathroom", "encoded"),
        ("FIRE ALARM in the kitchen.\nReply OK if you are dealing with it.", "encoded"),
        ("  spaces at the ends  ", "encoded"),
        ("A text that says =?utf-8?b?aGk=?= itself", "encoded"),
        ("A device named C:\\new", "in the body"),
    ],
)
async def test_the_text_reaches_the_server_as_it_was_written(
    ntfy: NtfyStandIn, text: str, in_header: str
) -> None:
    push = channel(ntfy.url)
    try:
        await push.send(entry(channel="ntfy", text=text))
    finally:
        await push.close()

    [message] = ntfy.on_topic("alice-phone")
    assert message["message"] == text
    header = message["headers"].get("X-Message")
    expected = {"as it is": text, "in the body": None}.get(in_header, header)
    assert header == expected
    if in_header == "encoded":
        assert header is not None
        assert header.startswith("=?utf-8?b?")


async def test_info_is_quiet_and_has_no_ack_button(ntfy: NtfyStandIn) -> None:
    push = channel(ntfy.url, home_phone=None, dashboard_url=None)
    try:
        await push.send(entry(channel="ntfy", severity="info"))
    finally:
        await push.close()

    [message] = ntfy.on_topic("alice-phone")
    assert message["headers"]["X-Priority"] == "3"
    assert "X-Actions" not in message["headers"]


async def test_clear_dismisses_the_incident_s_notification(ntfy: NtfyStandIn) -> None:
    push = channel(ntfy.url)
    try:
        delivery = await push.clear("pendant-1", "Alice")
    finally:
        await push.close()

    assert delivery.state == "sent"
    assert ntfy.cleared == [("alice-phone", sequence_id("pendant-1"))]


async def test_a_wrong_token_is_a_permanent_failure(ntfy: NtfyStandIn) -> None:
    push = channel(ntfy.url, token="wrong")
    try:
        delivery = await push.send(entry(channel="ntfy"))
    finally:
        await push.close()

    assert delivery.state == "failed"
    assert "401" in (delivery.detail or "")
    assert "unauthorized" in (delivery.detail or "")


async def test_a_contact_without_a_topic_cannot_be_pushed_to(ntfy: NtfyStandIn) -> None:
    push = channel(ntfy.url)
    try:
        delivery = await push.send(entry(channel="ntfy", contact="Carol"))
    finally:
        await push.close()

    assert delivery.state == "failed"
    assert ntfy.published == []


@pytest.mark.parametrize(
    ("fault", "retry_after_s"), [(Fault(500), None), (Fault(429, retry_after="3"), 3.0)]
)
async def test_server_errors_and_throttling_are_transient(
    ntfy: NtfyStandIn, fault: Fault, retry_after_s: float | None
) -> None:
    ntfy.faults.append(fault)
    push = channel(ntfy.url)
    try:
        with pytest.raises(TransientError) as caught:
            await push.send(entry(channel="ntfy"))
    finally:
        await push.close()

    assert caught.value.retry_after_s == retry_after_s


async def test_a_server_that_hangs_times_out_as_transient(ntfy: NtfyStandIn) -> None:
    ntfy.faults.append(Fault(hang=True))
    push = channel(ntfy.url)
    try:
        with pytest.raises(TransientError, match="timed out"):
            await push.send(entry(channel="ntfy"))
    finally:
        await push.close()


async def test_a_connection_error_is_transient() -> None:
    settings = NtfySettings(server=f"http://127.0.0.1:{free_port()}")  # nothing listens there
    push = NtfyChannel(settings, CONTACTS)
    try:
        with pytest.raises(TransientError, match="unreachable"):
            await push.send(entry(channel="ntfy"))
    finally:
        await push.close()


async def test_find_recognises_a_push_published_before_a_restart(ntfy: NtfyStandIn) -> None:
    push = channel(ntfy.url)
    started = datetime.now(UTC)
    try:
        sent = await push.send(entry(channel="ntfy"))
        found = await push.find(entry(channel="ntfy"), since=started)
        other = await push.find(entry(channel="ntfy", text="Kitchen leak"), since=started)
        later = await push.find(entry(channel="ntfy"), since=started + timedelta(hours=1))
    finally:
        await push.close()

    assert found is not None
    assert found.ref == sent.ref
    assert other is None
    assert later is None


async def test_news_about_an_emergency_updates_it_without_ringing_at_max_priority(
    ntfy: NtfyStandIn,
) -> None:
    push = channel(ntfy.url)
    try:
        await push.send(entry(channel="ntfy", key="pendant-1/step0/Alice/ntfy"))
        await push.send(entry(channel="ntfy", key="pendant-1/step3/Alice/ntfy/via-ntfy"))
        await push.send(entry(id=2, channel="ntfy", key="pendant-1/ack/Alice/ntfy"))
        await push.send(entry(id=3, channel="ntfy", key="pendant-1/resolved/Alice/ntfy"))
    finally:
        await push.close()

    alarm, failed_over, taken, over = [m["headers"] for m in ntfy.on_topic("alice-phone")]
    assert (alarm["X-Priority"], failed_over["X-Priority"]) == ("5", "5")
    assert "rotating_light" in alarm["X-Tags"]
    assert (taken["X-Priority"], over["X-Priority"]) == ("3", "3")
    assert "rotating_light" not in taken["X-Tags"]
    assert taken["X-Sequence-ID"] == alarm["X-Sequence-ID"]  # the same notification, updated
