"""What one commit of the event path writes, as plain SQLite calls made on the store's thread.

The store runs a whole transaction as one function on its connection's thread: one hand-over
between the event loop and that thread per commit, rather than one per statement (each costs
a wake-up of both threads, and on a busy CPU a wait for the interpreter's lock).
"""

import contextlib
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from typing import TypeVar

from hub.store.connection import Connection, WorkerBusyError
from hub.store.dashboard import record_setting
from hub.store.devices import record_sightings
from hub.store.files import IN_USE, result_code
from hub.store.records import DeviceHealth, IncidentNote, UnpairedSighting
from hub.store.rows import iso, new_outbox_entry
from notifier.model import OutboxEntry
from rules.incidents import (
    Action,
    Incident,
    IncidentChanged,
    Notify,
    OccupancyChanged,
    SettingChanged,
)
from rules.state import Memory
from wire.event import DeviceEvent
from wire.schema import SentNotice

T = TypeVar("T")
BUSY_TIMEOUT_MS = 5000  # sqlite3's own default: how long a write waits for another's lock
SENT_BEFORE_DETAIL = "sent before the hub restarted, while its card kept no record"


@dataclass(frozen=True, slots=True)
class AcceptedEvent:
    """An event with where it came from, for the log and for duplicate detection."""

    event: DeviceEvent
    topic: str | None = None
    mqtt_mid: int | None = None
    digest: bytes | None = None


@dataclass(slots=True)
class Batch:
    """Everything one ingest round commits together."""

    events: list[AcceptedEvent] = field(default_factory=list)
    actions: list[Action] = field(default_factory=list)
    health: list[DeviceHealth] = field(default_factory=list)
    unpaired: list[UnpairedSighting] = field(default_factory=list)
    commands: dict[str, tuple[str, ...]] = field(default_factory=dict)
    memory: Memory | None = None
    incidents: list[Incident] = field(default_factory=list)  # open, with their timers as now
    notes: list[IncidentNote] = field(default_factory=list)  # given with a resolution
    # Notifications sent before a restart, by key, with what became of them: written as sent.
    sent: dict[str, SentNotice] = field(default_factory=dict)
    # Alarms, short: committed on the caller's thread when the store's is idle (`Store.commit`).
    alarms: bool = False


class WriteLockBusyError(Exception):
    """Another connection (a CLI command, say) holds the database's write lock just now."""


def in_transaction(work: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
    """`work` in one write transaction: all of it is committed, or none of it."""
    db.execute("BEGIN IMMEDIATE")
    return _committed(work, db)


def in_transaction_now(work: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
    """`in_transaction`, refused at once if another connection holds the write lock.

    Raises:
        WriteLockBusyError: it does; nothing was written (the caller may wait for it elsewhere).
    """
    db.execute("PRAGMA busy_timeout = 0")
    try:
        db.execute("BEGIN IMMEDIATE")
    except sqlite3.OperationalError as err:
        if result_code(err) in IN_USE:
            raise WriteLockBusyError(str(err)) from err
        raise
    finally:
        db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    return _committed(work, db)


def done_here(db: Connection, work: Callable[[sqlite3.Connection], T]) -> tuple[T] | None:
    """`work` as one transaction on the calling thread, if that can be done at once.

    Returns None, having written nothing, if the connection's thread is busy or another
    connection holds the write lock.
    """
    try:
        return (db.run_here(partial(in_transaction_now, work)),)
    except (WorkerBusyError, WriteLockBusyError):
        return None


def _committed(work: Callable[[sqlite3.Connection], T], db: sqlite3.Connection) -> T:
    try:
        result = work(db)
        db.commit()
    except BaseException:
        if db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a failing disk may refuse this too
                db.rollback()
        raise
    return result


def write_batch(db: sqlite3.Connection, batch: Batch, at: datetime) -> list[OutboxEntry]:
    """Write a batch; returns the notifications newly added to the outbox."""
    insert_events(db, batch.events)
    record_sightings(db, batch.health, batch.unpaired, batch.commands)
    if batch.memory is not None:
        put_state(db, "engine_memory", batch.memory.model_dump_json(), at)
    added = apply_actions(db, batch.actions, at)
    if batch.sent:
        for entry in added:
            if entry.key in batch.sent:
                record_sent_before(db, entry, batch.sent[entry.key])
        added = [entry for entry in added if entry.key not in batch.sent]
    keep_timers(db, batch.incidents)
    db.executemany(
        "INSERT INTO incident_notes (incident_id, author, text, at) VALUES (?, ?, ?, ?)",
        [(n.incident_id, n.author, n.text, iso(n.at)) for n in batch.notes],
    )
    return added


def record_sent_before(db: sqlite3.Connection, entry: OutboxEntry, notice: SentNotice) -> None:
    """An entry sent from memory before the hub restarted: written as sent, with its outcome."""
    detail = SENT_BEFORE_DETAIL
    db.execute(
        "INSERT INTO deliveries (notification_id, channel, contact, state, ref, detail,"
        " started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (entry.id, notice.channel, entry.contact, notice.state, notice.ref, detail,
         iso(notice.at), iso(notice.at)),
    )  # fmt: skip
    db.execute(
        "UPDATE notifications SET state = ?, detail = ?, updated_at = ?, attempts = 1 WHERE id = ?",
        (notice.state, detail, iso(notice.at), entry.id),
    )


def put_state(db: sqlite3.Connection, key: str, value: str | None, at: datetime) -> None:
    """Set one of the hub's own values (engine memory, who is home)."""
    db.execute(
        "INSERT INTO hub_state (key, value, updated_at) VALUES (?, ?, ?)"
        " ON CONFLICT (key) DO UPDATE SET value = excluded.value,"
        " updated_at = excluded.updated_at",
        (key, value, iso(at)),
    )


def insert_events(db: sqlite3.Connection, accepted: Sequence[AcceptedEvent]) -> None:
    """Log the events and what they say of their devices."""
    db.executemany(
        "INSERT INTO events (device_id, type, source, received_at, ts, seq, battery, value,"
        " topic, mqtt_mid, digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (
                a.event.device_id,
                a.event.type,
                a.event.source,
                iso(a.event.received_at),
                iso(a.event.ts),
                a.event.seq,
                a.event.battery,
                a.event.value,
                a.topic,
                a.mqtt_mid,
                a.digest,
            )
            for a in accepted
        ],
    )
    db.executemany(
        "UPDATE devices SET last_seen = ?, battery = coalesce(?, battery),"
        " online = CASE ? WHEN 'device.offline' THEN 0 ELSE 1 END WHERE id = ?",
        [
            (iso(a.event.received_at), a.event.battery, a.event.type, a.event.device_id)
            for a in accepted
        ],
    )


