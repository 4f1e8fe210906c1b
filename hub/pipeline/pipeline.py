"""The hub's event path: decode, decide, commit, acknowledge, notify.

A batch of messages is decoded and evaluated in memory and committed in one transaction (events,
incident changes and outbox entries together); its notifications go to the notifier at once,
and the batch is acknowledged to the broker once the store has synced it to disk, while the next
batch is already being handled. Timers (confirm windows, escalation steps) run on the same path.
"""

import asyncio
import contextlib
import hashlib
import logging
from collections import deque
from collections.abc import Callable, Sequence
from datetime import datetime
from time import perf_counter_ns

from hub.mqtt.acks import BrokerAcks
from hub.pipeline.inbox import Inbox
from hub.pipeline.intake import Intake, engine_for
from hub.pipeline.outcomes import Outcomes
from hub.pipeline.requests import Requests
from hub.pipeline.stages import BatchClock, StageTimings
from hub.pipeline.supervision import SignalWatch
from hub.pipeline.timers import Timers
from hub.pipeline.waiting import Waiting
from hub.service.clock import VirtualClock, WallClock
from hub.store.backlog import Backlog
from hub.store.records import IncidentNote
from hub.store.store import AcceptedEvent, Batch, Store
from notifier.dispatcher import Dispatcher
from notifier.model import OutboxEntry
from rules.engine import Engine, EngineState
from rules.incidents import Action, IncidentChanged
from wire.control import CONTROL_TOPICS, ReloadRequest
from wire.schema import CLOCK_DONE_TOPIC, CLOCK_TOPIC, ClockPayload, InboundMessage

log = logging.getLogger("telecare.hub")
MAX_BATCH = 64  # small enough that an alarm arriving meanwhile waits little
# Under a backlog a batch takes up to this many: fewer, larger commits. An alarm arriving
# meanwhile still goes first (the batch stops at its next turn of the loop, see YIELD_EVERY),
# but what was decoded before it is committed first: a commit of 256 events takes some 3.4 ms
# on the 2-core bench machine (64: 0.9 ms), and the cost per event hardly falls beyond that.
BACKLOG_BATCH = 256
YIELD_EVERY = 16  # messages decoded between two turns of the event loop
ALARM_HEADSTART_S = 0.25  # telemetry waits at most this long for an alarm's first request
SPECIAL_TOPICS = CONTROL_TOPICS  # commands, answered apart from devices

Publish = Callable[[str, bytes, bool], None]
Ack = Callable[[InboundMessage], None]


