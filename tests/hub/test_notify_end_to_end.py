"""A pendant press reaches the phones through the stand-ins, and the carer's "I'm on it" comes
back over the hub's own outbound subscription: recorded, reassured, and passed on.
"""

import asyncio
import json
import re
from contextlib import AsyncExitStack
from pathlib import Path

import httpx

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from tests.support.standins import (
    ACCOUNT_SID,
    AUTH_TOKEN,
    FROM_NUMBER,
    NtfyStandIn,
    TwilioStandIn,
    serving,
)
from wire.schema import CommandPayload, command_topic, event_topic

ACK_TOPIC = "hub-acks-0c5d2f8e9a1b7c36"
BEN_PHONE = "+447700900456"


async def test_push_then_im_on_it_tells_ben_and_reassures_mum(
    broker: LocalBroker, tmp_path: Path
) -> None:
    twilio, ntfy = TwilioStandIn(), NtfyStandIn()
    async with AsyncExitStack() as stack:
        twilio_url = await stack.enter_async_context(serving(twilio))
        ntfy_url = await stack.enter_async_context(serving(ntfy))
        config = in_process_config(
            broker,
            tmp_path,
            contacts=[
                {"name": "Alice", "phone": "+447700900123", "ntfy_topic": "alice-phone"},
                {"name": "Ben", "phone": BEN_PHONE},
            ],
            twilio={
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "from_number": FROM_NUMBER,
                "api_base": twilio_url,
            },
            ntfy={"server": ntfy_url, "ack_topic": ACK_TOPIC},
            escalation={
                "emergency": {
                    "steps": [
                        {"contact": "Alice", "channel": "ntfy", "after_s": 0},
                        {"contact": "Ben", "channel": "sms", "after_s": 0},
                    ]
                }
            },
        )
        await stack.enter_async_context(running_hub(config))
        device = await stack.enter_async_context(device_client(broker))
        await device.subscribe(command_topic("pendant-1"), qos=1)
        body = json.dumps({"type": "pendant.pressed", "seq": 1})
        await device.publish(event_topic("pendant-1"), body, qos=1)

        async def pushed_and_texted() -> bool:
            return bool(ntfy.on_topic("alice-phone")) and bool(twilio.outbound(to=BEN_PHONE))

        await eventually(pushed_and_texted)
        [push] = ntfy.on_topic("alice-phone")
        assert push["headers"]["X-Priority"] == "5"
        token = re.search(r"body=([^,;]+)", push["headers"]["X-Actions"])
        assert token is not None
        async with httpx.AsyncClient() as phone:  # Alice taps "I'm on it"
            await phone.post(f"{ntfy_url}/{ACK_TOPIC}", content=token.group(1))

        async def ben_told() -> bool:
            return len(twilio.outbound(to=BEN_PHONE)) == 2

        await eventually(ben_told)
        async with asyncio.timeout(10):
            # The embedded broker may also hand over retained messages it was not asked for.
            async for message in device.messages:
                if message.topic.matches(command_topic("pendant-1")):
                    break
        assert message.topic.value == command_topic("pendant-1")
        assert CommandPayload.model_validate_json(bytes(message.payload)).command == "reassure"

    assert twilio.outbound(to=BEN_PHONE)[1]["body"].startswith("Alice is handling it: ")
    async with Store.open(config.store.path, readonly=True) as store:
        [incident] = await store.incidents()
        log = await store.incident_log(incident.id)
    assert log[-1]["reason"] == "acknowledged by Alice via ntfy"
