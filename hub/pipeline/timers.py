"""Time on the event path: timers that fall due, missed check-ins, and a wall clock that steps.

Confirm windows and escalation steps run on the same path as device events, committed before
they are carried out. A step of the wall clock moves the relative timers with it, so each keeps
its remaining time. A mixin of `Pipeline`.
"""

import asyncio
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, timedelta
from typing import Protocol

from hub.pipeline.intake import Intake
from hub.pipeline.supervision import SignalWatch
from hub.service.clock import WallClock
from hub.store.store import AcceptedEvent, Batch
from notifier.model import OutboxEntry
from rules.engine import Engine, EngineState
from rules.incidents import Action, IncidentChanged
from rules.timers import shift_relative_timers
from wire.event import HUB_DEVICE_ID, DeviceEvent
from wire.schema import InboundMessage

log = logging.getLogger("telecare.hub")
MAX_TIMER_WAIT_S = 5.0


class _Core(Protocol):
    """What the timers use of the pipeline."""

    engine: Engine
    state: EngineState
    _intake: Intake
    _signals: SignalWatch
    _clock: Callable[[], datetime]
    _wall: WallClock | None
    _wake: asyncio.Event

    async def tick(self) -> None: ...

    async def _read_clock(self) -> datetime: ...

    async def _clock_stepped(self, step: timedelta, now: datetime) -> None: ...

    async def _commit(
        self,
        batch: Batch,
        *,
        at: datetime,
        messages: Sequence[InboundMessage] = (),
        flush: bool = True,
    ) -> tuple[list[OutboxEntry], list[InboundMessage]]: ...

    def _carry_out(
        self, actions: Sequence[Action], entries: Sequence[OutboxEntry], *, at_once: bool = True
    ) -> None: ...


class Timers:
    """What falls due with time, carried out on the event path."""

    async def run_timers(self: _Core) -> None:
        """Carry out confirm windows and escalation steps as they fall due."""
        while True:
            due = self.engine.next_due(self.state)
            wait_s = MAX_TIMER_WAIT_S
            if due is not None:
                wait_s = min(wait_s, max(0.0, (due - self._clock()).total_seconds()))
            try:
                async with asyncio.timeout(wait_s):
                    await self._wake.wait()
            except TimeoutError:
                pass
            self._wake.clear()
            await self.tick()

    async def tick(self: _Core) -> None:
        """Carry out whatever has fallen due now."""
        now = await self._read_clock()
        before = self.state
        self.state, actions = self.engine.tick(self.state, now=now)
        batch = Batch(actions=actions)
        stamped = self._intake.overdue(now)  # missed check-ins, stamped by the hub
        stamped += await self._signals.check(self._intake.devices, now)  # hourly signal trends
        for event in stamped:
            self.state, more = self.engine.evaluate(self.state, event, now=now)
            batch.events.append(AcceptedEvent(event))
            batch.actions.extend(more)
        if batch.events or batch.actions:
            if not self.state.remembers_as(before):
                batch.memory = self.state.memory()
            entries, _ = await self._commit(batch, at=now)
            self._carry_out(batch.actions, entries)

    async def _read_clock(self: _Core) -> datetime:
        """The hub's time; a step of the wall clock first moves the relative timers by it."""
        now = self._clock()
        step = None if self._wall is None else self._wall.step()
        if step is not None:
            await self._clock_stepped(step, now)
        return now

    async def _clock_stepped(self: _Core, step: timedelta, now: datetime) -> None:
        """Keep each relative timer's remaining time; recorded as an event and on each incident."""
        self.state, moved = shift_relative_timers(self.state, step)
        self._intake.shift_deadlines(step)
        step_s = step.total_seconds()
        log.warning(
            "wall clock stepped by %+.0f s: %d incident timer(s) and the check-in deadlines keep"
            " their remaining time; schedules follow the corrected clock",
            step_s,
            len(moved),
        )
        reason = f"wall clock stepped by {step_s:+.0f} s: timers keep their remaining time"
        actions: list[Action] = [
            IncidentChanged(incident=i, previous=i.state, reason=reason, at=now) for i in moved
        ]
        event = DeviceEvent(
            device_id=HUB_DEVICE_ID, type="hub.clock_stepped", received_at=now, value=step_s
        )
        entries, _ = await self._commit(Batch([AcceptedEvent(event)], actions), at=now)
        self._carry_out(actions, entries)
