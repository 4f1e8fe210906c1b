"""Carries committed outbox entries to their channels; each severity on a lane of its own.

Entries are committed to the store by the hub before they reach the dispatcher, so a crash at
any point leaves them pending, and the next start sends them. A crash between a request and
the record of its outcome leaves the entry pending too: at the next start, a channel that can
look up what it sent (Twilio, ntfy) is asked about every pending entry before it is sent again,
so the carer never gets the same step twice. Nothing is written between the decision and the
request: an alarm does not wait on the disk.

Each severity has its own queue, worker and concurrency: an alarm never waits behind another
notification's retries or a slow provider, and urgent notices never wait behind information.

An incident's further people (Bob's SMS after Alice's push) may be held (`hold_second_channels`;
the hub holds them always): every alarm's first person is told before the hub spends its time
on second ones. News for a person already told is not held. Held entries are released once the
hub has nothing waiting and every first request queued meanwhile has been answered, and after
`SECOND_HOLD_S` at the latest: in a quiet home, Bob's request starts once Alice's provider has
answered hers.

Transient failures are retried with jittered backoff; permanent ones fail over to the contact's
next channel with a "delivery failing" notice; once no phone path of the contact is left, the
hub hears of it (`unreached`) and moves the ladder on. An alarm that failed because its provider
did not answer is owed to its contact, and sent once the provider is back (`notifier.redelivery`).
"""

import asyncio
import contextlib
import itertools
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from functools import partial
from time import perf_counter_ns
from types import TracebackType
from typing import Self

from notifier.budget import Budgets
from notifier.failover import Failover
from notifier.model import SEVERITY_RANK, Delivery, OutboxEntry, TransientError, is_alarm
from notifier.ports import Channel, OutboxStore, Reconciling
from notifier.redelivery import RESEND_EVERY_S, Redelivery
from notifier.retrying import RetryPolicy, with_retries
from rules.policy import Severity

log = logging.getLogger("telecare.notify")
CONCURRENCY: dict[Severity, int] = {"emergency": 16, "urgent": 8, "info": 4}
Unreached = Callable[[OutboxEntry, Delivery], Awaitable[object]]
"""The alarm `entry` failed on the last phone path of its contact (only the outbox is left)."""
SECOND_HOLD_S = 1.0  # longest an incident's second channel waits for the hub to catch up


class _Lane:
    """A queue and its workers, as many as the lane may send at once."""

    def __init__(self, name: str, concurrency: int) -> None:
        self.name = name
        self.concurrency = concurrency
        self.queue: asyncio.PriorityQueue[tuple[int, int, int, OutboxEntry]] = (
            asyncio.PriorityQueue()
        )
        self.workers: list[asyncio.Task[None]] = []


