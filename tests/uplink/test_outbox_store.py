"""The uplink outbox in the hub's store: filled with each incident change in its own transaction,
numbered without reuse, one unsent heartbeat at most, and nothing at all without a centre.
"""

from datetime import UTC, datetime
from pathlib import Path

from hub.store.store import Batch, Store
from rules.incidents import Incident, IncidentChanged


def _change(state: str, at: datetime, steps_sent: int = 0) -> IncidentChanged:
    incident = Incident(
        id="help_call-1",
        cause="help_call",
        severity="emergency",
        state=state,  # type: ignore[arg-type]
        device_id="pendant-1",
        opened_at=at,
        text="Mum pressed the pendant and needs help.",
        steps_sent=steps_sent,
    )
    return IncidentChanged(incident=incident, previous=None, reason=f"now {state}", at=at)


async def test_nothing_is_kept_without_a_centre(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with Store.open(tmp_path / "hub.db") as store:
        await store.commit(Batch(actions=[_change("firing", now)]), at=now)
        assert await store.uplink_pending(limit=10) == []
        assert not await store.unlink_uplink()


async def test_changes_are_numbered_in_order_and_numbers_never_reused(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with Store.open(tmp_path / "hub.db") as store:
        await store.link_uplink("home-1", {"emergency": 2}, at=now)
        await store.commit(Batch(actions=[_change("pending", now)]), at=now)
        await store.commit(Batch(actions=[_change("firing", now)]), at=now)
        rows = await store.uplink_pending(limit=10)
        assert [(r.seq, r.kind) for r in rows] == [(1, "incident"), (2, "incident")]
        assert await store.unlink_uplink()  # [centre] removed: nothing kept, nothing sent late
        assert await store.uplink_pending(limit=10) == []
        await store.commit(Batch(actions=[_change("firing", now)]), at=now)
        assert await store.uplink_pending(limit=10) == []
        await store.link_uplink("home-1", {"emergency": 2}, at=now)
        await store.commit(Batch(actions=[_change("resolved", now)]), at=now)
        [row] = await store.uplink_pending(limit=10)
    assert row.seq == 3  # after every number used before


async def test_the_ladder_running_out_is_reported_once(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with Store.open(tmp_path / "hub.db") as store:
        await store.link_uplink("home-1", {"emergency": 2}, at=now)
        firing = _change("firing", now)
        await store.commit(Batch(actions=[firing]), at=now)
        for steps in (1, 2, 2):
            timers = firing.incident.model_copy(update={"steps_sent": steps})
            await store.commit(Batch(incidents=[timers], actions=[]), at=now)
        rows = await store.uplink_pending(limit=10)
    assert ['"family_exhausted":true' in r.body for r in rows] == [False, True]


async def test_only_the_newest_unsent_heartbeat_is_kept(tmp_path: Path) -> None:
    now = datetime.now(UTC)
    async with Store.open(tmp_path / "hub.db") as store:
        await store.link_uplink("home-1", {}, at=now)
        first = await store.add_uplink_heartbeat('{"kind": "heartbeat"}', at=now)
        await store.confirm_uplink(first, at=now)
        for _ in range(3):
            newest = await store.add_uplink_heartbeat('{"kind": "heartbeat"}', at=now)
        rows = await store.uplink_pending(limit=10)
        assert await store.uplink_confirmed() == first
    assert [r.seq for r in rows] == [newest]
    assert newest == first + 3
