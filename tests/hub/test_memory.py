"""What the engine remembers besides open incidents survives a restart: a held digest is sent."""

import json
from datetime import UTC, datetime
from pathlib import Path

from hub.pipeline.intake import Intake
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.store.store import NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine
from rules.policy import Contact, DeviceInfo, RulesConfig
from wire.schema import InboundMessage, event_topic

MORNING = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)  # a Monday; London is on GMT
LUNCH = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
RULES = RulesConfig(
    contacts=(Contact.model_validate({"name": "Alice", "digest_at": ["12:30"]}),),
    devices={"door-1": DeviceInfo(name="front door", role="door", room="hall")},
)


async def _pipeline(store: Store, dispatcher: Dispatcher, at: datetime) -> Pipeline:
    engine = Engine(RULES)
    state = engine.restore(
        await store.incidents(open_only=True),
        opened=await store.incident_count(),
        since=MORNING,
        memory=await store.engine_memory(),
    )
    return Pipeline(
        engine=engine,
        state=state,
        store=store,
        intake=Intake(await store.devices(), RejectLog()),
        dispatcher=dispatcher,
        ack=lambda message: None,
        publish=lambda topic, body, retain: None,
        clock=lambda: at,
    )


async def test_a_held_digest_is_sent_after_a_restart(tmp_path: Path) -> None:
    opened = json.dumps({"type": "door.opened"}).encode()
    closed = json.dumps({"type": "door.closed"}).encode()
    async with Store.open(tmp_path / "hub.db") as store:
        await store.register_devices(
            [NewDevice("door-1", "front door", "door", "hall", "native", None, None, "config")],
            at=MORNING,
        )
        async with Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher:
            before = await _pipeline(store, dispatcher, MORNING)
            await before.handle(
                [
                    InboundMessage(event_topic("door-1"), opened, qos=1, mid=1),
                    InboundMessage(event_topic("door-1"), closed, qos=1, mid=2),
                ]
            )
            assert await store.notifications() == []
            after = await _pipeline(store, dispatcher, LUNCH)  # the hub restarted
            await after.tick()
            await dispatcher.drain()
        notes = await store.notifications()

    assert [(n.contact, n.text.splitlines()[0]) for n in notes] == [
        ("Alice", "Digest for Alice, 1 item(s):")
    ]
    assert "The front door (hall) was opened at 10:00." in notes[0].text
