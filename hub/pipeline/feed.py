"""In-process broadcast of incident changes: the pipeline feeds it, dashboards listen.

Each listener has its own bounded queue, so a slow or stalled browser never holds back the
pipeline: when its queue is full the listener is told it missed changes and should re-read.
"""

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from rules.incidents import IncidentChanged

LISTENER_QUEUE = 64


class Missed:
    """Sent to a listener that fell behind: re-read the state instead of replaying changes."""


Item = IncidentChanged | Missed


class IncidentFeed:
    """Fan-out of `IncidentChanged` to any number of listeners; `close` ends them all."""

    def __init__(self) -> None:
        self._listeners: set[asyncio.Queue[Item | None]] = set()
        self._closed = False

    @property
    def listeners(self) -> int:
        """How many listeners are attached now."""
        return len(self._listeners)

    def publish(self, change: IncidentChanged) -> None:
        """Hand a change to every listener without waiting on any of them."""
        if self._closed:
            return
        for queue in self._listeners:
            if queue.qsize() >= LISTENER_QUEUE:
                _replace_with_missed(queue)
            queue.put_nowait(change)

    def close(self) -> None:
        """End every listener's stream (at shutdown); later listeners end at once."""
        if self._closed:
            return
        self._closed = True
        for queue in self._listeners:
            queue.put_nowait(None)  # publish always leaves room for this

    @asynccontextmanager
    async def listen(self) -> AsyncIterator[AsyncIterator[Item]]:
        """Attach a listener for the duration of the block; iterate it for changes."""
        queue: asyncio.Queue[Item | None] = asyncio.Queue(maxsize=LISTENER_QUEUE + 1)
        if self._closed:
            queue.put_nowait(None)
        self._listeners.add(queue)
        try:
            yield _drain(queue)
        finally:
            self._listeners.discard(queue)


async def _drain(queue: asyncio.Queue[Item | None]) -> AsyncIterator[Item]:
    while (item := await queue.get()) is not None:
        yield item


def _replace_with_missed(queue: asyncio.Queue[Item | None]) -> None:
    while not queue.empty():
        queue.get_nowait()
    queue.put_nowait(Missed())
