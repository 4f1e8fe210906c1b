"""What the console reads from the centre's PostgreSQL database, as models.

Parameterised SQL only. Rows never leave this module: each becomes one of `centre.console.models`.
"""

from collections.abc import Mapping
from typing import Any

import asyncpg

from centre.console.auth import Role
from centre.console.models import (
    LOW_BATTERY_PERCENT,
    Alarm,
    AuditEntry,
    Contact,
    Device,
    Home,
    HomeSummary,
    HubStatus,
    Incident,
    Operator,
)

MAX_QUEUE = 500
RECENT_INCIDENTS = 20
_ALARM_COLUMNS = """
    a.id, a.home_id, h.name AS home_name, a.hub_id, a.kind, a.severity, a.why, a.raised_at,
    a.state, a.accepted_by, a.accepted_at, a.resolved_at, a.incident_id,
    i.cause, i.room, i.text, i.state AS incident_state, i.family_exhausted,
    coalesce(i.opened_at, a.raised_at) AS since
FROM alarms a
JOIN homes h ON h.id = a.home_id
LEFT JOIN incidents i ON i.hub_id = a.hub_id AND i.id = a.incident_id
"""
# Emergencies first, then silent hubs (nobody can raise an alarm from that home), then urgent.
_PRIORITY = """CASE WHEN a.kind = 'hub_silent' THEN 1 WHEN a.severity = 'emergency' THEN 0
    WHEN a.severity = 'urgent' THEN 2 ELSE 3 END"""
_IN_QUEUE = "a.state <> 'resolved' AND a.cleared_at IS NULL"
_QUEUE = f"""SELECT {_ALARM_COLUMNS} WHERE {_IN_QUEUE}
ORDER BY {_PRIORITY}, since, a.id LIMIT {MAX_QUEUE}"""
_HOME_ALARMS = f"""SELECT {_ALARM_COLUMNS} WHERE {_IN_QUEUE} AND a.home_id = $1
ORDER BY {_PRIORITY}, since, a.id"""
_ONE_ALARM = f"SELECT {_ALARM_COLUMNS} WHERE a.id = $1"
_HOMES = f"""
SELECT h.id, h.name, h.timezone, b.id AS hub_id, b.version, b.started_at, b.last_heartbeat,
       b.silent_since,
       (SELECT count(*) FROM alarms a WHERE a.home_id = h.id AND {_IN_QUEUE}) AS open_alarms
FROM homes h JOIN hubs b ON b.home_id = h.id
"""  # noqa: S608 (built from constants only)
_DEVICES = """SELECT id, name, role, room, battery, last_seen, silent FROM devices
WHERE hub_id = $1 ORDER BY (silent OR coalesce(battery, 100) < $2) DESC, name, id"""
_INCIDENTS = """SELECT id, cause, severity, state, room, text, opened_at, updated_at,
    accepted_by, family_exhausted FROM incidents WHERE hub_id = $1
ORDER BY opened_at DESC, id LIMIT $2"""
_CONTACTS = "SELECT name, phone, ntfy_topic FROM contacts WHERE home_id = $1 ORDER BY name"
_AUDIT = """
SELECT oa.id, oa.action_id, oa.at, oa.operator, o.display_name AS operator_name, oa.action,
       oa.note, oa.alarm_id, a.home_id, h.name AS home_name, a.kind, i.cause,
       oa.applied_at, oa.applied, oa.applied_detail
FROM operator_actions oa
JOIN operators o ON o.username = oa.operator
LEFT JOIN alarms a ON a.id = oa.alarm_id
LEFT JOIN homes h ON h.id = a.home_id
LEFT JOIN incidents i ON i.hub_id = a.hub_id AND i.id = a.incident_id
ORDER BY oa.id DESC LIMIT $1
"""
_OPERATORS = """
SELECT o.username, o.display_name, o.role, o.created_at,
       count(oa.id) AS actions, max(oa.at) AS last_action_at
FROM operators o LEFT JOIN operator_actions oa ON oa.operator = o.username
GROUP BY o.username ORDER BY o.display_name, o.username
"""
_STAMPS = "SELECT home_id, last_seq, last_heartbeat, silent_since FROM hubs"
_AUDIT_STAMP = "SELECT coalesce(max(id), 0), count(applied_at) FROM operator_actions"


def what_of(kind: str, cause: str | None) -> str:
    """An alarm in a few words: "Hub silent", or the incident's cause ("No movement")."""
    if kind == "hub_silent":
        return "Hub silent"
    return (cause or "incident").replace("_", " ").capitalize()


def alarm_of(row: Mapping[str, Any]) -> Alarm:
    """An alarm row (with its home and incident joined) as the queue shows it."""
    return Alarm(
        id=row["id"],
        home_id=row["home_id"],
        home_name=row["home_name"],
        hub_id=row["hub_id"],
        kind=row["kind"],
        severity=row["severity"],
        what=what_of(row["kind"], row["cause"]),
        room=row["room"],
        text=row["text"] or row["why"],
        why=row["why"],
        raised_at=row["raised_at"],
        since=row["since"],
        state=row["state"],
        accepted_by=row["accepted_by"],
        accepted_at=row["accepted_at"],
        resolved_at=row["resolved_at"],
        incident_id=row["incident_id"],
        incident_state=row["incident_state"],
        family_exhausted=row["family_exhausted"] if row["kind"] == "incident" else None,
    )


