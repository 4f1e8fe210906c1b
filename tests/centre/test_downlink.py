"""Operator actions: audited, signed onto the hub's downlink, applied once and reported back."""

from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest

from centre.bus import CentreBus
from centre.db import actions, alarms, homes
from centre.db.actions import ActionRefused
from centre.db.migrations import migrate, migrations
from centre.downlink import Downlink
from centre.family import FamilyMessenger
from centre.servers.postgres import LocalPostgres
from centre.timers import Timers
from centre.worker import Worker
from tests.centre.conftest import HubFactory
from tests.centre.support import count, running, until


async def test_an_accepted_alarm_reaches_the_hub_which_reports_it_applied(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    hub = await make_hub("home-a")
    other = await make_hub("home-b")
    async with centre_pool.acquire() as conn:
        await homes.add_operator(conn, "sam", "Sam", "operator", "argon2-hash")
    timers = Timers(centre_pool, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    downlink = Downlink(centre_pool, centre_bus)
    async with running([Worker(centre_pool, centre_bus)]):
        await hub.incident("press-1", "firing", family_exhausted=True)
        await until(lambda: count(centre_pool, "SELECT count(*) FROM incidents"), "incident in")
        await timers.tick(datetime.now(UTC))
        async with centre_pool.acquire() as conn:
            [alarm] = await alarms.queue(conn)
        row = await downlink.accept(alarm.id, "sam", "calling her now")
        with pytest.raises(ActionRefused, match="already accepted"):
            await downlink.accept(alarm.id, "sam")
        [action] = await hub.actions(timeout_s=5)
        assert (action.action, action.operator, action.incident_id) == ("accept", "Sam", "press-1")
        assert action.note == "calling her now"
        assert action.action_id == row.action_id
        assert await other.actions(timeout_s=0.5) == []  # the other home's hub sees nothing
        await hub.applied(action, "family told: Sam at the monitoring centre")
        await until(
            lambda: count(centre_pool, "SELECT count(applied_at) FROM operator_actions"),
            "the hub's report recorded",
        )
        await downlink.resolve(alarm.id, "sam", "she is fine")
        [resolved] = await hub.actions(timeout_s=5)
        assert resolved.action == "resolve"
    assert await hub.actions(timeout_s=0.5) == []  # each action delivered once
    async with centre_pool.acquire() as conn:
        audit = await actions.actions_of(conn, alarm.id)
        state = await conn.fetchval("SELECT state FROM alarms WHERE id = $1", alarm.id)
    assert [a.action for a in audit] == ["accept", "resolve"]
    assert audit[0].applied_detail == "family told: Sam at the monitoring centre"
    assert state == "resolved"


async def test_an_unknown_operator_or_alarm_is_refused_and_nothing_is_recorded(
    centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    downlink = Downlink(centre_pool, centre_bus)
    with pytest.raises(ActionRefused, match="no alarm 99"):
        await downlink.accept(99, "sam")
    assert await count(centre_pool, "SELECT count(*) FROM operator_actions") == 0


async def test_reports_recorded_before_the_outcome_column_keep_their_outcome(
    postgres_server: LocalPostgres, tmp_path: Path
):
    for migration in migrations():  # the schema as it was before 0005
        if migration.version < 5:
            (tmp_path / migration.name).write_text(migration.sql)
    conn = await asyncpg.connect(postgres_server.dsn())
    await conn.execute("CREATE DATABASE before_outcomes")
    await conn.close()
    conn = await asyncpg.connect(postgres_server.dsn("before_outcomes"))
    try:
        await migrate(conn, tmp_path)
        await homes.add_operator(conn, "sam", "Sam", "operator", "argon2-hash")
        await conn.executemany(
            "INSERT INTO operator_actions (action_id, operator, action, applied_at, applied_detail)"
            " VALUES ($1, 'sam', 'accept', $2, $3)",
            [
                ("done", datetime.now(UTC), "family told: Sam"),
                ("refused", datetime.now(UTC), "refused: no such incident in this home"),
                ("waiting", None, None),
            ],
        )
        assert await migrate(conn) == ["0005_action_outcome.sql"]
        rows = await conn.fetch(
            "SELECT action_id, applied, applied_detail FROM operator_actions ORDER BY id"
        )
    finally:
        await conn.close()
    assert [tuple(r.values()) for r in rows] == [
        ("done", True, "family told: Sam"),
        ("refused", False, "no such incident in this home"),
        ("waiting", None, None),
    ]
