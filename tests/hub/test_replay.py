"""Replay: the stored event log, fed through the engine again, gives the same incidents."""

from pathlib import Path

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from rules.engine import Engine, EngineState
from rules.incidents import IncidentChanged
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from wire.schema import event_topic

SCENARIO = [
    ("pendant-1", "pendant.pressed"),
    ("door-1", "door.opened"),
    ("leak-1", "water.leak"),
    ("pendant-1", "pendant.cancelled"),
    ("leak-1", "water.clear"),
    ("door-1", "door.closed"),
    ("pendant-1", "pendant.pressed"),
]


async def test_replaying_the_stored_events_reproduces_the_incidents(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = in_process_config(broker, tmp_path)
    async with running_hub(config), device_client(broker) as device:
        for device_id, kind in SCENARIO:
            await device.publish(event_topic(device_id), f'{{"type": "{kind}"}}', qos=1)

        async def all_stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return len(await store.events()) == len(SCENARIO)

        await eventually(all_stored)
    async with Store.open(config.store.path, readonly=True) as store:
        events = [stored.event for stored in await store.events()]
        recorded = {(i.id, i.cause, i.state) for i in await store.incidents()}

    engine, state, replayed = Engine(config.rules()), EngineState(), {}
    for event in events:
        state, actions = engine.evaluate(state, event, now=event.received_at)
        for change in (a for a in actions if isinstance(a, IncidentChanged)):
            replayed[change.incident.id] = (change.incident.cause, change.incident.state)

    stored = [(e.device_id, e.type) for e in events]
    # A pendant's messages may be stored ahead of other devices' in the same batch (alarms go
    # first); each device's own messages keep their order.
    assert sorted(stored) == sorted(SCENARIO)
    for device_id in {d for d, _ in SCENARIO}:
        own = [s for s in SCENARIO if s[0] == device_id]
        assert [s for s in stored if s[0] == device_id] == own
    assert {(i, cause, s) for i, (cause, s) in replayed.items()} == recorded
    assert ("help_call", "cancelled") in {(c, s) for _, c, s in recorded}
