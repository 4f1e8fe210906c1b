"""The hub's event path: decode, decide, commit, acknowledge, notify.

A batch of messages is decoded and evaluated in memory, committed in one transaction (events,
incident changes and outbox entries together), and only then acknowledged to the broker and
handed to the notifier. Timers (confirm windows, escalation steps) run on the same path.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime, time

from pydantic import ValidationError

from hub.clock import VirtualClock
from hub.control import (
    CONTROL_TOPICS,
    OCCUPANCY_TOPIC,
    AckPayload,
    OccupancyPayload,
    ResolvePayload,
    decode_control,
)
from hub.intake import Intake
from hub.records import DeviceRecord, IncidentNote
from hub.store import AcceptedEvent, Batch, Store
from hub.wire import (
    CLOCK_DONE_TOPIC,
    CLOCK_TOPIC,
    HUB_CONTROL_TOPIC,
    ClockPayload,
    CommandPayload,
    HubControlPayload,
    InboundMessage,
    IncidentPayload,
    command_topic,
    incident_topic,
)
from notifier.dispatcher import Dispatcher
from notifier.model import OutboxEntry
from rules.engine import Engine, EngineState
from rules.events import HUB_DEVICE_ID, DeviceEvent, HubEventType
from rules.incidents import (
    OPEN_STATES,
    Action,
    DeviceCommand,
    IncidentChanged,
    OccupancyChanged,
)
from rules.policy import DeviceInfo

log = logging.getLogger("telecare.hub")
MAX_BATCH = 256
MAX_TIMER_WAIT_S = 5.0
CLI_VIA = "with telecare resolve"

Publish = Callable[[str, bytes, bool], None]
Ack = Callable[[InboundMessage], None]


class Pipeline:
    """Owns the engine state and carries its decisions out."""

    def __init__(
        self,
        *,
        engine: Engine,
        state: EngineState,
        store: Store,
        intake: Intake,
        dispatcher: Dispatcher,
        ack: Ack,
        publish: Publish,
        clock: Callable[[], datetime],
        virtual_clock: VirtualClock | None = None,
        on_change: Callable[[IncidentChanged], None] | None = None,
    ) -> None:
        self.engine = engine
        self.state = state
        self._store = store
        self._intake = intake
        self._dispatcher = dispatcher
        self._ack = ack
        self._publish = publish
        self._clock = clock
        self._virtual = virtual_clock
        self._on_change = on_change
        self._started = False
        self._wake = asyncio.Event()
        self._notes: list[IncidentNote] = []  # written with the batch that resolved
        self.duplicates = 0

    def now(self) -> datetime:
        """The hub's time: the wall clock, or the simulation's virtual clock."""
        return self._clock()

    @property
    def virtual(self) -> bool:
        """Whether time is driven by a simulator rather than the wall clock."""
        return self._virtual is not None

    async def consume(self, inbox: asyncio.Queue[InboundMessage | None]) -> None:
        """Process messages in batches until a None arrives (everything before it is kept)."""
        while True:
            first = await inbox.get()
            if first is None:
                return
            batch = [first]
            while len(batch) < MAX_BATCH and not inbox.empty():
                item = inbox.get_nowait()
                if item is None:
                    await self._handle_in_order(batch)
                    return
                batch.append(item)
            await self._handle_in_order(batch)

    async def _handle_in_order(self, messages: list[InboundMessage]) -> None:
        """Handle a batch; a virtual clock message moves time between the messages around it."""
        if self._virtual is None:
            await self.handle(messages)
            return
        pending: list[InboundMessage] = []
        for message in messages:
            if message.topic != CLOCK_TOPIC:
                pending.append(message)
                continue
            if pending:
                await self.handle(pending)
                pending = []
            await self._advance(message)
        if pending:
            await self.handle(pending)

    async def _advance(self, message: InboundMessage) -> None:
        """Move the virtual clock, carrying out each timer at its own due time on the way."""
        assert self._virtual is not None
        self._ack(message)
        try:
            target = ClockPayload.model_validate_json(message.payload).now
        except ValueError as err:
            self._intake.rejects.reject("bad_clock", message.topic, str(err)[:120])
            return
        if not self._started:
            self._virtual.set(target)  # the simulation's first moment
            self._intake.restart_supervision(target)
            self._started = True
        elif target < self._virtual.now():
            self._intake.rejects.reject("bad_clock", message.topic, "the clock cannot go back")
            return
        due = self.engine.next_due(self.state)
        while due is not None and due <= target:
            self._virtual.set(max(due, self._virtual.now()))
            await self.tick()
            following = self.engine.next_due(self.state)
            if following is not None and following <= self._virtual.now():
                break  # the engine has nothing more to do at this moment
            due = following
        self._virtual.set(target)
        await self.tick()
        done = ClockPayload(now=target).model_dump_json().encode()
        self._publish(CLOCK_DONE_TOPIC, done, False)

    async def handle(self, messages: Sequence[InboundMessage]) -> None:
        """Decode, evaluate and commit a batch, then acknowledge it and send what it decided."""
        now = self._clock()
        batch, before = Batch(), self.state
        reload = False
        for message in messages:
            if message.topic in CONTROL_TOPICS:
                batch.actions.extend(self._control(message, now))
            elif message.topic == HUB_CONTROL_TOPIC:
                reload = _asks_reload(message) or reload
            else:
                await self._decode_into(batch, message, now)
        sightings = self._intake.take_sightings()
        batch.health.extend(sightings.health.values())
        batch.unpaired.extend(sightings.unpaired.values())
        if not self.state.remembers_as(before):
            batch.memory = self.state.memory()
        entries: list[OutboxEntry] = []
        if batch.events or batch.actions or batch.health or batch.unpaired:
            entries = await self._store.commit(batch, at=now)
        await self._write_notes()
        for message in messages:
            self._ack(message)
        self._carry_out(batch.actions, entries)
        if reload:
            await self.reload_devices()

    async def _decode_into(self, batch: Batch, message: InboundMessage, now: datetime) -> None:
        digest = _digest(message)
        if message.dup and await self._store.seen(message.mid, digest):
            self.duplicates += 1
            return
        for event in self._intake.decode(message, received_at=now):
            self.state, actions = self.engine.evaluate(self.state, event, now=now)
            batch.events.append(AcceptedEvent(event, message.topic, message.mid, digest))
            batch.actions.extend(actions)
            log.info("event %s %s", event.device_id, event.type)

    async def reload_devices(self) -> None:
        """Re-read the registry (a device was paired, renamed or removed) and use it at once."""
        devices = await self._store.devices()
        self._intake.reload(devices)
        config = self.engine.config.model_copy(update={"devices": device_infos(devices)})
        self.engine = Engine(config)
        log.info("device registry reloaded: %d device(s)", len(devices))

    async def run_timers(self) -> None:
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

    async def tick(self) -> None:
        """Carry out whatever has fallen due now."""
        now = self._clock()
        before = self.state
        self.state, actions = self.engine.tick(self.state, now=now)
        batch = Batch(actions=actions)
        for event in self._intake.overdue(now):  # missed check-ins, stamped by the hub
            self.state, more = self.engine.evaluate(self.state, event, now=now)
            batch.events.append(AcceptedEvent(event))
            batch.actions.extend(more)
        if batch.events or batch.actions:
            if not self.state.remembers_as(before):
                batch.memory = self.state.memory()
            entries = await self._store.commit(batch, at=now)
            self._carry_out(batch.actions, entries)

    def _control(self, message: InboundMessage, now: datetime) -> list[Action]:
        """An acknowledgement (`telecare ack`), resolution (`telecare resolve`) or occupancy."""
        request = decode_control(message.topic, message.payload)
        if isinstance(request, str) or message.retain:
            # A retained request would be replayed at every reconnect: refused.
            detail = request if isinstance(request, str) else "retained requests are refused"
            self._intake.rejects.reject("bad_control", message.topic, detail)
            return []
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

    def _resolve(self, request: ResolvePayload, via: str, now: datetime) -> list[Action]:
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

    async def _write_notes(self) -> None:
        notes, self._notes = self._notes, []
        for note in notes:
            await self._store.add_note(note)

    async def hub_event(self, kind: HubEventType) -> None:
        """Something the hub itself observed (its broker lost or back), on the event path."""
        now = self._clock()
        event = DeviceEvent(device_id=HUB_DEVICE_ID, type=kind, received_at=now)
        self.state, actions = self.engine.evaluate(self.state, event, now=now)
        entries = await self._store.commit(Batch([AcceptedEvent(event)], actions), at=now)
        self._carry_out(actions, entries)

    async def acknowledge(self, incident_id: str, by: str, via: str = "on the dashboard") -> bool:
        """`by` is dealing with an incident (from the dashboard): the ladder stops there.

        The same engine path as `telecare ack` and a carer's reply; committed before it counts.

        Returns:
            False if no open incident has that id or it is already acknowledged.
        """
        now = self._clock()
        self.state, actions = self.engine.acknowledge(self.state, incident_id, by, now=now)
        if not any(isinstance(a, IncidentChanged) for a in actions):
            return False
        actions = [_said_where(a, via) for a in actions]
        entries = await self._store.commit(Batch(actions=actions), at=now)
        self._carry_out(actions, entries)
        return True

    async def resolve(
        self, incident_id: str, by: str, *, note: str | None = None, via: str = "on the dashboard"
    ) -> bool:
        """`by` says an incident is over (from the dashboard); `note` says why.

        The same engine path as `telecare resolve`; committed before it counts.

        Returns:
            False if no open incident has that id.
        """
        now = self._clock()
        request = ResolvePayload(incident_id=incident_id, by=by, note=note)
        actions = self._resolve(request, via, now)
        if not any(isinstance(a, IncidentChanged) for a in actions):
            return False
        entries = await self._store.commit(Batch(actions=actions), at=now)
        await self._write_notes()
        self._carry_out(actions, entries)
        return True

    async def silence(self, device_id: str, *, until: datetime | None, by: str) -> None:
        """`by` silences a non-emergency device until `until` (None lifts it): kept and audited.

        Raises:
            SettingRefusedError: an unknown or emergency device, or a time out of range.
        """
        now = self._clock()
        self.state, actions = self.engine.silence(
            self.state, device_id, until=until, by=by, now=now
        )
        await self._commit_setting(actions, now)

    async def set_digest_times(
        self, contact: str, times: tuple[time, ...] | None, *, by: str
    ) -> None:
        """`by` gives a contact's digest new times (None: as configured): kept and audited.

        Raises:
            SettingRefusedError: an unknown contact, or times that cannot be used.
        """
        now = self._clock()
        self.state, actions = self.engine.set_digest_times(
            self.state, contact, times, by=by, now=now
        )
        await self._commit_setting(actions, now)

    async def _commit_setting(self, actions: list[Action], now: datetime) -> None:
        batch = Batch(actions=actions, memory=self.state.memory())
        entries = await self._store.commit(batch, at=now)
        self._carry_out(actions, entries)

    async def set_occupancy(self, *, home: bool, by: str) -> None:
        """Someone else is at home, or nobody is (from the dashboard): the engine's view."""
        now = self._clock()
        self.state, actions = self.engine.set_occupancy(self.state, home=home, by=by, now=now)
        if actions:
            entries = await self._store.commit(Batch(actions=actions), at=now)
            self._carry_out(actions, entries)

    def announce_occupancy(self, at: datetime) -> None:
        """Publish (retained) who else is at home, as the engine holds it."""
        occupied_by = self.state.occupied_by
        payload = OccupancyPayload(home=occupied_by is not None, by=occupied_by, updated_at=at)
        self._publish(OCCUPANCY_TOPIC, payload.model_dump_json().encode(), True)

    def _carry_out(self, actions: Sequence[Action], entries: Sequence[OutboxEntry]) -> None:
        self._dispatcher.submit(entries)
        for action in actions:
            if isinstance(action, IncidentChanged):
                self._announce(action)
                self._reassure_if_acknowledged(action)
            elif isinstance(action, DeviceCommand):
                self._command(action)
            elif isinstance(action, OccupancyChanged):
                log.info("occupancy: %s (set by %s)", action.occupied_by or "on her own", action.by)
                self.announce_occupancy(action.at)
        if actions:
            self._wake.set()

    def _reassure_if_acknowledged(self, change: IncidentChanged) -> None:
        """Someone is coming: the device that raised the alarm shows it (light, chime)."""
        incident = change.incident
        if incident.state == "acknowledged" and change.previous != "acknowledged":
            body = CommandPayload(command="reassure", incident_id=incident.id)
            self._publish(command_topic(incident.device_id), body.model_dump_json().encode(), False)

    def _command(self, command: DeviceCommand) -> None:
        log.info("command %s to %s: %s", command.command, command.device_id, command.reason)
        payload = CommandPayload(command=command.command, incident_id=command.incident_id)
        self._publish(command_topic(command.device_id), payload.model_dump_json().encode(), False)

    def _announce(self, change: IncidentChanged) -> None:
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


def _digest(message: InboundMessage) -> bytes:
    return hashlib.blake2b(
        message.topic.encode() + b"\0" + message.payload, digest_size=16
    ).digest()


def device_infos(devices: Sequence[DeviceRecord]) -> dict[str, DeviceInfo]:
    """What the engine's alert texts need to know of each registered device."""
    return {
        d.id: DeviceInfo.model_validate({"name": d.name, "role": d.role, "room": d.room})
        for d in devices
    }


def _said_where(action: Action, via: str) -> Action:
    """The audit trail says where an acknowledgement came from."""
    if isinstance(action, IncidentChanged) and action.incident.state == "acknowledged":
        return action.model_copy(update={"reason": f"{action.reason} {via}"})
    return action


def _asks_reload(message: InboundMessage) -> bool:
    try:
        HubControlPayload.model_validate_json(message.payload[:1024])
    except ValidationError:
        log.warning("ignored a malformed message on %s", HUB_CONTROL_TOPIC)
        return False
    return True
