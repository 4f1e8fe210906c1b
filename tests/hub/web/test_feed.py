"""The in-process incident feed: fan-out, slow listeners, shutdown."""

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime

from hub.pipeline.feed import LISTENER_QUEUE, IncidentFeed, Item, Missed
from rules.incidents import Incident, IncidentChanged

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


def _change(number: int) -> IncidentChanged:
    incident = Incident(
        id=f"help_call-{number}",
        cause="help_call",
        severity="emergency",
        state="firing",
        device_id="pendant-1",
        opened_at=NOW,
        text="help",
    )
    return IncidentChanged(incident=incident, previous="pending", reason="test", at=NOW)


async def test_every_listener_gets_every_change_and_close_ends_them() -> None:
    feed = IncidentFeed()
    async with feed.listen() as first, feed.listen() as second:
        assert feed.listeners == 2
        feed.publish(_change(1))
        feed.publish(_change(2))
        feed.close()
        got_first = [item async for item in first]
        got_second = [item async for item in second]
    assert got_first == got_second == [_change(1), _change(2)]
    assert feed.listeners == 0


async def test_a_listener_that_falls_behind_is_told_to_resync_not_blocked() -> None:
    feed = IncidentFeed()
    async with feed.listen() as slow:
        for number in range(LISTENER_QUEUE + 5):
            feed.publish(_change(number))  # never waits, however slow the listener
        feed.publish(_change(999))
        feed.close()
        got = [item async for item in slow]
    assert isinstance(got[0], Missed)
    assert got[-1] == _change(999)
    assert len(got) < LISTENER_QUEUE


async def test_listening_after_close_ends_at_once() -> None:
    feed = IncidentFeed()
    feed.close()
    async with feed.listen() as late:
        got = await asyncio.wait_for(_all(late), 5)
    assert got == []


async def _all(items: AsyncIterator[Item]) -> list[Item]:
    return [item async for item in items]


async def test_changes_after_close_are_not_queued() -> None:
    feed = IncidentFeed()
    async with feed.listen() as listener:
        feed.close()
        for number in range(LISTENER_QUEUE * 2):
            feed.publish(_change(number))
        feed.close()
        got = await asyncio.wait_for(_all(listener), 5)
    assert got == []
