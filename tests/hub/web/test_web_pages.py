"""Login, sessions and the server-rendered pages, through the app (no network)."""

import asyncio

from hub.web.auth import MAX_FAILURES_PER_CLIENT, SESSION_COOKIE
from tests.support.web import CARER_PASSCODE, INSTALLER_PASSCODE, Hub, form_csrf, log_in


async def test_pages_send_a_stranger_to_the_login_page(hub: Hub) -> None:
    incident = await hub.press()
    for path in ("/", "/partials/status", "/incidents", f"/incidents/{incident}", "/devices"):
        response = await hub.client.get(path)
        assert (response.status_code, response.headers["location"]) == (303, "/login"), path


async def test_login_sets_a_strict_http_only_cookie(hub: Hub) -> None:
    page = await hub.client.get("/login")
    assert 'label for="passcode"' in page.text
    response = await hub.client.post(
        "/login", data={"passcode": CARER_PASSCODE, "csrf": form_csrf(page.text)}
    )
    assert response.status_code == 303
    cookie = next(
        c for c in response.headers.get_list("set-cookie") if c.startswith(SESSION_COOKIE)
    )
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Secure" not in cookie  # plain HTTP on the LAN unless secure_cookies is set
    assert CARER_PASSCODE not in response.headers["location"]


async def test_login_without_the_forms_csrf_token_is_refused(hub: Hub) -> None:
    await hub.client.get("/login")
    response = await hub.client.post("/login", data={"passcode": CARER_PASSCODE, "csrf": "x"})
    assert response.status_code == 403
    assert (await hub.client.get("/api/session")).status_code == 401


async def test_wrong_passcodes_are_limited_even_before_the_right_one(hub: Hub) -> None:
    page = await hub.client.get("/login")
    token = form_csrf(page.text)
    for _ in range(MAX_FAILURES_PER_CLIENT):
        wrong = await hub.client.post("/login", data={"passcode": "000000", "csrf": token})
        assert wrong.status_code == 401
        assert "That passcode is not right." in wrong.text
        token = form_csrf(wrong.text)
    right = await hub.client.post("/login", data={"passcode": CARER_PASSCODE, "csrf": token})
    assert right.status_code == 429
    assert SESSION_COOKIE not in right.cookies
    assert (await hub.client.get("/api/session")).status_code == 401


