"""Twilio's web hooks on a running hub: Twilio plays its part with the SDK's own signatures.

The hub is told it is reached at a public URL under a path (as behind a tunnel or a reverse
proxy that strips it), while requests arrive at its local port: signatures are over the public
address, never the one the request came in on.
"""

import asyncio
import json
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import aiomqtt
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

from hub.config.file import ConfigError, config_from_dict
from hub.mqtt.broker import LocalBroker, free_port
from hub.pipeline.rejections import RejectLog
from hub.store.store import Store
from notifier.channels.twilio import ENTRY_PARAM, SMS_HOOK, STATUS_HOOK, VOICE_HOOK
from tests.support.calls import call_form, gather_action, spoken, twilio_section
from tests.support.hubs import config_data, device_client, eventually, running_hub
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioStandIn, serving
from tests.support.web import Hub
from wire.schema import CommandPayload, command_topic, event_topic

PUBLIC_URL = "https://carers.example.org/mums-hub"
ALICE_PHONE = "+447700900123"
BEN_PHONE = "+447700900456"
STRANGER = "+447700900777"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response />'


@dataclass
class Rig:
    """A running hub with Twilio hooks, the Twilio stand-in, and a device that listens."""

    twilio: TwilioStandIn
    web: httpx.AsyncClient
    device: aiomqtt.Client
    db: Path
    rejects: RejectLog

    async def twilio_posts(
        self, address: str, form: dict[str, str], *, signed_as: str | None = None
    ) -> httpx.Response:
        """POST as Twilio does to a public hook `address`, signed over `signed_as` (or it)."""
        url = signed_as or address
        signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
        path = address.removeprefix(PUBLIC_URL)
        return await self.web.post(path, data=form, headers={"X-Twilio-Signature": signature})

    async def press_pendant(self, *, until: str) -> dict[str, Any]:
        """Raise the alarm; returns the call to Alice (`until="call"`) or the SMS to her."""
        body = json.dumps({"type": "pendant.pressed", "seq": 1})
        await self.device.publish(event_topic("pendant-1"), body, qos=1)

        async def reached_alice() -> bool:
            if until == "call":
                return bool(self.twilio.calls) and bool(self.twilio.outbound(to=BEN_PHONE))
            return bool(self.twilio.outbound(to=ALICE_PHONE))

        await eventually(reached_alice)
        if until == "call":
            return next(iter(self.twilio.calls.values()))
        return self.twilio.outbound(to=ALICE_PHONE)[0]

    async def incident_log(self) -> list[dict[str, Any]]:
        async with Store.open(self.db, readonly=True) as store:
            [incident] = await store.incidents()
            return await store.incident_log(incident.id)

    async def acknowledged(self) -> bool:
        return any("acknowledged" in line["reason"] for line in await self.incident_log())


@asynccontextmanager
async def hooked_hub(
    broker: LocalBroker, tmp_path: Path, steps: list[dict[str, Any]]
) -> AsyncIterator[Rig]:
    twilio = TwilioStandIn()
    port = free_port()
    async with AsyncExitStack() as stack:
        twilio_url = await stack.enter_async_context(serving(twilio))
        data = config_data(
            broker,
            tmp_path,
            web={"port": port},
            contacts=[{"name": "Alice", "phone": ALICE_PHONE}, {"name": "Ben", "phone": BEN_PHONE}],
            twilio=twilio_section(twilio_url, public_url=PUBLIC_URL),
            escalation={"emergency": {"steps": steps}},
        )
        config = config_from_dict(data)
        rejects = await stack.enter_async_context(running_hub(config))
        web = await stack.enter_async_context(
            httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20)
        )
        device = await stack.enter_async_context(device_client(broker))
        await device.subscribe(command_topic("pendant-1"), qos=1)
        yield Rig(twilio, web, device, config.store.path, rejects)


def sms_form(sid: str, sender: str, body: str) -> dict[str, str]:
    return {
        "AccountSid": ACCOUNT_SID,
        "MessageSid": sid,
        "From": sender,
        "To": FROM_NUMBER,
        "Body": body,
    }


VOICE_THEN_SMS = [
    {"contact": "Alice", "channel": "voice", "after_s": 0},
    {"contact": "Ben", "channel": "sms", "after_s": 0},
]


