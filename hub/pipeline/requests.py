"""What people and the hub itself ask of the event path: acknowledge, resolve, occupancy, settings.

A contact no phone path reached asks for the ladder's next step. Each request goes through the
engine, is committed before it counts, and is then carried out (notifications, announcements),
on the same path as device events. A mixin of `Pipeline`.
"""

import logging
from datetime import datetime, time
from typing import Protocol

from hub.pipeline.intake import Intake
from hub.store.records import IncidentNote
from hub.store.store import AcceptedEvent, Batch
from notifier.model import OutboxEntry
from rules.engine import Engine, EngineState
from rules.incidents import Action, IncidentChanged
from wire.control import (
    OLD_RELOAD_TOPIC,
    RELOAD_TOPIC,
    AckPayload,
    ControlRequest,
    OccupancyRequest,
    ResolvePayload,
    decode_control,
)
from wire.event import HUB_DEVICE_ID, DeviceEvent, HubEventType
from wire.schema import InboundMessage

log = logging.getLogger("telecare.hub")
CLI_VIA = "with telecare resolve"


class _Core(Protocol):
    """What the requests use of the pipeline."""

    engine: Engine
    state: EngineState
    _intake: Intake
    _notes: list[IncidentNote]
    old_control_forms: int

    async def _read_clock(self) -> datetime: ...

    async def _commit(
        self, batch: Batch, *, at: datetime
    ) -> tuple[list[OutboxEntry], list[InboundMessage]]: ...

    def _carry_out(self, actions: list[Action], entries: list[OutboxEntry]) -> None: ...

    def _resolve(self, request: ResolvePayload, via: str, now: datetime) -> list[Action]: ...

    async def _commit_setting(self, actions: list[Action], now: datetime) -> None: ...

    async def _settle(self, actions: list[Action], incident_id: str, now: datetime) -> bool: ...


