"""The inbox holds everything put into it, in order, and throttles its producer at high water."""

import asyncio
import gc
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.pipeline.inbox import Inbox
from wire.schema import InboundMessage


def message(number: int) -> InboundMessage:
    return InboundMessage(topic=f"telecare/v1/d-{number}/event", payload=b"{}", qos=1, mid=number)


class Producer:
    """Stands for the MQTT session: notes each pause and resume."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pause(self) -> None:
        self.calls.append("pause")

    def resume(self) -> None:
        self.calls.append("resume")


def test_pauses_at_high_water_and_resumes_at_low_water() -> None:
    inbox, producer = Inbox(high_water=4, low_water=1), Producer()
    inbox.throttle(pause=producer.pause, resume=producer.resume)
    for number in range(3):
        inbox.put_nowait(message(number))
    assert producer.calls == []
    inbox.put_nowait(message(3))
    assert producer.calls == ["pause"]
    assert inbox.paused
    inbox.put_nowait(message(4))  # what the socket had already delivered is kept
    assert producer.calls == ["pause"]
    taken = [inbox.get_nowait() for _ in range(3)]
    assert producer.calls == ["pause"]
    taken.append(inbox.get_nowait())
    assert producer.calls == ["pause", "resume"]
    assert not inbox.paused
    taken.append(inbox.get_nowait())
    assert [m.mid for m in taken if m is not None] == [0, 1, 2, 3, 4]
    assert (inbox.peak, inbox.pauses) == (5, 1)


def test_watermarks_must_leave_room_between_them() -> None:
    with pytest.raises(ValueError, match="low_water < high_water"):
        Inbox(high_water=10, low_water=10)


@settings(max_examples=200, deadline=None)
@given(
    steps=st.lists(st.booleans(), max_size=300),
    high=st.integers(min_value=1, max_value=20),
    low_share=st.floats(min_value=0, max_value=0.99),
)
def test_nothing_is_dropped_or_reordered_and_pauses_alternate_with_resumes(
    steps: list[bool], high: int, low_share: float
) -> None:
    inbox, producer = Inbox(high_water=high, low_water=int(high * low_share)), Producer()
    inbox.throttle(pause=producer.pause, resume=producer.resume)
    sent = taken = 0
    for put in steps:
        if put and not inbox.paused:  # a paused producer sends nothing more
            inbox.put_nowait(message(sent))
            sent += 1
        elif not inbox.empty():
            item = inbox.get_nowait()
            assert item is not None
            assert item.mid == taken
            taken += 1
        assert inbox.qsize() <= high
        assert inbox.paused == (producer.calls[-1:] == ["pause"])
    assert producer.calls == ["pause", "resume"] * (len(producer.calls) // 2) + (
        ["pause"] if len(producer.calls) % 2 else []
    )
    assert taken + inbox.qsize() == sent


def test_alarms_are_taken_out_in_order_and_the_rest_stays() -> None:
    alarms = {message(2).topic, message(5).topic}
    inbox, producer = Inbox(urgent=alarms.__contains__, high_water=6, low_water=2), Producer()
    inbox.throttle(pause=producer.pause, resume=producer.resume)
    for number in range(7):
        inbox.put_nowait(message(number))
    assert producer.calls == ["pause"]
    assert [m.mid for m in inbox.take_alarms()] == [2, 5]
    assert producer.calls == ["pause"], "five still wait: above low water"
    inbox.put_nowait(None)
    inbox.put_nowait(message(2))  # after the end-of-input marker: stays where it is
    assert inbox.take_alarms() == []
    rest = [inbox.get_nowait() for _ in range(inbox.qsize())]
    assert [m.mid if m else None for m in rest] == [0, 1, 3, 4, 6, None, 2]
    assert producer.calls == ["pause", "resume"]


async def test_the_next_alarm_wakes_its_waiter() -> None:
    inbox = Inbox(urgent=lambda topic: topic == message(7).topic)
    woken: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    with inbox.waking_on_alarm(woken):
        inbox.put_nowait(message(1))
        assert not woken.done(), "telemetry is not an alarm"
        inbox.put_nowait(message(7))
        assert woken.done()
        inbox.put_nowait(None)  # the end-of-input marker has no topic


async def test_a_wait_that_ended_without_an_alarm_leaves_nothing_behind() -> None:
    # The hub waits so after every batch of telemetry; in a home with no alarm for months,
    # each ended wait kept would be memory never given back.
    inbox = Inbox(urgent=lambda topic: topic == message(7).topic)
    loop = asyncio.get_running_loop()
    kept: list[weakref.ref[asyncio.Future[None]]] = []
    for number in range(1000):
        woken: asyncio.Future[None] = loop.create_future()
        kept.append(weakref.ref(woken))
        with inbox.waking_on_alarm(woken):
            inbox.put_nowait(message(number % 5))
        del woken
    gc.collect()
    assert [ref for ref in kept if ref() is not None] == []
    later: asyncio.Future[None] = loop.create_future()
    with inbox.waking_on_alarm(later):
        inbox.put_nowait(message(7))
    assert later.done(), "a wait begun after them is still woken"


def test_holding_keeps_the_producer_paused_and_the_watermarks_still_count() -> None:
    inbox, producer = Inbox(high_water=3, low_water=1), Producer()
    inbox.throttle(pause=producer.pause, resume=producer.resume)
    with inbox.holding():
        assert producer.calls == ["pause"]
        for number in range(3):
            inbox.put_nowait(message(number))  # high water while held: no second pause
        inbox.get_nowait()
        inbox.get_nowait()  # low water while held: no resume yet
        assert producer.calls == ["pause"]
    assert producer.calls == ["pause", "resume"]
    for number in range(3, 5):
        inbox.put_nowait(message(number))
    assert inbox.paused
    with inbox.holding():
        pass
    assert producer.calls == ["pause", "resume", "pause"], "paused by the watermark: stays so"