async def test_pressing_1_on_the_call_acknowledges_tells_ben_and_reassures_mum(
    broker: LocalBroker, tmp_path: Path
) -> None:
    async with hooked_hub(broker, tmp_path, VOICE_THEN_SMS) as rig:
        call = await rig.press_pendant(until="call")
        action = gather_action(call)
        assert action.startswith(f"{PUBLIC_URL}/hooks/twilio/voice?entry=")

        answer = await rig.twilio_posts(action, call_form(call, Digits="1"))

        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith("application/xml")
        assert spoken(answer.text) == "Thank you. Mum will be told you are on your way."

        async def ben_told() -> bool:
            return len(rig.twilio.outbound(to=BEN_PHONE)) == 2

        await eventually(ben_told)
        async with asyncio.timeout(10):
            async for message in rig.device.messages:  # the embedded broker may add others
                if message.topic.matches(command_topic("pendant-1")):
                    break
        command = CommandPayload.model_validate_json(bytes(message.payload))
        assert command.command == "reassure"
        assert rig.twilio.outbound(to=BEN_PHONE)[1]["body"].startswith("Alice is handling it")
        assert (await rig.incident_log())[-1]["reason"] == "acknowledged by Alice via voice"

        again = await rig.twilio_posts(action, call_form(call, Digits="1"))
        assert spoken(again.text).startswith("Thank you. This alarm has already been answered")


async def test_a_call_answered_without_1_is_no_acknowledgement(
    broker: LocalBroker, tmp_path: Path
) -> None:
    async with hooked_hub(broker, tmp_path, VOICE_THEN_SMS) as rig:
        call = await rig.press_pendant(until="call")
        action = gather_action(call)

        for form in (call_form(call), call_form(call, Digits="5"), call_form(call, Digits="")):
            answer = await rig.twilio_posts(action, form)
            assert answer.status_code == 200
            assert spoken(answer.text).startswith("Nothing was acknowledged")

        assert not await rig.acknowledged()
        assert len(rig.twilio.outbound(to=BEN_PHONE)) == 1  # nobody is "handling it"


async def test_the_caller_cannot_choose_the_incident_or_the_contact(
    broker: LocalBroker, tmp_path: Path
) -> None:
    async with hooked_hub(broker, tmp_path, VOICE_THEN_SMS) as rig:
        call = await rig.press_pendant(until="call")
        entry_id = gather_action(call).rsplit("=", 1)[1].split(".")[0]
        forged = f"{PUBLIC_URL}/hooks/twilio/voice?entry={entry_id}.AAAAAAAAAAAAAAAAAAAAAA"

        answer = await rig.twilio_posts(forged, call_form(call, Digits="1", From=BEN_PHONE))

        assert spoken(answer.text).startswith("Nothing was acknowledged")
        assert not await rig.acknowledged()


async def test_an_sms_reported_undelivered_moves_to_alice_s_next_channel(
    broker: LocalBroker, tmp_path: Path
) -> None:
    steps = [{"contact": "Alice", "channel": "sms", "after_s": 0}]
    async with hooked_hub(broker, tmp_path, steps) as rig:
        sms = await rig.press_pendant(until="sms")
        callback = rig.twilio.status_callbacks[sms["sid"]]
        assert callback == f"{PUBLIC_URL}/hooks/twilio/status"
        form = {
            "AccountSid": ACCOUNT_SID,
            "MessageSid": sms["sid"],
            "MessageStatus": "undelivered",
            "ErrorCode": "30003",
            "From": FROM_NUMBER,
            "To": ALICE_PHONE,
        }

        answer = await rig.twilio_posts(callback, form)
        assert answer.status_code == 204

        async def on_whatsapp() -> bool:
            return bool(rig.twilio.outbound(to=f"whatsapp:{ALICE_PHONE}"))

        await eventually(on_whatsapp)
        [moved] = rig.twilio.outbound(to=f"whatsapp:{ALICE_PHONE}")
        assert moved["body"] == sms["body"]
        async with Store.open(rig.db, readonly=True) as store:
            notes = {n.key: n for n in await store.notifications()}
        [notice] = [n for key, n in notes.items() if key.endswith("/notice")]
        assert "undelivered: error 30003" in notice.text


async def test_an_alert_call_nobody_answered_moves_on_and_says_so(
    broker: LocalBroker, tmp_path: Path
) -> None:
    async with hooked_hub(broker, tmp_path, VOICE_THEN_SMS) as rig:
        call = await rig.press_pendant(until="call")
        callback = rig.twilio.status_callbacks[call["sid"]]
        form = {**call_form(call), "CallStatus": "no-answer"}

        assert (await rig.twilio_posts(callback, form)).status_code == 204

        async def noticed() -> bool:
            async with Store.open(rig.db, readonly=True) as store:
                return any(n.key.endswith("/notice") for n in await store.notifications())

        await eventually(noticed)
        async with Store.open(rig.db, readonly=True) as store:
            notes = {n.key: n for n in await store.notifications()}
        [(key, notice)] = [(k, n) for k, n in notes.items() if k.endswith("/notice")]
        assert notes[key.removesuffix("/notice")].state == "failed"
        assert "voice to Alice did not get through (Twilio: call no-answer)" in notice.text
        assert any("/via-" in k for k in notes)  # the alert went on to her next channel
        assert not await rig.acknowledged()


