"""The inbox holds everything put into it, in order, and throttles its producer at high water."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hub.inbox import Inbox
from hub.wire import InboundMessage


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


def test_an_alarms_message_is_signalled_as_it_is_put() -> None:
    inbox = Inbox(urgent=lambda topic: topic == message(7).topic)
    inbox.put_nowait(message(1))
    assert not inbox.alarm_arrived.is_set(), "telemetry is not an alarm"
    inbox.put_nowait(message(7))
    assert inbox.alarm_arrived.is_set()
    inbox.put_nowait(None)  # the end-of-input marker has no topic
