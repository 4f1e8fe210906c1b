"""What the store could not write, held in memory until the disk takes writes again.

A full, read-only or failing disk must not silence an alarm. While writes fail, each batch is
still evaluated and its notifications go out at once from memory (entries with negative ids);
the batch, and the outcome of every send, wait here in order. The messages of a held batch are
not acknowledged, so the broker keeps them (persistent session) and a crash loses nothing; each
send from memory is recorded on the broker too (`hub.store.sent`), so that a hub restarted
before the disk took its writes does not send again what the broker delivers again; so is the
send of an entry written before the disk failed, whose record waits here, so that the restarted
hub writes it on its entry, still pending on the card, instead of sending it again.
`catch_up` writes everything held, in order, once the disk takes writes; it then hands back the
messages that may now be acknowledged.

Memory stays bounded. The broker stops sending after a window of unacknowledged messages
(Mosquitto's `max_inflight_messages`: 1000 as the hub ships it, `[mqtt] broker_max_inflight`),
which would deafen the hub. So the hub leaves all but `UNACKED_HEADROOM` of that window
unacknowledged, and only beyond it acknowledges the oldest held messages, their events then
kept here alone (a crash of the hub before the disk takes writes again loses those; it is
logged once). Messages that changed no incident go first: one that opened, moved or closed an
alarm stays with the broker while any other can go, so that a restart (the repair a card that
turned read-only needs) has the broker deliver it again, and its incident, ladder and all, is
known again rather than lost. Beyond `EVENTS_MAX` held events the oldest ones are let go
(counted, logged once); the decisions and notifications of their batches are still written.
"""

import asyncio
import itertools
import logging
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from hub.store.deliveries import AwaitingStatus, Outcome
from hub.store.errors import StoreError, StoreWriteError
from hub.store.held import Held, beyond_window
from hub.store.rows import new_outbox_entry
from hub.store.sent import SentLedger
from hub.store.store import Batch, Store
from notifier.model import Delivery, OutboxEntry
from notifier.redelivery import Owed
from rules.incidents import Notify
from wire.schema import InboundMessage

log = logging.getLogger("telecare.store")
BROKER_WINDOW = 1000  # Mosquitto's max_inflight_messages in the shipped configuration
UNACKED_HEADROOM = 4  # of the broker's window, kept free so that it never stops sending
EVENTS_MAX = 10_000


@dataclass(slots=True)
class _Memory:
    """The in-memory outbox: entries sent before they were written, and their outcomes."""

    entries: dict[str, OutboxEntry] = field(default_factory=dict)
    real_ids: dict[int, int] = field(default_factory=dict)
    outcomes: list[Outcome] = field(default_factory=list)
    ids: "itertools.count[int]" = field(default_factory=lambda: itertools.count(-1, -1))


