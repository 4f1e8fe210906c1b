"""The hub subscribes under the Zigbee2MQTT base topic and records what its devices report."""

import json
from pathlib import Path

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import DEVICES, device_client, eventually, in_process_config, running_hub

BASE = "home/z2m"
SOS = {
    "id": "sos-bedroom",
    "name": "SOS button",
    "role": "pendant",
    "room": "Bedroom",
    "source": "zigbee2mqtt",
    "friendly_name": "mum/bedroom/sos",
}
LISTED = [
    {"friendly_name": "mum/bedroom/sos", "ieee_address": "0x847127fffe0542eb",
     "definition": {"model": "TS0215A_sos", "vendor": "TuYa", "exposes": []}},
    {"friendly_name": "0xa4c13899607febd1", "ieee_address": "0xa4c13899607febd1",
     "definition": {"model": "TS0601_sos", "vendor": "TuYa", "exposes": []}},
    {"friendly_name": "hall door", "ieee_address": "0x00158d000122fcd1",
     "definition": {"model": "MCCGQ11LM", "vendor": "Aqara", "exposes": []}},
    {"friendly_name": "Coordinator", "ieee_address": "0x00124b0018e2c5f1", "type": "Coordinator",
     "definition": None},
]  # fmt: skip


async def test_zigbee_press_is_stored_with_signal_and_strangers_are_listed(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = in_process_config(
        broker,
        tmp_path,
        mqtt={"host": broker.host, "port": broker.port, "zigbee2mqtt_base_topic": BASE},
        devices=[*DEVICES, SOS],
    )
    async with running_hub(config) as rejects, device_client(broker, "z2m") as z2m:
        await z2m.publish(f"{BASE}/bridge/devices", json.dumps(LISTED), qos=1, retain=True)
        await z2m.publish(f"{BASE}/bridge/state", b'{"state":"online"}', qos=1, retain=True)
        stranger = {"action": "emergency", "battery": 80, "linkquality": 144}
        await z2m.publish(f"{BASE}/0xa4c13899607febd1", json.dumps(stranger), qos=1)
        press = {"action": "emergency", "battery": None, "linkquality": 90}
        await z2m.publish(f"{BASE}/mum/bedroom/sos", json.dumps(press), qos=1)
        await z2m.publish(f"{BASE}/mum/bedroom/sos", b'{"action":"","linkquality":90}', qos=1)

        async def press_stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return any(e.event.device_id == "sos-bedroom" for e in await store.events())

        await eventually(press_stored)
    async with Store.open(config.store.path, readonly=True) as store:
        events = [(e.event.device_id, e.event.type, e.event.source) for e in await store.events()]
        device = {d.id: d for d in await store.devices()}["sos-bedroom"]
        unpaired = await store.unpaired_devices()
    assert events == [("sos-bedroom", "pendant.pressed", "zigbee2mqtt")]
    assert device.linkquality == 90
    assert device.last_seen is not None
    assert sorted((u.address, u.model, u.messages) for u in unpaired) == [
        ("0xa4c13899607febd1", "TS0601_sos", 1),
        ("hall door", "MCCGQ11LM", 0),  # listed by Zigbee2MQTT, never heard
    ]
    assert rejects.counts["unregistered_device"] == 1


async def test_availability_and_announcements_reach_the_store(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = in_process_config(broker, tmp_path, devices=[*DEVICES, SOS])
    async with running_hub(config) as rejects, device_client(broker, "z2m") as z2m:
        topic = "zigbee2mqtt/mum/bedroom/sos/availability"
        await z2m.publish(topic, b'{"state":"online"}', qos=1, retain=True)
        await z2m.publish(topic, b"offline", qos=1, retain=True)  # a 1.x bridge's plain form
        announce = {"device_id": "pendant-9", "type": "pendant", "model": "TC-P1"}
        await z2m.publish("telecare/v1/pairing/announce", json.dumps(announce), qos=1)
        await z2m.publish("zigbee2mqtt/mum/bedroom/sos", b'{"water_leak": true}', qos=1)

        async def offline_stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return any(e.event.type == "device.offline" for e in await store.events())

        await eventually(offline_stored)

        async def back_online() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return len(await store.events()) == 3

        await eventually(back_online)
        await z2m.publish(topic, b"", qos=1, retain=True)  # a retained message cleared: nothing
    async with Store.open(config.store.path, readonly=True) as store:
        events = [(e.event.device_id, e.event.type, e.event.source) for e in await store.events()]
        unpaired = [(u.source, u.address, u.model) for u in await store.unpaired_devices()]
    assert events == [
        ("sos-bedroom", "device.online", "zigbee2mqtt"),
        ("sos-bedroom", "device.offline", "zigbee2mqtt"),
        ("sos-bedroom", "device.online", "zigbee2mqtt"),  # it spoke again
    ]
    assert unpaired == [("native", "pendant-9", "TC-P1")]
    assert rejects.counts["role_mismatch"] == 1
    assert rejects.counts["invalid_payload"] == 0
