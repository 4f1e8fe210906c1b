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

from pydantic import ValidationError

from hub.intake import Intake
from hub.records import DeviceRecord
from hub.store import AcceptedEvent, Batch, Store
from hub.wire import (
    HUB_CONTROL_TOPIC,
    HubControlPayload,
    InboundMessage,
    IncidentPayload,
    incident_topic,
)
from notifier.dispatcher import Dispatcher
from notifier.model import OutboxEntry
from rules.engine import Engine, EngineState
from rules.incidents import OPEN_STATES, Action, IncidentChanged
from rules.policy import DeviceInfo

log = logging.getLogger("telecare.hub")
MAX_BATCH = 256
MAX_TIMER_WAIT_S = 5.0

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
        batch = Batch()
        reload = False
        for message in messages:
            if message.topic == HUB_CONTROL_TOPIC:
                reload = _asks_reload(message) or reload
                continue
            digest = _digest(message)
            if message.dup and await self._store.seen(message.mid, digest):
                self.duplicates += 1
                continue
            for event in self._intake.decode(message, received_at=now):
                self.state, actions = self.engine.evaluate(self.state, event, now=now)
                batch.events.append(AcceptedEvent(event, message.topic, message.mid, digest))
                batch.actions.extend(actions)
                log.info("event %s %s", event.device_id, event.type)
        sightings = self._intake.take_sightings()
        batch.health.extend(sightings.health.values())
        batch.unpaired.extend(sightings.unpaired.values())
        entries: list[OutboxEntry] = []
        if batch.events or batch.health or batch.unpaired:
            entries = await self._store.commit(batch, at=now)
        for message in messages:
            self._ack(message)
        self._carry_out(batch.actions, entries)
        if reload:
            await self.reload_devices()

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
        self.state, actions = self.engine.tick(self.state, now=now)
        batch = Batch(actions=actions)
        for event in self._intake.overdue(now):  # missed check-ins, stamped by the hub
            self.state, more = self.engine.evaluate(self.state, event, now=now)
            batch.events.append(AcceptedEvent(event))
            batch.actions.extend(more)
        if batch.events or batch.actions:
            entries = await self._store.commit(batch, at=now)
            self._carry_out(batch.actions, entries)

    def _carry_out(self, actions: Sequence[Action], entries: Sequence[OutboxEntry]) -> None:
        self._dispatcher.submit(entries)
        for action in actions:
            if isinstance(action, IncidentChanged):
                self._announce(action)
        if actions:
            self._wake.set()

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
        )
        topic = incident_topic(incident.id)
        body = payload.model_dump_json().encode()
        if incident.state in OPEN_STATES:
            self._publish(topic, body, True)
        else:
            self._publish(topic, body, False)
            self._publish(topic, b"", True)  # clear the retained copy of a closed incident


def device_infos(devices: Sequence[DeviceRecord]) -> dict[str, DeviceInfo]:
    """What the engine's alert texts need to know of each registered device."""
    return {
        d.id: DeviceInfo.model_validate({"name": d.name, "role": d.role, "room": d.room})
        for d in devices
    }


def _asks_reload(message: InboundMessage) -> bool:
    try:
        HubControlPayload.model_validate_json(message.payload[:1024])
    except ValidationError:
        log.warning("ignored a malformed message on %s", HUB_CONTROL_TOPIC)
        return False
    return True


def _digest(message: InboundMessage) -> bytes:
    return hashlib.blake2b(
        message.topic.encode() + b"\0" + message.payload, digest_size=16
    ).digest()
