"""Carries committed outbox entries to their channels, emergencies first.

Entries are committed to the store by the hub before they reach the dispatcher, so a crash at
any point leaves them pending, and the next start sends them.
"""

import asyncio
import itertools
import logging
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Protocol, Self

from notifier.model import SEVERITY_RANK, Delivery, OutboxEntry

log = logging.getLogger("telecare.notify")


class Channel(Protocol):
    """A way of reaching a contact."""

    name: str

    async def send(self, entry: OutboxEntry) -> Delivery:
        """Deliver one entry; return what happened instead of raising for provider errors."""
        ...


class OutboxStore(Protocol):
    """The part of the store the dispatcher needs."""

    async def pending_notifications(self) -> list[OutboxEntry]:
        """Entries written but not yet handed to a channel."""
        ...

    async def mark_notification(self, entry_id: int, delivery: Delivery, *, at: datetime) -> None:
        """Record a channel's outcome for an entry."""
        ...


class Dispatcher:
    """Sends outbox entries through their channels, one worker, most severe first."""

    def __init__(self, store: OutboxStore, channels: Mapping[str, Channel]) -> None:
        self._store = store
        self._channels = dict(channels)
        self._queue: asyncio.PriorityQueue[tuple[int, int, OutboxEntry]] = asyncio.PriorityQueue()
        self._order = itertools.count()
        self._queued: set[int] = set()
        self._worker: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        resumed = await self._store.pending_notifications()
        if resumed:
            log.info("resuming %d notification(s) left pending", len(resumed))
        self.submit(resumed)
        self._worker = asyncio.create_task(self._work(), name="notify-dispatch")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._worker is not None:
            self._worker.cancel()
            await asyncio.gather(self._worker, return_exceptions=True)

    def submit(self, entries: Sequence[OutboxEntry]) -> None:
        """Queue committed entries for delivery (each id at most once)."""
        for entry in entries:
            if entry.id in self._queued:
                continue
            self._queued.add(entry.id)
            rank = SEVERITY_RANK[entry.severity]
            self._queue.put_nowait((rank, next(self._order), entry))

    async def drain(self) -> None:
        """Wait until everything queued so far has been handed to its channel."""
        await self._queue.join()

    async def _work(self) -> None:
        while True:
            _, _, entry = await self._queue.get()
            try:
                await self._deliver(entry)
            finally:
                self._queued.discard(entry.id)
                self._queue.task_done()

    async def _deliver(self, entry: OutboxEntry) -> None:
        channel = self._channels.get(entry.channel)
        if channel is None:
            delivery = Delivery("failed", f"channel {entry.channel!r} is not configured")
        else:
            delivery = await channel.send(entry)
        if delivery.state == "failed":
            log.error("notification %s to %s failed: %s", entry.key, entry.contact, delivery.detail)
        await self._store.mark_notification(entry.id, delivery, at=datetime.now(UTC))
