"""The installer's test of a Zigbee2MQTT device from the dashboard: its `/set`, or why not."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import httpx

from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker, free_port
from hub.store.store import Store
from tests.support.hubs import config_data, eventually, running_hub
from tests.support.web import INSTALLER_PASSCODE, form_csrf, log_in, logins
from tests.support.zigbee2mqtt_standin import TS0215A_SOS_DEFINITION, Zigbee2MqttStandIn

EXPOSES = Path(__file__).parents[2] / "fixtures" / "exposes"
IDENTIFY = json.loads((EXPOSES / "SZT06.json").read_text())["exposes"][2]
HALL, BED = "mum/hall/sos", "mum/bedroom/sos"  # friendly names with slashes, used whole
DEVICES = [
    {"id": "sos-hall", "name": "Hall pendant", "role": "pendant", "room": "Hall",
     "source": "zigbee2mqtt", "friendly_name": HALL},
    {"id": "sos-bed", "name": "Bedside pendant", "role": "pendant", "room": "Bedroom",
     "source": "zigbee2mqtt", "friendly_name": BED},
]  # fmt: skip


def listing(name: str, ieee: str, extra: list[dict[str, Any]]) -> dict[str, Any]:
    exposes = [*TS0215A_SOS_DEFINITION["exposes"], *extra]  # type: ignore[misc]
    return {"friendly_name": name, "ieee_address": ieee,
            "definition": {**TS0215A_SOS_DEFINITION, "exposes": exposes}}  # fmt: skip


@asynccontextmanager
async def set_requests(broker: LocalBroker) -> AsyncIterator[list[tuple[str, bytes]]]:
    """Every `/set` the hub sends to Zigbee2MQTT."""
    seen: list[tuple[str, bytes]] = []
    async with aiomqtt.Client(broker.host, broker.port, identifier="set-recorder") as client:
        await client.subscribe("zigbee2mqtt/#", qos=1)

        async def record() -> None:
            async for message in client.messages:
                topic = str(message.topic)
                if topic.endswith("/set") and isinstance(message.payload, bytes):
                    seen.append((topic, message.payload))

        task = asyncio.create_task(record())
        try:
            yield seen
        finally:
            task.cancel()


async def test_a_zigbee_device_is_tested_through_its_set_or_the_installer_is_told_why_not(
    broker: LocalBroker, tmp_path: Path
) -> None:
    port = free_port()
    data = config_data(broker, tmp_path, devices=DEVICES, web={"port": port, "logins": logins()})
    config = config_from_dict(data)
    z2m = Zigbee2MqttStandIn(broker)
    z2m.listed = [listing(HALL, "0x847127fffe0542eb", [IDENTIFY]), listing(BED, "0x01", [])]
    async with (
        set_requests(broker) as sets,
        z2m,
        running_hub(config) as rejects,
        httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=20) as client,
    ):

        async def listings_stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return all(d.commands is not None for d in await store.devices())

        await eventually(listings_stored)
        token = await log_in(client, INSTALLER_PASSCODE)
        headers = {"X-CSRF-Token": token}
        asked = await client.post("/api/devices/sos-hall/identify", headers=headers)
        assert asked.status_code == 202, asked.text

        async def set_sent() -> bool:
            return bool(sets)

        await eventually(set_sent)
        assert sets == [(f"zigbee2mqtt/{HALL}/set", b'{"identify": "identify"}')]

        refused = await client.post("/api/devices/sos-bed/identify", headers=headers)
        assert refused.status_code == 409
        assert refused.json() == {"detail": "Bedside pendant exposes nothing to identify with"}

        page = await client.get("/devices")
        assert 'action="/devices/sos-bed/identify"' in page.text
        csrf = {"csrf": form_csrf(page.text)}
        shown = await client.post("/devices/sos-bed/identify", data=csrf)
        assert shown.status_code == 409
        assert "Could not test it: Bedside pendant exposes nothing to identify with" in shown.text
        tested = await client.post("/devices/sos-hall/identify", data=csrf)
        assert tested.headers["location"] == "/devices?tested=sos-hall"

        async def second_set_sent() -> bool:
            return len(sets) == 2

        await eventually(second_set_sent)
    assert rejects.counts["command_unsupported"] == 2