class Dispatcher:
    """Sends outbox entries through their channels, most severe first."""

    def __init__(
        self,
        store: OutboxStore,
        channels: Mapping[str, Channel],
        *,
        retry: RetryPolicy | None = None,
        failover: Failover | None = None,
        budgets: Budgets | None = None,
        resend_every_s: float = RESEND_EVERY_S,
        unreached: Unreached | None = None,
    ) -> None:
        self._store = store
        self._unreached = unreached
        self._channels = dict(channels)
        self._retry = retry or RetryPolicy()
        self._owed = Redelivery(
            store,
            partial(self._carry, again=True),
            providers={name: getattr(c, "provider", name) for name, c in channels.items()},
            every_s=resend_every_s,
        )
        self._failover = failover
        self._budgets = budgets
        self._lanes = {severity: _Lane(severity, n) for severity, n in CONCURRENCY.items()}
        self._order = itertools.count()
        self._seen: set[int] = set()
        self._resumed: set[int] = set()
        self._unanswered: set[int] = set()  # emergencies whose first request is not answered
        self._answer_waiters: list[asyncio.Future[None]] = []
        self._busy: Callable[[], bool] = lambda: False
        self._held: list[OutboxEntry] = []
        self._held_for: set[tuple[str, str]] = set()  # (incident, contact) of the held entries
        self._hold_s = SECOND_HOLD_S
        self._release_timer: asyncio.TimerHandle | None = None
        self._release_on_answer = False  # release the held entries once nothing is unanswered
        self._observe_wait: Callable[[int], None] | None = None
        self._queued_at: dict[int, int] = {}  # entry id -> when queued first (perf_counter_ns)

    async def __aenter__(self) -> Self:
        resumed = await self._store.pending_notifications()
        self._resumed = {entry.id for entry in resumed}
        if resumed:
            log.info("resuming %d notification(s) left pending", len(resumed))
        for lane in self._lanes.values():
            lane.workers = [
                asyncio.create_task(self._work(lane), name=f"notify-{lane.name}-{n}")
                for n in range(lane.concurrency)
            ]
        self.submit(resumed)
        await self._owed.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._release_timer is not None:
            self._release_timer.cancel()
        await self._owed.__aexit__(exc_type, exc, tb)
        tasks = [task for lane in self._lanes.values() for task in lane.workers]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    def submit(self, entries: Sequence[OutboxEntry]) -> None:
        """Queue committed entries for delivery (each id at most once in a run).

        In a lane, the first entry of each incident in `entries` goes ahead of the incident's
        other entries, and of those of every incident queued before: in a burst, each alarm's
        first request goes out before the second channels of earlier alarms. While the hub is
        busy (see `hold_second_channels`), entries to an incident's further people are held
        back, and so is anything for a person after an entry of hers that is held.
        """
        told: dict[str, set[str]] = {}  # incident -> contacts with an entry earlier on
        for entry in entries:
            if entry.id in self._seen:
                continue
            self._seen.add(entry.id)
            contacts = told.setdefault(entry.incident_id, set())
            later = bool(contacts)
            second_person = later and entry.contact not in contacts
            contacts.add(entry.contact)
            person = (entry.incident_id, entry.contact)
            if person in self._held_for or (second_person and self._busy()):
                self._hold(entry)  # what follows a held entry to its person waits behind it
            else:
                self._queue(entry, later=later)

    def hold_second_channels(
        self, busy: Callable[[], bool], *, limit_s: float = SECOND_HOLD_S
    ) -> None:
        """Hold an incident's further channels while `busy()` says the hub has more to decide.

        Call `release_when_answered` (or `release_held`) once it has not: nothing is held
        longer than `limit_s`.
        """
        self._busy = busy
        self._hold_s = limit_s

    def time_first_requests(self, observe: Callable[[int], None]) -> None:
        """Report how long each first entry of an incident in a `submit` waits for its send.

        `observe` is given the nanoseconds from its queueing to its channel's send beginning
        (the lane's queue and the loop's turns), once per entry: the `dispatch` stage of
        `hub.pipeline.stages`. Held and later entries are not timed.
        """
        self._observe_wait = observe

    def release_when_answered(self) -> None:
        """Release the held entries once every emergency request queued so far is answered.

        Called when the hub has nothing more to decide. The first people's requests may still
        be going out then (hundreds, after a burst): second ones sent alongside would only
        slow them. The hold's time limit still applies.
        """
        if self._unanswered and self._held:
            self._release_on_answer = True
        else:
            self.release_held()

    def release_held(self) -> None:
        """Queue every held entry now, in the order they were held."""
        self._release_on_answer = False
        if self._release_timer is not None:
            self._release_timer.cancel()
            self._release_timer = None
        held, self._held = self._held, []
        self._held_for.clear()
        for entry in held:
            self._queue(entry, later=True)

    def _hold(self, entry: OutboxEntry) -> None:
        self._held.append(entry)
        self._held_for.add((entry.incident_id, entry.contact))
        if self._release_timer is None:
            loop = asyncio.get_running_loop()
            self._release_timer = loop.call_later(self._hold_s, self.release_held)

    def _queue(self, entry: OutboxEntry, *, later: bool) -> None:
        if entry.severity == "emergency":
            self._unanswered.add(entry.id)
        if not later and self._observe_wait is not None:
            self._queued_at[entry.id] = perf_counter_ns()
        lane = self._lanes[entry.severity]
        order = next(self._order)
        lane.queue.put_nowait((SEVERITY_RANK[entry.severity], int(later), order, entry))

    async def emergencies_answered(
        self, limit_s: float, *, unless: asyncio.Future[None] | None = None
    ) -> None:
        """Wait (at most `limit_s`) until every emergency's first request has been answered.

        The hub's bulk work waits here, so that an alarm's request is not slowed by telemetry
        being decoded on the same event loop; a provider that hangs holds it back no longer
        than `limit_s`. Resolving `unless` (a new alarm has arrived) ends the wait at once.
        The wait is one future, woken by whichever comes first: the waiter resumes in the
        next turn of the loop (an event and a task per cause took three turns, each with a
        burst's reading in it).
        """
        if not self._unanswered:
            return
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = unless if unless is not None else loop.create_future()
        self._answer_waiters.append(woken)
        timer = loop.call_later(limit_s, _wake, woken)
        try:
            await woken
        finally:
            timer.cancel()
            with contextlib.suppress(ValueError):
                self._answer_waiters.remove(woken)

    def _first_answer(self, entry_id: int) -> None:
        self._unanswered.discard(entry_id)
        if not self._unanswered:
            waiters, self._answer_waiters = self._answer_waiters, []
            for woken in waiters:
                _wake(woken)
            if self._release_on_answer:
                self.release_held()

    async def drain(self) -> None:
        """Wait until everything submitted so far has been carried out (or failed over)."""
        self.release_held()
        for lane in self._lanes.values():
            await lane.queue.join()

    async def _work(self, lane: _Lane) -> None:
        """Carry out the lane's entries one at a time (a lane runs several of these)."""
        while True:
            *_, entry = await lane.queue.get()
            try:
                await self._carry(entry)
            except Exception:
                log.exception("notification %s could not be carried out", entry.key)
            finally:
                self._queued_at.pop(entry.id, None)  # refused, or found sent: never begun
                self._first_answer(entry.id)
                lane.queue.task_done()

    async def _carry(self, entry: OutboxEntry, *, again: bool = False) -> Delivery:
        """Send `entry` and fail it over if it fails; `again`: an owed alarm, tried once more."""
        channel = self._channels.get(entry.channel)
        refusal = None
        if channel is None:
            refusal = f"channel {entry.channel!r} is not configured"
        elif self._budgets is not None:
            refusal = await self._budgets.exhausted(entry, now=_now())
        if channel is None or refusal is not None:
            delivery = Delivery("failed", refusal)
            await self._store.mark_notification(entry.id, delivery, at=_now())
        elif not again and self._owed.is_down(channel.name):
            delivery = Delivery("failed", f"{channel.name} is not answering", unreachable=True)
            await self._store.mark_notification(entry.id, delivery, at=_now())
        else:
            delivery = await self._send(entry, channel, again=again)
        if delivery.state == "failed" and not again:  # an owed alarm has failed over already
            log.error("notification %s to %s failed: %s", entry.key, entry.contact, delivery.detail)
            await self.fail_over(entry, delivery)
        return delivery

    async def _send(self, entry: OutboxEntry, channel: Channel, *, again: bool) -> Delivery:
        if entry.id in self._resumed and isinstance(channel, Reconciling):
            self._resumed.discard(entry.id)
            found = await self._reconcile(entry, channel, entry.created_at)
            if found is not None:
                log.info("notification %s reached %s before the restart", entry.key, channel.name)
                await self._store.record_delivery(
                    entry, channel.name, found, started=entry.created_at, at=_now()
                )
                return found
        started = _now()
        if self._budgets is not None:
            self._budgets.spend(entry, at=started)
        try:
            attempt = self._attempt(entry, channel)
            retry = replace(self._retry, attempts=1) if again else self._retry
            delivery = await with_retries(retry, entry.severity, attempt)
        except TransientError as err:
            gave_up = "still not answering" if again else "gave up after retries"
            delivery = Delivery("failed", f"{gave_up}: {err.detail}", unreachable=True)
            if is_alarm(entry):
                self._owed.gave_up(channel.name)
        if delivery.state == "failed" and self._budgets is not None:
            self._budgets.refund(entry, at=started)
        await self._store.record_delivery(entry, channel.name, delivery, started=started, at=_now())
        return delivery

    def _attempt(self, entry: OutboxEntry, channel: Channel) -> Callable[[], Awaitable[Delivery]]:
        """One send of `entry`; the first one's answer is noted (see `emergencies_answered`).

        A retry is not made once the provider is known to be down (another send gave up on
        it): the entry fails over at once, rather than hold a worker for its whole budget.
        """
        tries = itertools.count()

        async def attempt() -> Delivery:
            queued = self._queued_at.pop(entry.id, None)
            if queued is not None and self._observe_wait is not None:
                self._observe_wait(perf_counter_ns() - queued)
            if next(tries) and self._owed.is_down(channel.name):
                raise TransientError(f"{channel.name} is not answering")
            try:
                return await channel.send(entry)
            finally:
                self._first_answer(entry.id)

        return attempt

    async def _reconcile(
        self, entry: OutboxEntry, channel: Reconciling, started: datetime
    ) -> Delivery | None:
        try:
            return await with_retries(
                self._retry, entry.severity, partial(channel.find, entry, since=started)
            )
        except TransientError as err:
            # Silence is worse than a repeat: if the provider cannot say, send again.
            log.warning("cannot tell whether %s was sent (%s); sending it", entry.key, err.detail)
            return None

    async def fail_over(self, entry: OutboxEntry, delivery: Delivery) -> None:
        """Move a failed entry to the contact's next channel and raise a notice, durably.

        If that leaves only the outbox, `unreached` is told, once per entry (the same failure
        reported twice, by a callback and a poll, adds nothing the second time).
        """
        if self._failover is None:
            return
        notes = self._failover.plan(entry, delivery, at=_now())
        added = await self._store.add_notices(notes, at=_now()) if notes else []
        self.submit(added)
        if added and self._unreached is not None and self._failover.unreached(entry):
            log.warning("%s could not be reached on any path for %s", entry.contact, entry.key)
            try:
                await self._unreached(entry, delivery)
            except Exception:  # the failover stands; delivery tracking must go on
                log.exception("the ladder could not be moved on after %s", entry.key)


def _now() -> datetime:
    return datetime.now(UTC)


def _wake(woken: asyncio.Future[None]) -> None:
    if not woken.done():
        woken.set_result(None)
