"""Resolving an incident from the dashboard: API and page, through the pipeline's one path."""

from tests.support.web import CARER_PASSCODE, INSTALLER_PASSCODE, Hub, form_csrf, log_in


async def test_resolve_is_refused_without_login_csrf_or_the_carer_role(hub: Hub) -> None:
    incident = await hub.press()
    path = f"/api/incidents/{incident}/resolve"
    assert (await hub.client.post(path)).status_code == 401
    installer = await log_in(hub.client, INSTALLER_PASSCODE)
    wrong_role = await hub.client.post(path, headers={"X-CSRF-Token": installer})
    assert wrong_role.status_code == 403
    hub.client.cookies.clear()
    await log_in(hub.client, CARER_PASSCODE)
    assert (await hub.client.post(path)).status_code == 403
    assert (await hub.client.post(path, headers={"X-CSRF-Token": "guess"})).status_code == 403
    assert hub.pipeline.state.open["help_call"].state == "firing"


async def test_carer_resolves_with_a_note_and_the_timeline_says_who(hub: Hub) -> None:
    incident = await hub.press()
    headers = {"X-CSRF-Token": await log_in(hub.client, CARER_PASSCODE)}
    path = f"/api/incidents/{incident}/resolve"
    too_long = await hub.client.post(path, json={"note": "x" * 501}, headers=headers)
    assert too_long.status_code == 422
    assert hub.pipeline.state.open["help_call"].state == "firing"

    done = await hub.client.post(path, json={"note": "Mum pressed by mistake"}, headers=headers)

    assert done.status_code == 200, done.text
    assert done.json() == {"incident_id": incident, "resolved": True, "state": "resolved"}
    assert hub.pipeline.state.open == {}
    detail = (await hub.client.get(f"/api/incidents/{incident}")).json()
    assert detail["timeline"][-1]["reason"] == (
        "resolved by Alice on the dashboard after contacts were told"
    )
    assert [(n["author"], n["text"]) for n in detail["notes"]] == [
        ("Alice", "Mum pressed by mistake")
    ]
    assert (detail["can_acknowledge"], detail["can_resolve"]) == (False, False)
    again = await hub.client.post(path, headers=headers)
    assert again.status_code == 409
    assert (
        await hub.client.post("/api/incidents/fall-9/resolve", headers=headers)
    ).status_code == 404
    status = (await hub.client.get("/api/status")).json()
    assert status["verdict"]["level"] == "well"


async def test_an_acknowledged_incident_can_be_resolved_without_a_note(hub: Hub) -> None:
    incident = await hub.press()
    headers = {"X-CSRF-Token": await log_in(hub.client, CARER_PASSCODE)}
    await hub.client.post(f"/api/incidents/{incident}/ack", headers=headers)
    done = await hub.client.post(f"/api/incidents/{incident}/resolve", headers=headers)
    assert done.status_code == 200
    stored = await hub.store.incident(incident)
    assert stored is not None
    assert stored.state == "resolved"
    assert await hub.store.notes(incident) == []


async def test_resolve_button_on_the_incident_page_for_a_carer_only(hub: Hub) -> None:
    incident = await hub.press()
    await log_in(hub.client, INSTALLER_PASSCODE)
    assert "Resolve" not in (await hub.client.get(f"/incidents/{incident}")).text
    hub.client.cookies.clear()
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get(f"/incidents/{incident}")
    assert '<label for="resolve-note">' in page.text
    form = {"csrf": form_csrf(page.text), "note": "  Ben is with her  "}
    done = await hub.client.post(f"/incidents/{incident}/resolve", data=form)
    assert done.status_code == 303
    after = await hub.client.get(f"/incidents/{incident}")
    assert "Ben is with her" in after.text
    assert ">Resolve</button>" not in after.text
    no_csrf = await hub.client.post(f"/incidents/{incident}/resolve", data={"note": ""})
    assert no_csrf.status_code == 403


async def test_a_body_that_is_not_text_is_refused_by_name_without_being_echoed(hub: Hub) -> None:
    incident = await hub.press()
    headers = {"X-CSRF-Token": await log_in(hub.client, CARER_PASSCODE)}
    refused = await hub.client.post(
        f"/api/incidents/{incident}/resolve", content=b"\x80Mum's number", headers=headers
    )
    assert refused.status_code == 422
    [problem] = refused.json()["detail"]
    assert problem["loc"] == ["body"]
    assert "Mum" not in refused.text
    assert hub.pipeline.state.open["help_call"].state == "firing"
