"""The hub's event path: decode, decide, commit, acknowledge, notify.

A batch of messages is decoded and evaluated in memory, committed in one transaction (events,
incident changes and outbox entries together), and only then acknowledged to the broker and
handed to the notifier. Timers (confirm windows, escalation steps) run on the same path.
"""

import asyncio
import hashlib
import logging
from collections.abc import Callable, Sequence
from datetime import datetime

from hub.control import (
    ACK_TOPIC,
    OCCUPANCY_CONTROL_TOPIC,
    OCCUPANCY_TOPIC,
    AckPayload,
    OccupancyPayload,
    decode_control,
)
from hub.intake import Intake
from hub.store import AcceptedEvent, Batch, Store
from hub.wire import (
    CommandPayload,
    InboundMessage,
    IncidentPayload,
    command_topic,
    incident_topic,
)
from notifier.dispatcher import Dispatcher
from notifier.model import OutboxEntry
from rules.engine import Engine, EngineState
from rules.incidents import (
    OPEN_STATES,
    Action,
    DeviceCommand,
    IncidentChanged,
    OccupancyChanged,
)

log = logging.getLogger("telecare.hub")
MAX_BATCH = 256
MAX_TIMER_WAIT_S = 5.0
CONTROL_TOPICS = frozenset({ACK_TOPIC, OCCUPANCY_CONTROL_TOPIC})

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
    ) -> None:
        self.engine = engine
        self.state = state
        self._store = store
        self._intake = intake
        self._dispatcher = dispatcher
        self._ack = ack
        self._publish = publish
        self._clock = clock
        self._wake = asyncio.Event()
        self.duplicates = 0

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
                    await self.handle(batch)
                    return
                batch.append(item)
            await self.handle(batch)

    async def handle(self, messages: Sequence[InboundMessage]) -> None:
        """Decode, evaluate and commit a batch, then acknowledge it and send what it decided."""
        now = self._clock()
        batch, before = Batch(), self.state
        for message in messages:
            if message.topic in CONTROL_TOPICS:
                batch.actions.extend(self._control(message, now))
                continue
            digest = _digest(message)
            if message.dup and await self._store.seen(message.mid, digest):
                self.duplicates += 1
                continue
            event = self._intake.decode(message, received_at=now)
            if event is None:
                continue
            self.state, actions = self.engine.evaluate(self.state, event, now=now)
            batch.events.append(AcceptedEvent(event, message.topic, message.mid, digest))
            batch.actions.extend(actions)
            log.info("event %s %s", event.device_id, event.type)
        if not self.state.remembers_as(before):
            batch.memory = self.state.memory()
        entries = await self._store.commit(batch, at=now) if batch.events or batch.actions else []
        for message in messages:
            self._ack(message)
        self._carry_out(batch.actions, entries)

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
        if actions:
            memory = None if self.state.remembers_as(before) else self.state.memory()
            entries = await self._store.commit(Batch(actions=actions, memory=memory), at=now)
            self._carry_out(actions, entries)

    def _control(self, message: InboundMessage, now: datetime) -> list[Action]:
        """An acknowledgement (`telecare ack`) or occupancy (`telecare occupancy`) request."""
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
        self.state, actions = self.engine.set_occupancy(
            self.state, home=request.home, by=request.by, now=now
        )
        return actions

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
            elif isinstance(action, DeviceCommand):
                self._command(action)
            elif isinstance(action, OccupancyChanged):
                log.info("occupancy: %s (set by %s)", action.occupied_by or "on her own", action.by)
                self.announce_occupancy(action.at)
        if actions:
            self._wake.set()

    def _command(self, command: DeviceCommand) -> None:
        log.info("command %s to %s: %s", command.command, command.device_id, command.reason)
        payload = CommandPayload(command=command.command, incident_id=command.incident_id)
        self._publish(command_topic(command.device_id), payload.model_dump_json().encode(), False)

    def _announce(self, change: IncidentChanged) -> None:
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