class Requests:
    """Acknowledgements, resolutions, occupancy and carers' settings, through the engine."""

    def _control_request(self: _Core, message: InboundMessage) -> ControlRequest | None:
        """The request on a control topic; None if refused (counted and logged as `bad_control`).

        A reload in the form of releases before the one scheme is read as a reload, and counted
        (`old_control_forms`) and logged: the tool that sent it should be upgraded.
        """
        request = decode_control(message.topic, message.payload)
        if isinstance(request, str) or message.retain:
            # A retained request would be replayed at every reconnect: refused.
            detail = request if isinstance(request, str) else "retained requests are refused"
            self._intake.rejects.reject("bad_control", message.topic, detail)
            return None
        if message.topic == OLD_RELOAD_TOPIC:
            self.old_control_forms += 1
            log.warning(
                "reload asked in the old form (%s on %s): done; tools of this release ask on %s",
                '{"command": "reload_devices"}',
                OLD_RELOAD_TOPIC,
                RELOAD_TOPIC,
            )
        return request

    def _control(
        self: _Core, request: AckPayload | ResolvePayload | OccupancyRequest, now: datetime
    ) -> list[Action]:
        """An acknowledgement (`telecare ack`), resolution (`telecare resolve`) or occupancy."""
        if isinstance(request, AckPayload):
            self.state, actions = self.engine.acknowledge(
                self.state, request.incident_id, request.by, now=now
            )
            if not any(isinstance(a, IncidentChanged) for a in actions):
                log.info("ack of %s: not open or already acknowledged", request.incident_id)
            return actions
        if isinstance(request, ResolvePayload):
            return self._resolve(request, CLI_VIA, now)
        self.state, actions = self.engine.set_occupancy(
            self.state, home=request.home, by=request.by, now=now
        )
        return actions

    def _resolve(self: _Core, request: ResolvePayload, via: str, now: datetime) -> list[Action]:
        """Close an incident in the engine; its note waits to be written with the batch."""
        self.state, actions = self.engine.resolve(
            self.state, request.incident_id, by=request.by, via=via, now=now
        )
        if not any(isinstance(a, IncidentChanged) for a in actions):
            log.info("resolution of %s: not open", request.incident_id)
        elif request.note is not None:
            note = IncidentNote(
                incident_id=request.incident_id, author=request.by, text=request.note, at=now
            )
            self._notes.append(note)
        return actions

    async def hub_event(self: _Core, kind: HubEventType) -> None:
        """Something the hub observed of itself (broker or disk lost or back), on the event path."""
        now = await self._read_clock()
        event = DeviceEvent(device_id=HUB_DEVICE_ID, type=kind, received_at=now)
        self.state, actions = self.engine.evaluate(self.state, event, now=now)
        entries, _ = await self._commit(Batch([AcceptedEvent(event)], actions), at=now)
        self._carry_out(actions, entries)

    async def acknowledge(
        self: _Core, incident_id: str, by: str, via: str = "on the dashboard"
    ) -> bool:
        """`by` is dealing with an incident (from the dashboard): the ladder stops there.

        The same engine path as `telecare ack` and a carer's reply; committed before it counts.

        Returns:
            False if no open incident has that id or it is already acknowledged.
        """
        now = await self._read_clock()
        self.state, actions = self.engine.acknowledge(self.state, incident_id, by, now=now)
        return await self._settle([_said_where(a, via) for a in actions], incident_id, now)

    async def unreached(self: _Core, incident_id: str, contact: str, *, key: str) -> bool:
        """No phone path of the step `key` reached `contact`: the next step goes now.

        The same engine path as an acknowledgement; committed before it counts, so the step
        is not taken again at its own time, nor after a restart.

        Returns:
            False if nothing moved: the incident no longer fires, or a later step went already.
        """
        now = await self._read_clock()
        self.state, actions = self.engine.unreached(
            self.state, incident_id, contact, key=key, now=now
        )
        return await self._settle(actions, incident_id, now)

    async def resolve(
        self: _Core,
        incident_id: str,
        by: str,
        *,
        note: str | None = None,
        via: str = "on the dashboard",
    ) -> bool:
        """`by` says an incident is over (from the dashboard); `note` says why.

        The same engine path as `telecare resolve`; committed before it counts.

        Returns:
            False if no open incident has that id.
        """
        now = await self._read_clock()
        request = ResolvePayload(incident_id=incident_id, by=by, note=note)
        return await self._settle(self._resolve(request, via, now), incident_id, now)

    async def _settle(self: _Core, actions: list[Action], incident_id: str, now: datetime) -> bool:
        """Commit and carry out what a request did, and whether it changed `incident_id`.

        The engine runs its due timers first: a step that fell due is sent even when the
        request itself changes nothing (an incident accepted twice), as its state already
        counts it sent.
        """
        if actions:
            entries, _ = await self._commit(Batch(actions=actions), at=now)
            self._carry_out(actions, entries)
        return any(isinstance(a, IncidentChanged) and a.incident.id == incident_id for a in actions)

    async def silence(self: _Core, device_id: str, *, until: datetime | None, by: str) -> None:
        """`by` silences a non-emergency device until `until` (None lifts it): kept and audited.

        Raises:
            SettingRefusedError: an unknown or emergency device, or a time out of range.
        """
        now = await self._read_clock()
        self.state, actions = self.engine.silence(
            self.state, device_id, until=until, by=by, now=now
        )
        await self._commit_setting(actions, now)

    async def set_digest_times(
        self: _Core, contact: str, times: tuple[time, ...] | None, *, by: str
    ) -> None:
        """`by` gives a contact's digest new times (None: as configured): kept and audited.

        Raises:
            SettingRefusedError: an unknown contact, or times that cannot be used.
        """
        now = await self._read_clock()
        self.state, actions = self.engine.set_digest_times(
            self.state, contact, times, by=by, now=now
        )
        await self._commit_setting(actions, now)

    async def _commit_setting(self: _Core, actions: list[Action], now: datetime) -> None:
        batch = Batch(actions=actions, memory=self.state.memory())
        entries, _ = await self._commit(batch, at=now)
        self._carry_out(actions, entries)

    async def set_occupancy(self: _Core, *, home: bool, by: str) -> None:
        """Someone else is at home, or nobody is (from the dashboard): the engine's view."""
        now = await self._read_clock()
        self.state, actions = self.engine.set_occupancy(self.state, home=home, by=by, now=now)
        if actions:
            entries, _ = await self._commit(Batch(actions=actions), at=now)
            self._carry_out(actions, entries)


def _said_where(action: Action, via: str) -> Action:
    """The audit trail says where an acknowledgement came from."""
    if isinstance(action, IncidentChanged) and action.incident.state == "acknowledged":
        return action.model_copy(update={"reason": f"{action.reason} {via}"})
    return action
