"""The store's reads for the event path and the CLI: events, incidents, the outbox, hub state.

Part of the SQLite store (mixed into `hub.store.store.Store`).
"""

import json
import sqlite3
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any, Protocol

from hub.store.connection import Connection
from hub.store.errors import StoreError
from hub.store.records import StoredEvent
from hub.store.rows import stored_event, without
from notifier.model import OutboxEntry
from rules.incidents import OPEN_STATES, Incident
from rules.state import Memory

DEDUP_WINDOW_ROWS = 1000


class _Core(Protocol):
    _db: Connection

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]: ...

    async def notifications(
        self, *, states: Sequence[str] | None = None, incident_id: str | None = None
    ) -> list[OutboxEntry]: ...


class EventPathRecords:
    """What the event path and the CLI read back: events, incidents, outbox, the hub's state."""

    async def seen(self: _Core, mqtt_mid: int, digest: bytes) -> bool:
        """Whether a redelivered message (same packet id and content) is already stored."""
        rows = await self._db.execute_fetchall(
            "SELECT 1 FROM events WHERE digest = ? AND mqtt_mid = ?"
            " AND id > (SELECT coalesce(max(id), 0) FROM events) - ? LIMIT 1",
            (digest, mqtt_mid, DEDUP_WINDOW_ROWS),
        )
        return bool(list(rows))

    async def events(self: _Core, *, limit: int | None = None) -> list[StoredEvent]:
        """Stored events, oldest first (the newest `limit` if given)."""
        rows = await self._fetch(
            "SELECT * FROM (SELECT * FROM events ORDER BY id DESC LIMIT ?) ORDER BY id",
            (-1 if limit is None else limit,),
        )
        return [stored_event(r) for r in rows]

    async def incidents(self: _Core, *, open_only: bool = False) -> list[Incident]:
        """Incidents, oldest first; only those still open if asked."""
        rows = await self._fetch("SELECT * FROM incidents ORDER BY opened_at, id", ())
        found = [Incident.model_validate(without(r, "updated_at")) for r in rows]
        return [i for i in found if i.state in OPEN_STATES] if open_only else found

    async def incident(self: _Core, incident_id: str) -> Incident | None:
        """One incident by id, or None."""
        rows = await self._fetch("SELECT * FROM incidents WHERE id = ?", (incident_id,))
        return Incident.model_validate(without(rows[0], "updated_at")) if rows else None

    async def incident_count(self: _Core) -> int:
        """How many incidents were ever opened (numbers the next one)."""
        rows = list(await self._db.execute_fetchall("SELECT count(*) FROM incidents"))
        return int(rows[0][0])

    async def last_event_at(self: _Core, types: Iterable[str] | None = None) -> datetime | None:
        """When the newest event (of the given types, if any) was received."""
        wanted = sorted(types) if types is not None else None
        sql = "SELECT max(received_at) FROM events"
        if wanted is not None:
            sql += f" WHERE type IN ({', '.join('?' * len(wanted))})"
        rows = list(await self._db.execute_fetchall(sql, wanted or ()))
        return None if rows[0][0] is None else datetime.fromisoformat(rows[0][0])

    async def engine_memory(self: _Core) -> Memory | None:
        """What the engine remembered at the last commit, if anything."""
        rows = list(
            await self._db.execute_fetchall(
                "SELECT value FROM hub_state WHERE key = 'engine_memory'"
            )
        )
        return Memory.model_validate_json(rows[0][0]) if rows and rows[0][0] else None

    async def occupied_by(self: _Core) -> str | None:
        """Who else is at home, as last set (None: she is on her own)."""
        rows = list(
            await self._db.execute_fetchall("SELECT value FROM hub_state WHERE key = 'occupied_by'")
        )
        return None if not rows or rows[0][0] is None else str(rows[0][0])

    async def last_change_at(self: _Core) -> datetime | None:
        """When an incident last changed (the hub was deciding then)."""
        rows = list(await self._db.execute_fetchall("SELECT max(at) FROM incident_log"))
        return None if rows[0][0] is None else datetime.fromisoformat(rows[0][0])

    async def incident_log(self: _Core, incident_id: str) -> list[dict[str, Any]]:
        """An incident's audit trail: every change with its reason."""
        return await self._fetch(
            "SELECT at, previous, state, reason FROM incident_log WHERE incident_id = ?"
            " ORDER BY id",
            (incident_id,),
        )

    async def notifications(
        self: _Core, *, states: Sequence[str] | None = None, incident_id: str | None = None
    ) -> list[OutboxEntry]:
        """Outbox entries, oldest first, optionally only in the given states or of one incident."""
        if incident_id is None:
            rows = await self._fetch("SELECT * FROM notifications ORDER BY id", ())
        else:
            rows = await self._fetch(
                "SELECT * FROM notifications WHERE incident_id = ? ORDER BY id", (incident_id,)
            )
        entries = [OutboxEntry.model_validate(r) for r in rows]
        return [e for e in entries if states is None or e.state in states]

    async def notification_keys(self: _Core, keys: Sequence[str]) -> set[str]:
        """Which of `keys` are already in the outbox.

        Raises:
            StoreError: the disk would not even be read.
        """
        try:
            rows = await self._db.execute_fetchall(
                "SELECT key FROM notifications WHERE key IN (SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),),
            )
        except sqlite3.Error as err:
            raise StoreError(f"cannot read the outbox: {err}") from err
        return {str(row[0]) for row in rows}

    async def pending_notifications(self: _Core) -> list[OutboxEntry]:
        """Entries written but not yet handed to a channel."""
        return await self.notifications(states=("pending",))
