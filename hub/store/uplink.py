"""The store's uplink records: the outbox of messages for the monitoring centre, and its actions.

Part of the SQLite store (mixed into `hub.store.Store`). Incident changes enter the outbox by
triggers (migration 0008), in the transaction that commits the change; heartbeats and reports of
operator actions enter it here. Each row's `seq` is the hub's sequence number on the uplink,
never used twice. The publisher reads what the centre has not confirmed, in order, and moves the
confirmed mark; confirmed rows are kept a day for diagnosis, then pruned.
"""

import sqlite3
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from functools import partial
from typing import Any, Protocol, TypeVar

T = TypeVar("T")
KEEP_CONFIRMED = timedelta(days=1)


@dataclass(frozen=True, slots=True)
class UplinkRow:
    """One message of the outbox, as stored: its body is the envelope's body, JSON."""

    seq: int
    kind: str
    body: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CentreActionRecord:
    """An operator action the hub has carried out (or refused), once."""

    action_id: str
    incident_id: str
    applied: bool
    detail: str


class _Core(Protocol):
    async def _fetch(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]: ...

    async def _write(self, work: Callable[[sqlite3.Connection], T], *, flush: bool = True) -> T: ...


class UplinkRecords:
    """The uplink outbox, its confirmed mark, and the operator actions carried out."""

    async def link_uplink(
        self: _Core, hub_id: str, ladders: Mapping[str, int], *, at: datetime
    ) -> None:
        """Start (or go on) numbering incident changes for the centre, as hub `hub_id`."""
        await self._write(partial(_link, hub_id, dict(ladders), at))

    async def unlink_uplink(self: _Core) -> bool:
        """No centre any more: the outbox is emptied and nothing more enters it.

        Returns:
            Whether a centre had been linked.
        """
        rows = await self._fetch("SELECT enabled FROM uplink_link WHERE enabled = 1", ())
        if not rows:
            return False
        await self._write(_unlink)
        return True

    async def uplink_pending(self: _Core, *, limit: int) -> list[UplinkRow]:
        """The oldest `limit` messages the centre has not confirmed, in order."""
        rows = await self._fetch(
            "SELECT seq, kind, body, created_at FROM uplink_outbox"
            " WHERE seq > (SELECT coalesce(max(confirmed_seq), 0) FROM uplink_link)"
            " ORDER BY seq LIMIT ?",
            (limit,),
        )
        return [
            UplinkRow(r["seq"], r["kind"], r["body"], datetime.fromisoformat(r["created_at"]))
            for r in rows
        ]

    async def uplink_waiting(self: _Core) -> int:
        """How many messages the centre has not confirmed yet."""
        rows = await self._fetch(
            "SELECT count(*) AS n FROM uplink_outbox"
            " WHERE seq > (SELECT coalesce(max(confirmed_seq), 0) FROM uplink_link)",
            (),
        )
        return int(rows[0]["n"])

    async def uplink_confirmed(self: _Core) -> int:
        """The highest sequence number the centre has confirmed (0: none yet)."""
        rows = await self._fetch("SELECT confirmed_seq FROM uplink_link", ())
        return int(rows[0]["confirmed_seq"]) if rows else 0

    async def confirm_uplink(self: _Core, seq: int, *, at: datetime) -> None:
        """The centre's engine holds everything up to `seq`.

        Not synced on its own: a mark lost to a power cut only sends those messages again,
        and the engine stores a repeated message once.
        """
        await self._write(partial(_confirm, seq, at), flush=False)

    async def add_uplink_heartbeat(self: _Core, body: str, *, at: datetime) -> int:
        """Queue a heartbeat, dropping any older one not yet sent; returns its sequence number."""
        return await self._write(partial(_heartbeat, body, at), flush=False)

    async def centre_action(self: _Core, action_id: str) -> CentreActionRecord | None:
        """The operator action with that id, if the hub has carried it out already."""
        rows = await self._fetch(
            "SELECT action_id, incident_id, applied, detail FROM centre_actions"
            " WHERE action_id = ?",
            (action_id,),
        )
        if not rows:
            return None
        r = rows[0]
        return CentreActionRecord(r["action_id"], r["incident_id"], bool(r["applied"]), r["detail"])

    async def record_centre_action(  # one row's columns
        self: _Core,
        record: CentreActionRecord,
        *,
        action: str,
        operator: str,
        report: str,
        at: datetime,
    ) -> bool:
        """Remember an action as carried out, with its report queued in the same transaction.

        Returns:
            False if it was recorded already (nothing is queued again).
        """
        work = partial(
            _record_action, record, action=action, operator=operator, report=report, at=at
        )
        return await self._write(work)


def _iso(at: datetime) -> str:
    return at.isoformat()


def _link(hub_id: str, ladders: dict[str, int], at: datetime, db: sqlite3.Connection) -> None:
    db.execute(
        "INSERT INTO uplink_link (id, hub_id, enabled, updated_at) VALUES (1, ?, 1, ?)"
        " ON CONFLICT (id) DO UPDATE SET hub_id = excluded.hub_id, enabled = 1,"
        " updated_at = excluded.updated_at",
        (hub_id, _iso(at)),
    )
    db.execute("DELETE FROM uplink_ladders")
    db.executemany(
        "INSERT INTO uplink_ladders (severity, steps) VALUES (?, ?)",
        sorted(ladders.items()),
    )


def _unlink(db: sqlite3.Connection) -> None:
    # Numbering goes on where it stopped if a centre is linked again: the next message's
    # number is still new to it, and nothing kept from before is sent late.
    db.execute(
        "UPDATE uplink_link SET enabled = 0, confirmed_seq = coalesce("
        "(SELECT seq FROM sqlite_sequence WHERE name = 'uplink_outbox'), confirmed_seq)"
    )
    db.execute("DELETE FROM uplink_outbox")


def _confirm(seq: int, at: datetime, db: sqlite3.Connection) -> None:
    db.execute(
        "UPDATE uplink_link SET confirmed_seq = max(confirmed_seq, ?), updated_at = ?",
        (seq, _iso(at)),
    )
    db.execute(
        "DELETE FROM uplink_outbox WHERE seq <= ? AND created_at < ?",
        (seq, _iso(at - KEEP_CONFIRMED)),
    )


def _heartbeat(body: str, at: datetime, db: sqlite3.Connection) -> int:
    # A heartbeat says "alive now": one the centre has not had yet is worth nothing once a
    # newer one exists. A day's outage so sends one heartbeat, not 1,440.
    db.execute(
        "DELETE FROM uplink_outbox WHERE kind = 'heartbeat'"
        " AND seq > (SELECT coalesce(max(confirmed_seq), 0) FROM uplink_link)"
    )
    cursor = db.execute(
        "INSERT INTO uplink_outbox (kind, body, created_at) VALUES ('heartbeat', ?, ?)",
        (body, _iso(at)),
    )
    assert cursor.lastrowid is not None
    return cursor.lastrowid


def _record_action(
    record: CentreActionRecord,
    db: sqlite3.Connection,
    *,
    action: str,
    operator: str,
    report: str,
    at: datetime,
) -> bool:
    cursor = db.execute(
        "INSERT INTO centre_actions (action_id, incident_id, action, operator, applied, detail,"
        " at) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (action_id) DO NOTHING",
        (
            record.action_id,
            record.incident_id,
            action,
            operator,
            int(record.applied),
            record.detail,
            _iso(at),
        ),
    )
    if cursor.rowcount != 1:
        return False
    db.execute(
        "INSERT INTO uplink_outbox (kind, body, created_at) VALUES ('action_applied', ?, ?)",
        (report, _iso(at)),
    )
    return True
