"""Reassurance reaches a Zigbee2MQTT pendant as the `/set` its model allows, or not at all."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from wire.control import ACK_TOPIC
from wire.schema import HUB_STATUS_TOPIC

EXPOSES = Path(__file__).parents[1] / "fixtures" / "exposes"
NAME = "mum/hall/sos"  # a friendly name with slashes, used whole
PENDANT = {"id": "sos-hall", "name": "Hall pendant", "role": "pendant", "room": "Hall",
           "source": "zigbee2mqtt", "friendly_name": NAME}  # fmt: skip
IDENTIFY = json.loads((EXPOSES / "SZT06.json").read_text())["exposes"][2]


def definition(extra: list[dict[str, Any]]) -> dict[str, Any]:
    """TS0215A_sos as Zigbee2MQTT lists it, plus any settable exposes under test."""
    sos = json.loads((EXPOSES / "TS0215A_sos.json").read_text())
    return {"model": sos["model"], "vendor": sos["vendor"], "exposes": sos["exposes"] + extra}


@asynccontextmanager
async def recorder(broker: LocalBroker) -> AsyncIterator[list[tuple[str, bytes]]]:
    """Every message on the Zigbee2MQTT and hub topics, in the order the broker delivered them."""
    seen: list[tuple[str, bytes]] = []
    async with aiomqtt.Client(broker.host, broker.port, identifier="recorder") as client:
        await client.subscribe("zigbee2mqtt/#", qos=1)
        await client.subscribe("telecare/v1/hub/#", qos=1)

        async def record() -> None:
            async for message in client.messages:
                assert isinstance(message.payload, bytes)
                if message.retain:
                    continue  # left by an earlier hub: only what this one says counts
                seen.append((str(message.topic), message.payload))

        task = asyncio.create_task(record())
        try:
            yield seen
        finally:
            task.cancel()


def said(seen: list[tuple[str, bytes]], topic: str, **fields: Any) -> bool:
    return any(t == topic and p and fields.items() <= json.loads(p).items() for t, p in seen)


async def acknowledged_press(
    broker: LocalBroker, tmp_path: Path, extra: list[dict[str, Any]]
) -> tuple[list[tuple[str, bytes]], int, str]:
    """Press the Zigbee pendant, acknowledge the call; what was published until the hub stopped."""
    config = in_process_config(broker, tmp_path, devices=[PENDANT])
    listed = [{"friendly_name": NAME, "ieee_address": "0x847127fffe0542eb",
               "definition": definition(extra)}]  # fmt: skip
    async with recorder(broker) as seen, device_client(broker, "z2m") as z2m:
        async with running_hub(config) as rejects:
            await z2m.publish("zigbee2mqtt/bridge/devices", json.dumps(listed), qos=1, retain=True)

            async def listing_stored() -> bool:
                async with Store.open(config.store.path, readonly=True) as store:
                    return (await store.devices())[0].commands is not None

            await eventually(listing_stored)
            press = {"action": "emergency", "battery": 90, "linkquality": 120}
            await z2m.publish(f"zigbee2mqtt/{NAME}", json.dumps(press), qos=1)
            incident = "telecare/v1/hub/incident/help_call-1"

            async def raised() -> bool:
                return said(seen, incident)

            async def acknowledged() -> bool:
                return said(seen, incident, state="acknowledged")

            await eventually(raised)
            ack = {"incident_id": "help_call-1", "by": "Alice"}
            await z2m.publish(ACK_TOPIC, json.dumps(ack), qos=1)
            await eventually(acknowledged)

        async def said_goodbye() -> bool:
            return said(seen, HUB_STATUS_TOPIC, online=False)

        # The hub's goodbye is its last message: everything it sent before has arrived.
        await eventually(said_goodbye)
        await z2m.publish("zigbee2mqtt/bridge/devices", b"", qos=1, retain=True)
    args = ["devices", "--db", str(config.store.path), "show", "sos-hall"]
    show = await asyncio.to_thread(CliRunner().invoke, main, args)
    return seen, rejects.counts["command_unsupported"], show.output


async def test_an_acknowledged_call_makes_the_pendant_identify_itself(
    broker: LocalBroker, tmp_path: Path
) -> None:
    seen, unsupported, shown = await acknowledged_press(broker, tmp_path, [IDENTIFY])
    sets = [(t, p) for t, p in seen if t.endswith("/set")]
    assert sets == [(f"zigbee2mqtt/{NAME}/set", b'{"identify": "identify"}')]
    assert unsupported == 0
    assert "reassure, identify" in shown


@pytest.mark.parametrize("extra", [[], [{**IDENTIFY, "access": 1}]], ids=["none", "read-only"])
async def test_a_pendant_that_exposes_nothing_settable_gets_nothing(
    broker: LocalBroker, tmp_path: Path, extra: list[dict[str, Any]]
) -> None:
    seen, unsupported, shown = await acknowledged_press(broker, tmp_path, extra)
    assert [t for t, _ in seen if t.endswith("/set")] == []
    assert not any(t.endswith("/command") for t, _ in seen)
    assert unsupported == 1  # the reassurance that could not be given, counted
    assert "none: its model exposes nothing" in shown
