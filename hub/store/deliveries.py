"""The store's records of deliveries: each send of an outbox entry and what became of it.

Part of the SQLite store (mixed into `hub.store.store.Store`); kept apart because it serves the
notifier: the attempt log behind budgets, delivery tracking and the audit of who was told how.
"""

import json
import secrets
import sqlite3
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Protocol, TypeVar

from hub.store.commit import add_notification
from hub.store.connection import Connection
from hub.store.errors import StoreWriteError
from hub.store.rows import without
from notifier.model import Delivery, OutboxEntry
from notifier.redelivery import Owed
from rules.incidents import Notify

ACK_KEY_BYTES = 32
T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of an outbox entry, to be recorded.

    A send of `entry` on `channel`; or, with neither, an outcome for an entry no send was
    started for; or, with `ref`, what the provider later reported about the send `ref`.
    """

    entry_id: int
    entry: OutboxEntry | None
    channel: str | None
    delivery: Delivery
    started: datetime
    at: datetime
    ref: str | None = None

    @property
    def is_send(self) -> bool:
        """Whether this records a send (and its immediate outcome)."""
        return self.entry is not None and self.channel is not None and self.ref is None


@dataclass(frozen=True, slots=True)
class AwaitingStatus:
    """A sent entry whose provider may still report it delivered or undelivered."""

    entry: OutboxEntry
    ref: str


class _Core(Protocol):
    _db: Connection
    _stand_in: bool

    async def seed_stand_in(self, write: Callable[[], Awaitable[None]]) -> None: ...

    def _transaction(self, *, flush: bool = True) -> AbstractAsyncContextManager[None]: ...

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]: ...

    async def _write(self, work: Callable[[sqlite3.Connection], T], *, flush: bool = True) -> T: ...


class _Recorder(Protocol):
    async def record_outcomes(self, outcomes: Sequence[Outcome]) -> None: ...


class DeliveryRecords:
    """Delivery attempts, budgets, notices and the acknowledgement key."""

    async def record_delivery(
        self: _Recorder,
        entry: OutboxEntry,
        channel: str,
        delivery: Delivery,
        *,
        started: datetime,
        at: datetime,
    ) -> None:
        """Record one send and its outcome, on the attempt log and on the outbox entry."""
        await self.record_outcomes([Outcome(entry.id, entry, channel, delivery, started, at)])

    async def record_status(
        self: _Recorder, entry_id: int, ref: str, delivery: Delivery, *, at: datetime
    ) -> None:
        """Record what the provider later reported about a sent entry (delivered, undelivered)."""
        await self.record_outcomes([Outcome(entry_id, None, None, delivery, at, at, ref=ref)])

    async def mark_notification(
        self: _Recorder, entry_id: int, delivery: Delivery, *, at: datetime
    ) -> None:
        """Record a channel's outcome for an outbox entry no send was started for."""
        await self.record_outcomes([Outcome(entry_id, None, None, delivery, at, at)])

    async def record_outcomes(self: _Core, outcomes: Sequence[Outcome]) -> None:
        """Record outcomes in order, in one transaction.

        Records of sends are not synced on their own (the next synced write carries them): one
        lost to a power cut leaves its entry pending, and the dispatcher asks the provider before
        sending it again. Any other outcome is on disk on return.
        """
        if outcomes:
            synced = not all(o.is_send for o in outcomes)
            await self._write(partial(_write_outcomes, list(outcomes)), flush=synced)

    async def delivery_times(self: _Core, since: datetime) -> list[tuple[str, str, datetime]]:
        """(contact, channel, started) of every send not failed since `since` (for budgets)."""
        rows = await self._fetch(
            "SELECT contact, channel, started_at FROM deliveries"
            " WHERE started_at >= ? AND state != 'failed' ORDER BY started_at",
            (since.isoformat(),),
        )
        return [(r["contact"], r["channel"], datetime.fromisoformat(r["started_at"])) for r in rows]

    async def awaiting_status(
        self: _Core, channels: Sequence[str], *, since: datetime
    ) -> list[AwaitingStatus]:
        """Entries sent on `channels` since `since` not yet reported delivered or failed."""
        rows = await self._fetch(
            "SELECT n.*, d.ref AS ref FROM notifications n JOIN deliveries d"
            " ON d.notification_id = n.id AND d.state = 'sent' AND d.ref IS NOT NULL"
            " WHERE n.state = 'sent' AND n.channel IN (SELECT value FROM json_each(?))"
            " AND d.started_at >= ? ORDER BY n.id",
            (json.dumps(list(channels)), since.isoformat()),
        )
        return [
            AwaitingStatus(
                OutboxEntry.model_validate({k: v for k, v in r.items() if k != "ref"}), r["ref"]
            )
            for r in rows
        ]

    async def owed_notifications(self: _Core) -> Owed:
        """The outbox of the incidents still firing with an alarm failed for want of a provider.

        Which of those alarms are owed, and to whom: `notifier.redelivery.Owed`.
        """
        rows = await self._fetch(
            "SELECT n.*, i.round AS incident_round FROM notifications n"
            " JOIN incidents i ON i.id = n.incident_id WHERE i.state = 'firing'"
            " AND n.incident_id IN (SELECT incident_id FROM notifications"
            " WHERE unreachable = 1 AND state = 'failed') ORDER BY n.id",
            (),
        )
        entries = [OutboxEntry.model_validate(without(r, "incident_round")) for r in rows]
        return Owed(entries, {r["incident_id"]: int(r["incident_round"]) for r in rows})

    async def add_notices(
        self: _Core, notes: Sequence[Notify], *, at: datetime
    ) -> list[OutboxEntry]:
        """Add notifier-made entries (failover, "delivery failing") to the outbox, durably."""
        return await self._write(partial(_add_notices, notes, at))

    async def notification(self: _Core, entry_id: int) -> OutboxEntry | None:
        """One outbox entry by id."""
        rows = await self._fetch("SELECT * FROM notifications WHERE id = ?", (entry_id,))
        return OutboxEntry.model_validate(rows[0]) if rows else None

    async def claim_reply(
        self: _Core, sid: str, sender: str, *, received: datetime, at: datetime
    ) -> bool:
        """Mark an inbound SMS as handled; False if it already was (do not act on it again)."""
        async with self._transaction():
            cursor = await self._db.execute(
                "INSERT INTO inbound_replies (sid, sender, received_at, handled_at)"
                " VALUES (?, ?, ?, ?) ON CONFLICT (sid) DO NOTHING",
                (sid, sender, received.isoformat(), at.isoformat()),
            )
        return cursor.rowcount == 1

    async def replies_since(self: _Core, now: datetime) -> datetime:
        """Where reading SMS replies resumes: the newest one handled, else the hub's first read.

        The first call ever records `now` as the first read and keeps it, so a reply sent while
        the hub was down is read at its next start even if none was ever handled before.
        """
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO hub_state (key, value, updated_at) VALUES ('replies_from', ?, ?)"
                " ON CONFLICT (key) DO NOTHING",
                (now.isoformat(), now.isoformat()),
            )
        rows = await self._fetch(
            "SELECT (SELECT value FROM hub_state WHERE key = 'replies_from') AS first,"
            " (SELECT max(received_at) FROM inbound_replies) AS newest",
            (),
        )
        stamps = [rows[0]["first"], rows[0]["newest"]]
        return max(datetime.fromisoformat(stamp) for stamp in stamps if stamp is not None)

    async def ack_key(self: _Core) -> bytes:
        """The hub's key for acknowledgement tokens, made at first use and kept.

        A hub whose database stands in, in memory, makes it there; it is carried over to the
        database on the disk once that can be created.
        """
        try:
            await self._write(_make_ack_key)
        except StoreWriteError:
            if not self._stand_in:
                raise
            await self.seed_stand_in(partial(self._write, _make_ack_key))
        rows = await self._fetch("SELECT value FROM hub_secrets WHERE name = 'ack_key'", ())
        return bytes(rows[0]["value"])


