"""The waiting hands out alarms first and keeps every device's own order."""

import asyncio

from hub.pipeline.inbox import Inbox
from hub.pipeline.waiting import WINDOW, Waiting
from wire.schema import InboundMessage

ALARMS = frozenset({"telecare/v1/pendant-1/event"})


def _message(device: str, mid: int) -> InboundMessage:
    return InboundMessage(f"telecare/v1/{device}/event", b"{}", qos=1, mid=mid)


async def test_alarms_come_first_and_the_rest_in_order() -> None:
    inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
    for mid, device in enumerate(["motion-1", "motion-2", "pendant-1", "motion-1", "pendant-1"]):
        inbox.put_nowait(_message(device, mid))
    inbox.put_nowait(None)
    waiting = Waiting(ALARMS.__contains__)
    first = await waiting.next_batch(inbox, 3)
    second = await waiting.next_batch(inbox, 3)
    assert [m.mid for m in first or []] == [2, 4, 0]
    assert [m.mid for m in second or []] == [1, 3]
    assert await waiting.next_batch(inbox, 3) is None


async def test_messages_put_back_come_next_but_after_a_waiting_alarm() -> None:
    inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
    for mid in range(4):
        inbox.put_nowait(_message("motion-1", mid))
    waiting = Waiting(ALARMS.__contains__)
    taken = await waiting.next_batch(inbox, 4)
    assert taken is not None
    inbox.put_nowait(_message("pendant-1", 9))
    waiting.absorb(inbox)
    assert waiting.has_priority
    waiting.put_back(taken[2:])
    assert [m.mid for m in await waiting.next_batch(inbox, 4) or []] == [9, 2, 3]
    assert not waiting.has_priority


async def test_a_backlog_is_taken_in_larger_batches_alarms_first() -> None:
    inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
    for mid in range(10):
        inbox.put_nowait(_message("motion-1", mid))
    inbox.put_nowait(_message("pendant-1", 10))
    waiting = Waiting(ALARMS.__contains__)
    first = await waiting.next_batch(inbox, 2, backlog_limit=6)
    assert [m.mid for m in first or []] == [10, 0, 1, 2, 3, 4]
    second = await waiting.next_batch(inbox, 2, backlog_limit=6)
    assert [m.mid for m in second or []] == [5, 6, 7, 8, 9], "all that waits, when under the limit"
    inbox.put_nowait(_message("motion-1", 11))
    inbox.put_nowait(_message("motion-1", 12))
    inbox.put_nowait(_message("motion-1", 13))
    third = await waiting.next_batch(inbox, 2, backlog_limit=6)
    assert [m.mid for m in third or []] == [11, 12, 13]


async def test_a_flood_stays_in_the_bounded_inbox_beyond_the_window() -> None:
    inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
    for mid in range(WINDOW + 100):
        inbox.put_nowait(_message("motion-1", mid))
    waiting = Waiting(ALARMS.__contains__)
    batch = await waiting.next_batch(inbox, 10)
    assert [m.mid for m in batch or []] == list(range(10))
    assert inbox.qsize() == 100, "the window filled: the rest waits where the broker is held back"
    waiting.absorb(inbox)
    assert inbox.qsize() == 100 - 10, "taking a batch made room for as many"


async def test_an_alarm_behind_a_full_window_is_taken_at_once() -> None:
    inbox = Inbox(urgent=ALARMS.__contains__, high_water=10 * WINDOW, low_water=0)
    for mid in range(WINDOW + 100):
        inbox.put_nowait(_message("motion-1", mid))
    inbox.put_nowait(_message("pendant-1", 9000))
    inbox.put_nowait(_message("motion-2", 9001))
    inbox.put_nowait(_message("pendant-1", 9002))
    waiting = Waiting(ALARMS.__contains__)
    batch = await waiting.next_batch(inbox, 10)
    assert [m.mid for m in batch or []] == [9000, 9002, *range(8)], "the pendant's, in order"
    assert inbox.qsize() == 101, "the telemetry beyond the window stays in the inbox"
