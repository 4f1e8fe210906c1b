"""The operators' queue: raising and clearing alarms, and what the family must be told."""

from datetime import datetime
from typing import Literal

import asyncpg

from centre.db.models import AlarmRow
from centre.decisions import Escalation, HubLiveness, OpenIncident

FamilyNews = Literal["silent", "back"]


async def liveness(conn: asyncpg.Connection) -> list[HubLiveness]:
    """Every hub's last heartbeat and open "hub silent" alarm."""
    rows = await conn.fetch(
        "SELECT h.id, h.home_id, h.last_heartbeat, a.id AS alarm FROM hubs h"
        " LEFT JOIN alarms a ON a.hub_id = h.id AND a.kind = 'hub_silent' AND a.cleared_at IS NULL"
    )
    return [HubLiveness(r["id"], r["home_id"], r["last_heartbeat"], r["alarm"]) for r in rows]


async def raise_silent(conn: asyncpg.Connection, hub: HubLiveness, *, now: datetime) -> int | None:
    """Open a "hub silent" alarm (one per hub at a time); its id, or None if one is open."""
    async with conn.transaction():
        since = hub.last_heartbeat
        alarm: int | None = await conn.fetchval(
            "INSERT INTO alarms (home_id, hub_id, kind, severity, raised_at, why)"
            " VALUES ($1, $2, 'hub_silent', 'urgent', $3, $4) ON CONFLICT DO NOTHING RETURNING id",
            hub.home_id,
            hub.hub_id,
            now,
            f"no heartbeat since {since:%Y-%m-%d %H:%M:%S %Z}" if since else "never heard",
        )
        await conn.execute("UPDATE hubs SET silent_since = $2 WHERE id = $1", hub.hub_id, since)
    return alarm


async def clear_silent(conn: asyncpg.Connection, alarm_id: int, *, now: datetime) -> None:
    """The hub is heard again: the alarm is cleared and leaves the queue."""
    async with conn.transaction():
        hub_id = await conn.fetchval(
            "UPDATE alarms SET cleared_at = $2, state = 'resolved',"
            " resolved_at = COALESCE(resolved_at, $2) WHERE id = $1 RETURNING hub_id",
            alarm_id,
            now,
        )
        await conn.execute("UPDATE hubs SET silent_since = NULL WHERE id = $1", hub_id)


async def unescalated(conn: asyncpg.Connection) -> list[OpenIncident]:
    """Incidents open in their homes (pending or firing) that have no alarm yet."""
    rows = await conn.fetch(
        "SELECT i.*, b.home_id, h.escalation FROM incidents i"
        " JOIN hubs b ON b.id = i.hub_id JOIN homes h ON h.id = b.home_id"
        " WHERE i.state IN ('pending', 'firing') AND NOT EXISTS (SELECT 1 FROM alarms a"
        "  WHERE a.kind = 'incident' AND a.hub_id = i.hub_id AND a.incident_id = i.id)"
    )
    return [
        OpenIncident(
            hub_id=r["hub_id"],
            home_id=r["home_id"],
            incident_id=r["id"],
            cause=r["cause"],
            severity=r["severity"],
            state=r["state"],
            opened_at=r["opened_at"],
            family_exhausted=r["family_exhausted"],
            escalation=r["escalation"],
        )
        for r in rows
    ]


async def raise_incident(conn: asyncpg.Connection, due: Escalation, *, now: datetime) -> int | None:
    """Put an incident in the operators' queue (once); the alarm's id."""
    incident = due.incident
    alarm: int | None = await conn.fetchval(
        "INSERT INTO alarms (home_id, hub_id, kind, incident_id, severity, raised_at, why)"
        " VALUES ($1, $2, 'incident', $3, $4, $5, $6) ON CONFLICT DO NOTHING RETURNING id",
        incident.home_id,
        incident.hub_id,
        incident.incident_id,
        incident.severity,
        now,
        due.why,
    )
    return alarm


async def family_news(conn: asyncpg.Connection) -> list[tuple[AlarmRow, FamilyNews]]:
    """Silent-hub alarms whose family has not yet been told it went silent, or came back."""
    rows = await conn.fetch(
        "SELECT * FROM alarms WHERE kind = 'hub_silent' AND ("
        " (family_told_at IS NULL AND cleared_at IS NULL)"
        " OR (family_told_at IS NOT NULL AND cleared_at IS NOT NULL"
        "     AND family_back_told_at IS NULL)) ORDER BY id"
    )
    return [(AlarmRow(**r), "back" if r["cleared_at"] else "silent") for r in rows]


async def family_told(
    conn: asyncpg.Connection, alarm_id: int, news: FamilyNews, *, now: datetime
) -> None:
    """Record that the family has been told (whatever each channel made of it)."""
    column = "family_back_told_at" if news == "back" else "family_told_at"
    await conn.execute(f"UPDATE alarms SET {column} = $2 WHERE id = $1", alarm_id, now)  # noqa: S608


async def queue(conn: asyncpg.Connection) -> list[AlarmRow]:
    """The alarms not yet resolved, oldest first: the operators' queue."""
    rows = await conn.fetch("SELECT * FROM alarms WHERE state <> 'resolved' ORDER BY raised_at, id")
    return [AlarmRow(**r) for r in rows]


async def alarm(conn: asyncpg.Connection, alarm_id: int) -> AlarmRow | None:
    """One alarm."""
    row = await conn.fetchrow("SELECT * FROM alarms WHERE id = $1", alarm_id)
    return None if row is None else AlarmRow(**row)