class Pipeline(Requests, Outcomes, Timers):
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
        backlog: Backlog | None = None,
        wall: WallClock | None = None,
        stages: StageTimings | None = None,
    ) -> None:
        self.engine = engine
        self.state = state
        self._store = store
        self._backlog = backlog or Backlog(store)
        self._written_open = state.open  # the open incidents as the store last had them
        self._intake = intake
        self._dispatcher = dispatcher
        self.stages = stages or StageTimings()  # the latency budget, for /metrics
        dispatcher.time_first_requests(self.stages.dispatch.observe)
        self._ack = ack
        self._publish = publish
        self._clock = clock
        self._virtual = virtual_clock
        self._wall = wall
        self._on_change = on_change
        self._started = False
        self._signals = SignalWatch(store.signal_history)
        self._wake = asyncio.Event()
        self._to_act_on: deque[Action] = deque()  # decided and committed: said in this order
        self._notes: list[IncidentNote] = []  # go with the commit of their resolution
        self._acks: BrokerAcks | None = None
        self._waiting: tuple[Waiting, asyncio.Queue[InboundMessage | None]] | None = None
        self.duplicates = 0
        self.old_control_forms = 0  # reloads asked in the form before the one scheme

    def now(self) -> datetime:
        """The hub's time: the wall clock, or the simulation's virtual clock."""
        return self._clock()

    @property
    def virtual(self) -> bool:
        """Whether time is driven by a simulator rather than the wall clock."""
        return self._virtual is not None

    async def consume(self, inbox: asyncio.Queue[InboundMessage | None]) -> None:
        """Process messages in batches until a None arrives (everything before it is kept)."""
        async with BrokerAcks(self._store.flush, self._ack) as acks:
            self._acks = acks
            try:
                await self._consume(inbox)
            finally:
                self._acks = None

    async def _consume(self, inbox: asyncio.Queue[InboundMessage | None]) -> None:
        # Under a virtual clock, time moves between messages: they are taken in order.
        waiting = Waiting(self._intake.is_priority if self._virtual is None else _never)
        self._waiting = (waiting, inbox)

        def busy() -> bool:  # more to decide, here or still in the broker's socket
            unread = isinstance(inbox, Inbox) and inbox.more_coming()
            return waiting.pending > 0 or not inbox.empty() or unread

        if self._virtual is None:  # first people first; the rest wait for their answers
            self._dispatcher.hold_second_channels(_always)
        try:
            while (
                batch := await waiting.next_batch(inbox, MAX_BATCH, backlog_limit=BACKLOG_BATCH)
            ) is not None:
                await self._handle_in_order(batch)
                if not busy():
                    self._dispatcher.release_when_answered()
        finally:
            self._waiting = None
            self._act_on_decided()  # what still waited for answers
            self._dispatcher.hold_second_channels(_never_busy)
            self._dispatcher.release_held()

    def _put_back_for_alarm(self, rest: Sequence[InboundMessage]) -> bool:
        """If an alarm has arrived, put `rest` back to follow it; whether it was put back."""
        if self._waiting is None or not self._alarm_waiting():
            return False
        self._waiting[0].put_back(rest)
        return True

    def _alarm_waiting(self) -> bool:
        """Whether an alarm has arrived since this batch was taken (it goes first)."""
        if self._waiting is None:
            return False
        waiting, inbox = self._waiting
        waiting.absorb(inbox)
        return waiting.has_priority

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
        """Decode, evaluate and commit a batch; send what it decided; acknowledge it.

        Messages from pendants, pull-cords and smoke alarms go first, in their own commit, so an
        alarm is never held back by the telemetry that arrived with it.
        """
        first = [m for m in messages if self._intake.is_priority(m.topic)]
        if first:
            with self._reading_held():
                await self._handle_batch(first, alarms=True)
        if len(first) < len(messages):
            await self._make_way()
            rest = [m for m in messages if not self._intake.is_priority(m.topic)]
            if not self._put_back_for_alarm(rest):
                await self._handle_batch(rest)

    def _reading_held(self) -> contextlib.AbstractContextManager[None]:
        """No reading from the broker while alarms are committed and their requests written.

        The commit runs on the store's thread, which needs the interpreter's lock between its
        SQLite calls; a burst read on the event loop meanwhile would keep the lock from it for
        milliseconds each time (a commit took ten times as long). The broker holds the rest
        for the millisecond or two this takes. Telemetry's commits are not held so: reading
        alongside them is what keeps the hub up with thousands of messages a second.
        """
        inbox = self._inbox
        return contextlib.nullcontext() if inbox is None else inbox.holding()

    @property
    def _inbox(self) -> Inbox | None:
        """The inbox being consumed, if it is the hub's own (a plain queue in some tests)."""
        inbox = None if self._waiting is None else self._waiting[1]
        return inbox if isinstance(inbox, Inbox) else None

    async def _make_way(self) -> None:
        """Let the event loop carry alarms already decided to the phones before more telemetry.

        A new alarm ends the wait: it goes next (see `_alarm_waiting`).
        """
        await asyncio.sleep(0)
        if self._alarm_waiting():
            return
        woken = asyncio.get_running_loop().create_future()
        inbox = self._inbox
        with contextlib.nullcontext() if inbox is None else inbox.waking_on_alarm(woken):
            await self._dispatcher.emergencies_answered(ALARM_HEADSTART_S, unless=woken)

    async def _handle_batch(
        self, messages: Sequence[InboundMessage], *, alarms: bool = False
    ) -> None:
        now = await self._read_clock()
        batch, before = Batch(alarms=alarms), self.state
        clock = self.stages.batch(alarms=alarms)
        reload = False
        for index, message in enumerate(messages, 1):
            if message.dup or message.topic in SPECIAL_TOPICS:
                reload = await self._take_special(batch, message, now, clock) or reload
            else:  # the usual case, with no await
                self._decode_into(batch, message, _digest(message), now, clock)
            if index % YIELD_EVERY == 0 and index < len(messages):
                if alarms:  # earlier alarms' requests go out; these wait for nothing else
                    await asyncio.sleep(0)
                    continue
                await self._make_way()
                if self._put_back_for_alarm(messages[index:]):
                    messages = messages[:index]
                    break
        sightings = self._intake.take_sightings()
        batch.health.extend(sightings.health.values())
        batch.unpaired.extend(sightings.unpaired.values())
        batch.commands.update(sightings.commands)
        if not self.state.remembers_as(before):
            batch.memory = self.state.memory()
        entries: list[OutboxEntry] = []
        acked: Sequence[InboundMessage] = messages
        committing = None
        if batch.events or batch.actions or batch.health or batch.unpaired or batch.commands:
            committing = perf_counter_ns()
            entries, acked = await self._commit(
                batch, at=now, messages=messages, flush=self._acks is None
            )
        clock.committed(committing)
        await self._notify_first(batch.actions, entries, live=self._waiting is not None)
        if self._acks is not None:
            self._acks.after_flush(acked)
        else:
            for message in acked:
                self._ack(message)
        if reload:
            await self.reload_devices()

    async def _take_special(
        self, batch: Batch, message: InboundMessage, now: datetime, clock: BatchClock
    ) -> bool:
        """A command, or a message the broker sent again; True if it asks for a reload."""
        if message.topic in CONTROL_TOPICS:
            request = self._control_request(message)
            if isinstance(request, ReloadRequest):
                log.info("device registry reload asked by %s", request.by)
                return True
            if request is not None:
                batch.actions.extend(self._control(request, now))
        elif await self._store.seen(message.mid, digest := _digest(message)):
            self.duplicates += 1  # its first delivery was stored
        else:
            self._decode_into(batch, message, digest, now, clock)
        return False

    def _decode_into(
        self,
        batch: Batch,
        message: InboundMessage,
        digest: bytes,
        now: datetime,
        clock: BatchClock,
    ) -> None:
        started = perf_counter_ns()
        events = self._intake.decode(message, received_at=now)
        decoded = perf_counter_ns()
        for event in events:
            self.state, actions = self.engine.evaluate(self.state, event, now=now)
            batch.events.append(AcceptedEvent(event, message.topic, message.mid, digest))
            batch.actions.extend(actions)
            log.debug("event %s %s", event.device_id, event.type)
        clock.decoded(message.received_ns, started, decoded)

    async def reload_devices(self) -> None:
        """Re-read the registry (a device was paired, renamed or removed) and use it at once."""
        devices = await self._store.devices()
        self._intake.reload(devices)
        self.engine = engine_for(self.engine.config, devices)
        log.info("device registry reloaded: %d device(s)", len(devices))

    async def _commit(
        self,
        batch: Batch,
        *,
        at: datetime,
        messages: Sequence[InboundMessage] = (),
        flush: bool = True,
    ) -> tuple[list[OutboxEntry], list[InboundMessage]]:
        """Commit through the backlog, with every open incident whose timers moved meanwhile.

        A ladder step or a shifted timer changes an incident's `steps_sent` and `due_at` without
        a change of state; the store keeps them too, so a restart resumes the ladder on time.
        """
        batch.notes, self._notes = self._notes, []
        batch.incidents = [
            incident
            for slot, incident in self.state.open.items()
            if self._written_open.get(slot) is not incident
        ]
        written = await self._backlog.commit(batch, at=at, messages=messages, flush=flush)
        self._written_open = self.state.open
        return written

    @property
    def backlog(self) -> Backlog:
        """The store as the pipeline writes to it; holds writes in memory while the disk refuses."""
        return self._backlog

    async def catch_up(self) -> None:
        """Write what was held while the disk refused, then acknowledge its messages.

        Raises:
            StoreWriteError: the disk still refuses.
        """
        for message in await self._backlog.catch_up():
            self._ack(message)


def _never(_topic: str) -> bool:
    return False


def _never_busy() -> bool:
    return False


def _always() -> bool:
    """Hold an incident's further people, released as `_consume` says."""
    return True


def _digest(message: InboundMessage) -> bytes:
    return hashlib.blake2b(
        message.topic.encode() + b"\0" + message.payload, digest_size=16
    ).digest()
