"""Operator actions on an alarm: accept and resolve, through the centre's downlink.

The centre's `Downlink` writes the audit row, moves the alarm on and publishes the signed action
to the home's hub in one transaction; this module puts its answers in the console's terms.
"""

from typing import Literal, Protocol

import asyncpg

from centre.bus import BusError
from centre.console import queries
from centre.console.models import ActionDone
from centre.db.actions import ActionRefused
from centre.downlink import Downlink

ActionKind = Literal["accept", "resolve"]


class NoSuchAlarmError(LookupError):
    """There is no alarm with that id."""


class AlarmClosedError(Exception):
    """The alarm cannot take this action now (already resolved, or accepted by someone)."""


class HubUnreachableError(Exception):
    """The downlink did not take the action; nothing was recorded, the operator may retry."""


class Actions(Protocol):
    """Carries out an operator's action on an alarm and records it."""

    async def act(
        self, alarm_id: int, action: ActionKind, *, operator: str, note: str
    ) -> ActionDone:
        """Accept or resolve alarm `alarm_id` as `operator` (a username).

        Raises:
            NoSuchAlarmError: no such alarm.
            AlarmClosedError: the alarm is resolved, or (to accept) already accepted.
            HubUnreachableError: the downlink did not take it; nothing was recorded.
        """
        ...


class DownlinkActions:
    """The console's actions carried out by the centre's `Downlink`."""

    def __init__(self, db: asyncpg.Pool, downlink: Downlink) -> None:
        self._db = db
        self._downlink = downlink

    async def act(
        self, alarm_id: int, action: ActionKind, *, operator: str, note: str
    ) -> ActionDone:
        """See `Actions.act`."""
        if await queries.alarm(self._db, alarm_id) is None:
            raise NoSuchAlarmError(alarm_id)
        take = self._downlink.accept if action == "accept" else self._downlink.resolve
        try:
            row = await take(alarm_id, operator, note)
        except ActionRefused as err:
            raise AlarmClosedError(str(err)) from err
        except BusError as err:
            msg = "the home's hub could not be told, so nothing was recorded: try again"
            raise HubUnreachableError(msg) from err
        done = await queries.alarm(self._db, alarm_id)
        assert done is not None  # it existed above, and alarms are never deleted by actions
        return ActionDone(action_id=row.action_id, alarm=done)
