"""Operator actions on an alarm: accept and resolve, each recorded in the audit.

The console calls them through `Actions`, so the centre can hand it the implementation that
also tells the home's hub on the downlink.
"""

import uuid
from datetime import datetime
from typing import Literal, Protocol

import asyncpg

from centre.console import queries
from centre.console.models import ActionDone

ActionKind = Literal["accept", "resolve"]


class NoSuchAlarmError(LookupError):
    """There is no alarm with that id."""


class AlarmClosedError(Exception):
    """The alarm cannot take this action now (already resolved, or accepted by someone)."""


class Actions(Protocol):
    """Carries out an operator's action on an alarm and records it."""

    async def act(
        self, alarm_id: int, action: ActionKind, *, operator: str, name: str, note: str
    ) -> ActionDone:
        """Accept or resolve alarm `alarm_id` as `operator` (username; `name` to show).

        Raises:
            NoSuchAlarmError: no such alarm.
            AlarmClosedError: the alarm is resolved, or (to accept) already accepted.
        """
        ...


def refusal(state: str, accepted_by: str | None, action: ActionKind) -> str | None:
    """Why an alarm in `state` cannot take `action`, or None if it can."""
    if state == "resolved":
        return "this alarm is already resolved"
    if action == "accept" and state == "accepted":
        return f"this alarm is already accepted by {accepted_by or 'someone'}"
    return None


class DatabaseActions:
    """Records the action and the alarm's new state in one transaction."""

    def __init__(self, db: asyncpg.Pool, clock: "Clock") -> None:
        self._db = db
        self._clock = clock

    async def act(
        self, alarm_id: int, action: ActionKind, *, operator: str, name: str, note: str
    ) -> ActionDone:
        """See `Actions.act`."""
        now = self._clock()
        action_id = uuid.uuid4().hex
        async with self._db.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "SELECT state, accepted_by FROM alarms WHERE id = $1 FOR UPDATE", alarm_id
            )
            if row is None:
                raise NoSuchAlarmError(alarm_id)
            if (why := refusal(row["state"], row["accepted_by"], action)) is not None:
                raise AlarmClosedError(why)
            await conn.execute(_UPDATES[action], alarm_id, name, now)
            await conn.execute(
                "INSERT INTO operator_actions (action_id, operator, alarm_id, action, note, at)"
                " VALUES ($1, $2, $3, $4, $5, $6)",
                action_id,
                operator,
                alarm_id,
                action,
                note,
                now,
            )
            done = await queries.alarm(conn, alarm_id)
        assert done is not None  # locked above, in the same transaction
        return ActionDone(action_id=action_id, alarm=done)


class Clock(Protocol):
    """Now, timezone-aware."""

    def __call__(self) -> datetime:
        """The current time."""
        ...


_UPDATES: dict[ActionKind, str] = {
    "accept": "UPDATE alarms SET state = 'accepted', accepted_by = $2, accepted_at = $3"
    " WHERE id = $1",
    "resolve": "UPDATE alarms SET state = 'resolved', resolved_at = $3,"
    " accepted_by = coalesce(accepted_by, $2), accepted_at = coalesce(accepted_at, $3)"
    " WHERE id = $1",
}
