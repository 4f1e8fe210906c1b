"""The store's records of deliveries: each attempt to hand an outbox entry to a provider.

Part of the SQLite store (mixed into `hub.store.Store`); kept apart because it belongs to the
notifier's guarantees: an attempt is committed before its request goes out, so a restart can
tell a send that never started from one that may have reached the provider.
"""

import json
import secrets
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

import aiosqlite

from notifier.model import Delivery, OutboxEntry
from rules.incidents import Notify

ACK_KEY_BYTES = 32


@dataclass(frozen=True, slots=True)
class AwaitingStatus:
    """A sent entry whose provider may still report it delivered or undelivered."""

    entry: OutboxEntry
    ref: str


class _Core(Protocol):
    _db: aiosqlite.Connection

    def _transaction(self) -> AbstractAsyncContextManager[None]: ...

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]: ...

    async def _add_notification(self, note: Notify, at: datetime) -> OutboxEntry | None: ...


class DeliveryRecords:
    """Delivery attempts, budgets, notices and the acknowledgement key."""

    async def begin_delivery(self: _Core, entry: OutboxEntry, channel: str, *, at: datetime) -> int:
        """Record that a send is about to start; returns the attempt's id."""
        async with self._transaction():
            cursor = await self._db.execute(
                "INSERT INTO deliveries (notification_id, channel, contact, state, started_at)"
                " VALUES (?, ?, ?, 'sending', ?)",
                (entry.id, channel, entry.contact, at.isoformat()),
            )
        assert cursor.lastrowid is not None  # an INSERT always has one
        return cursor.lastrowid

    async def finish_delivery(
        self: _Core, attempt_id: int, entry_id: int, delivery: Delivery, *, at: datetime
    ) -> None:
        """Record a send's outcome on the attempt and on its outbox entry, together."""
        async with self._transaction():
            await self._db.execute(
                "UPDATE deliveries SET state = ?, ref = ?, detail = ?, finished_at = ?"
                " WHERE id = ?",
                (delivery.state, delivery.ref, delivery.detail, at.isoformat(), attempt_id),
            )
            await self._db.execute(
                "UPDATE notifications SET state = ?, detail = ?, updated_at = ?,"
                " attempts = attempts + 1 WHERE id = ?",
                (delivery.state, delivery.detail, at.isoformat(), entry_id),
            )

    async def record_status(
        self: _Core, entry_id: int, ref: str, delivery: Delivery, *, at: datetime
    ) -> None:
        """Record what the provider later reported about a sent entry (delivered, undelivered)."""
        async with self._transaction():
            await self._db.execute(
                "UPDATE deliveries SET state = ?, detail = ? WHERE notification_id = ? AND ref = ?",
                (delivery.state, delivery.detail, entry_id, ref),
            )
            await self._db.execute(
                "UPDATE notifications SET state = ?, detail = ?, updated_at = ? WHERE id = ?",
                (delivery.state, delivery.detail, at.isoformat(), entry_id),
            )

    async def interrupted_deliveries(self: _Core) -> dict[int, datetime]:
        """Outbox entries whose last send started and never finished: when it started."""
        rows = await self._fetch(
            "SELECT d.notification_id, min(d.started_at) AS started_at FROM deliveries d"
            " JOIN notifications n ON n.id = d.notification_id"
            " WHERE d.state = 'sending' AND n.state = 'pending' GROUP BY d.notification_id",
            (),
        )
        return {r["notification_id"]: datetime.fromisoformat(r["started_at"]) for r in rows}

    async def deliveries_since(
        self: _Core, contact: str, channels: Sequence[str], since: datetime
    ) -> int:
        """How many sends to `contact` on `channels` started since `since` (for budgets)."""
        rows = await self._fetch(
            "SELECT count(*) AS n FROM deliveries WHERE contact = ? AND started_at >= ?"
            " AND channel IN (SELECT value FROM json_each(?)) AND state != 'failed'",
            (contact, since.isoformat(), json.dumps(list(channels))),
        )
        return int(rows[0]["n"])

    async def awaiting_status(self: _Core, channels: Sequence[str]) -> list[AwaitingStatus]:
        """Entries sent on `channels` that the provider has not yet reported delivered."""
        rows = await self._fetch(
            "SELECT n.*, d.ref AS ref FROM notifications n JOIN deliveries d"
            " ON d.notification_id = n.id AND d.state = 'sent' AND d.ref IS NOT NULL"
            " WHERE n.state = 'sent' AND n.channel IN (SELECT value FROM json_each(?))"
            " ORDER BY n.id",
            (json.dumps(list(channels)),),
        )
        return [
            AwaitingStatus(
                OutboxEntry.model_validate({k: v for k, v in r.items() if k != "ref"}), r["ref"]
            )
            for r in rows
        ]

    async def add_notices(
        self: _Core, notes: Sequence[Notify], *, at: datetime
    ) -> list[OutboxEntry]:
        """Add notifier-made entries (failover, "delivery failing") to the outbox, durably."""
        async with self._transaction():
            added = [await self._add_notification(note, at) for note in notes]
        return [entry for entry in added if entry is not None]

    async def notification(self: _Core, entry_id: int) -> OutboxEntry | None:
        """One outbox entry by id."""
        rows = await self._fetch("SELECT * FROM notifications WHERE id = ?", (entry_id,))
        return OutboxEntry.model_validate(rows[0]) if rows else None

    async def record_acknowledgement(
        self: _Core, incident_id: str, *, by: str, channel: str, at: datetime
    ) -> bool:
        """Put "acknowledged by <by> via <channel>" in the incident's audit trail.

        Returns:
            False if there is no such incident.
        """
        async with self._transaction():
            rows = await self._fetch("SELECT state FROM incidents WHERE id = ?", (incident_id,))
            if not rows:
                return False
            state = rows[0]["state"]
            await self._db.execute(
                "INSERT INTO incident_log (incident_id, at, previous, state, reason)"
                " VALUES (?, ?, ?, ?, ?)",
                (incident_id, at.isoformat(), state, state, f"acknowledged by {by} via {channel}"),
            )
        return True

    async def ack_key(self: _Core) -> bytes:
        """The hub's key for acknowledgement tokens, made at first use and kept."""
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO hub_secrets (name, value) VALUES ('ack_key', ?)"
                " ON CONFLICT (name) DO NOTHING",
                (secrets.token_bytes(ACK_KEY_BYTES),),
            )
        rows = await self._fetch("SELECT value FROM hub_secrets WHERE name = 'ack_key'", ())
        return bytes(rows[0]["value"])
