"""`telecare devices`: both kinds together, with health; rename and remove reach the hub."""

import asyncio
import json
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner, Result

from hub.cli import main
from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.store.store import NewDevice, Store
from tests.support.hubs import config_data, device_client, eventually, running_hub, write_toml
from tests.support.zigbee2mqtt_standin import Zigbee2MqttStandIn
from wire.schema import event_topic

PAIRED = NewDevice(
    id="pendant-0542eb",
    name="Hall pendant",
    role="pendant",
    room="Hall",
    source="zigbee2mqtt",
    friendly_name="mum/hall/sos",
    model="TS0215A_sos",
    origin="paired",
)


async def cli(*args: str) -> Result:
    return await asyncio.to_thread(CliRunner().invoke, main, list(args))


async def test_devices_listed_with_health_renamed_and_removed(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    path = str(write_toml(tmp_path / "hub.toml", data))
    config = config_from_dict(data)
    async with Store.open(config.store.path) as store:
        await store.register_devices([PAIRED], at=datetime.now(UTC))
    async with (
        running_hub(config),
        Zigbee2MqttStandIn(broker) as z2m,
        device_client(broker) as door,
    ):
        z2m.listed.append(
            {"friendly_name": "0xa4c13899607febd1", "definition": {"model": "TS0601_sos"}}
        )
        await z2m.publish_devices()
        await z2m.publish_state("mum/hall/sos", {"battery": 87, "linkquality": 142})
        await z2m.publish_state("0xa4c13899607febd1", {"action": "emergency"})

        async def health_stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return any(d.linkquality == 142 for d in await store.devices())

        await eventually(health_stored)

        listing = await cli("devices", "--config", path)
        assert listing.exit_code == 0, listing.output
        row = next(line for line in listing.output.splitlines() if "pendant-0542eb" in line)
        assert "87%" in row and "142/255" in row and "paired" in row
        lines = (await cli("devices", "--config", path, "--json")).output.splitlines()
        records = {r["id"]: r for r in map(json.loads, lines)}
        assert set(records) == {"pendant-1", "door-1", "leak-1", "pendant-0542eb"}
        assert records["door-1"]["origin"] == "config"
        shown = json.loads(
            (await cli("devices", "--config", path, "show", "pendant-0542eb", "--json")).output
        )
        assert (shown["model"], shown["battery"], shown["linkquality"]) == ("TS0215A_sos", 87, 142)
        unpaired = (await cli("devices", "--config", path, "--unpaired")).output
        assert "0xa4c13899607febd1" in unpaired and "TS0601_sos" in unpaired

        refused = await cli("devices", "--config", path, "rename", "door-1", "Back door")
        assert refused.exit_code == 1 and "declared in" in refused.output
        renamed = await cli(
            "devices", "--config", path, "rename", "pendant-0542eb", "SOS", "--room", "Landing"
        )
        assert renamed.exit_code == 0, renamed.output
        shown = json.loads(
            (await cli("devices", "--config", path, "show", "pendant-0542eb", "--json")).output
        )
        assert (shown["name"], shown["room"]) == ("SOS", "Landing")
        removed = await cli("devices", "--config", path, "remove", "pendant-0542eb")
        assert removed.exit_code == 0, removed.output

        await z2m.publish_state("mum/hall/sos", {"action": "emergency", "linkquality": 140})
        await door.publish(event_topic("door-1"), b'{"type": "door.opened"}', qos=1)

        async def door_stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return any(e.event.device_id == "door-1" for e in await store.events())

        await eventually(door_stored)
    async with Store.open(config.store.path, readonly=True) as store:
        assert [e.event.device_id for e in await store.events()] == ["door-1"]
        assert "pendant-0542eb" not in {d.id for d in await store.devices()}


async def test_identify_asks_native_and_zigbee_devices_to_show_themselves(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    path = str(write_toml(tmp_path / "hub.toml", data))
    config = config_from_dict(data)
    plain = NewDevice(
        "door-0a1b2c",
        "Back door",
        "door",
        "Kitchen",
        "zigbee2mqtt",
        "back door",
        "TS0203",
        "paired",
    )
    async with Store.open(config.store.path) as store:
        await store.register_devices([PAIRED, plain], at=datetime.now(UTC))
        await store.register_devices(
            [NewDevice("pendant-1", "pendant", "pendant", None, "native", None, None, "config")],
            at=datetime.now(UTC),
        )
    async with Zigbee2MqttStandIn(broker) as z2m, device_client(broker, "listener") as listener:
        z2m.listed.extend(
            [
                {"friendly_name": "mum/hall/sos", "definition": {"model": "TS0215A_sos",
                 "exposes": [{"type": "enum", "property": "identify", "values": ["identify"],
                              "access": 2}]}},
                {"friendly_name": "back door", "definition": {"model": "TS0203", "exposes": []}},
            ]
        )  # fmt: skip
        await z2m.publish_devices()
        await listener.subscribe("zigbee2mqtt/#", qos=1)
        await listener.subscribe("telecare/v1/+/command", qos=1)
        zigbee = await cli("devices", "--config", path, "identify", "pendant-0542eb")
        native = await cli("devices", "--config", path, "identify", "pendant-1")
        refused = await cli("devices", "--config", path, "identify", "door-0a1b2c")
        seen: list[tuple[str, bytes]] = []
        async with asyncio.timeout(20):
            async for message in listener.messages:
                if str(message.topic).endswith(("/set", "/command")):
                    assert isinstance(message.payload, bytes)
                    seen.append((str(message.topic), message.payload))
                if len(seen) == 2:
                    break
    assert zigbee.exit_code == 0, zigbee.output
    assert native.exit_code == 0, native.output
    assert refused.exit_code == 1 and "no identify feature" in refused.output
    assert sorted(seen) == [
        ("telecare/v1/pendant-1/command", b'{"command": "identify"}'),
        ("zigbee2mqtt/mum/hall/sos/set", b'{"identify": "identify"}'),
    ]


async def test_configured_devices_are_listed_before_the_hub_first_starts(
    broker: LocalBroker, tmp_path: Path
) -> None:
    path = write_toml(tmp_path / "hub.toml", config_data(broker, tmp_path))
    assert not (tmp_path / "hub.db").exists()

    listed = await cli("devices", "--config", str(path), "--json")

    assert listed.exit_code == 0, listed.output
    rows = [json.loads(line) for line in listed.output.splitlines()]
    assert [(r["id"], r["origin"], r["last_seen"]) for r in rows] == [
        ("door-1", "config", None),
        ("leak-1", "config", None),
        ("pendant-1", "config", None),
    ]
