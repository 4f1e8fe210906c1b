"""Today's doses on the status page and in `/api/status`."""

from datetime import UTC, datetime

from rules.engine import Engine, EngineState
from rules.policy import Contact, DeviceInfo, RulesConfig
from rules.routines import Medication
from tests.support.web import CARER_PASSCODE, Hub, log_in

HEART = Medication(name="heart", label="heart tablets", times=("08:00", "10:30", "20:00"))


async def test_status_lists_todays_doses_missed_late_and_due(hub: Hub) -> None:
    config = RulesConfig(
        contacts=(Contact(name="Alice"),),
        devices={"pendant-1": DeviceInfo(name="pendant", role="pendant", room="Bedroom")},
        medication=(HEART,),
    )
    hub.pipeline.engine = Engine(config)
    hub.pipeline.state = EngineState(since=datetime(2026, 11, 23, 6, 0, tzinfo=UTC))
    await hub.pipeline.tick()  # 10:42: the 08:00 and 10:30 doses are issued, catching up
    await log_in(hub.client, CARER_PASSCODE)

    doses = (await hub.client.get("/api/status")).json()["doses"]

    assert [(d["label"], d["due"], d["state"], d["taken_at"]) for d in doses] == [
        ("heart tablets", "2026-11-23T08:00:00Z", "missed", None),
        ("heart tablets", "2026-11-23T10:30:00Z", "late", None),
        ("heart tablets", "2026-11-23T20:00:00Z", "due", None),
    ]
    page = (await hub.client.get("/")).text
    assert "Today's doses" in page
    assert "heart tablets, 08:00:\n      <strong>missed</strong>" in page
    assert "heart tablets, 20:00:\n      due at 20:00" in page


async def test_a_home_without_medication_shows_no_doses(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    assert (await hub.client.get("/api/status")).json()["doses"] == []
    assert "Today's doses" not in (await hub.client.get("/")).text


async def test_a_missed_dose_a_carer_resolves_stays_missed(hub: Hub) -> None:
    config = RulesConfig(contacts=(Contact(name="Alice"),), medication=(HEART,))
    hub.pipeline.engine = Engine(config)
    hub.pipeline.state = EngineState(since=datetime(2026, 11, 23, 9, 0, tzinfo=UTC))
    await hub.pipeline.tick()  # 10:42: the 10:30 dose is late
    dose = hub.pipeline.state.open["medication_heart"].id
    headers = {"X-CSRF-Token": await log_in(hub.client, CARER_PASSCODE)}
    done = await hub.client.post(f"/api/incidents/{dose}/resolve", headers=headers)
    assert done.json()["state"] == "resolved"

    doses = (await hub.client.get("/api/status")).json()["doses"]

    assert [(d["due"], d["state"]) for d in doses] == [
        ("2026-11-23T08:00:00Z", "missed"),
        ("2026-11-23T10:30:00Z", "missed"),
        ("2026-11-23T20:00:00Z", "due"),
    ]
