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

from hub.intake import Intake
from hub.store import AcceptedEvent, Batch, Store
from hub.wire import InboundMessage, IncidentPayload, incident_topic
from notifier.dispatcher import Dispatcher
from notifier.model import OutboxEntry
from rules.engine import Engine, EngineState
from rules.incidents import OPEN_STATES, Action, IncidentChanged

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
        self._on_change = on_change
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
        for message in messages:
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
        entries = await self._store.commit(batch, at=now) if batch.events else []
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
        self.state, actions = self.engine.tick(self.state, now=now)
        if actions:
            entries = await self._store.commit(Batch(actions=actions), at=now)
            self._carry_out(actions, entries)

    async def acknowledge(self, incident_id: str, by: str) -> bool:
        """Record that `by` is dealing with a firing incident: escalation stops there.

        Returns:
            False if no open incident has that id or it is not firing (pending, or already
            acknowledged), so nothing changed.
        """
        # The stored state must agree: a change still waiting for its commit is not overtaken.
        stored = await self._store.incident(incident_id)
        firing = [i for i in self.state.open.values() if i.id == incident_id]
        if stored is None or stored.state != "firing" or not firing or firing[0].state != "firing":
            return False
        now = self._clock()
        acked = firing[0].model_copy(update={"state": "acknowledged", "due_at": None})
        change = IncidentChanged(
            incident=acked,
            previous="firing",
            reason=f"acknowledged by {by} on the dashboard",
            at=now,
        )
        self.state = self.state.model_copy(update={"open": {**self.state.open, acked.cause: acked}})
        entries = await self._store.commit(Batch(actions=[change]), at=now)
        self._carry_out([change], entries)
        return True

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
        if self._on_change is not None:
            self._on_change(change)
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


def _digest(message: InboundMessage) -> bytes:
    return hashlib.blake2b(
        message.topic.encode() + b"\0" + message.payload, digest_size=16
    ).digest()
