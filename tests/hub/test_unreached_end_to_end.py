"""An alarm no phone of Alice's took: Ben is told at once, not at his step's time.

A running hub, the embedded broker and the Twilio stand-in: Alice's SMS (and WhatsApp) are
polled back undelivered and her call is busy, so only the hub's own outbox holds her alarm.
The hub runs on a virtual clock, so that Ben's step (three minutes on) is seen not to fire
again at its time, before a restart or after one.
"""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import aiomqtt

from hub.config.file import HubConfig
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.calls import twilio_section
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from tests.support.standins import TwilioStandIn, serving
from wire.schema import CLOCK_DONE_TOPIC, CLOCK_TOPIC, ClockPayload, event_topic

ALICE_PHONE = "+447700900123"
BEN_PHONE = "+447700900456"
STEPS = [
    {"contact": "Alice", "channel": "sms", "after_s": 0},
    {"contact": "Ben", "channel": "sms", "after_s": 180},
]


@asynccontextmanager
async def hub_on(config: HubConfig, broker: LocalBroker) -> AsyncIterator[aiomqtt.Client]:
    """The hub running, and a client that plays the pendant and the simulator's clock."""
    async with running_hub(config), device_client(broker) as device:
        await device.subscribe(CLOCK_DONE_TOPIC, qos=1)
        yield device


async def move_clock(device: aiomqtt.Client, moment: datetime) -> None:
    """Set the hub's virtual clock and wait until it has done what fell due by then."""
    await device.publish(CLOCK_TOPIC, ClockPayload(now=moment).model_dump_json(), qos=1)
    async for message in device.messages:
        done = message.topic.matches(CLOCK_DONE_TOPIC)
        if done and ClockPayload.model_validate_json(bytes(message.payload)).now == moment:
            return


async def test_alice_unreachable_on_every_path_brings_ben_s_step_forward(
    broker: LocalBroker, tmp_path: Path
) -> None:
    twilio = TwilioStandIn()
    twilio.final_status[ALICE_PHONE] = ("undelivered", 30003)  # SMS and WhatsApp alike
    twilio.call_outcome[ALICE_PHONE] = "busy"
    start = datetime.now(UTC).replace(microsecond=0)
    async with serving(twilio) as twilio_url:
        config = in_process_config(
            broker,
            tmp_path,
            contacts=[{"name": "Alice", "phone": ALICE_PHONE}, {"name": "Ben", "phone": BEN_PHONE}],
            twilio=twilio_section(twilio_url, poll_s="1"),
            escalation={"emergency": {"steps": STEPS}},
            simulation={"virtual_clock": True},
        )
        async with hub_on(config, broker) as device:
            await move_clock(device, start)
            body = json.dumps({"type": "pendant.pressed", "seq": 1})
            await device.publish(event_topic("pendant-1"), body, qos=1)

            async def ben_told() -> bool:
                return bool(twilio.outbound(to=BEN_PHONE))

            await eventually(ben_told)  # the hub's clock has not moved since the press
            await move_clock(device, start + timedelta(seconds=240))  # past Ben's own time
        async with hub_on(config, broker) as device:  # a restart keeps the ladder where it is
            await move_clock(device, start + timedelta(seconds=240))
            await move_clock(device, start + timedelta(seconds=900))

    [told] = twilio.outbound(to=BEN_PHONE)
    [alert] = twilio.outbound(to=ALICE_PHONE)
    assert told["body"] == f"Alice could not be reached. {alert['body']}"
    assert twilio.outbound(to=f"whatsapp:{ALICE_PHONE}")  # her every path was tried first
    assert [c["to"] for c in twilio.calls.values()] == [ALICE_PHONE]
    async with Store.open(config.store.path, readonly=True) as store:
        [incident] = await store.incidents()
        reasons = [line["reason"] for line in await store.incident_log(incident.id)]
        notes = await store.notifications()
    assert reasons[-1] == (
        "Alice could not be reached on any path: step 2 (Ben by sms) brought forward"
    )
    assert (incident.state, incident.steps_sent, incident.due_at) == ("firing", 2, None)
    [ben] = [n for n in notes if n.contact == "Ben"]
    assert ben.created_at == start  # decided at the hub's moment of the press, not at 180 s
