"""The pipeline on its own: commit before acknowledging, and redeliveries stored once."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hub.intake import Intake
from hub.pipeline import Pipeline
from hub.rejections import RejectLog
from hub.store import NewDevice, Store
from hub.wire import InboundMessage, event_topic
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine, EngineState
from rules.policy import Contact, RulesConfig

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


async def _pipeline(store: Store, acked: list[InboundMessage], dispatcher: Dispatcher) -> Pipeline:
    await store.register_devices(
        [NewDevice("pendant-1", "pendant", "pendant", "Bedroom", "native", None, None, "config")],
        at=NOW,
    )
    return Pipeline(
        engine=Engine(RulesConfig(contacts=(Contact(name="Alice"),))),
        state=EngineState(),
        store=store,
        intake=Intake(await store.devices(), RejectLog()),
        dispatcher=dispatcher,
        ack=acked.append,
        publish=lambda topic, body, retain: None,
        clock=lambda: NOW,
    )


def _press(mid: int, *, dup: bool) -> InboundMessage:
    body = json.dumps({"type": "pendant.pressed", "seq": 5}).encode()
    return InboundMessage(event_topic("pendant-1"), body, qos=1, mid=mid, dup=dup)


async def test_redelivered_message_is_acknowledged_but_stored_once(tmp_path: Path) -> None:
    acked: list[InboundMessage] = []
    async with Store.open(tmp_path / "hub.db") as store:
        dispatcher = Dispatcher(store, {"outbox": LocalOutbox()})
        async with dispatcher:
            pipeline = await _pipeline(store, acked, dispatcher)
            await pipeline.handle([_press(17, dup=False)])
            await pipeline.handle([_press(17, dup=True)])  # the broker never saw our ack
            await dispatcher.drain()
        events = await store.events()
        notes = await store.notifications()
    assert len(events) == 1
    assert len(notes) == 1
    assert [m.mid for m in acked] == [17, 17]
    assert pipeline.duplicates == 1


async def test_same_packet_id_with_new_content_is_a_new_event(tmp_path: Path) -> None:
    acked: list[InboundMessage] = []
    async with Store.open(tmp_path / "hub.db") as store:
        dispatcher = Dispatcher(store, {"outbox": LocalOutbox()})
        async with dispatcher:
            pipeline = await _pipeline(store, acked, dispatcher)
            await pipeline.handle([_press(17, dup=False)])
            other = InboundMessage(
                event_topic("pendant-1"), b'{"type": "pendant.cancelled"}', qos=1, mid=17, dup=True
            )
            await pipeline.handle([other])
        types = [e.event.type for e in await store.events()]
    assert types == ["pendant.pressed", "pendant.cancelled"]


async def test_nothing_is_acknowledged_when_the_commit_fails(tmp_path: Path) -> None:
    acked: list[InboundMessage] = []
    async with Store.open(tmp_path / "hub.db") as store:
        dispatcher = Dispatcher(store, {"outbox": LocalOutbox()})
        async with dispatcher:
            pipeline = await _pipeline(store, acked, dispatcher)

            async def broken_commit(*args: object, **kwargs: object) -> list[object]:
                raise OSError("disk full")

            store.commit = broken_commit  # type: ignore[method-assign]
            with pytest.raises(OSError, match="disk full"):
                await pipeline.handle([_press(3, dup=False)])
    assert acked == []


async def test_a_device_resending_the_same_event_is_stored_once(tmp_path: Path) -> None:
    acked: list[InboundMessage] = []
    same = b'{"type": "door.opened", "seq": 4, "ts": "2026-11-23T10:00:00+00:00"}'
    rebooted = b'{"type": "door.opened", "seq": 4, "ts": "2026-11-23T11:00:00+00:00"}'
    async with Store.open(tmp_path / "hub.db") as store:
        dispatcher = Dispatcher(store, {"outbox": LocalOutbox()})
        async with dispatcher:
            pipeline = await _pipeline(store, acked, dispatcher)
            topic = event_topic("pendant-1")
            await pipeline.handle([InboundMessage(topic, same, qos=1, mid=1)])
            await pipeline.handle([InboundMessage(topic, same, qos=1, mid=2)])
            await pipeline.handle([InboundMessage(topic, rebooted, qos=1, mid=3)])
        stored = [e.event.ts for e in await store.events()]
    assert len(stored) == 2, "an exact resend is dropped; a rebooted device's seq 4 is kept"
    assert len(acked) == 3
