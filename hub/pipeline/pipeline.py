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
from datetime import datetime, timedelta

from pydantic import ValidationError

from hub.mqtt.acks import BrokerAcks
from hub.pipeline.inbox import Inbox
from hub.pipeline.intake import Intake
from hub.pipeline.requests import Requests
from hub.pipeline.supervision import SignalWatch
from hub.pipeline.waiting import Waiting
from hub.service.clock import VirtualClock, WallClock
from hub.store.backlog import Backlog
from hub.store.records import IncidentNote
from hub.store.store import AcceptedEvent, Batch, Store
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
from rules.policy import DeviceInfo
from rules.timers import shift_relative_timers
from wire.control import CONTROL_TOPICS, OCCUPANCY_TOPIC, OccupancyPayload
from wire.devices import DeviceRecord
from wire.event import HUB_DEVICE_ID, DeviceEvent
from wire.schema import (
    CLOCK_DONE_TOPIC,
    CLOCK_TOPIC,
    HUB_CONTROL_TOPIC,
    ClockPayload,
    CommandPayload,
    HubControlPayload,
    InboundMessage,
    IncidentPayload,
    incident_topic,
)

log = logging.getLogger("telecare.hub")
MAX_BATCH = 64  # small enough that an alarm arriving meanwhile waits little
# Under a backlog a batch takes up to this many: fewer, larger commits. An alarm arriving
# meanwhile still goes first (the batch stops at its next turn of the loop, see YIELD_EVERY),
# but what was decoded before it is committed first: a commit of 256 events takes some 3.4 ms
# on the 2-core bench machine (64: 0.9 ms), and the cost per event hardly falls beyond that.
BACKLOG_BATCH = 256
YIELD_EVERY = 16  # messages decoded between two turns of the event loop
ALARM_HEADSTART_S = 0.25  # telemetry waits at most this long for an alarm's first request
MAX_TIMER_WAIT_S = 5.0
SPECIAL_TOPICS = CONTROL_TOPICS | {HUB_CONTROL_TOPIC}  # commands, answered apart from devices

Publish = Callable[[str, bytes, bool], None]
Ack = Callable[[InboundMessage], None]


class Pipeline(Requests):
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
    ) -> None:
        self.engine = engine
        self.state = state
        self._store = store
        self._backlog = backlog or Backlog(store)
        self._written_open = state.open  # the open incidents as the store last had them
        self._intake = intake
        self._dispatcher = dispatcher
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

        if self._virtual is None:  # in a burst, each alarm's first person is told first
            self._dispatcher.hold_second_channels(busy)
        try:
            while (
                batch := await waiting.next_batch(inbox, MAX_BATCH, backlog_limit=BACKLOG_BATCH)
            ) is not None:
                await self._handle_in_order(batch)
                if not busy():
                    self._dispatcher.release_when_answered()
        finally:
            self._waiting = None
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
        batch, before = Batch(), self.state
        reload = False
        for index, message in enumerate(messages, 1):
            if message.dup or message.topic in SPECIAL_TOPICS:
                reload = await self._take_special(batch, message, now) or reload
            else:  # the usual case, with no await
                self._decode_into(batch, message, _digest(message), now)
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
        if batch.events or batch.actions or batch.health or batch.unpaired or batch.commands:
            entries, acked = await self._commit(
                batch, at=now, messages=messages, flush=self._acks is None
            )
        await self._notify_first(batch.actions, entries)  # not waiting for the disk
        if self._acks is not None:
            self._acks.after_flush(acked)
        else:
            for message in acked:
                self._ack(message)
        if reload:
            await self.reload_devices()

    async def _take_special(self, batch: Batch, message: InboundMessage, now: datetime) -> bool:
        """A command, or a message the broker sent again; True if it asks for a reload."""
        if message.topic in CONTROL_TOPICS:
            batch.actions.extend(self._control(message, now))
        elif message.topic == HUB_CONTROL_TOPIC:
            return _asks_reload(message)
        elif await self._store.seen(message.mid, digest := _digest(message)):
            self.duplicates += 1  # its first delivery was stored
        else:
            self._decode_into(batch, message, digest, now)
        return False

    def _decode_into(
        self, batch: Batch, message: InboundMessage, digest: bytes, now: datetime
    ) -> None:
        for event in self._intake.decode(message, received_at=now):
            self.state, actions = self.engine.evaluate(self.state, event, now=now)
            batch.events.append(AcceptedEvent(event, message.topic, message.mid, digest))
            batch.actions.extend(actions)
            log.debug("event %s %s", event.device_id, event.type)

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

    async def _read_clock(self) -> datetime:
        """The hub's time; a step of the wall clock first moves the relative timers by it."""
        now = self._clock()
        step = None if self._wall is None else self._wall.step()
        if step is not None:
            await self._clock_stepped(step, now)
        return now

    async def _clock_stepped(self, step: timedelta, now: datetime) -> None:
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

    def announce_occupancy(self, at: datetime) -> None:
        """Publish (retained) who else is at home, as the engine holds it."""
        occupied_by = self.state.occupied_by
        payload = OccupancyPayload(home=occupied_by is not None, by=occupied_by, updated_at=at)
        self._publish(OCCUPANCY_TOPIC, payload.model_dump_json().encode(), True)

    async def _notify_first(
        self, actions: Sequence[Action], entries: Sequence[OutboxEntry]
    ) -> None:
        """Carry out a batch's decisions, the requests of its notifications written first.

        The rest (the incident's news on MQTT, the log, the live feed) follows in the next turn
        of the event loop, once the dispatcher's workers have written their requests.
        """
        self._carry_out(actions, entries, at_once=not entries)
        if entries:
            await asyncio.sleep(0)
            self._act_on_decided()

    def _carry_out(
        self, actions: Sequence[Action], entries: Sequence[OutboxEntry], *, at_once: bool = True
    ) -> None:
        """Hand the notifications to the dispatcher and act on the rest of what was decided.

        With `at_once` False, the rest waits for `_act_on_decided`; whoever calls that next
        acts on everything decided so far, in the order it was decided.
        """
        self._dispatcher.submit(entries)
        self._to_act_on.extend(actions)
        if at_once:
            self._act_on_decided()

    def _act_on_decided(self) -> None:
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

    def _reassure_if_acknowledged(self, change: IncidentChanged) -> None:
        """Someone is coming: the device that raised the alarm shows it (light, chime)."""
        incident = change.incident
        if incident.state == "acknowledged" and change.previous != "acknowledged":
            body = CommandPayload(command="reassure", incident_id=incident.id)
            self.send(incident.device_id, body)

    def _command(self, command: DeviceCommand) -> None:
        log.info("command %s to %s: %s", command.command, command.device_id, command.reason)
        payload = CommandPayload(command=command.command, incident_id=command.incident_id)
        self.send(command.device_id, payload)

    def send(self, device_id: str, payload: CommandPayload) -> str | None:
        """Publish a command in the form the device understands (Zigbee2MQTT: its `/set`).

        Returns:
            None once published, or why the device cannot be asked.
        """
        found = self._intake.routed(device_id, payload)
        if isinstance(found, str):
            return found
        self._publish(found[0], found[1], False)
        return None

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


def _never(_topic: str) -> bool:
    return False


def _never_busy() -> bool:
    return False


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


def _asks_reload(message: InboundMessage) -> bool:
    try:
        HubControlPayload.model_validate_json(message.payload[:1024])
    except ValidationError:
        log.warning("ignored a malformed message on %s", HUB_CONTROL_TOPIC)
        return False
    return True