async def test_status_page_shows_the_verdict_and_security_headers(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    calm = await hub.client.get("/")
    assert "All is well" in calm.text
    assert "default-src 'self'" in calm.headers["content-security-policy"]
    assert calm.headers["x-content-type-options"] == "nosniff"
    await hub.press()
    fragment = await hub.client.get("/partials/status")
    assert "Help needed: pendant alarm 10:42" in fragment.text
    assert "<html" not in fragment.text


async def test_carer_acknowledges_from_the_incident_page(hub: Hub) -> None:
    incident = await hub.press()
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get(f"/incidents/{incident}")
    assert "I'm on it" in page.text
    assert "<td>Alice</td><td>outbox</td>" in page.text
    no_token = await hub.client.post(f"/incidents/{incident}/ack", data={"csrf": ""})
    assert no_token.status_code == 403
    done = await hub.client.post(f"/incidents/{incident}/ack", data={"csrf": form_csrf(page.text)})
    assert (done.status_code, done.headers["location"]) == (303, f"/incidents/{incident}")
    after = await hub.client.get(f"/incidents/{incident}")
    assert "acknowledged by Alice on the dashboard" in after.text
    assert "I'm on it" not in after.text


async def test_installer_sees_no_acknowledge_button(hub: Hub) -> None:
    incident = await hub.press()
    await log_in(hub.client, INSTALLER_PASSCODE)
    page = await hub.client.get(f"/incidents/{incident}")
    assert page.status_code == 200
    assert "I'm on it" not in page.text
    refused = await hub.client.post(
        f"/incidents/{incident}/ack", data={"csrf": form_csrf(page.text)}
    )
    assert refused.status_code == 403
    assert hub.pipeline.state.open["help_call"].state == "firing"


async def test_devices_and_incident_list_pages(hub: Hub) -> None:
    await hub.press()
    await log_in(hub.client, CARER_PASSCODE)
    devices = await hub.client.get("/devices")
    assert "<strong>pendant</strong> (pendant," in devices.text
    listing = await hub.client.get("/incidents")
    assert "needs help. (firing)" in listing.text


async def test_logout_needs_csrf_and_ends_the_session(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get("/")
    assert (await hub.client.post("/logout", data={"csrf": "nope"})).status_code == 403
    response = await hub.client.post("/logout", data={"csrf": form_csrf(page.text)})
    assert (response.status_code, response.headers["location"]) == (303, "/login")
    assert (await hub.client.get("/api/status")).status_code == 401


async def test_status_page_acknowledges_with_one_tap_for_a_carer_only(hub: Hub) -> None:
    incident = await hub.press()
    await log_in(hub.client, INSTALLER_PASSCODE)
    assert "/ack" not in (await hub.client.get("/")).text
    hub.client.cookies.clear()
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get("/")
    assert f'action="/incidents/{incident}/ack"' in page.text
    done = await hub.client.post(f"/incidents/{incident}/ack", data={"csrf": form_csrf(page.text)})
    assert done.headers["location"] == f"/incidents/{incident}"
    after = await hub.client.get("/")
    assert "Being dealt with: pendant alarm 10:42" in after.text
    assert "acknowledged by Alice on the dashboard" in after.text
    assert "/ack" not in after.text


async def test_review_report_page_for_the_last_days(hub: Hub) -> None:
    await hub.press()
    assert (await hub.client.get("/report")).status_code == 303
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get("/report", params={"days": 1})
    assert page.status_code == 200
    assert "How the telecare worked for Mum" in page.text
    assert "<strong>1</strong> incident." in page.text
    assert "style-src 'unsafe-inline'" in page.headers["content-security-policy"]
    assert (await hub.client.get("/report", params={"days": 0})).status_code == 422


async def test_im_home_button_on_the_status_page(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get("/")
    assert "Nobody has said they are home" in page.text
    assert "I&#39;m home" in page.text
    done = await hub.client.post("/occupancy", data={"csrf": form_csrf(page.text), "state": "home"})
    assert (done.status_code, done.headers["location"]) == (303, "/")
    after = await hub.client.get("/")
    assert "<dd>Alice</dd>" in after.text
    assert "I&#39;m leaving" in after.text


async def test_note_form_on_the_incident_page(hub: Hub) -> None:
    incident = await hub.press()
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get(f"/incidents/{incident}")
    assert 'label for="note-text"' in page.text
    missing = await hub.client.post(f"/incidents/{incident}/notes", data={"text": "hi"})
    assert missing.status_code == 403
    saved = await hub.client.post(
        f"/incidents/{incident}/notes",
        data={"csrf": form_csrf(page.text), "text": "Mum <b>pressed</b> by mistake"},
    )
    assert saved.headers["location"] == f"/incidents/{incident}"
    after = await hub.client.get(f"/incidents/{incident}")
    assert "<p>Mum &lt;b&gt;pressed&lt;/b&gt; by mistake</p>" in after.text
    assert "<footer>Alice, 10:42</footer>" in after.text


async def test_installer_tests_a_device_from_the_devices_page(hub: Hub) -> None:
    await log_in(hub.client, CARER_PASSCODE)
    assert "Test the pendant" not in (await hub.client.get("/devices")).text
    hub.client.cookies.clear()
    await log_in(hub.client, INSTALLER_PASSCODE)
    page = await hub.client.get("/devices")
    assert 'action="/devices/pendant-1/identify"' in page.text
    assert (await hub.client.post("/devices/pendant-1/identify")).status_code == 403
    done = await hub.client.post("/devices/pendant-1/identify", data={"csrf": form_csrf(page.text)})
    assert done.headers["location"] == "/devices?tested=pendant-1"
    assert hub.identified == ["pendant-1"]
    after = await hub.client.get(done.headers["location"])
    assert "Asked the pendant to blink or beep" in after.text
    forged = await hub.client.get("/devices", params={"tested": "<script>"})
    assert "Asked the" not in forged.text


async def test_a_flood_of_parallel_guesses_is_held_to_the_limit(hub: Hub) -> None:
    page = await hub.client.get("/login")
    token = form_csrf(page.text)
    guesses = [
        hub.client.post("/login", data={"passcode": f"{n:06d}", "csrf": token}) for n in range(12)
    ]
    codes = sorted(r.status_code for r in await asyncio.gather(*guesses))
    assert codes == [401] * MAX_FAILURES_PER_CLIENT + [429] * (12 - MAX_FAILURES_PER_CLIENT)


async def test_incident_page_has_a_live_part_without_the_note_form(hub: Hub) -> None:
    incident = await hub.press()
    await log_in(hub.client, CARER_PASSCODE)
    page = await hub.client.get(f"/incidents/{incident}")
    assert f'data-fragment="/partials/incidents/{incident}"' in page.text
    fragment = await hub.client.get(f"/partials/incidents/{incident}")
    assert "<strong>firing</strong>: no confirm window" in fragment.text
    assert "I'm on it" in fragment.text
    assert "note-text" not in fragment.text  # typing a note is never wiped by an update
    assert (await hub.client.get("/partials/incidents/fall-9")).status_code == 404
