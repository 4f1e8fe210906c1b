"""Changes pushed to open console pages: the queue, a home, the audit.

Workers in other processes write the database, so the console watches it: one task per console
reads the queue and a few stamps every `poll_s` (a small query; nothing is asked of the writers)
and tells each open page's stream what changed. A page re-reads its own fragment then.
"""

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from dataclasses import dataclass
from types import TracebackType
from typing import Literal, Self

log = logging.getLogger("telecare.centre.console")
MAX_PENDING = 64

Topic = Literal["queue", "home", "audit", "resync"]


@dataclass(frozen=True, slots=True)
class Change:
    """Something a page may show changed (`home` names which home; `resync`: re-read all)."""

    topic: Topic
    home_id: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """What the feed compares between polls."""

    queue: Hashable
    queue_homes: frozenset[str]
    homes: dict[str, Hashable]
    audit: Hashable


def changes(old: Snapshot, new: Snapshot) -> list[Change]:
    """What differs between two snapshots, as the changes pages listen for."""
    found: list[Change] = []
    if old.queue != new.queue:
        found.append(Change("queue"))
        found += [Change("home", home) for home in sorted(old.queue_homes | new.queue_homes)]
    found += [
        Change("home", home)
        for home in sorted(new.homes)
        if old.homes.get(home) != new.homes[home] and Change("home", home) not in found
    ]
    if old.audit != new.audit:
        found.append(Change("audit"))
    return found


class Feed:
    """Polls the database while the block runs, and fans changes out to listeners."""

    def __init__(self, read: Callable[[], Awaitable[Snapshot]], poll_s: float) -> None:
        self._read = read
        self._poll_s = poll_s
        self._listeners: set[asyncio.Queue[Change | None]] = set()
        self._poke = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closed = False

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._watch(), name="console-feed")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def poke(self) -> None:
        """Poll now (this console just changed something), not at the next tick."""
        self._poke.set()

    def close(self) -> None:
        """End every listener's stream, and those opened later (the server is stopping)."""
        self._closed = True
        for listener in self._listeners:
            while listener.full():
                listener.get_nowait()
            listener.put_nowait(None)
        self._listeners.clear()

    @contextlib.asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[Change]]:
        """Changes from now on, until the feed closes or the block ends."""
        queue: asyncio.Queue[Change | None] = asyncio.Queue(MAX_PENDING)
        if self._closed:
            queue.put_nowait(None)
        else:
            self._listeners.add(queue)

        async def stream() -> AsyncIterator[Change]:
            while (change := await queue.get()) is not None:
                yield change

        try:
            yield stream()
        finally:
            self._listeners.discard(queue)

    def _tell(self, found: list[Change]) -> None:
        for listener in list(self._listeners):
            if listener.qsize() + len(found) >= MAX_PENDING:
                # A page that does not read its stream gets one "re-read all" instead of a pile.
                while not listener.empty():
                    listener.get_nowait()
                listener.put_nowait(Change("resync"))
                continue
            for change in found:
                listener.put_nowait(change)

    async def _watch(self) -> None:
        last: Snapshot | None = None
        reachable = True
        while True:
            try:
                snapshot = await self._read()
            except (OSError, ConnectionError) as err:
                if reachable:
                    log.warning("console cannot read the database: %s", err)
                reachable = False
            else:
                if not reachable:
                    log.info("console reads the database again")
                    self._tell([Change("resync")])
                reachable = True
                if last is not None:
                    self._tell(changes(last, snapshot))
                last = snapshot
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._poll_s):
                    await self._poke.wait()
            self._poke.clear()
