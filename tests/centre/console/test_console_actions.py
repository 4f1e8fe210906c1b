"""Accept and resolve from the console: through the real downlink to a hub, and the audit."""

from datetime import UTC, datetime

import asyncpg
import httpx

from centre.bus import CentreBus
from centre.family import FamilyMessenger
from centre.simhub import SimulatedHub
from centre.timers import Timers
from centre.worker import Worker
from tests.centre.conftest import HubFactory
from tests.centre.console.seed import SUPERVISOR, add_home, add_silent_alarm, logged_in
from tests.centre.support import count, running, until
from webguard.limits import MAX_BODY_BYTES


async def _alarm_from_a_press(
    hub_factory: HubFactory, db: asyncpg.Pool, bus: CentreBus
) -> tuple[SimulatedHub, int]:
    """A pendant press the family did not take, raised by the centre's own timers."""
    hub = await hub_factory("patel")
    await hub.incident("press-1", "firing", family_exhausted=True)
    await until(lambda: count(db, "SELECT count(*) FROM incidents"), "incident stored")
    timers = Timers(db, bus, FamilyMessenger(None, None), silent_after_s=180)
    await timers.tick(datetime.now(UTC))
    return hub, await count(db, "SELECT id FROM alarms")


async def test_accept_then_resolve_reach_the_hub_and_the_audit_shows_its_reports(
    client: httpx.AsyncClient, db: asyncpg.Pool, centre_bus: CentreBus, make_hub: HubFactory
) -> None:
    async with running([Worker(db, centre_bus)]):
        patel, alarm_id = await _alarm_from_a_press(make_hub, db, centre_bus)
        hub = await make_hub("other")
        token = await logged_in(client)
        headers = {"X-CSRF-Token": token}
        accepted = await client.post(
            f"/api/alarms/{alarm_id}/accept", json={"note": "calling her"}, headers=headers
        )
        assert accepted.status_code == 200, accepted.text
        assert accepted.json()["alarm"]["state"] == "accepted"
        assert accepted.json()["alarm"]["accepted_by"] == "Sam Okafor"
        again = await client.post(f"/api/alarms/{alarm_id}/accept", json={}, headers=headers)
        assert again.status_code == 409
        assert "already accepted" in again.json()["detail"]
        assert await hub.actions(timeout_s=0.3) == []  # another home's hub is told nothing
        no_note = await client.post(
            f"/api/alarms/{alarm_id}/resolve", json={"note": "   "}, headers=headers
        )
        assert no_note.status_code == 422
        missing = await client.post("/api/alarms/999/resolve", json={"note": "x"}, headers=headers)
        assert missing.status_code == 404
        resolved = await client.post(
            f"/api/alarms/{alarm_id}/resolve", json={"note": "she is fine"}, headers=headers
        )
        assert resolved.json()["alarm"]["state"] == "resolved"
        assert (await client.get("/api/queue")).json() == []

        await logged_in(client, SUPERVISOR)
        audit = (await client.get("/api/audit")).json()
        assert [(a["action"], a["operator"], a["note"], a["applied"]) for a in audit] == [
            ("resolve", "sam", "she is fine", "waiting"),
            ("accept", "sam", "calling her", "waiting"),
        ]
        [accept, resolve] = await patel.actions(timeout_s=5)
        assert (accept.action, resolve.action, accept.note) == ("accept", "resolve", "calling her")
        await patel.applied(accept, "family told: Sam Okafor at the monitoring centre")
        await until(
            lambda: count(db, "SELECT count(applied_at) FROM operator_actions"), "report recorded"
        )
        audit = (await client.get("/api/audit")).json()
        assert [(a["applied"], a["hub_applied"]) for a in audit] == [
            ("waiting", None),
            ("applied", True),
        ]
        page = (await client.get("/audit")).text
        assert "family told: Sam Okafor at the monitoring centre" in page
        assert "waiting for the hub" in page
        await patel.applied(resolve, "no such incident in this home", refused=True)
        await until(
            lambda: count(db, "SELECT count(applied_at) = 2 FROM operator_actions"), "refusal in"
        )
        audit = (await client.get("/api/audit")).json()
        assert [(a["applied"], a["hub_applied"], a["applied_detail"]) for a in audit] == [
            ("refused", False, "no such incident in this home"),
            ("applied", True, "family told: Sam Okafor at the monitoring centre"),
        ]
        row = (await client.get("/audit")).text.split(f'data-action="{resolve.action_id}"')[1]
        assert '<td class="applied refused">refused ' in row
        assert ": no such incident in this home</td>" in row.split("</tr>")[0]


async def test_resolving_from_the_home_page_needs_a_note_and_a_silent_hub_sends_nothing(
    client: httpx.AsyncClient, db: asyncpg.Pool
) -> None:
    await add_home(db, "khan", "Mrs Khan", heartbeat_ago_s=900, silent=True)
    alarm_id = await add_silent_alarm(db, "khan")
    await logged_in(client)
    page = await client.get("/homes/khan")
    csrf = page.text.split('name="csrf" value="')[1].split('"')[0]
    form = {"csrf": csrf, "back": "/homes/khan", "note": ""}
    refused = await client.post(f"/alarms/{alarm_id}/resolve", data=form)
    assert refused.status_code == 422
    assert "A note is needed to resolve" in refused.text
    evil = await client.post(f"/alarms/{alarm_id}/accept", data={**form, "back": "//evil.example"})
    assert evil.status_code == 422
    done = await client.post(f"/alarms/{alarm_id}/accept", data={**form, "note": "ringing Alice"})
    assert (done.status_code, done.headers["location"]) == (303, "/homes/khan")
    assert "Taken by Sam Okafor" in (await client.get("/homes/khan")).text
    await logged_in(client, SUPERVISOR)
    [entry] = (await client.get("/api/audit")).json()
    assert (entry["what"], entry["applied"], entry["note"]) == (
        "Hub silent",
        "not_sent",
        "ringing Alice",
    )


async def test_an_oversize_body_is_refused_unread_and_changes_nothing(
    client: httpx.AsyncClient, db: asyncpg.Pool, centre_bus: CentreBus, make_hub: HubFactory
) -> None:
    async with running([Worker(db, centre_bus)]):
        _, alarm_id = await _alarm_from_a_press(make_hub, db, centre_bus)
    headers = {"X-CSRF-Token": await logged_in(client)}
    note = "x" * (MAX_BODY_BYTES + 1)
    refused = await client.post(
        f"/api/alarms/{alarm_id}/accept", json={"note": note}, headers=headers
    )
    assert refused.status_code == 413
    assert await count(db, "SELECT count(*) FROM operator_actions") == 0
    assert await count(db, "SELECT count(*) FROM alarms WHERE state = 'open'") == 1
