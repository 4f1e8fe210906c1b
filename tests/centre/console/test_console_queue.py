"""The live queue and the homes' pages, read from a real database through the app."""

from datetime import datetime, timedelta

import httpx

from centre.console.context import ConsoleContext
from tests.centre.console.seed import (
    add_device,
    add_home,
    add_incident_alarm,
    add_silent_alarm,
    logged_in,
    now,
)


async def _four_homes(ctx: ConsoleContext) -> dict[str, int]:
    for home, name in (
        ("patel", "Mrs Patel, 4 Elm Road"),
        ("jones", "Mr Jones, 12 High St"),
        ("khan", "Mrs Khan, 2 Mill Lane"),
        ("brown", "Mr Brown, 9 Park Ave"),
    ):
        await add_home(ctx.db, home, name)
    return {
        "urgent": await add_incident_alarm(
            ctx.db, "jones", "inc-j", cause="no_movement", severity="urgent", ago_s=4000
        ),
        "silent": await add_silent_alarm(ctx.db, "khan", ago_s=3000),
        "emergency_new": await add_incident_alarm(ctx.db, "patel", "inc-p", ago_s=100),
        "emergency_old": await add_incident_alarm(
            ctx.db, "brown", "inc-b", ago_s=600, family_exhausted=False, room="Bathroom"
        ),
    }


async def test_the_queue_puts_emergencies_first_then_silent_hubs_then_urgent_oldest_first(
    client: httpx.AsyncClient, ctx: ConsoleContext
) -> None:
    ids = await _four_homes(ctx)
    await logged_in(client)
    queue = (await client.get("/api/queue")).json()
    assert [a["id"] for a in queue] == [
        ids["emergency_old"],
        ids["emergency_new"],
        ids["silent"],
        ids["urgent"],
    ]
    brown, patel, khan, jones = queue
    assert (brown["home_name"], brown["what"], brown["room"]) == (
        "Mr Brown, 9 Park Ave",
        "Help call",
        "Bathroom",
    )
    assert (patel["family_exhausted"], brown["family_exhausted"]) == (True, False)
    assert (khan["what"], khan["kind"], khan["family_exhausted"]) == (
        "Hub silent",
        "hub_silent",
        None,
    )
    assert jones["what"] == "No movement"
    assert all(a["state"] == "open" and a["accepted_by"] is None for a in queue)


async def test_the_queue_page_shows_each_alarm_at_a_glance(
    client: httpx.AsyncClient, ctx: ConsoleContext
) -> None:
    await _four_homes(ctx)
    await ctx.db.execute(
        "UPDATE alarms SET state = 'accepted', accepted_by = 'Alice', accepted_at = $1"
        " WHERE hub_id = 'jones'",
        now(),
    )
    await logged_in(client)
    page = (await client.get("/")).text
    assert page.index("Mr Brown") < page.index("Mrs Patel") < page.index("Mrs Khan")
    assert page.index("Mrs Khan") < page.index("Mr Jones")
    assert "4 alarms, most urgent first" in page
    assert "all tried, none took it" in page
    assert "still trying" in page
    assert "Alice," in page  # who took it
    assert "nobody yet" in page
    assert "10 min" in page  # Mr Brown pressed 10 minutes ago (the centre was told after 5)
    fragment = await client.get("/fragments/queue")
    assert "<table" in fragment.text
    assert "<html" not in fragment.text


async def test_resolved_and_cleared_alarms_leave_the_queue(
    client: httpx.AsyncClient, ctx: ConsoleContext
) -> None:
    ids = await _four_homes(ctx)
    await ctx.db.execute("UPDATE alarms SET state = 'resolved' WHERE id = $1", ids["urgent"])
    await ctx.db.execute("UPDATE alarms SET cleared_at = now() WHERE id = $1", ids["silent"])
    await logged_in(client)
    queue = (await client.get("/api/queue")).json()
    assert {a["id"] for a in queue} == {ids["emergency_old"], ids["emergency_new"]}


async def test_an_empty_queue_says_so(client: httpx.AsyncClient) -> None:
    await logged_in(client)
    assert (await client.get("/api/queue")).json() == []
    assert "No alarms waiting." in (await client.get("/")).text


async def test_a_homes_page_shows_its_hub_devices_needing_attention_incidents_and_contacts(
    client: httpx.AsyncClient, ctx: ConsoleContext
) -> None:
    await add_home(ctx.db, "patel", "Mrs Patel, 4 Elm Road")
    await add_device(ctx.db, "patel", "door-sensor", battery=15)
    await add_device(ctx.db, "patel", "hall-motion", battery=80, silent=True)
    await add_device(ctx.db, "patel", "kitchen-motion", battery=90)
    await add_incident_alarm(ctx.db, "patel", "inc-p")
    await logged_in(client)
    home = (await client.get("/api/homes/patel")).json()
    assert home["status"] == "online"
    assert home["device_count"] == 3
    assert {d["id"] for d in home["attention"]} == {"door-sensor", "hall-motion"}
    assert [i["id"] for i in home["incidents"]] == ["inc-p"]
    assert [a["incident_id"] for a in home["alarms"]] == ["inc-p"]
    assert home["contacts"] == [{"name": "Alice", "phone": "+447700900123", "ntfy_topic": None}]
    page = (await client.get("/homes/patel")).text
    assert "online" in page
    assert "battery 15 %" in page
    assert "not heard from" in page
    assert "kitchen motion" not in page
    assert "+447700900123" in page
    assert "Help call in the bedroom" in page
    assert 'action="/alarms/' in page


async def test_a_silent_hub_shows_since_when_and_the_homes_list_puts_it_first(
    client: httpx.AsyncClient, ctx: ConsoleContext
) -> None:
    await add_home(ctx.db, "jones", "Mr Jones, 12 High St")
    await add_home(ctx.db, "khan", "Mrs Khan, 2 Mill Lane", heartbeat_ago_s=900, silent=True)
    await add_home(ctx.db, "new", "Mr New, 1 New St", heartbeat_ago_s=None)
    await add_silent_alarm(ctx.db, "khan")
    await logged_in(client)
    homes = (await client.get("/api/homes")).json()
    assert [(h["id"], h["status"], h["open_alarms"]) for h in homes] == [
        ("khan", "silent", 1),
        ("jones", "online", 0),
        ("new", "never_heard", 0),
    ]
    khan = (await client.get("/api/homes/khan")).json()
    silent_since = now() - timedelta(seconds=720)
    assert abs(_parse(khan["silent_since"]) - silent_since) < timedelta(seconds=60)
    assert "silent since" in (await client.get("/homes/khan")).text
    assert "never heard from" in (await client.get("/homes")).text


def _parse(text: str) -> datetime:
    return datetime.fromisoformat(text)


async def test_an_unknown_home_is_404(client: httpx.AsyncClient) -> None:
    await logged_in(client)
    assert (await client.get("/api/homes/nowhere")).status_code == 404
    page = await client.get("/homes/nowhere", headers={"accept": "text/html"})
    assert page.status_code == 404
    assert "no such home" in page.text
