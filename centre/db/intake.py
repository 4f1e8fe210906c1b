"""The worker's writes: one uplink message in one transaction, idempotent on (hub, seq).

A message already stored with the same digest is a duplicate (a redelivery): nothing changes.
With a different digest it is a replay: refused. A snapshot (devices, an incident) is applied
only when its sequence number is newer than the one the centre holds, so messages may arrive in
any order and any number of times.
"""

from datetime import datetime

import asyncpg

from centre.db.models import Stored
from wire.uplink import ActionApplied, Heartbeat, IncidentUpdate, UplinkEnvelope

_INCIDENT = """
INSERT INTO incidents (hub_id, id, seq, cause, severity, state, device_id, room, opened_at,
                       updated_at, text, accepted_by, family_exhausted)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
ON CONFLICT (hub_id, id) DO UPDATE SET
    seq = EXCLUDED.seq, state = EXCLUDED.state, room = EXCLUDED.room,
    updated_at = EXCLUDED.updated_at, text = EXCLUDED.text, accepted_by = EXCLUDED.accepted_by,
    family_exhausted = incidents.family_exhausted OR EXCLUDED.family_exhausted
WHERE incidents.seq < EXCLUDED.seq
RETURNING seq
"""
# An alarm already raised for the incident shows what the home did about it afterwards.
_ALARM_FOLLOWS = """
UPDATE alarms SET
    state = CASE WHEN $3 IN ('resolved', 'cancelled', 'suppressed') THEN 'resolved'
                 WHEN $3 = 'acknowledged' AND state = 'open' THEN 'accepted'
                 ELSE state END,
    accepted_by = COALESCE(accepted_by, $4),
    accepted_at = CASE WHEN $3 = 'acknowledged' THEN COALESCE(accepted_at, $5) ELSE accepted_at END,
    resolved_at = CASE WHEN $3 IN ('resolved', 'cancelled', 'suppressed')
                       THEN COALESCE(resolved_at, $5) ELSE resolved_at END
WHERE kind = 'incident' AND hub_id = $1 AND incident_id = $2 AND state <> 'resolved'
"""


async def store(
    conn: asyncpg.Connection, envelope: UplinkEnvelope, digest: str, *, received_at: datetime
) -> Stored:
    """Write one verified envelope and apply what it says, in one transaction."""
    async with conn.transaction():
        inserted = await conn.fetchval(
            "INSERT INTO uplink_messages (hub_id, seq, kind, sent_at, received_at, digest, body)"
            " VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT DO NOTHING RETURNING seq",
            envelope.hub_id,
            envelope.seq,
            envelope.body.kind,
            envelope.sent_at,
            received_at,
            digest,
            envelope.body.model_dump(mode="json"),
        )
        if inserted is None:
            held = await conn.fetchval(
                "SELECT digest FROM uplink_messages WHERE hub_id = $1 AND seq = $2",
                envelope.hub_id,
                envelope.seq,
            )
            if held == digest:
                return Stored(outcome="duplicate")
            await reject(conn, envelope.hub_id, "replayed", at=received_at)
            return Stored(outcome="replayed")
        await conn.execute(
            "UPDATE hubs SET last_seq = GREATEST(last_seq, $2) WHERE id = $1",
            envelope.hub_id,
            envelope.seq,
        )
        applied = await _apply(conn, envelope, received_at)
    return Stored(outcome="stored", applied=applied)


async def _apply(conn: asyncpg.Connection, envelope: UplinkEnvelope, received_at: datetime) -> bool:
    body = envelope.body
    if isinstance(body, Heartbeat):
        return await _heartbeat(conn, envelope.hub_id, envelope.seq, body, received_at)
    if isinstance(body, IncidentUpdate):
        return await _incident(conn, envelope.hub_id, envelope.seq, body)
    return await _applied(conn, body)


async def _heartbeat(
    conn: asyncpg.Connection, hub_id: str, seq: int, body: Heartbeat, received_at: datetime
) -> bool:
    # The hub's own time, but never later than the centre heard it: a hub whose clock runs fast
    # cannot put off its silence alarm, and a backlog drained late does not look fresh.
    newer = await conn.fetchval(
        "UPDATE hubs SET heartbeat_seq = $2, version = $3, started_at = $4,"
        " last_heartbeat = GREATEST(last_heartbeat, LEAST($5::timestamptz, $6::timestamptz))"
        " WHERE id = $1 AND heartbeat_seq < $2 RETURNING id",
        hub_id,
        seq,
        body.version,
        body.started_at,
        body.at,
        received_at,
    )
    if newer is None:
        return False
    await conn.execute("DELETE FROM devices WHERE hub_id = $1", hub_id)
    await conn.executemany(
        "INSERT INTO devices (hub_id, id, name, role, room, battery, last_seen, silent)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [
            (hub_id, d.id, d.name, d.role, d.room, d.battery, d.last_seen, d.silent)
            for d in body.devices
        ],
    )
    return True


async def _incident(conn: asyncpg.Connection, hub_id: str, seq: int, body: IncidentUpdate) -> bool:
    newer = await conn.fetchval(
        _INCIDENT,
        hub_id,
        body.incident_id,
        seq,
        body.cause,
        body.severity,
        body.state,
        body.device_id,
        body.room,
        body.opened_at,
        body.at,
        body.text,
        body.accepted_by,
        body.family_exhausted,
    )
    if newer is None:
        return False
    await conn.execute(
        _ALARM_FOLLOWS, hub_id, body.incident_id, body.state, body.accepted_by, body.at
    )
    return True


async def _applied(conn: asyncpg.Connection, body: ActionApplied) -> bool:
    answered = await conn.fetchval(  # a relayed key press: what its caller is to be told
        "UPDATE relay_requests SET answered_at = $2, accepted = $3, say = $4"
        " WHERE relay_id = $1 AND answered_at IS NULL RETURNING relay_id",
        body.action_id,
        body.at,
        body.applied,
        body.detail,
    )
    if answered is not None:
        return True
    done = await conn.fetchval(
        "UPDATE operator_actions SET applied_at = $2, applied = $3, applied_detail = $4"
        " WHERE action_id = $1 AND applied_at IS NULL RETURNING id",
        body.action_id,
        body.at,
        body.applied,
        body.detail,
    )
    return done is not None


async def reject(
    conn: asyncpg.Connection, hub_id: str | None, reason: str, *, at: datetime
) -> None:
    """Count one refused uplink message."""
    await conn.execute(
        "INSERT INTO rejections (hub_id, reason, at) VALUES ($1, $2, $3)", hub_id, reason, at
    )


async def rejection_counts(conn: asyncpg.Connection) -> dict[str, int]:
    """Refused uplink messages by reason, since the beginning."""
    rows = await conn.fetch("SELECT reason, count(*) AS n FROM rejections GROUP BY reason")
    return {r["reason"]: r["n"] for r in rows}


async def hub_key(conn: asyncpg.Connection, hub_id: str) -> bytes | None:
    """A hub's signing key, or None for a hub no home has."""
    key_hex = await conn.fetchval("SELECT key_hex FROM hubs WHERE id = $1", hub_id)
    return None if key_hex is None else bytes.fromhex(key_hex)


async def hub_keys(conn: asyncpg.Connection, hub_ids: list[str]) -> dict[str, bytes]:
    """The signing keys of these hubs, by hub (a hub no home has is left out)."""
    rows = await conn.fetch("SELECT id, key_hex FROM hubs WHERE id = ANY($1)", hub_ids)
    return {r["id"]: bytes.fromhex(r["key_hex"]) for r in rows}
