"""The event path end to end: MQTT in, store, engine, outbox, with a real broker."""

import json
from pathlib import Path

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from wire.schema import HUB_STATUS_TOPIC, event_topic, status_topic


async def test_pendant_press_opens_incident_and_lands_in_outbox(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = in_process_config(broker, tmp_path)
    async with running_hub(config), device_client(broker) as device:
        await device.publish(
            event_topic("pendant-1"), json.dumps({"type": "pendant.pressed", "seq": 1}), qos=1
        )

        async def notified() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return any(n.state == "delivered" for n in await store.notifications())

        await eventually(notified)

    async with Store.open(config.store.path, readonly=True) as store:
        events = await store.events()
        incidents = await store.incidents()
        notes = await store.notifications()
        log = await store.incident_log(incidents[0].id)
    assert [(e.event.device_id, e.event.type, e.event.seq) for e in events] == [
        ("pendant-1", "pendant.pressed", 1)
    ]
    assert [(i.cause, i.severity, i.state) for i in incidents] == [
        ("help_call", "emergency", "firing")
    ]
    assert [(n.contact, n.channel, n.state) for n in notes] == [("Alice", "outbox", "delivered")]
    assert "Mum pressed the pendant (Bedroom)" in notes[0].text
    assert [row["state"] for row in log] == ["pending", "firing"]


async def test_status_changes_become_events_once(broker: LocalBroker, tmp_path: Path) -> None:
    config = in_process_config(broker, tmp_path)
    async with running_hub(config), device_client(broker) as device:
        for _ in range(3):  # a retained status repeated is not news
            await device.publish(status_topic("door-1"), b'{"online": true}', qos=1, retain=True)
        await device.publish(status_topic("door-1"), b'{"online": false}', qos=1, retain=True)
        await device.publish(event_topic("door-1"), b'{"type": "door.opened"}', qos=1)

        async def three_events() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return len(await store.events()) >= 3

        await eventually(three_events)
    async with Store.open(config.store.path, readonly=True) as store:
        types = [e.event.type for e in await store.events()]
        devices = {d.id: d for d in await store.devices()}
    assert types == ["device.online", "device.offline", "door.opened"]
    assert devices["door-1"].online is True
    assert devices["door-1"].last_seen is not None


async def test_hub_status_is_retained_online_then_offline(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = in_process_config(broker, tmp_path)
    async with running_hub(config), device_client(broker, "watcher") as watcher:
        await watcher.subscribe(HUB_STATUS_TOPIC, qos=1)
        message = await anext(aiter(watcher.messages))
        assert json.loads(bytes(message.payload))["online"] is True  # type: ignore[arg-type]
    async with device_client(broker, "late-watcher") as watcher:
        await watcher.subscribe(HUB_STATUS_TOPIC, qos=1)
        message = await anext(aiter(watcher.messages))
        assert message.retain
        assert json.loads(bytes(message.payload))["online"] is False  # type: ignore[arg-type]


async def test_pending_confirm_window_survives_a_restart(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = in_process_config(broker, tmp_path, policy={"water": {"debounce_s": 1}})
    async with running_hub(config), device_client(broker) as device:
        await device.publish(event_topic("leak-1"), b'{"type": "water.leak"}', qos=1)

        async def pending() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return [i.state for i in await store.incidents()] == ["pending"]

        await eventually(pending)
    # The hub is down while the window ends; at the next start the leak is raised.
    async with running_hub(config):

        async def fired() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                notes = await store.notifications()
                return [n.state for n in notes] == ["delivered"]

        await eventually(fired)
    async with Store.open(config.store.path, readonly=True) as store:
        incidents = await store.incidents()
    assert [(i.cause, i.state) for i in incidents] == [("water_leak", "firing")]
