"""The console's feed: what changed between two reads, fan-out, slow listeners, shutdown."""

from centre.console.feed import MAX_PENDING, Change, Feed, Snapshot, changes


def _snap(queue: tuple[int, ...] = (), homes: dict[str, int] | None = None, audit: int = 0):
    return Snapshot(queue, frozenset({"a"} if queue else ()), dict(homes or {}), audit)


def test_a_queue_change_tells_the_queue_and_the_homes_in_it() -> None:
    found = changes(_snap(homes={"a": 1, "b": 1}), _snap((1,), {"a": 1, "b": 1}))
    assert found == [Change("queue"), Change("home", "a")]


def test_a_home_or_audit_change_alone_names_only_that() -> None:
    before = _snap(homes={"a": 1, "b": 1})
    assert changes(before, _snap(homes={"a": 1, "b": 2})) == [Change("home", "b")]
    assert changes(before, _snap(homes={"a": 1, "b": 1}, audit=3)) == [Change("audit")]
    assert changes(before, before) == []


async def test_every_listener_hears_each_change_and_a_slow_one_is_told_to_resync() -> None:
    reads = iter([_snap(), _snap((1,)), *([_snap((1,), audit=n) for n in range(1, 500)])])

    async def read() -> Snapshot:
        return next(reads, _snap((1,), audit=999))

    feed = Feed(read, poll_s=0.01)
    async with feed.listen() as fast, feed.listen() as slow, feed:
        assert [await anext(fast) for _ in range(2)] == [Change("queue"), Change("home", "a")]
        for _ in range(MAX_PENDING + 5):  # the slow listener reads none of these
            assert (await anext(fast)).topic == "audit"
        feed.close()
        got = [change async for change in slow]
    assert Change("resync") in got
    assert len(got) < MAX_PENDING


async def test_listening_after_close_ends_at_once() -> None:
    async def read() -> Snapshot:
        return _snap()

    feed = Feed(read, poll_s=1)
    feed.close()
    async with feed.listen() as late:
        assert [change async for change in late] == []
