"""What the event path does with what was decided and committed: the notifier first, then the rest.

Notifications go to the dispatcher; incident changes are announced (retained on MQTT, to the
live feed), devices get their commands, occupancy is published. A mixin of `Pipeline`.
"""

import asyncio
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Protocol

from hub.pipeline.intake import Intake
from notifier.dispatcher import Dispatcher
from notifier.model import OutboxEntry
from rules.engine import EngineState
from rules.incidents import (
    OPEN_STATES,
    Action,
    DeviceCommand,
    IncidentChanged,
    OccupancyChanged,
)
from wire.control import OCCUPANCY_TOPIC, OccupancyPayload
from wire.schema import CommandPayload, IncidentPayload, incident_topic

log = logging.getLogger("telecare.hub")
ANNOUNCE_WAIT_S = 0.25  # longest an incident's news waits for its first requests' answers


class _Core(Protocol):
    """What the outcomes use of the pipeline."""

    state: EngineState
    _intake: Intake
    _dispatcher: Dispatcher
    _publish: Callable[[str, bytes, bool], None]
    _on_change: Callable[[IncidentChanged], None] | None
    _to_act_on: deque[Action]
    _wake: asyncio.Event
    _announcer: asyncio.Task[None] | None

    async def _announce_answered(self) -> None: ...

    def announce_occupancy(self, at: datetime) -> None: ...

    def _carry_out(
        self, actions: Sequence[Action], entries: Sequence[OutboxEntry], *, at_once: bool = True
    ) -> None: ...

    def _act_on_decided(self) -> None: ...

    def _reassure_if_acknowledged(self, change: IncidentChanged) -> None: ...

    def _command(self, command: DeviceCommand) -> None: ...

    def send(self, device_id: str, payload: CommandPayload) -> str | None: ...

    def _announce(self, change: IncidentChanged) -> None: ...


class Outcomes:
    """Carrying out what the engine decided, in the order it decided it."""

    _announcer: asyncio.Task[None] | None = None  # acts on the decided once answers are in

    def announce_occupancy(self: _Core, at: datetime) -> None:
        """Publish (retained) who else is at home, as the engine holds it."""
        occupied_by = self.state.occupied_by
        payload = OccupancyPayload(home=occupied_by is not None, by=occupied_by, updated_at=at)
        self._publish(OCCUPANCY_TOPIC, payload.model_dump_json().encode(), True)

    async def _notify_first(
        self: _Core, actions: Sequence[Action], entries: Sequence[OutboxEntry], *, live: bool
    ) -> None:
        """Carry out a batch's decisions, the requests of its notifications written first.

        The rest (the incident's news on MQTT, the log, the live feed) follows in the next turn
        of the event loop, once the dispatcher's workers have written their requests; `live`
        (consuming the broker's messages), once the first people's requests are answered, or
        after `ANNOUNCE_WAIT_S`: its work does not compete with theirs while they go out.
        """
        self._carry_out(actions, entries, at_once=not entries)
        if not entries:
            return
        await asyncio.sleep(0)
        if not live:
            self._act_on_decided()
        elif self._announcer is None or self._announcer.done():
            self._announcer = asyncio.get_running_loop().create_task(self._announce_answered())

    async def _announce_answered(self: _Core) -> None:
        await self._dispatcher.emergencies_answered(ANNOUNCE_WAIT_S)
        self._act_on_decided()

    def _carry_out(
        self: _Core,
        actions: Sequence[Action],
        entries: Sequence[OutboxEntry],
        *,
        at_once: bool = True,
    ) -> None:
        """Hand the notifications to the dispatcher and act on the rest of what was decided.

        With `at_once` False, the rest waits for `_act_on_decided`; whoever calls that next
        acts on everything decided so far, in the order it was decided.
        """
        self._dispatcher.submit(entries)
        self._to_act_on.extend(actions)
        if at_once:
            self._act_on_decided()

    def _act_on_decided(self: _Core) -> None:
        acted = bool(self._to_act_on)
        while self._to_act_on:
            action = self._to_act_on.popleft()
            if isinstance(action, IncidentChanged):
                self._announce(action)
                self._reassure_if_acknowledged(action)
            elif isinstance(action, DeviceCommand):
                self._command(action)
            elif isinstance(action, OccupancyChanged):
                log.info("occupancy: %s (set by %s)", action.occupied_by or "on her own", action.by)
                self.announce_occupancy(action.at)
        if acted:
            self._wake.set()

    def _reassure_if_acknowledged(self: _Core, change: IncidentChanged) -> None:
        """Someone is coming: the device that raised the alarm shows it (light, chime)."""
        incident = change.incident
        if incident.state == "acknowledged" and change.previous != "acknowledged":
            body = CommandPayload(command="reassure", incident_id=incident.id)
            self.send(incident.device_id, body)

    def _command(self: _Core, command: DeviceCommand) -> None:
        log.info("command %s to %s: %s", command.command, command.device_id, command.reason)
        payload = CommandPayload(command=command.command, incident_id=command.incident_id)
        self.send(command.device_id, payload)

    def send(self: _Core, device_id: str, payload: CommandPayload) -> str | None:
        """Publish a command in the form the device understands (Zigbee2MQTT: its `/set`).

        Returns:
            None once published, or why the device cannot be asked.
        """
        found = self._intake.routed(device_id, payload)
        if isinstance(found, str):
            return found
        self._publish(found[0], found[1], False)
        return None

    def _announce(self: _Core, change: IncidentChanged) -> None:
        if self._on_change is not None:
            self._on_change(change)
        incident = change.incident
        log.info("incident %s %s: %s", incident.id, incident.state, change.reason)
        payload = IncidentPayload(
            id=incident.id,
            cause=incident.cause,
            severity=incident.severity,
            state=incident.state,
            text=incident.text,
            updated_at=change.at,
            acknowledged_by=incident.acknowledged_by,
        )
        topic = incident_topic(incident.id)
        body = payload.model_dump_json().encode()
        if incident.state in OPEN_STATES:
            self._publish(topic, body, True)
        else:
            self._publish(topic, body, False)
            self._publish(topic, b"", True)  # clear the retained copy of a closed incident