def _make_ack_key(db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO hub_secrets (name, value) VALUES ('ack_key', ?) ON CONFLICT (name) DO NOTHING",
        (secrets.token_bytes(ACK_KEY_BYTES),),
    )


def _write_outcomes(outcomes: Sequence[Outcome], db: sqlite3.Connection) -> None:
    for outcome in outcomes:
        delivery, at = outcome.delivery, outcome.at.isoformat()
        if outcome.ref is not None:
            db.execute(
                "UPDATE deliveries SET state = ?, detail = ? WHERE notification_id = ? AND ref = ?",
                (delivery.state, delivery.detail, outcome.entry_id, outcome.ref),
            )
        elif outcome.is_send:
            db.execute(
                "INSERT INTO deliveries (notification_id, channel, contact, state, ref, detail,"
                " started_at, finished_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    outcome.entry_id,
                    outcome.channel,
                    outcome.entry.contact if outcome.entry else None,
                    delivery.state,
                    delivery.ref,
                    delivery.detail,
                    outcome.started.isoformat(),
                    at,
                ),
            )
        db.execute(  # a provider's later report is no new attempt
            "UPDATE notifications SET state = ?, detail = ?, updated_at = ?,"
            " attempts = attempts + ?, unreachable = ? WHERE id = ?",
            (
                delivery.state,
                delivery.detail,
                at,
                int(outcome.ref is None),
                int(delivery.unreachable),
                outcome.entry_id,
            ),
        )


def _add_notices(
    notes: Sequence[Notify], at: datetime, db: sqlite3.Connection
) -> list[OutboxEntry]:
    added = (add_notification(db, note, at) for note in notes)
    return [entry for entry in added if entry is not None]
