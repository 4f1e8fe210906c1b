"""The timers on a real database: a silent hub's alarm and family message, and escalations."""

from datetime import UTC, datetime, timedelta

import asyncpg

from centre.bus import CentreBus
from centre.db import alarms
from centre.db.models import ContactRow
from centre.family import FamilyMessenger
from centre.timers import Timers
from centre.worker import Worker
from notifier.settings import NtfySettings
from tests.centre.conftest import HubFactory
from tests.centre.support import count, running, until
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
        timers = Timers(centre_pool, centre_bus.backlog, family, silent_after_s=180)
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
    timers = Timers(
        centre_pool, centre_bus.backlog, FamilyMessenger(None, None), silent_after_s=180
    )
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
