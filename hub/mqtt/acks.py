"""Acknowledging committed messages to the broker once they are on disk, off the event path.

The event path commits a batch, hands its alarms to the notifier and moves on to the next
batch; the acknowledgements wait here for the store's flush. One flush covers every batch
committed before it, so under load many batches share one sync of the disk.
"""

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from types import TracebackType
from typing import Self

from hub.store.errors import StoreWriteError
from wire.schema import InboundMessage

log = logging.getLogger("telecare.store")
Ack = Callable[[InboundMessage], None]
RETRY_S = 1.0  # a disk that refused a sync is asked again after this long


class BrokerAcks:
    """A task that flushes the store and then acknowledges what was committed before it."""

    def __init__(self, flush: Callable[[], Awaitable[None]], ack: Ack) -> None:
        self._flush = flush
        self._ack = ack
        self._pending: list[InboundMessage] = []
        self._wake = asyncio.Event()
        self._closing = False
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Self:
        self._task = asyncio.create_task(self._run(), name="broker-acks")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        assert self._task is not None
        if exc is not None:  # unflushed messages stay unacknowledged: the broker resends them
            self._task.cancel()
        self._closing = True
        self._wake.set()
        await asyncio.gather(self._task, return_exceptions=exc is not None)

    def after_flush(self, messages: Sequence[InboundMessage]) -> None:
        """Acknowledge `messages` (already committed) once the store has them on disk."""
        self._pending.extend(messages)
        self._wake.set()

    async def _run(self) -> None:
        while True:
            await self._wake.wait()
            self._wake.clear()
            taken, self._pending = self._pending, []
            if taken and not await self._flushed(taken):
                if self._closing:
                    return  # unsynced messages stay unacknowledged: the broker resends them
                continue
            for message in taken:
                self._ack(message)
            if self._closing and not self._pending:
                return

    async def _flushed(self, taken: list[InboundMessage]) -> bool:
        """Sync the store; if the disk refuses, keep `taken` waiting and try again shortly."""
        try:
            await self._flush()
        except StoreWriteError as err:
            log.error(
                "store refused to sync (%s): %d message(s) wait unacknowledged", err, len(taken)
            )
            self._pending[:0] = taken
            await asyncio.sleep(RETRY_S)
            self._wake.set()
            return False
        return True
