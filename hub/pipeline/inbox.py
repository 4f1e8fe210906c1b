"""The hub's inbox: messages waiting for the event path, bounded by back-pressure on the broker.

Nothing put into the inbox is ever dropped, and nothing is acknowledged before it is committed.
Instead, once `high_water` messages wait, the inbox asks its producer (the MQTT session) to stop
reading from the broker's socket; it asks it to read again once no more than `low_water` wait.
While reading is paused the broker keeps the rest: TCP flow control stops it sending, and
unacknowledged QoS 1 messages stay in the hub's persistent session on the broker. Memory in the
hub stays bounded whatever the rate devices publish at, QoS 0 floods included.

The price: while reading is paused, the broker's acknowledgements of the hub's own QoS 1
publications wait behind the backlog as well, so paho holds those publications meanwhile.

Reading also stops while an alarm is being committed and sent (`holding`): the commit runs on
the store's thread, and a burst being read on the event loop would keep the interpreter from it,
and the loop from the alarm's requests, for milliseconds at a time.
"""

import asyncio
import contextlib
import logging
from collections import deque
from collections.abc import Callable, Iterator

from wire.schema import InboundMessage

log = logging.getLogger("telecare.hub")
HIGH_WATER = 512
LOW_WATER = 128

Item = InboundMessage | None


class Inbox(asyncio.Queue[Item]):
    """A FIFO queue of inbound messages that pauses its producer when too many wait.

    `None` is the end-of-input marker the event path stops at.

    Args:
        high_water: Pause the producer once this many messages wait.
        low_water: Resume it once no more than this many wait.
        urgent: Which topics are alarms': putting one wakes `waking_on_alarm`'s waiters.
    """

    def __init__(
        self,
        *,
        high_water: int = HIGH_WATER,
        low_water: int = LOW_WATER,
        urgent: Callable[[str], bool] | None = None,
    ) -> None:
        if not 0 <= low_water < high_water:
            raise ValueError(f"need 0 <= low_water < high_water, got {low_water}, {high_water}")
        super().__init__()
        self.high_water = high_water
        self.low_water = low_water
        self.peak = 0
        self.pauses = 0
        self._paused = False
        self._held = False
        self._pause: Callable[[], None] = lambda: None
        self._resume: Callable[[], None] = lambda: None
        self._unread: Callable[[], bool] = lambda: False
        self._urgent = urgent
        self._alarms = 0  # alarms' messages in the queue now
        self._alarm_waiters: list[asyncio.Future[None]] = []

    def _init(self, maxsize: int) -> None:
        self._queue: deque[Item] = deque()  # as asyncio.Queue keeps it; named for `take_alarms`

    def throttle(
        self,
        *,
        pause: Callable[[], None],
        resume: Callable[[], None],
        unread: Callable[[], bool] | None = None,
    ) -> None:
        """Name how to stop and restart the producer (the MQTT session's socket reads).

        `unread` says whether the producer has received messages it has not read yet.
        """
        self._pause, self._resume = pause, resume
        if unread is not None:
            self._unread = unread

    def more_coming(self) -> bool:
        """Whether the producer holds messages not yet put here (a burst still being read)."""
        return self._unread()

    @property
    def paused(self) -> bool:
        """Whether the producer is paused now (because too many messages wait)."""
        return self._paused

    @contextlib.contextmanager
    def holding(self) -> Iterator[None]:
        """Keep the producer paused meanwhile, whatever the number of messages waiting."""
        if self._held:
            yield
            return
        self._held = True
        if not self._paused:
            self._pause()
        try:
            yield
        finally:
            self._held = False
            if not self._paused:
                self._resume()

    def _put(self, item: Item) -> None:
        super()._put(item)
        if item is not None and self._urgent is not None and self._urgent(item.topic):
            self._alarms += 1
            waiters, self._alarm_waiters = self._alarm_waiters, []
            for woken in waiters:
                if not woken.done():
                    woken.set_result(None)
        depth = self.qsize()
        self.peak = max(self.peak, depth)
        if not self._paused and depth >= self.high_water:
            self._paused = True
            self.pauses += 1
            if self.pauses == 1:
                log.info("inbox holds %d messages: the broker keeps the rest for now", depth)
            if not self._held:
                self._pause()

    @contextlib.contextmanager
    def waking_on_alarm(self, woken: asyncio.Future[None]) -> Iterator[None]:
        """Meanwhile, resolve `woken` when the next alarm's message is put.

        Its waiter runs in the next turn of the loop (waiting on an event takes more turns).
        A wait that ends otherwise leaves nothing behind: the hub waits so after every batch
        of telemetry, and a quiet home may see no alarm for months.
        """
        self._alarm_waiters.append(woken)
        try:
            yield
        finally:
            with contextlib.suppress(ValueError):  # gone if an alarm woke it
                self._alarm_waiters.remove(woken)

    def take_alarms(self) -> list[InboundMessage]:
        """Take the alarms' messages out of the queue, oldest first, leaving everything else.

        Every message of an alarm device is an alarm's, so each device's messages keep their
        order. Nothing after the end-of-input marker is taken.
        """
        if not self._alarms or self._urgent is None:
            return []
        taken: list[InboundMessage] = []
        kept: deque[Item] = deque()
        ended = False
        for item in self._queue:
            ended = ended or item is None
            if not ended and item is not None and self._urgent(item.topic):
                taken.append(item)
            else:
                kept.append(item)
        self._queue = kept
        self._alarms -= len(taken)
        self._resume_if_low()
        return taken

    def _get(self) -> Item:
        item = super()._get()
        if item is not None and self._urgent is not None and self._urgent(item.topic):
            self._alarms -= 1
        self._resume_if_low()
        return item

    def _resume_if_low(self) -> None:
        if self._paused and self.qsize() <= self.low_water:
            self._paused = False
            if not self._held:
                self._resume()
