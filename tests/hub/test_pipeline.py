"""The pipeline on its own: commit before acknowledging, redeliveries stored once, alarms first."""

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

import hub.pipeline.pipeline
from hub.pipeline.inbox import Inbox
from hub.pipeline.intake import RECENT_SEQS, Intake
from hub.pipeline.pipeline import YIELD_EVERY, Pipeline
from hub.pipeline.rejections import RejectLog
from hub.store.store import Batch, NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from notifier.model import Delivery, OutboxEntry
from rules.engine import Engine, EngineState
from rules.policy import Contact, RulesConfig
from tests.support.hubs import eventually
from wire.schema import InboundMessage, event_topic

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


async def _pipeline(
    store: Store,
    acked: list[InboundMessage],
    dispatcher: Dispatcher,
    *,
    contacts: tuple[str, ...] = ("Alice",),
) -> Pipeline:
    await store.register_devices(
        [
            NewDevice("pendant-1", "pendant", "pendant", "Bedroom", "native", None, None, "config"),
            NewDevice("motion-1", "hall motion", "motion", "Hall", "native", None, None, "config"),
        ],
        at=NOW,
    )
    return Pipeline(
        engine=Engine(RulesConfig(contacts=tuple(Contact(name=name) for name in contacts))),
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


async def test_a_device_s_last_events_are_remembered_and_older_ones_forgotten(
    tmp_path: Path,
) -> None:
    acked: list[InboundMessage] = []

    def door(seq: int, mid: int) -> InboundMessage:
        body = json.dumps({"type": "door.opened", "seq": seq}).encode()
        return InboundMessage(event_topic("pendant-1"), body, qos=1, mid=mid)

    async with _running(tmp_path, acked) as (store, _, pipeline):
        await pipeline.handle([door(seq, seq + 1) for seq in range(RECENT_SEQS + 1)])
        await pipeline.handle([door(RECENT_SEQS, 100), door(1, 101), door(0, 102)])
        stored = [e.event.seq for e in await store.events()]
    assert stored == [*range(RECENT_SEQS + 1), 0], "seq 0 was forgotten; 1 and the last are not"


def _motion(mid: int) -> InboundMessage:
    body = json.dumps({"type": "motion.detected", "seq": mid}).encode()
    return InboundMessage(event_topic("motion-1"), body, qos=1, mid=mid)


@asynccontextmanager
async def _running(
    tmp_path: Path, acked: list[InboundMessage]
) -> AsyncIterator[tuple[Store, Dispatcher, Pipeline]]:
    """A store, a dispatcher to the outbox and a pipeline; the dispatcher stops on exit."""
    async with (
        Store.open(tmp_path / "hub.db") as store,
        Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher,
    ):
        yield store, dispatcher, await _pipeline(store, acked, dispatcher)


async def test_an_alarm_is_committed_and_sent_before_the_telemetry_around_it(
    tmp_path: Path,
) -> None:
    acked: list[InboundMessage] = []
    async with _running(tmp_path, acked) as (store, dispatcher, pipeline):
        await pipeline.handle([_motion(1), _motion(2), _press(3, dup=False), _motion(4)])
        await dispatcher.drain()
        stored = [(e.event.device_id, e.event.type) for e in await store.events()]
        [note] = await store.notifications()
    assert stored == [
        ("pendant-1", "pendant.pressed"),
        ("motion-1", "motion.detected"),
        ("motion-1", "motion.detected"),
        ("motion-1", "motion.detected"),
    ]
    assert note.state == "delivered"
    assert sorted(m.mid for m in acked) == [1, 2, 3, 4]


async def test_an_alarm_goes_out_before_the_disk_sync_and_the_ack_waits_for_it(
    tmp_path: Path,
) -> None:
    acked: list[InboundMessage] = []
    async with _running(tmp_path, acked) as (store, _, pipeline):
        disk = asyncio.Event()
        synced = store.flush

        async def slow_flush() -> None:
            await disk.wait()
            await synced()

        store.flush = slow_flush  # type: ignore[method-assign]
        inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        consuming = asyncio.create_task(pipeline.consume(inbox))
        inbox.put_nowait(_press(7, dup=False))

        async def delivered() -> bool:
            return [n.state for n in await store.notifications()] == ["delivered"]

        await eventually(delivered, timeout_s=10)  # while the disk has not synced yet
        assert acked == [], "not acknowledged before the disk has it"
        disk.set()
        inbox.put_nowait(None)
        await consuming
    assert [m.mid for m in acked] == [7]


async def test_an_alarm_arriving_during_a_batch_of_telemetry_overtakes_its_rest(
    tmp_path: Path,
) -> None:
    acked: list[InboundMessage] = []
    async with _running(tmp_path, acked) as (store, _, pipeline):
        inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        for mid in range(1, 41):
            inbox.put_nowait(_motion(mid))
        decode = pipeline._intake.decode

        def press_arrives_at_the_fifth(message: InboundMessage, **kwargs: datetime) -> list:
            if message.mid == 5:
                inbox.put_nowait(_press(99, dup=False))
                inbox.put_nowait(None)  # and then the hub is stopped
            return decode(message, **kwargs)

        pipeline._intake.decode = press_arrives_at_the_fifth  # type: ignore[method-assign]
        await pipeline.consume(inbox)
        stored = [e.event.type for e in await store.events()]
    pressed_at = stored.index("pendant.pressed")
    assert 5 <= pressed_at <= 16, "after the telemetry already decoded, before the rest"
    assert len(stored) == 41
    assert sorted(m.mid for m in acked) == [*range(1, 41), 99]


async def test_nothing_is_read_from_the_broker_while_an_alarm_is_committed(
    tmp_path: Path,
) -> None:
    acked: list[InboundMessage] = []
    reading: list[bool] = [True]
    async with _running(tmp_path, acked) as (store, _, pipeline):
        inbox = Inbox(urgent=pipeline._intake.is_priority)
        inbox.throttle(pause=lambda: reading.append(False), resume=lambda: reading.append(True))
        commit = store.commit
        read_during: dict[str, bool] = {}

        async def noting_commit(batch: Batch, **kwargs: Any) -> list[OutboxEntry]:
            kind = batch.events[0].event.type if batch.events else "other"
            read_during.setdefault(kind, reading[-1])
            return await commit(batch, **kwargs)

        store.commit = noting_commit  # type: ignore[method-assign]
        for message in (_motion(1), _press(2, dup=False), _motion(3)):
            inbox.put_nowait(message)
        inbox.put_nowait(None)
        await pipeline.consume(inbox)
    assert read_during == {"pendant.pressed": False, "motion.detected": True}
    assert reading[-1], "reading resumes once the alarm is out"
    assert sorted(m.mid for m in acked) == [1, 2, 3]


class _Provider:
    """The outbox channel of a provider that answers at once, or never; what it was asked."""

    name = "outbox"

    def __init__(self, *, answers: bool = True) -> None:
        self.asked: list[OutboxEntry] = []
        self._answers = answers

    async def send(self, entry: OutboxEntry) -> Delivery:
        self.asked.append(entry)
        if not self._answers:
            await asyncio.Event().wait()
        return Delivery("sent", ref=str(entry.id))


async def test_a_batch_of_alarms_waits_for_no_earlier_alarm_s_answer(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Telemetry waits (within a bound) for the alarms before it to be answered; alarms must not:
    # with that bound at an hour, a batch of alarms waiting for it would never be committed.
    monkeypatch.setattr(hub.pipeline.pipeline, "ALARM_HEADSTART_S", 3600.0)
    acked: list[InboundMessage] = []
    channel, press = _Provider(answers=False), {"type": "pendant.pressed"}
    async with (
        Store.open(tmp_path / "hub.db") as store,
        Dispatcher(store, {"outbox": channel}) as dispatcher,
    ):
        pipeline = await _pipeline(store, acked, dispatcher)
        await pipeline.handle([_press(1, dup=False)])

        async def asked() -> bool:
            return bool(channel.asked)

        await eventually(asked)  # in flight, and it stays so
        presses = [
            InboundMessage(
                event_topic("pendant-1"), json.dumps(press | {"seq": 100 + n}).encode(), 1, n
            )
            for n in range(2, 2 + 3 * YIELD_EVERY)
        ]
        async with asyncio.timeout(30):
            await pipeline.handle(presses)
        stored = await store.events()
    assert len(stored) == 1 + len(presses)


async def test_second_people_wait_while_the_broker_s_burst_is_still_unread(
    tmp_path: Path,
) -> None:
    # Reading stops while an alarm is committed, so the inbox is empty even in a burst: what
    # is still in the MQTT session's hands counts as the hub having more to decide.
    acked: list[InboundMessage] = []
    channel, unread = _Provider(), [True]
    async with (
        Store.open(tmp_path / "hub.db") as store,
        Dispatcher(store, {"outbox": channel}) as dispatcher,
    ):
        pipeline = await _pipeline(store, acked, dispatcher, contacts=("Alice", "Bob"))
        inbox = Inbox(urgent=pipeline._intake.is_priority)
        inbox.throttle(pause=lambda: None, resume=lambda: None, unread=lambda: unread[0])
        consuming = asyncio.create_task(pipeline.consume(inbox))
        inbox.put_nowait(_press(1, dup=False))

        def told() -> list[str]:
            return [entry.contact for entry in channel.asked]

        async def told_alice() -> bool:
            return told() == ["Alice"]

        await eventually(told_alice)
        await asyncio.sleep(0.05)  # time enough for Bob's to go, were it not held
        assert told() == ["Alice"]
        unread[0] = False
        inbox.put_nowait(_motion(2))  # the rest of the burst, read and decided

        async def told_bob() -> bool:
            return told() == ["Alice", "Bob"]

        await eventually(told_bob)
        inbox.put_nowait(None)
        await consuming


async def test_an_alarm_arriving_after_another_goes_before_the_telemetry_taken_with_it(
    tmp_path: Path,
) -> None:
    acked: list[InboundMessage] = []
    async with _running(tmp_path, acked) as (store, _, pipeline):
        inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        inbox.put_nowait(_press(1, dup=False))
        for mid in range(2, 42):
            inbox.put_nowait(_motion(mid))
        decode = pipeline._intake.decode

        def second_press_arrives(message: InboundMessage, **kwargs: datetime) -> list:
            if message.mid == 1:  # while the first alarm is decided, with its telemetry taken
                body = json.dumps({"type": "pendant.pressed", "seq": 99}).encode()
                inbox.put_nowait(InboundMessage(event_topic("pendant-1"), body, qos=1, mid=99))
                inbox.put_nowait(None)
            return decode(message, **kwargs)

        pipeline._intake.decode = second_press_arrives  # type: ignore[method-assign]
        await pipeline.consume(inbox)
        stored = [e.event.seq for e in await store.events()]  # the first press is seq 5
    assert stored[:2] == [5, 99], "the second alarm before any of the telemetry"
    assert sorted(stored) == sorted([5, 99, *range(2, 42)])