async def test_sms_replies_by_hook_acknowledge_and_answer_and_strangers_get_nothing(
    broker: LocalBroker, tmp_path: Path
) -> None:
    steps = [{"contact": "Alice", "channel": "sms", "after_s": 0}]
    hook = f"{PUBLIC_URL}/hooks/twilio/sms"
    async with hooked_hub(broker, tmp_path, steps) as rig:
        await rig.press_pendant(until="sms")
        ack = await rig.twilio_posts(hook, sms_form("SM" + "a" * 32, ALICE_PHONE, "ACK"))
        status = await rig.twilio_posts(hook, sms_form("SM" + "b" * 32, ALICE_PHONE, "status"))
        repeat = await rig.twilio_posts(hook, sms_form("SM" + "b" * 32, ALICE_PHONE, "status"))
        stranger = await rig.twilio_posts(hook, sms_form("SM" + "c" * 32, STRANGER, "OK"))

        assert [r.text for r in (ack, status, repeat, stranger)] == [EMPTY_TWIML] * 4
        answers = [m["body"] for m in rig.twilio.outbound(to=ALICE_PHONE)][1:]
        assert len(answers) == 2  # the repeated delivery of STATUS is not answered again
        assert answers[0].startswith("Thank you, Alice: you are down as dealing with it.")
        assert answers[1].startswith("1 open alarm(s): ")
        assert rig.twilio.outbound(to=STRANGER) == []
        log = await rig.incident_log()
        reasons = [line["reason"] for line in log]
        assert reasons.count("acknowledged by Alice via sms") == 1

        late = await rig.twilio_posts(hook, sms_form("SM" + "e" * 32, BEN_PHONE, "OK"))
        assert late.text == EMPTY_TWIML
        acknowledged_at = next(line["at"] for line in log if line["state"] == "acknowledged")
        local = datetime.fromisoformat(acknowledged_at).astimezone(ZoneInfo("Europe/London"))
        [told_ben] = [m["body"] for m in rig.twilio.outbound(to=BEN_PHONE)]
        assert told_ben == f"Alice is already dealing with it (since {local:%H:%M})."
        assert [line["reason"] for line in await rig.incident_log()] == reasons


async def test_unsigned_and_wrongly_signed_hooks_are_refused_counted_and_not_acted_on(
    broker: LocalBroker, tmp_path: Path
) -> None:
    async with hooked_hub(broker, tmp_path, VOICE_THEN_SMS) as rig:
        call = await rig.press_pendant(until="call")
        sms_sid = rig.twilio.outbound(to=BEN_PHONE)[0]["sid"]
        hooks = {
            gather_action(call): call_form(call, Digits="1"),
            f"{PUBLIC_URL}/hooks/twilio/sms": sms_form("SM" + "d" * 32, BEN_PHONE, "OK"),
            f"{PUBLIC_URL}/hooks/twilio/status": {
                "AccountSid": ACCOUNT_SID,
                "MessageSid": sms_sid,
                "MessageStatus": "undelivered",
            },
        }
        for address, form in hooks.items():
            path = address.removeprefix(PUBLIC_URL)
            local = f"http://127.0.0.1{path}"
            unsigned = await rig.web.post(path, data=form)
            signature = RequestValidator(AUTH_TOKEN).compute_signature(address, form)
            tampered = await rig.web.post(
                path,
                data={**form, "From": STRANGER, "MessageStatus": "delivered"},
                headers={"X-Twilio-Signature": signature},
            )
            # Signed over the address the request reached, not the public one Twilio was given.
            local_address = await rig.twilio_posts(address, form, signed_as=local)
            refused = (unsigned, tampered, local_address)
            assert [r.status_code for r in refused] == [403, 403, 403], address

        metrics = (await rig.web.get("/metrics")).text
        assert 'telecare_dropped_inputs_total{cause="twilio_unsigned"} 3' in metrics
        assert 'telecare_dropped_inputs_total{cause="twilio_bad_signature"} 6' in metrics
        assert not await rig.acknowledged()
        assert len(rig.twilio.outbound(to=BEN_PHONE)) == 1  # no answer, no failover
        assert rig.twilio.outbound(to=f"whatsapp:{BEN_PHONE}") == []


async def test_without_a_public_url_there_are_no_hooks_to_call(hub: Hub) -> None:
    form = sms_form("SM" + "e" * 32, ALICE_PHONE, "OK")
    signature = RequestValidator(AUTH_TOKEN).compute_signature(
        f"{PUBLIC_URL}/hooks/twilio/sms", form
    )

    answer = await hub.client.post(
        "/hooks/twilio/sms", data=form, headers={"X-Twilio-Signature": signature}
    )

    assert answer.status_code == 404


