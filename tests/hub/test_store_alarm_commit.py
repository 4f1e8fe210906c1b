"""An alarm's commit on the event loop's own thread, only when that cannot make the loop wait."""

import asyncio
import sqlite3  # noqa: TID251  # a second connection, as a CLI command would hold
import threading
from pathlib import Path

import pytest

from hub.store.connection import Connection, WorkerBusyError
from hub.store.store import AcceptedEvent, Batch, Store
from rules.engine import Engine, EngineState
from tests.support.rules import clock, home
from wire.event import DeviceEvent

NOW = clock("10:00")


def _press() -> Batch:
    """A pendant press as the engine decides it, in a batch of alarms."""
    event = DeviceEvent(device_id="pendant-1", type="pendant.pressed", received_at=NOW)
    _, actions = Engine(home()).evaluate(EngineState(), event, now=NOW)
    return Batch(events=[AcceptedEvent(event)], actions=actions, alarms=True)


async def test_work_runs_on_the_caller_s_thread_when_the_connection_s_is_idle(
    tmp_path: Path,
) -> None:
    db = await Connection.open(tmp_path / "x.db")
    try:
        here = db.run_here(lambda _db: threading.get_ident())
        there = await db.run(lambda _db: threading.get_ident())
    finally:
        await db.close()
    assert here == threading.get_ident()
    assert there != here


async def test_work_is_refused_here_while_the_connection_s_thread_has_a_call_in_hand(
    tmp_path: Path,
) -> None:
    db = await Connection.open(tmp_path / "x.db")
    started, release = threading.Event(), threading.Event()

    def slow(_db: sqlite3.Connection) -> None:
        started.set()
        release.wait(10)

    try:
        in_hand = asyncio.create_task(db.run(slow))
        waiting = asyncio.create_task(db.run(lambda _db: 1))
        await asyncio.to_thread(started.wait, 10)
        with pytest.raises(WorkerBusyError):
            db.run_here(lambda _db: 2)
        release.set()
        await in_hand
        assert await waiting == 1
        assert db.run_here(lambda _db: 4) == 4
    finally:
        release.set()
        await db.close()


async def test_an_alarm_commit_waits_for_another_s_write_lock_without_stalling_the_hub(
    tmp_path: Path,
) -> None:
    # A CLI command holding the write lock: the commit must not wait for it on the event loop
    # (up to SQLite's 5 s busy timeout, with every other alarm stuck behind it).
    async with Store.open(tmp_path / "hub.db") as store:
        other = sqlite3.connect(tmp_path / "hub.db", isolation_level=None)
        other.execute("BEGIN IMMEDIATE")
        committing = asyncio.create_task(store.commit(_press(), at=NOW))
        await asyncio.sleep(0.3)  # the loop turns meanwhile
        assert not committing.done()
        other.execute("COMMIT")
        other.close()
        entries = await committing
        events = await store.events()
    assert [e.event.type for e in events] == ["pendant.pressed"]
    assert entries, "the press's notifications are in the outbox"


async def test_an_alarm_committed_here_is_there_after_a_restart(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "hub.db") as store:
        entries = await store.commit(_press(), at=NOW)
    async with Store.open(tmp_path / "hub.db") as store:
        events = await store.events()
        notes = await store.notifications()
    assert [e.event.type for e in events] == ["pendant.pressed"]
    assert len(notes) == len(entries) > 0
