"""Messages received but not yet handled, taken in batches with alarms first.

Under a burst the hub reads from the broker faster than it decides, so messages wait here. A
pendant press, a pull-cord or a smoke alarm waiting behind a thousand temperature readings is
taken into the very next batch; every device's own messages keep their order.

At most `WINDOW` messages wait here: the rest stay in the bounded inbox, which holds the broker
back when it fills (hub/pipeline/inbox.py), so a flood never grows memory without bound.
"""

import asyncio
from collections import deque
from collections.abc import Callable, Sequence

from hub.pipeline.inbox import Inbox
from wire.schema import InboundMessage

WINDOW = 512  # messages taken from the inbox ahead of the pipeline, alarms sorted first among them


class Waiting:
    """What the inbox has delivered and the pipeline has not yet taken."""

    def __init__(self, is_priority: Callable[[str], bool]) -> None:
        self._is_priority = is_priority
        self._pending: deque[InboundMessage] = deque()
        self._priority = 0  # how many of the pending messages are priority ones
        self._closed = False

    async def next_batch(
        self, inbox: asyncio.Queue[InboundMessage | None], limit: int, *, backlog_limit: int = 0
    ) -> list[InboundMessage] | None:
        """Up to `limit` messages, priority ones first.

        When more than `limit` are waiting, up to `backlog_limit` (if larger) are taken: a
        backlog is worked off in fewer, larger commits.

        Returns:
            None once the inbox has said stop (a None) and everything before it was taken.
        """
        if not self._pending:
            if self._closed:
                return None
            first = await inbox.get()
            if first is None:
                self._closed = True
                return None
            self._add(first)
        self.absorb(inbox)
        return self._take(max(limit, min(backlog_limit, len(self._pending))))

    def absorb(self, inbox: asyncio.Queue[InboundMessage | None]) -> None:
        """Move what the inbox holds now in here, up to `WINDOW` messages waiting.

        Alarms' messages come in whatever the window holds: one behind a full window would
        otherwise wait for hundreds of others to be handled first.
        """
        while not self._closed and not inbox.empty() and len(self._pending) < WINDOW:
            item = inbox.get_nowait()
            if item is None:
                self._closed = True
            else:
                self._add(item)
        if not self._closed and isinstance(inbox, Inbox):
            for alarm in inbox.take_alarms():
                self._add(alarm)

    @property
    def pending(self) -> int:
        """How many messages wait here."""
        return len(self._pending)

    @property
    def has_priority(self) -> bool:
        """Whether an alarm is waiting."""
        return self._priority > 0

    def put_back(self, messages: Sequence[InboundMessage]) -> None:
        """Return messages taken but not handled, ahead of everything else but alarms."""
        for message in reversed(messages):
            self._pending.appendleft(message)
            if self._is_priority(message.topic):
                self._priority += 1

    def _add(self, message: InboundMessage) -> None:
        self._pending.append(message)
        if self._is_priority(message.topic):
            self._priority += 1

    def _take(self, limit: int) -> list[InboundMessage]:
        batch: list[InboundMessage] = []
        if self._priority:
            rest: deque[InboundMessage] = deque()
            for message in self._pending:
                if len(batch) < limit and self._is_priority(message.topic):
                    batch.append(message)
                else:
                    rest.append(message)
            self._priority -= len(batch)
            self._pending = rest
        while self._pending and len(batch) < limit:
            batch.append(self._pending.popleft())
        return batch
