"""Operator actions: the audit row and the alarm's new state, in the caller's transaction."""

from datetime import datetime

import asyncpg

from centre.db.models import AlarmRow, OperatorActionRow, OperatorRow


class ActionRefused(Exception):  # noqa: N818 - the name says what happened to the action
    """The action cannot be taken (no such alarm or operator, or already done)."""


async def lock_alarm(conn: asyncpg.Connection, alarm_id: int) -> AlarmRow:
    """The alarm, locked until the transaction ends: two operators cannot both take it.

    Raises:
        ActionRefused: there is no such alarm.
    """
    row = await conn.fetchrow("SELECT * FROM alarms WHERE id = $1 FOR UPDATE", alarm_id)
    if row is None:
        msg = f"there is no alarm {alarm_id}"
        raise ActionRefused(msg)
    return AlarmRow(**row)


async def operator_named(conn: asyncpg.Connection, username: str) -> OperatorRow:
    """The operator taking the action.

    Raises:
        ActionRefused: no such operator.
    """
    row = await conn.fetchrow("SELECT * FROM operators WHERE username = $1", username)
    if row is None:
        msg = f"there is no operator {username!r}"
        raise ActionRefused(msg)
    return OperatorRow(**row)


async def record(
    conn: asyncpg.Connection,
    *,
    action_id: str,
    operator: OperatorRow,
    alarm: AlarmRow,
    action: str,
    note: str,
    at: datetime,
) -> OperatorActionRow:
    """Insert the audit row and move the alarm on (accepted by the operator, or resolved)."""
    row = await conn.fetchrow(
        "INSERT INTO operator_actions (action_id, operator, alarm_id, action, note, at)"
        " VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
        action_id,
        operator.username,
        alarm.id,
        action,
        note,
        at,
    )
    if action == "accept":
        await conn.execute(
            "UPDATE alarms SET state = 'accepted', accepted_by = $2, accepted_at = $3"
            " WHERE id = $1",
            alarm.id,
            operator.display_name,
            at,
        )
    else:
        await conn.execute(
            "UPDATE alarms SET state = 'resolved', resolved_at = $2 WHERE id = $1", alarm.id, at
        )
    return OperatorActionRow(**row)


async def actions_of(conn: asyncpg.Connection, alarm_id: int) -> list[OperatorActionRow]:
    """Every action taken on an alarm, oldest first (the audit trail)."""
    rows = await conn.fetch(
        "SELECT * FROM operator_actions WHERE alarm_id = $1 ORDER BY at, id", alarm_id
    )
    return [OperatorActionRow(**r) for r in rows]