async def queue(db: asyncpg.Pool) -> tuple[Alarm, ...]:
    """The open and accepted alarms across homes: by priority, then the longest waiting first."""
    return tuple(alarm_of(row) for row in await db.fetch(_QUEUE))


async def alarm(db: asyncpg.Pool | asyncpg.Connection, alarm_id: int) -> Alarm | None:
    """One alarm, in or out of the queue."""
    row = await db.fetchrow(_ONE_ALARM, alarm_id)
    return None if row is None else alarm_of(row)


def _status(row: Mapping[str, Any]) -> HubStatus:
    if row["silent_since"] is not None:
        return "silent"
    return "never_heard" if row["last_heartbeat"] is None else "online"


async def homes(db: asyncpg.Pool) -> tuple[HomeSummary, ...]:
    """Every home, those with alarms or a silent hub first."""
    rows = await db.fetch(
        f"{_HOMES} ORDER BY open_alarms DESC, b.silent_since NULLS LAST, h.name, h.id"
    )
    return tuple(
        HomeSummary(
            id=row["id"],
            name=row["name"],
            hub_id=row["hub_id"],
            status=_status(row),
            last_heartbeat=row["last_heartbeat"],
            silent_since=row["silent_since"],
            open_alarms=row["open_alarms"],
        )
        for row in rows
    )


async def home(db: asyncpg.Pool, home_id: str) -> Home | None:
    """One home's page, or None if there is no such home."""
    async with db.acquire() as conn, conn.transaction(readonly=True, isolation="repeatable_read"):
        row = await conn.fetchrow(f"{_HOMES} WHERE h.id = $1", home_id)
        if row is None:
            return None
        rows = await conn.fetch(_DEVICES, row["hub_id"], LOW_BATTERY_PERCENT)
        devices = [Device(**r) for r in rows]
        incidents = await conn.fetch(_INCIDENTS, row["hub_id"], RECENT_INCIDENTS)
        return Home(
            id=row["id"],
            name=row["name"],
            timezone=row["timezone"],
            hub_id=row["hub_id"],
            status=_status(row),
            last_heartbeat=row["last_heartbeat"],
            silent_since=row["silent_since"],
            version=row["version"],
            started_at=row["started_at"],
            device_count=len(devices),
            attention=tuple(d for d in devices if d.silent or d.low_battery),
            alarms=tuple(alarm_of(r) for r in await conn.fetch(_HOME_ALARMS, home_id)),
            incidents=tuple(Incident(**r) for r in incidents),
            contacts=tuple(Contact(**r) for r in await conn.fetch(_CONTACTS, home_id)),
        )


def _applied(row: Mapping[str, Any]) -> str:
    if row["applied"] is not None:
        return "applied" if row["applied"] else "refused"
    return "not_sent" if row["kind"] == "hub_silent" else "waiting"


async def audit(db: asyncpg.Pool, limit: int = 200) -> tuple[AuditEntry, ...]:
    """The newest operator actions first."""
    return tuple(
        AuditEntry(
            id=row["id"],
            action_id=row["action_id"],
            at=row["at"],
            operator=row["operator"],
            operator_name=row["operator_name"],
            action=row["action"],
            note=row["note"],
            alarm_id=row["alarm_id"],
            home_id=row["home_id"],
            home_name=row["home_name"],
            what=None if row["kind"] is None else what_of(row["kind"], row["cause"]),
            applied=_applied(row),  # type: ignore[arg-type]
            hub_applied=row["applied"],
            applied_at=row["applied_at"],
            applied_detail=row["applied_detail"],
        )
        for row in await db.fetch(_AUDIT, limit)
    )


async def operators(db: asyncpg.Pool) -> tuple[Operator, ...]:
    """Every operator account, with how many actions each took and the last one's time."""
    return tuple(Operator(**row) for row in await db.fetch(_OPERATORS))


async def credentials(db: asyncpg.Pool, username: str) -> tuple[str, Role, str] | None:
    """An operator's display name, role and password hash, or None if there is no such one."""
    row = await db.fetchrow(
        "SELECT display_name, role, password_hash FROM operators WHERE username = $1", username
    )
    return None if row is None else (row["display_name"], row["role"], row["password_hash"])


async def stamps(db: asyncpg.Pool) -> tuple[dict[str, tuple[Any, ...]], tuple[int, int]]:
    """What changes when anything on a home page or the audit does (cheap to read each second).

    Returns:
        Per home, its hub's last sequence number, heartbeat and silence; and the audit's newest
        action id with how many actions the hubs reported on.
    """
    rows = await db.fetch(_STAMPS)
    newest, reported = await db.fetchrow(_AUDIT_STAMP)
    return {r["home_id"]: tuple(r.values())[1:] for r in rows}, (newest, reported)