class Backlog:
    """The store as the hub writes to it: straight through, or held while the disk refuses."""

    def __init__(
        self, store: Store, *, broker_window: int = BROKER_WINDOW, sent: SentLedger | None = None
    ) -> None:
        """Hold writes for `store`.

        Args:
            store: The store.
            broker_window: The broker's `max_inflight_messages`.
            sent: Where the sends from memory are recorded, and known again after a restart.
        """
        self._store = store
        self._sent = sent or SentLedger(now=datetime.now(UTC))
        self._unacked_max = max(1, broker_window - UNACKED_HEADROOM)
        self._held: deque[Held] = deque()
        self._memory = _Memory()
        self._lock = asyncio.Lock()
        self._failing = asyncio.Event()
        self._events = 0
        self._replies: set[str] = set()
        self._queued: list[tuple[Outcome, asyncio.Future[None]]] = []
        self._writers: set[asyncio.Task[None]] = set()
        self._deferred: list[Callable[[], Awaitable[None]]] = []
        self.dropped_events = 0
        self._acked_unstored = 0  # in this fault: acknowledged while held in memory only

    @property
    def failing(self) -> bool:
        """Whether writes are being held in memory now."""
        return self._failing.is_set()

    @property
    def held_events(self) -> int:
        """How many events wait in memory to be written."""
        return self._events

    async def wait_failing(self) -> None:
        """Return once a write has been refused."""
        await self._failing.wait()

    async def commit(
        self,
        batch: Batch,
        *,
        at: datetime,
        messages: Sequence[InboundMessage] = (),
        flush: bool = True,
    ) -> tuple[list[OutboxEntry], list[InboundMessage]]:
        """Write a batch, or hold it if the disk refuses (or earlier batches still wait).

        With `flush` False the write is not synced here: the caller acknowledges the messages
        only after a later `Store.flush`.

        Returns:
            The outbox entries to send now (in memory if held), and the messages that may be
            acknowledged.
        """
        async with self._lock:
            self._sent.mark(batch, messages)
            if not self._held:
                try:
                    written = await self._store.commit(batch, at=at, flush=flush)
                except StoreWriteError as err:
                    self._refused("a write", err)
                else:
                    self._sent.written(batch)
                    return written, list(messages)
            self._sent.hold(batch)
            # Only the packet id is needed to acknowledge a message later: not its payload.
            waiting = [replace(m, payload=b"") for m in messages]
            self._held.append(Held(batch, at, waiting))
            self._events += len(batch.events)
            return await self._in_memory(batch, at), self._release_over_bounds()

    def defer(self, what: str, write: Callable[[], Awaitable[None]], err: StoreWriteError) -> None:
        """A write the disk refused outside the event path (at start): made first at catch-up."""
        self._refused(what, err)
        self._deferred.append(write)

    async def catch_up(self) -> list[InboundMessage]:
        """Write everything held, in order; returns the messages that may now be acknowledged.

        Raises:
            StoreWriteError: the disk still refuses; what is not written yet stays held.
        """
        async with self._lock:
            while self._deferred:
                await self._deferred[0]()
                self._deferred.pop(0)
            released: list[InboundMessage] = []
            while self._held:
                held = self._held[0]
                written = await self._store.commit(held.batch, at=held.at)
                self._held.popleft()
                self._events -= len(held.batch.events)
                released.extend(held.messages)
                self._link(written)
                self._sent.written(held.batch)
            await self._write_outcomes()
            self._sent.caught_up()
            log.warning("store takes writes again: everything held in memory is written")
            self._acked_unstored = 0
            self._failing.clear()
            return released

    async def _in_memory(self, batch: Batch, at: datetime) -> list[OutboxEntry]:
        """Outbox entries for a held batch's notifications, each key once, never re-sent."""
        notes = [a for a in batch.actions if isinstance(a, Notify) and a.key not in batch.sent]
        try:
            known = await self._store.notification_keys([n.key for n in notes])
        except StoreError as err:  # a repeat is better than silence
            log.error("%s: sending without checking what was sent before", err)
            known = set()
        entries: list[OutboxEntry] = []
        for note in notes:
            if note.key in known or note.key in self._memory.entries:
                continue
            entry = new_outbox_entry(note, next(self._memory.ids), at)
            self._memory.entries[note.key] = entry
            entries.append(entry)
        return entries

    def _release_over_bounds(self) -> list[InboundMessage]:
        """Acknowledge the oldest held messages beyond the window; let go of the oldest events."""
        released = beyond_window(self._held, self._unacked_max)
        if released and not self._acked_unstored:
            log.error(
                "over %d messages unacknowledged: acknowledging the oldest that changed no"
                " incident, held in memory only (a crash before the disk takes writes loses"
                " them)",
                self._unacked_max,
            )
        self._acked_unstored += len(released)
        for held in self._held:
            if self._events <= EVENTS_MAX:
                break
            if held.batch.events:
                if not self.dropped_events:
                    log.error("over %d events held in memory: letting go of the oldest", EVENTS_MAX)
                self.dropped_events += len(held.batch.events)
                self._events -= len(held.batch.events)
                held.batch.events.clear()
        return released

    def _link(self, written: Sequence[OutboxEntry]) -> None:
        """Entries now written that were sent from memory: remember their real ids."""
        for entry in written:
            sent = self._memory.entries.pop(entry.key, None)
            if sent is not None:
                self._memory.real_ids[sent.id] = entry.id

    async def _write_outcomes(self) -> None:
        """Write the outcomes held in memory, in order, with the ids their entries now have."""
        pending = self._memory.outcomes
        if pending:
            await self._store.record_outcomes([self._resolved(o) for o in pending])
            pending.clear()

    def _resolved(self, outcome: Outcome) -> Outcome:
        entry_id = self._memory.real_ids.get(outcome.entry_id, outcome.entry_id)
        entry = outcome.entry
        if entry is not None:
            entry = entry.model_copy(update={"id": entry_id})
        return replace(outcome, entry_id=entry_id, entry=entry)

    # -- the dispatcher's outbox -------------------------------------------------------------

    async def pending_notifications(self) -> list[OutboxEntry]:
        """Entries written but not yet handed to a channel.

        Those sent before a restart while the card refused writes (`SentLedger.sent_before`)
        are left out: their sends are written on them now (held, if the disk still refuses).
        """
        pending = await self._store.pending_notifications()
        outcomes = self._sent.sent_before(pending)
        if not outcomes:
            self._sent.settled()  # the ledger's records of entries no longer pending go
            return pending
        await self._write_sent_before(outcomes)
        sent = {outcome.entry_id for outcome in outcomes}
        return [entry for entry in pending if entry.id not in sent]

    async def _write_sent_before(self, outcomes: list[Outcome]) -> None:
        """Write sends made before the restart; the broker's record of them goes once synced.

        Held, if the disk refuses: written at catch-up, whose `caught_up` lets the record go.
        """
        async with self._lock:
            if self._held:
                self._memory.outcomes.extend(outcomes)
                return
            try:
                await self._store.record_outcomes(outcomes)
            except StoreWriteError as err:
                self._refused("the sends made before the restart", err)
                self._memory.outcomes.extend(outcomes)
                return
            try:
                await self._store.flush()  # records of sends alone are not synced
            except StoreWriteError as err:
                # Written (a crash of the process loses none of it): the record goes at catch-up.
                self._refused("a sync", err)
            else:
                self._sent.settled()

    async def owed_notifications(self) -> Owed:
        """The written outbox of the incidents with an alarm owed since its provider was down."""
        return await self._store.owed_notifications()

    async def mark_notification(self, entry_id: int, delivery: Delivery, *, at: datetime) -> None:
        """Record an outcome for an entry no send was started for (held if it cannot be)."""
        await self._record(Outcome(entry_id, None, None, delivery, at, at))

    async def record_delivery(
        self,
        entry: OutboxEntry,
        channel: str,
        delivery: Delivery,
        *,
        started: datetime,
        at: datetime,
    ) -> None:
        """Record one send and its outcome (held if it cannot be written yet)."""
        await self._record(Outcome(entry.id, entry, channel, delivery, started, at))

    async def add_notices(self, notes: Sequence[Notify], *, at: datetime) -> list[OutboxEntry]:
        """Add notifier-made entries (failover, notices); held in memory if the disk refuses."""
        entries, _ = await self.commit(Batch(actions=list(notes)), at=at)
        return entries

    async def _record(self, outcome: Outcome) -> None:
        """Write an outcome, together with those recorded meanwhile; held if it cannot be.

        Outcomes recorded while the store is busy (a commit, or the previous group) wait and
        are written together in one transaction: in a burst, hundreds of sends cost a few
        writes, and the event path's commits do not queue behind one write per send.
        """
        written = asyncio.get_running_loop().create_future()
        self._queued.append((outcome, written))
        if len(self._queued) == 1:  # the first to wait starts the group's writer
            writer = asyncio.create_task(self._write_queued(), name="outcome-writer")
            self._writers.add(writer)
            writer.add_done_callback(self._writers.discard)
        await written

    async def _write_queued(self) -> None:
        async with self._lock:
            group, self._queued = self._queued, []
            try:
                await self._write_group([outcome for outcome, _ in group])
            except Exception as err:  # each waiting recorder hears of it
                for _, written in group:
                    written.set_exception(err)
                return
            for _, written in group:
                written.set_result(None)

    async def _write_group(self, outcomes: list[Outcome]) -> None:
        """Write the outcomes of written entries; hold the rest (and all while writes fail)."""
        direct: list[Outcome] = []
        later: list[Outcome] = []
        for outcome in outcomes:
            written = self._memory.real_ids.get(outcome.entry_id, outcome.entry_id) > 0
            (direct if written else later).append(outcome)
            if not written and outcome.is_send:  # a restart before it is written must know it
                self._sent.sent(outcome)
        if direct and not self._held:
            try:
                await self._store.record_outcomes(direct)
            except StoreWriteError as err:
                self._refused("a delivery record", err)
            else:
                outcomes, direct = later, []
        for outcome in direct:  # held: the card has the entry as pending, a restart sends it
            if outcome.is_send:
                self._sent.sent(self._resolved(outcome))
        self._memory.outcomes.extend(outcomes)

    def _refused(self, what: str, err: StoreWriteError) -> None:
        if not self.failing:
            log.error("store refused %s (%s): holding writes in memory", what, err)
        self._failing.set()

    # -- the reply inbox and delivery tracking -----------------------------------------------

    async def notification(self, entry_id: int) -> OutboxEntry | None:
        """One outbox entry by id, including one sent from memory and not written yet."""
        written = self._memory.real_ids.get(entry_id, entry_id)
        if written > 0:
            return await self._store.notification(written)
        return next((e for e in self._memory.entries.values() if e.id == entry_id), None)

    async def claim_reply(self, sid: str, sender: str, *, received: datetime, at: datetime) -> bool:
        """Mark an inbound SMS as handled; in memory while the disk refuses.

        A reply claimed only in memory is acted on again after a restart: acknowledging twice
        changes nothing, and a reply lost would leave the ladder calling the next contact.
        """
        if sid in self._replies:
            return False
        try:
            return await self._store.claim_reply(sid, sender, received=received, at=at)
        except StoreWriteError as err:
            self._refused("a reply record", err)
            self._replies.add(sid)
            return True

    async def replies_since(self, now: datetime) -> datetime:
        """Where reading SMS replies resumes; from `now` while the disk refuses to record it."""
        try:
            return await self._store.replies_since(now)
        except StoreWriteError as err:
            self._refused("where SMS replies are read from", err)
            return now

    async def awaiting_status(
        self, channels: Sequence[str], *, since: datetime
    ) -> list[AwaitingStatus]:
        """Written entries sent on `channels` since `since` whose fate is not known yet."""
        return await self._store.awaiting_status(channels, since=since)

    async def record_status(
        self, entry_id: int, ref: str, delivery: Delivery, *, at: datetime
    ) -> None:
        """Record what the provider later reported about a send (held if it cannot be)."""
        await self._record(Outcome(entry_id, None, None, delivery, at, at, ref=ref))
