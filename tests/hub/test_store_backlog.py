"""The backlog on a real full disk: held in order, sent once, bounded, written on recovery."""

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest

from hub.store import backlog as store_backlog
from hub.store.backlog import UNACKED_HEADROOM, Backlog
from hub.store.errors import StoreWriteError
from hub.store.store import AcceptedEvent, Batch, Store
from notifier.model import Delivery
from rules.engine import Engine, EngineState
from rules.incidents import Notify
from tests.support.disks import fill
from tests.support.rules import clock, home
from wire.event import DeviceEvent
from wire.schema import InboundMessage, event_topic

ENGINE = Engine(home())
NOW = clock("10:00")


@pytest.fixture
async def store(small_disk: Path) -> AsyncIterator[Store]:
    async with Store.open(small_disk / "hub.db") as opened:
        yield opened


def _message(mid: int) -> InboundMessage:
    return InboundMessage(
        topic=event_topic("pendant-1"), payload=b"{}", qos=1, mid=mid, dup=False, retain=False
    )


def _heartbeat(seq: int) -> Batch:
    event = DeviceEvent(device_id="temp-1", type="device.heartbeat", seq=seq, received_at=NOW)
    return Batch(events=[AcceptedEvent(event)])


def _press() -> Batch:
    """A pendant press as the engine decides it: an incident, and its notifications."""
    event = DeviceEvent(device_id="pendant-1", type="pendant.pressed", received_at=NOW)
    _, actions = ENGINE.evaluate(EngineState(), event, now=NOW)
    assert any(isinstance(a, Notify) for a in actions)
    return Batch(events=[AcceptedEvent(event)], actions=actions)


async def test_sent_from_memory_once_then_written_with_its_outcome(
    store: Store, small_disk: Path
) -> None:
    backlog = Backlog(store)
    filler = fill(small_disk)
    press = _press()
    entries, acked = await backlog.commit(press, at=NOW, messages=[_message(1)])
    assert backlog.failing
    assert acked == [], "not stored, so not acknowledged"
    assert entries
    assert all(e.id < 0 for e in entries), "sent from memory"
    again, _ = await backlog.commit(Batch(actions=press.actions), at=NOW)
    assert again == [], "a key already sent from memory is not sent twice"
    for entry in entries:
        sent = Delivery("sent", ref=f"SM{-entry.id}")
        await backlog.record_delivery(entry, "outbox", sent, started=NOW, at=NOW)
    with pytest.raises(StoreWriteError):
        await backlog.catch_up()
    assert backlog.failing
    filler.unlink()
    released = await backlog.catch_up()
    assert [m.mid for m in released] == [1]
    assert not backlog.failing
    stored = await store.notifications()
    assert sorted(n.key for n in stored) == sorted(e.key for e in entries)
    assert {n.state for n in stored} == {"sent"}, "its outcome is on the written entry"
    assert [e.event.type for e in await store.events()] == ["pendant.pressed"]
    written, _ = await backlog.commit(Batch(actions=press.actions), at=NOW)
    assert written == [], "the written keys are not sent again either"


async def test_beyond_the_window_the_oldest_messages_are_acknowledged(
    store: Store, small_disk: Path
) -> None:
    """The broker stops sending after its in-flight window: the hub must not go deaf."""
    window = 20  # Mosquitto's own default
    unacked_max = window - UNACKED_HEADROOM
    backlog = Backlog(store, broker_window=window)
    filler = fill(small_disk)
    acked: list[int] = []
    for seq in range(1, unacked_max + 5):
        _, released = await backlog.commit(_heartbeat(seq), at=NOW, messages=[_message(seq)])
        acked.extend(m.mid for m in released)
    assert acked == [1, 2, 3, 4]
    assert backlog.held_events == unacked_max + 4, "acknowledged, but still held to be written"
    filler.unlink()
    released = await backlog.catch_up()
    assert [m.mid for m in released] == list(range(5, unacked_max + 5))
    assert len(await store.events()) == unacked_max + 4


async def test_beyond_the_window_a_press_stays_with_the_broker_while_telemetry_can_go(
    store: Store, small_disk: Path
) -> None:
    """A restart before the disk takes writes must have the broker deliver the press again."""
    window = 20
    unacked_max = window - UNACKED_HEADROOM
    backlog = Backlog(store, broker_window=window)
    filler = fill(small_disk)
    _, released = await backlog.commit(_press(), at=NOW, messages=[_message(1)])
    acked = [m.mid for m in released]
    for seq in range(2, unacked_max + 5):
        _, released = await backlog.commit(_heartbeat(seq), at=NOW, messages=[_message(seq)])
        acked.extend(m.mid for m in released)
    assert acked == [2, 3, 4, 5], "the oldest heartbeats go; the older press stays"
    filler.unlink()
    released = await backlog.catch_up()
    assert [m.mid for m in released] == [1, *range(6, unacked_max + 5)]
    assert len(await store.events()) == unacked_max + 4


async def test_beyond_the_memory_bound_the_oldest_events_are_let_go(
    store: Store, small_disk: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store_backlog, "EVENTS_MAX", 5)
    backlog = Backlog(store)
    filler = fill(small_disk)
    for seq in range(1, 9):
        await backlog.commit(_heartbeat(seq), at=NOW + timedelta(seconds=seq))
    assert backlog.dropped_events == 3
    assert backlog.held_events == 5
    filler.unlink()
    await backlog.catch_up()
    assert [e.event.seq for e in await store.events()] == [4, 5, 6, 7, 8]


async def test_outcomes_recorded_together_are_written_together(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "hub.db") as store:
        backlog = Backlog(store)
        entries, _ = await backlog.commit(_press(), at=NOW)
        assert len(entries) >= 2
        sends = entries * 25
        before = store._written
        async with backlog._lock:  # the store is busy with a commit meanwhile
            recording = [
                asyncio.create_task(
                    backlog.record_delivery(
                        entry, "outbox", Delivery("sent", ref=f"SM{n}"), started=NOW, at=NOW
                    )
                )
                for n, entry in enumerate(sends)
            ]
            await asyncio.sleep(0.01)
            assert not any(task.done() for task in recording), "nothing is written meanwhile"
        await asyncio.gather(*recording)
        assert store._written - before == 1, "one transaction for the whole group"
        assert {n.state for n in await store.notifications()} == {"sent"}
        attempts = await store._fetch("SELECT ref FROM deliveries ORDER BY id", ())
        assert [a["ref"] for a in attempts] == [f"SM{n}" for n in range(len(sends))]