def test_a_public_url_without_the_web_server_to_serve_its_hooks_is_refused() -> None:
    twilio = {
        "account_sid": ACCOUNT_SID,
        "from_number": FROM_NUMBER,
        "auth_token": AUTH_TOKEN,
        "public_url": PUBLIC_URL,
    }
    data = {"contacts": [{"name": "Alice"}], "web": {"enabled": False}, "twilio": twilio}

    with pytest.raises(ConfigError) as caught:
        config_from_dict(data)

    [problem] = caught.value.problems
    assert problem.startswith("twilio: public_url: Twilio's hooks are served by the hub's web")


HOOK_PATHS = (VOICE_HOOK, SMS_HOOK, STATUS_HOOK)
ODD_VALUES = st.sampled_from(
    [
        *(
            "",
            "1",
            "11",
            "OK",
            "ok thanks",
            "STOP",
            "HOME",
            "AWAY",
            "\x00",
            "é🙂\u202e",
            "x" * 5000,
        ),
        *("-1", "NaN", "1e999", "undelivered", "failed", "no-answer", "completed", "30008", "CA"),
    ]
)
FORMS = st.dictionaries(
    st.sampled_from(
        [
            *("AccountSid", "CallSid", "MessageSid", "SmsSid", "From", "To", "Body", "Digits"),
            *("MessageStatus", "CallStatus", "ErrorCode", "x"),
        ]
    ),
    ODD_VALUES | st.text(max_size=30),
    max_size=7,
)
ENTRIES = st.none() | st.sampled_from(["", "garbage", "A" * 43, "%00", "x" * 3000]) | st.text()
SIGNING = st.sampled_from(["right", "missing", "wrong", "over another address"])
FUZZ_EXAMPLES = 300


def _fuzzed_request(path: str, entry: str | None, form: dict[str, str], signing: str) -> Any:
    """A POST to a hook as `signing` says; the caller is never one of the contacts."""
    form = {k: v for k, v in form.items() if not (k == "From" and v in (ALICE_PHONE, BEN_PHONE))}
    query = "" if entry is None else urlencode({ENTRY_PARAM: entry})
    address = f"{PUBLIC_URL}{path}" + (f"?{query}" if query else "")
    signed_over = address if signing == "right" else f"http://127.0.0.1{path}"
    signature = RequestValidator(AUTH_TOKEN).compute_signature(signed_over, form)
    headers = {
        "right": {"X-Twilio-Signature": signature},
        "missing": {},
        "wrong": {"X-Twilio-Signature": "W" * 28},
        "over another address": {"X-Twilio-Signature": signature},
    }[signing]
    return {"url": address.removeprefix(PUBLIC_URL), "data": form, "headers": headers}


def test_hostile_hooks_signed_or_not_never_fail_and_never_act_for_a_stranger(
    broker: LocalBroker, tmp_path: Path
) -> None:
    # Signed requests carry whatever Twilio (or anyone holding the token) sends: forged call
    # tokens, unknown message ids, statuses and keys of every kind. None may fail the hub or
    # acknowledge the open alarm; unsigned ones are refused and counted by cause.
    loop = asyncio.new_event_loop()
    stack = AsyncExitStack()
    try:
        rig = loop.run_until_complete(
            stack.enter_async_context(hooked_hub(broker, tmp_path, VOICE_THEN_SMS))
        )
        loop.run_until_complete(rig.press_pendant(until="call"))
        tried: Counter[str] = Counter()

        @settings(
            max_examples=FUZZ_EXAMPLES,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
        )
        @given(path=st.sampled_from(HOOK_PATHS), entry=ENTRIES, form=FORMS, signing=SIGNING)
        def one_request(path: str, entry: str | None, form: dict[str, str], signing: str) -> None:
            request = _fuzzed_request(path, entry, form, signing)
            response = loop.run_until_complete(rig.web.post(**request))
            code = response.status_code
            assert code < 500, f"{code} from {path}: {response.text[:300]}"
            if signing == "right":
                assert code == (204 if path == STATUS_HOOK else 200), response.text[:300]
            else:
                assert code == 403
            tried[signing] += 1

        one_request()

        metrics = loop.run_until_complete(rig.web.get("/metrics")).text
        refused = {
            "twilio_unsigned": tried["missing"],
            "twilio_bad_signature": tried["wrong"] + tried["over another address"],
        }
        for cause, count in refused.items():
            assert f'telecare_dropped_inputs_total{{cause="{cause}"}} {count}' in metrics
        assert tried["right"] > 0
        assert not loop.run_until_complete(rig.acknowledged())
        told = {m["to"] for m in rig.twilio.outbound()}
        assert told <= {BEN_PHONE, ALICE_PHONE}, "nothing is ever sent to a stranger"
    finally:
        loop.run_until_complete(stack.aclose())
        loop.close()
