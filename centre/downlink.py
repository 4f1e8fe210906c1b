"""What the console calls when an operator accepts or resolves an alarm.

Each action is one transaction: the alarm is locked, the audit row written, the alarm moved on,
and, for an incident, a signed `OperatorAction` published on the hub's downlink before the
transaction commits; if the stream does not take it, nothing is recorded and the console says
so. The hub applies it once (by `action_id`) and reports `ActionApplied`, which the workers
record against the audit row.
"""

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Literal

import asyncpg

from centre.bus import CentreBus
from centre.db import actions, intake
from centre.db.actions import ActionRefused
from centre.db.models import OperatorActionRow
from wire.uplink import OperatorAction, signed

Kind = Literal["accept", "resolve"]


def _now() -> datetime:
    return datetime.now(UTC)


class Downlink:
    """Operator actions: audited in PostgreSQL, sent to the home's hub over JetStream."""

    def __init__(
        self, pool: asyncpg.Pool, bus: CentreBus, *, clock: Callable[[], datetime] = _now
    ) -> None:
        self._pool = pool
        self._bus = bus
        self._clock = clock

    async def accept(self, alarm_id: int, operator: str, note: str = "") -> OperatorActionRow:
        """An operator takes an open alarm: the hub stops calling the family and tells them.

        Raises:
            ActionRefused: no such alarm or operator, or the alarm is not open.
            BusError: the downlink did not take the action (nothing was recorded).
        """
        return await self._act("accept", alarm_id, operator, note)

    async def resolve(self, alarm_id: int, operator: str, note: str = "") -> OperatorActionRow:
        """An operator closes an alarm: for an incident, the hub resolves it too.

        Raises:
            ActionRefused: no such alarm or operator, or it is already resolved.
            BusError: the downlink did not take the action (nothing was recorded).
        """
        return await self._act("resolve", alarm_id, operator, note)

    async def _act(self, kind: Kind, alarm_id: int, username: str, note: str) -> OperatorActionRow:
        at = self._clock()
        async with self._pool.acquire() as conn, conn.transaction():
            alarm = await actions.lock_alarm(conn, alarm_id)
            if alarm.state == "resolved" or (kind == "accept" and alarm.state != "open"):
                msg = f"alarm {alarm_id} is already {alarm.state} ({alarm.accepted_by or 'home'})"
                raise ActionRefused(msg)
            operator = await actions.operator_named(conn, username)
            action_id = uuid.uuid4().hex
            row = await actions.record(
                conn, action_id=action_id, operator=operator, alarm=alarm, action=kind,
                note=note, at=at,
            )  # fmt: skip
            if alarm.kind == "incident" and alarm.incident_id is not None:
                key = await intake.hub_key(conn, alarm.hub_id)
                assert key is not None  # the alarm's hub row exists (foreign key)
                action = OperatorAction(
                    action_id=action_id,
                    hub_id=alarm.hub_id,
                    incident_id=alarm.incident_id,
                    action=kind,
                    operator=operator.display_name,
                    note=note,
                    at=at,
                )
                await self._bus.publish_action(signed(action, key))
        return row
