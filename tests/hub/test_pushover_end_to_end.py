"""A pendant press rings through Pushover, and the carer's "Acknowledge" in the app, heard by
polling its receipt, is her acceptance: on a running hub with a real Mosquitto.
"""

import asyncio
import json
from contextlib import AsyncExitStack
from pathlib import Path

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from tests.support.pushover_standin import (
    ALICE_USER,
    APP_TOKEN,
    BEN_USER,
    PushoverStandIn,
)
from tests.support.standins import serving
from wire.schema import CommandPayload, command_topic, event_topic

EMERGENCY = "2"


async def test_acknowledged_in_the_app_accepts_stops_the_ladder_and_cancels_ben_s_repeats(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    pushover = PushoverStandIn()
    async with AsyncExitStack() as stack:
        pushover_url = await stack.enter_async_context(serving(pushover))
        config = in_process_config(
            mosquitto,
            tmp_path,
            contacts=[
                {"name": "Alice", "pushover_user": ALICE_USER},
                {"name": "Ben", "pushover_user": BEN_USER},
            ],
            pushover={"app_token": APP_TOKEN, "api_base": pushover_url, "poll_s": 5},
            escalation={
                "emergency": {
                    "steps": [
                        {"contact": "Alice", "channel": "pushover", "after_s": 0},
                        {"contact": "Ben", "channel": "pushover", "after_s": 0},
                    ]
                }
            },
        )
        await stack.enter_async_context(running_hub(config))
        device = await stack.enter_async_context(device_client(mosquitto))
        await device.subscribe(command_topic("pendant-1"), qos=1)
        body = json.dumps({"type": "pendant.pressed", "seq": 1})
        await device.publish(event_topic("pendant-1"), body, qos=1)

        async def both_ringing() -> bool:
            return bool(pushover.to(ALICE_USER)) and bool(pushover.to(BEN_USER))

        await eventually(both_ringing)
        [alice_alarm] = pushover.to(ALICE_USER)
        [ben_alarm] = pushover.to(BEN_USER)
        assert (alice_alarm.priority, ben_alarm.priority) == (2, 2)
        assert alice_alarm.receipt is not None and ben_alarm.receipt is not None

        async def polled() -> bool:  # delivered, not acknowledged: still ringing
            return bool(pushover.by_receipt(str(alice_alarm.receipt)).polls)

        await eventually(polled, timeout_s=30)
        async with Store.open(config.store.path, readonly=True) as store:
            [incident] = await store.incidents()
        assert incident.state == "firing"

        pushover.acknowledge(alice_alarm.receipt, ALICE_USER)

        async def ben_s_repeats_cancelled() -> bool:
            return pushover.by_receipt(str(ben_alarm.receipt)).cancelled

        await eventually(ben_s_repeats_cancelled, timeout_s=30)
        async with asyncio.timeout(10):
            message = await anext(aiter(device.messages))
        async with Store.open(config.store.path, readonly=True) as store:
            accepted = await store.incident(incident.id)
            log = await store.incident_log(incident.id)

    assert CommandPayload.model_validate_json(bytes(message.payload)).command == "reassure"
    assert accepted is not None
    assert accepted.state == "acknowledged"
    assert accepted.acknowledged_by == "Alice"
    assert log[-1]["reason"] == "acknowledged by Alice via pushover"
    told = [m.form["message"] for m in pushover.to(BEN_USER)[1:]]
    assert len(told) == 1, told  # the alarm, then who has it: the ladder goes no further
    assert told[0].startswith("Alice is handling it")
    assert pushover.to(BEN_USER)[1].form.get("priority", "0") != EMERGENCY
    assert not pushover.by_receipt(str(alice_alarm.receipt)).cancelled  # hers was answered
