"""The JSON API, health and metrics, against a real store and pipeline (no network)."""

import asyncio
import json

import pytest

from hub.web.views import Recent
from tests.support.web import CARER_PASSCODE, INSTALLER_PASSCODE, Hub, log_in
from wire.schema import InboundMessage, event_topic


async def test_every_api_endpoint_refuses_a_caller_who_has_not_logged_in(hub: Hub) -> None:
    incident = await hub.press()
    reads = ("/api/session", "/api/status", "/api/incidents", "/api/devices", "/api/occupancy")
    for path in (*reads, "/api/events"):
        assert (await hub.client.get(path)).status_code == 401, path
    assert (await hub.client.get(f"/api/incidents/{incident}")).status_code == 401
    assert (await hub.client.post(f"/api/incidents/{incident}/ack")).status_code == 401
    assert (await hub.client.post("/api/devices/pendant-1/identify")).status_code == 401
    assert hub.pipeline.state.open["help_call"].state == "firing"


async def test_status_says_all_is_well_then_help_needed(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    calm = (await hub.client.get("/api/status")).json()
    assert calm["verdict"] == {
        "level": "well",
        "headline": "All is well",
        "detail": "No alarms are open.",
    }
    await hub.press()
    alarm = (await hub.client.get("/api/status")).json()
    assert alarm["verdict"]["level"] == "help"
    assert alarm["verdict"]["headline"] == "Help needed: pendant alarm 10:42"
    assert alarm["last_activity"]["device"] == "pendant"
    assert [i["state"] for i in alarm["open_incidents"]] == ["firing"]


async def test_carer_acknowledges_with_csrf_token_and_the_timeline_says_who(hub: Hub) -> None:
    incident = await hub.press()
    token = await log_in(hub.client, CARER_PASSCODE)
    response = await hub.client.post(
        f"/api/incidents/{incident}/ack", headers={"X-CSRF-Token": token}
    )
    assert response.status_code == 200, response.text
    assert response.json() == {
        "incident_id": incident,
        "acknowledged": True,
        "state": "acknowledged",
    }
    assert hub.pipeline.state.open["help_call"].state == "acknowledged"
    detail = (await hub.client.get(f"/api/incidents/{incident}")).json()
    assert [e["state"] for e in detail["timeline"]] == ["pending", "firing", "acknowledged"]
    assert detail["timeline"][-1]["reason"] == "acknowledged by Alice on the dashboard"
    assert [(n["contact"], n["channel"]) for n in detail["notifications"]] == [("Alice", "outbox")]
    assert detail["can_acknowledge"] is False
    again = await hub.client.post(f"/api/incidents/{incident}/ack", headers={"X-CSRF-Token": token})
    assert again.status_code == 409
    status = (await hub.client.get("/api/status")).json()
    assert status["verdict"]["level"] == "handled"


async def test_acknowledgement_without_or_with_a_wrong_csrf_token_is_refused(hub: Hub) -> None:
    incident = await hub.press()
    await log_in(hub.client, CARER_PASSCODE)
    missing = await hub.client.post(f"/api/incidents/{incident}/ack")
    wrong = await hub.client.post(
        f"/api/incidents/{incident}/ack", headers={"X-CSRF-Token": "guess"}
    )
    assert (missing.status_code, wrong.status_code) == (403, 403)
    assert hub.pipeline.state.open["help_call"].state == "firing"


async def test_roles_are_kept_apart(hub: Hub) -> None:
    incident = await hub.press()
    installer = await log_in(hub.client, INSTALLER_PASSCODE)
    ack = await hub.client.post(
        f"/api/incidents/{incident}/ack", headers={"X-CSRF-Token": installer}
    )
    assert ack.status_code == 403
    assert hub.pipeline.state.open["help_call"].state == "firing"
    test = await hub.client.post(
        "/api/devices/pendant-1/identify", headers={"X-CSRF-Token": installer}
    )
    assert test.status_code == 202
    assert hub.identified == ["pendant-1"]
    hub.client.cookies.clear()
    carer = await log_in(hub.client, CARER_PASSCODE)
    refused = await hub.client.post(
        "/api/devices/pendant-1/identify", headers={"X-CSRF-Token": carer}
    )
    assert refused.status_code == 403
    assert hub.identified == ["pendant-1"]


async def test_unknown_incident_and_device_are_not_found(hub: Hub) -> None:
    token = await log_in(hub.client, INSTALLER_PASSCODE)
    assert (await hub.client.get("/api/incidents/pendant-99")).status_code == 404
    headers = {"X-CSRF-Token": token}
    missing = await hub.client.post("/api/devices/nobody/identify", headers=headers)
    assert missing.status_code == 404


async def test_devices_list_with_flags(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    body = json.dumps({"type": "device.battery_low", "battery": 9}).encode()
    await hub.pipeline.handle([InboundMessage(event_topic("pendant-1"), body, 1, 5)])
    devices = (await hub.client.get("/api/devices")).json()
    assert [(d["id"], d["battery"], d["low_battery"], d["offline"]) for d in devices] == [
        ("pendant-1", 9, True, False)
    ]


async def test_healthz_reports_broker_and_store(hub: Hub) -> None:
    healthy = await hub.client.get("/healthz")
    assert healthy.status_code == 200
    assert healthy.json() == {"ok": True, "broker_connected": True, "store_writable": True}
    hub.connected[0] = False
    down = await hub.client.get("/healthz")
    assert down.status_code == 503
    assert down.json()["broker_connected"] is False


async def test_metrics_in_prometheus_text(hub: Hub) -> None:
    await hub.press()
    await hub.dispatcher.drain()
    hub.rejects.reject("malformed_json", "telecare/v1/x/event", "bad")
    response = await hub.client.get("/metrics")
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    lines = set(response.text.splitlines())
    assert {
        "telecare_events_total 1",
        'telecare_incidents{state="firing"} 1',
        'telecare_incidents{state="resolved"} 0',
        'telecare_notifications{state="delivered"} 1',
        'telecare_notifications{state="pending"} 0',
        'telecare_dropped_inputs_total{cause="malformed_json"} 1',
        "telecare_broker_connected 1",
        "# TYPE telecare_events_total counter",
        "telecare_notification_delivery_seconds_count 1",
    } <= lines
    latency = next(x for x in lines if x.startswith("telecare_notification_delivery_seconds_sum"))
    (note,) = await hub.store.notifications()
    expected = (note.updated_at - note.created_at).total_seconds()
    assert abs(float(latency.split()[1]) - expected) < 0.01
    tasks = next(x for x in lines if x.startswith("telecare_tasks "))
    assert int(tasks.split()[1]) >= 1  # this request runs in one


async def test_openapi_schema_describes_the_api(hub: Hub) -> None:
    schema = (await hub.client.get("/api/openapi.json")).json()
    assert {
        "/api/status",
        "/api/incidents",
        "/api/incidents/{incident_id}",
        "/api/incidents/{incident_id}/ack",
        "/api/devices",
        "/healthz",
        "/metrics",
    } <= set(schema["paths"])
    assert "/login" not in schema["paths"]


async def test_carer_says_home_or_away_and_everyone_sees_who_is_home(hub: Hub) -> None:
    assert (await hub.client.get("/api/occupancy")).status_code == 401
    installer = await log_in(hub.client, INSTALLER_PASSCODE)
    headers = {"X-CSRF-Token": installer}
    refused = await hub.client.post("/api/occupancy", json={"state": "home"}, headers=headers)
    assert refused.status_code == 403
    hub.client.cookies.clear()
    carer = await log_in(hub.client, CARER_PASSCODE)
    no_token = await hub.client.post("/api/occupancy", json={"state": "home"})
    assert no_token.status_code == 403
    assert (await hub.client.get("/api/occupancy")).json() == []
    home = await hub.client.post(
        "/api/occupancy", json={"state": "home"}, headers={"X-CSRF-Token": carer}
    )
    assert home.json() == [{"name": "Alice", "state": "home", "at": "2026-11-23T10:42:00Z"}]
    assert (await hub.client.get("/api/status")).json()["at_home"] == ["Alice"]
    bad = await hub.client.post(
        "/api/occupancy", json={"state": "asleep"}, headers={"X-CSRF-Token": carer}
    )
    assert bad.status_code == 422
    away = await hub.client.post(
        "/api/occupancy", json={"state": "away"}, headers={"X-CSRF-Token": carer}
    )
    assert away.json()[0]["state"] == "away"
    assert (await hub.client.get("/api/status")).json()["at_home"] == []


async def test_carer_adds_a_note_to_an_incident(hub: Hub) -> None:
    incident = await hub.press()
    path = f"/api/incidents/{incident}/notes"
    assert (await hub.client.post(path, json={"text": "x"})).status_code == 401
    installer = await log_in(hub.client, INSTALLER_PASSCODE)
    as_installer = await hub.client.post(
        path, json={"text": "x"}, headers={"X-CSRF-Token": installer}
    )
    assert as_installer.status_code == 403
    hub.client.cookies.clear()
    token = await log_in(hub.client, CARER_PASSCODE)
    assert (await hub.client.post(path, json={"text": "x"})).status_code == 403
    headers = {"X-CSRF-Token": token}
    empty = await hub.client.post(path, json={"text": ""}, headers=headers)
    assert empty.status_code == 422
    nowhere = await hub.client.post(
        "/api/incidents/fall-9/notes", json={"text": "x"}, headers=headers
    )
    assert nowhere.status_code == 404
    added = await hub.client.post(path, json={"text": "Mum pressed by mistake"}, headers=headers)
    assert added.status_code == 201
    assert added.json()["notes"] == [
        {
            "incident_id": incident,
            "author": "Alice",
            "text": "Mum pressed by mistake",
            "at": "2026-11-23T10:42:00Z",
        }
    ]


async def test_a_flood_of_health_checks_asks_the_store_once(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[bool] = []
    real = hub.store.writable

    async def counted() -> bool:
        asked.append(True)
        return await real()

    monkeypatch.setattr(hub.store, "writable", counted)
    hub.app.state.writable = Recent(hub.store.writable, clock=lambda: 100.0)  # time stands still
    replies = await asyncio.gather(*(hub.client.get("/healthz") for _ in range(30)))
    assert {r.status_code for r in replies} == {200}
    assert len(asked) == 1


async def test_the_store_probe_asks_again_after_a_second(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    answers = [True, False]
    monkeypatch.setattr(hub.store, "writable", lambda: asyncio.sleep(0, answers.pop(0)))
    now = [100.0]
    probe = Recent(hub.store.writable, clock=lambda: now[0])
    assert await probe.get() is True
    now[0] += 0.5
    assert await probe.get() is True
    now[0] += 0.5
    assert await probe.get() is False
    assert answers == []


async def test_incident_list_is_newest_first(hub: Hub) -> None:
    first = await hub.press(mid=1)
    cancel = json.dumps({"type": "pendant.cancelled"}).encode()
    await hub.pipeline.handle([InboundMessage(event_topic("pendant-1"), cancel, 1, 2)])
    second = await hub.press(mid=3)
    await log_in(hub.client, CARER_PASSCODE)
    listed = (await hub.client.get("/api/incidents")).json()
    assert [(i["id"], i["state"]) for i in listed] == [(second, "firing"), (first, "cancelled")]
    assert "device_id" not in listed[0]
