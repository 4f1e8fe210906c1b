"""The store's records for the dashboard and the review report: presence, notes, counts, history.

Part of the SQLite store (mixed into `hub.store.store.Store`), kept apart because only the web side
and `telecare report` read it.
"""

import asyncio
import logging
import sqlite3
from collections.abc import Sequence
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any, Protocol

from hub.store.connection import Connection
from hub.store.records import IncidentNote, LogEntry, LoginLink, Presence, StoredEvent, StoreTallies
from hub.store.rows import iso, stored_event, without
from rules.incidents import Incident, SettingChanged

log = logging.getLogger("telecare.store")


class _Core(Protocol):
    _db: Connection
    _lock: asyncio.Lock
    _stand_in: bool

    def _transaction(self) -> AbstractAsyncContextManager[None]: ...

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]: ...


class DashboardRecords:
    """Presence and notes written by carers; counts and history read for pages and reports."""

    async def set_presence(self: _Core, presence: Presence) -> None:
        """Record that someone is now at home or away."""
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO occupancy_log (name, state, at) VALUES (?, ?, ?)",
                (presence.name, presence.state, iso(presence.at)),
            )

    async def add_note(self: _Core, note: IncidentNote) -> None:
        """Attach a note to an incident."""
        async with self._transaction():
            await self._db.execute(
                "INSERT INTO incident_notes (incident_id, author, text, at) VALUES (?, ?, ?, ?)",
                (note.incident_id, note.author, note.text, iso(note.at)),
            )

    async def settings_log(self: _Core, *, limit: int = 50) -> list[SettingChanged]:
        """The latest changes carers made to settings, newest first."""
        rows = await self._fetch(
            "SELECT setting, subject, value, by, at FROM settings_log ORDER BY id DESC LIMIT ?",
            (limit,),
        )
        return [SettingChanged.model_validate(r) for r in rows]

    async def add_login_link(
        self: _Core, contact: str, secret_hash: str, *, at: datetime, expires_at: datetime
    ) -> int:
        """Keep a new one-time login link (its secret hashed); returns its id."""
        async with self._transaction():
            cursor = await self._db.execute(
                "INSERT INTO login_links (contact, secret_hash, created_at, expires_at)"
                " VALUES (?, ?, ?, ?)",
                (contact, secret_hash, iso(at), iso(expires_at)),
            )
        assert cursor.lastrowid is not None
        return cursor.lastrowid

    async def login_link(self: _Core, link_id: int) -> LoginLink | None:
        """A login link by id, used or not."""
        rows = await self._fetch("SELECT * FROM login_links WHERE id = ?", (link_id,))
        return LoginLink.model_validate(rows[0]) if rows else None

    async def use_login_link(self: _Core, link_id: int, *, at: datetime) -> bool:
        """Mark a link used; False if it already was (it works once)."""
        async with self._transaction():
            cursor = await self._db.execute(
                "UPDATE login_links SET used_at = ? WHERE id = ? AND used_at IS NULL",
                (iso(at), link_id),
            )
        return cursor.rowcount == 1

    async def tallies(self: _Core) -> StoreTallies:
        """Counts for monitoring: events, incidents by state, notifications by state."""
        events = await self._fetch("SELECT count(*) AS n FROM events", ())
        incidents = await self._fetch(
            "SELECT state, count(*) AS n FROM incidents GROUP BY state ORDER BY state", ()
        )
        notes = await self._fetch(
            "SELECT state, count(*) AS n FROM notifications GROUP BY state ORDER BY state", ()
        )
        delivered = await self._fetch(
            "SELECT count(*) AS n, coalesce(sum((julianday(updated_at) - julianday(created_at))"
            " * 86400.0), 0) AS s FROM notifications WHERE state IN ('sent', 'delivered')",
            (),
        )
        return StoreTallies(
            events=events[0]["n"],
            delivered=delivered[0]["n"],
            delivery_seconds=delivered[0]["s"],
            incidents={r["state"]: r["n"] for r in incidents},
            notifications={r["state"]: r["n"] for r in notes},
        )

    async def writable(self: _Core) -> bool:
        """Whether a write transaction can be started now (the disk and the file allow it)."""
        if self._stand_in:
            return False  # the database stands in, in memory: it is not on the disk yet
        try:
            async with self._lock:
                await self._db.execute("BEGIN IMMEDIATE")
                await self._db.rollback()
        except sqlite3.Error as err:
            log.warning("store not writable: %s", err)
            return False
        return True

    async def occupancy(self: _Core) -> list[Presence]:
        """Each person's latest "home" or "away", by name."""
        rows = await self._fetch(
            "SELECT name, state, at FROM occupancy_log WHERE id IN"
            " (SELECT max(id) FROM occupancy_log GROUP BY name) ORDER BY name",
            (),
        )
        return [Presence.model_validate(r) for r in rows]

    async def notes(self: _Core, incident_id: str) -> list[IncidentNote]:
        """An incident's notes, oldest first."""
        rows = await self._fetch(
            "SELECT incident_id, author, text, at FROM incident_notes WHERE incident_id = ?"
            " ORDER BY id",
            (incident_id,),
        )
        return [IncidentNote.model_validate(r) for r in rows]

    async def audit_trail(self: _Core, *, since: datetime) -> list[LogEntry]:
        """Every incident change at or after `since`, oldest first (for the review report)."""
        rows = await self._fetch(
            "SELECT incident_id, at, previous, state, reason FROM incident_log WHERE at >= ?"
            " ORDER BY id",
            (iso(since.astimezone(UTC)),),
        )
        return [LogEntry.model_validate(r) for r in rows]

    async def incidents_opened_since(
        self: _Core, since: datetime, cause_prefix: str
    ) -> list[Incident]:
        """Incidents of causes starting with `cause_prefix` opened at or after `since`."""
        rows = await self._fetch(
            "SELECT * FROM incidents WHERE opened_at >= ? AND substr(cause, 1, ?) = ?"
            " ORDER BY opened_at, id",
            (iso(since.astimezone(UTC)), len(cause_prefix), cause_prefix),
        )
        return [Incident.model_validate(without(r, "updated_at")) for r in rows]

    async def events_since(self: _Core, since: datetime, types: Sequence[str]) -> list[StoredEvent]:
        """Events of the given types received at or after `since`, oldest first."""
        marks = ", ".join("?" for _ in types)
        rows = await self._fetch(
            f"SELECT * FROM events WHERE received_at >= ? AND type IN ({marks}) ORDER BY id",  # noqa: S608  # placeholders only
            (iso(since.astimezone(UTC)), *types),
        )
        return [stored_event(r) for r in rows]

    async def battery_by_hour(self: _Core, *, since: datetime) -> list[tuple[str, datetime, int]]:
        """Each device's lowest battery level in each hour (UTC) at or after `since`."""
        rows = await self._fetch(
            "SELECT device_id, substr(received_at, 1, 13) AS hour, min(battery) AS low"
            " FROM events WHERE received_at >= ? AND battery IS NOT NULL"
            " GROUP BY device_id, hour ORDER BY device_id, hour",
            (iso(since.astimezone(UTC)),),
        )
        return [
            (r["device_id"], datetime.fromisoformat(f"{r['hour']}:00+00:00"), r["low"])
            for r in rows
        ]

    async def lowest_battery(self: _Core, *, since: datetime) -> dict[str, int]:
        """Each device's lowest reported battery level at or after `since`."""
        rows = await self._fetch(
            "SELECT device_id, min(battery) AS low FROM events WHERE received_at >= ?"
            " AND battery IS NOT NULL GROUP BY device_id ORDER BY device_id",
            (iso(since.astimezone(UTC)),),
        )
        return {r["device_id"]: r["low"] for r in rows}


def record_setting(db: sqlite3.Connection, change: SettingChanged) -> None:
    """Audit a carer's change (inside the commit that carries it out)."""
    db.execute(
        "INSERT INTO settings_log (setting, subject, value, by, at) VALUES (?, ?, ?, ?, ?)",
        (change.setting, change.subject, change.value, change.by, iso(change.at)),
    )
