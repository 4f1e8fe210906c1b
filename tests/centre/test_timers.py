"""The timers on a real database: a silent hub's alarm and family message, and escalations."""

import asyncio
from collections import Counter
from datetime import UTC, datetime, timedelta

import asyncpg

from centre.bus import BusError, CentreBus, Newest
from centre.db import alarms
from centre.db.models import ContactRow
from centre.family import FamilyMessenger
from centre.servers.nats import NatsCluster
from centre.timers import Timers
from centre.worker import Worker
from notifier.settings import NtfySettings
from tests.centre.conftest import HubFactory, centre_connection
from tests.centre.support import count, ends_when_cancelled, running, until
from tests.support.standins import NtfyStandIn, serving

ALICE = ContactRow(home_id="home-a", name="Alice", ntfy_topic="alice-mum")


async def _written(pool: asyncpg.Pool, n: int) -> None:
    await until(
        lambda: count(pool, "SELECT (count(*) >= $1)::int FROM uplink_messages", n), f"{n} written"
    )


async def test_a_silent_hub_raises_one_alarm_tells_the_family_and_clears_when_heard(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    ntfy = NtfyStandIn()
    async with serving(ntfy) as url:
        family = FamilyMessenger(NtfySettings(server=url), None)
        timers = Timers(centre_pool, centre_bus, family, silent_after_s=180)
        hub = await make_hub("home-a", contacts=(ALICE,))
        async with running([Worker(centre_pool, centre_bus)]):
            first = await hub.heartbeat()
            await _written(centre_pool, 1)
            heard = first.body.at  # type: ignore[union-attr]
            assert (await timers.tick(heard + timedelta(seconds=170)))["silent"] == 0
            done = await timers.tick(heard + timedelta(seconds=181))
            assert (done["silent"], done["family_told"]) == (1, 1)
            assert (await timers.tick(heard + timedelta(seconds=240)))["silent"] == 0
            [message] = ntfy.on_topic("alice-mum")
            assert "has not been heard from" in message["message"]
            async with centre_pool.acquire() as conn:
                [alarm] = await alarms.queue(conn)
            assert (alarm.kind, alarm.hub_id) == ("hub_silent", "home-a")
            await hub.heartbeat()
            await _written(centre_pool, 2)
            done = await timers.tick(datetime.now(UTC))
        assert (done["back"], done["family_told"]) == (1, 1)
        assert "back in touch" in ntfy.on_topic("alice-mum")[-1]["message"]
        async with centre_pool.acquire() as conn:
            assert await alarms.queue(conn) == []
            assert await conn.fetchval("SELECT silent_since FROM hubs") is None


async def test_an_incident_the_family_does_not_take_reaches_the_queue_on_time(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    timers = Timers(centre_pool, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    hub = await make_hub("home-a", escalation={"emergency": 120})
    opened = datetime.now(UTC)
    async with running([Worker(centre_pool, centre_bus)]):
        await hub.incident("press-1", "firing", opened_at=opened)
        await hub.incident("press-2", "firing", opened_at=opened)
        await hub.incident("press-2", "acknowledged", opened_at=opened, accepted_by="Alice")
        await hub.incident("press-3", "firing", opened_at=opened, family_exhausted=True)
        await _written(centre_pool, 4)
        assert (await timers.tick(opened + timedelta(seconds=1)))["escalated"] == 1  # press-3
        assert (await timers.tick(opened + timedelta(seconds=119)))["escalated"] == 0
        assert (await timers.tick(opened + timedelta(seconds=120)))["escalated"] == 1  # press-1
        assert (await timers.tick(opened + timedelta(seconds=600)))["escalated"] == 0
        async with centre_pool.acquire() as conn:
            queued = {a.incident_id: a for a in await alarms.queue(conn)}
        assert set(queued) == {"press-1", "press-3"}
        # Resolved in the home after it reached the centre: the alarm shows it.
        await hub.incident("press-1", "resolved", opened_at=opened)
        await _written(centre_pool, 5)
    async with centre_pool.acquire() as conn:
        assert {a.incident_id for a in await alarms.queue(conn)} == {"press-3"}
        resolved = await alarms.alarm(conn, queued["press-1"].id)
    assert resolved is not None
    assert resolved.state == "resolved"


async def _one_dies_while_the_centre_is_down(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus, backlog: int
) -> datetime:
    """home-a and home-b heard and written; then, the workers down, only home-a goes on
    (`backlog` heartbeats left unwritten). When home-b was last heard."""
    alive = await make_hub("home-a")
    dead = await make_hub("home-b")
    async with running([Worker(centre_pool, centre_bus)]):
        await alive.heartbeat()
        last = await dead.heartbeat()
        await _written(centre_pool, 2)
    for _ in range(0, backlog, 100):
        await asyncio.gather(*(alive.heartbeat() for _ in range(100)))
    return last.body.at  # type: ignore[union-attr]


async def _silent_hubs(pool: asyncpg.Pool) -> dict[str, datetime]:
    async with pool.acquire() as conn:
        rows = await conn.fetch(
            "SELECT h.id, h.silent_since FROM alarms a JOIN hubs h ON h.id = a.hub_id"
            " WHERE a.kind = 'hub_silent'"
        )
    return {r["id"]: r["silent_since"] for r in rows}


async def test_a_hub_whose_heartbeats_wait_unwritten_is_not_silent_after_the_centre_was_down(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    timers = Timers(centre_pool, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    died = await _one_dies_while_the_centre_is_down(make_hub, centre_pool, centre_bus, 100)
    assert await centre_bus.backlog() == 100
    done = await timers.tick(died + timedelta(seconds=180))
    assert done["silent"] == 1
    assert await _silent_hubs(centre_pool) == {"home-b": died}


async def test_a_hub_that_died_is_raised_on_time_however_long_the_backlog(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    timers = Timers(centre_pool, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    died = await _one_dies_while_the_centre_is_down(make_hub, centre_pool, centre_bus, 2000)
    assert await timers.tick(died + timedelta(seconds=179)) == Counter()
    done = await timers.tick(died + timedelta(seconds=180))
    assert done["silent"] == 1
    assert await _silent_hubs(centre_pool) == {"home-b": died}
    async with running([Worker(centre_pool, centre_bus)]):  # the drain; home-a still heard
        await _written(centre_pool, 2002)
    assert (await timers.tick(died + timedelta(seconds=180)))["back"] == 0
    assert set(await _silent_hubs(centre_pool)) == {"home-b"}


async def test_a_silent_hub_heard_again_leaves_the_queue_before_the_backlog_is_written(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    timers = Timers(centre_pool, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    hub = await make_hub("home-a")
    async with running([Worker(centre_pool, centre_bus)]):
        first = await hub.heartbeat()
        await _written(centre_pool, 1)
    heard = first.body.at  # type: ignore[union-attr]
    assert (await timers.tick(heard + timedelta(seconds=180)))["silent"] == 1
    await hub.heartbeat()  # the workers are down: it waits in the stream
    assert (await timers.tick(heard + timedelta(seconds=180)))["back"] == 1
    async with centre_pool.acquire() as conn:
        assert await alarms.queue(conn) == []


async def test_escalations_go_on_while_the_cluster_cannot_say_what_it_holds(
    make_hub: HubFactory,
    centre_pool: asyncpg.Pool,
    centre_bus: CentreBus,
    nats_cluster: NatsCluster,
):
    hub = await make_hub("home-a")
    async with running([Worker(centre_pool, centre_bus)]):
        await hub.heartbeat()
        await hub.incident("press-1", "firing", family_exhausted=True)
        await _written(centre_pool, 2)
    unreachable = await centre_connection(nats_cluster)
    await unreachable.close()
    timers = Timers(centre_pool, unreachable, FamilyMessenger(None, None), silent_after_s=180)
    done = await timers.tick(datetime.now(UTC) + timedelta(hours=1))
    assert (done["escalated"], done["silent"]) == (1, 0)
    async with centre_pool.acquire() as conn:
        assert [a.kind for a in await alarms.queue(conn)] == ["incident"]


async def test_the_timers_stop_when_cancelled_even_if_nats_py_swallowed_the_cancellation(
    centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    timers = Timers(centre_pool, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    assert await ends_when_cancelled(lambda: timers.run(every_s=0.01), centre_bus, "backlog")


class _BacklogUnknown:
    """The cluster busy with a drain: consumers' state not read in time, the stream read fine."""

    def __init__(self, bus: CentreBus) -> None:
        self._bus = bus

    async def backlog(self) -> int:
        raise BusError("the workers' consumers could not be read: TimeoutError()")

    async def newest(self, hub_id: str, kind: str) -> Newest | None:
        return await self._bus.newest(hub_id, kind)


async def test_a_hub_that_died_is_raised_on_time_while_the_backlog_cannot_be_counted(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    uplink = _BacklogUnknown(centre_bus)
    timers = Timers(centre_pool, uplink, FamilyMessenger(None, None), silent_after_s=180)
    died = await _one_dies_while_the_centre_is_down(make_hub, centre_pool, centre_bus, 100)
    done = await timers.tick(died + timedelta(seconds=180))
    assert done["silent"] == 1
    assert await _silent_hubs(centre_pool) == {"home-b": died}  # not home-a, heard in the stream


class _SomeRefused:
    """The cluster busy with a drain: it refuses the stream reads of the hubs in `refused`."""

    def __init__(self, bus: CentreBus, refused: set[str]) -> None:
        self._bus = bus
        self.refused = refused

    async def backlog(self) -> int:
        return await self._bus.backlog()

    async def newest(self, hub_id: str, kind: str) -> Newest | None:
        if hub_id in self.refused:
            raise BusError(f"the newest message of {hub_id} could not be read: 503")
        return await self._bus.newest(hub_id, kind)


async def test_a_hub_that_died_is_raised_while_other_hubs_reads_are_refused(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    uplink = _SomeRefused(centre_bus, {"home-a"})
    timers = Timers(centre_pool, uplink, FamilyMessenger(None, None), silent_after_s=180)
    died = await _one_dies_while_the_centre_is_down(make_hub, centre_pool, centre_bus, 100)

    done = await timers.tick(died + timedelta(seconds=180))

    assert done["silent"] == 1
    # home-a looks silent on its stored heartbeat, but its newer ones could not be read.
    assert await _silent_hubs(centre_pool) == {"home-b": died}
    uplink.refused = set()
    assert (await timers.tick(died + timedelta(seconds=180)))["silent"] == 0  # read: alive
    assert set(await _silent_hubs(centre_pool)) == {"home-b"}


async def test_a_hub_that_died_is_raised_once_its_own_read_goes_through(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    uplink = _SomeRefused(centre_bus, {"home-b"})
    timers = Timers(centre_pool, uplink, FamilyMessenger(None, None), silent_after_s=180)
    died = await _one_dies_while_the_centre_is_down(make_hub, centre_pool, centre_bus, 100)

    assert (await timers.tick(died + timedelta(seconds=180)))["silent"] == 0  # not read yet
    uplink.refused = set()
    assert (await timers.tick(died + timedelta(seconds=180)))["silent"] == 1
    assert await _silent_hubs(centre_pool) == {"home-b": died}