def apply_actions(
    db: sqlite3.Connection, actions: Sequence[Action], at: datetime
) -> list[OutboxEntry]:
    """Write what the engine decided; returns the notifications newly added to the outbox."""
    added: list[OutboxEntry] = []
    for action in actions:
        if isinstance(action, IncidentChanged):
            record_change(db, action)
        elif isinstance(action, OccupancyChanged):
            put_state(db, "occupied_by", action.occupied_by, action.at)
        elif isinstance(action, SettingChanged):
            record_setting(db, action)
        elif isinstance(action, Notify):
            entry = add_notification(db, action, at)
            if entry is not None:
                added.append(entry)
    return added


def keep_timers(db: sqlite3.Connection, incidents: Sequence[Incident]) -> None:
    """Each open incident's ladder position and next timer, as the engine has them now."""
    db.executemany(
        "UPDATE incidents SET due_at = ?, steps_sent = ? WHERE id = ?",
        [(iso(i.due_at), i.steps_sent, i.id) for i in incidents],
    )


def record_change(db: sqlite3.Connection, change: IncidentChanged) -> None:
    """Save an incident as it now stands, and the change in its log."""
    i = change.incident
    db.execute(
        "INSERT INTO incidents (id, cause, severity, state, device_id, opened_at, fired_at,"
        " due_at, steps_sent, closed_at, text, updated_at, round, acknowledged_by)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET"
        " state = excluded.state, fired_at = excluded.fired_at, due_at = excluded.due_at,"
        " steps_sent = excluded.steps_sent, closed_at = excluded.closed_at,"
        " updated_at = excluded.updated_at, round = excluded.round,"
        " acknowledged_by = excluded.acknowledged_by",
        (
            i.id,
            i.cause,
            i.severity,
            i.state,
            i.device_id,
            iso(i.opened_at),
            iso(i.fired_at),
            iso(i.due_at),
            i.steps_sent,
            iso(i.closed_at),
            i.text,
            iso(change.at),
            i.round,
            i.acknowledged_by,
        ),
    )
    db.execute(
        "INSERT INTO incident_log (incident_id, at, previous, state, reason)"
        " VALUES (?, ?, ?, ?, ?)",
        (i.id, iso(change.at), change.previous, i.state, change.reason),
    )


def add_notification(db: sqlite3.Connection, note: Notify, at: datetime) -> OutboxEntry | None:
    """Add one entry to the outbox; None if its key is there already."""
    cursor = db.execute(
        "INSERT INTO notifications (key, incident_id, severity, contact, channel, text, state,"
        " created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
        " ON CONFLICT (key) DO NOTHING",
        (
            note.key,
            note.incident_id,
            note.severity,
            note.contact,
            note.channel,
            note.text,
            iso(at),
            iso(at),
        ),
    )
    if cursor.rowcount != 1 or cursor.lastrowid is None:
        return None
    return new_outbox_entry(note, cursor.lastrowid, at)
