"""Logging in to the console: passwords, the rate limit, CSRF, roles and tampered cookies."""

import httpx

from centre.console.auth import MAX_FAILURES_PER_CLIENT, SESSION_COOKIE
from centre.console.context import ConsoleContext
from tests.centre.console.seed import OPERATOR, SUPERVISOR, form_csrf, log_in, logged_in


async def test_an_operator_logs_in_and_lands_on_the_queue(client: httpx.AsyncClient) -> None:
    assert (await client.get("/")).status_code == 303  # off to the login page first
    response = await log_in(client)
    assert response.status_code == 303
    assert response.headers["location"] == "/"
    cookie = response.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=strict" in cookie
    session = (await client.get("/api/session")).json()
    assert session["username"] == "sam"
    assert session["name"] == "Sam Okafor"
    assert session["role"] == "operator"
    page = await client.get("/")
    assert page.status_code == 200
    assert "Log out Sam Okafor" in page.text


async def test_a_wrong_password_or_unknown_name_is_refused_alike(
    client: httpx.AsyncClient,
) -> None:
    wrong = await log_in(client, OPERATOR, password="not-the-password")
    unknown = await log_in(client, ("nobody", "", "", "night-shift-42"))
    for response in (wrong, unknown):
        assert response.status_code == 401
        assert "That username or password is not right." in response.text
    assert (await client.get("/api/session")).status_code == 401


async def test_too_many_wrong_passwords_are_refused_even_with_the_right_one(
    client: httpx.AsyncClient,
) -> None:
    for _ in range(MAX_FAILURES_PER_CLIENT):
        assert (await log_in(client, OPERATOR, password="guess-guess")).status_code == 401
    refused = await log_in(client)
    assert refused.status_code == 429
    assert "Too many tries" in refused.text


async def test_the_login_form_needs_its_own_csrf_token(client: httpx.AsyncClient) -> None:
    await client.get("/login")
    response = await client.post(
        "/login", data={"username": "sam", "password": OPERATOR[3], "csrf": "forged"}
    )
    assert response.status_code == 403


async def test_a_state_change_without_the_session_csrf_token_is_refused(
    client: httpx.AsyncClient,
) -> None:
    await logged_in(client)
    response = await client.post("/api/alarms/1/accept", json={"note": ""})
    assert response.status_code == 403
    assert response.json() == {"detail": "missing or wrong CSRF token"}
    forged = await client.post(
        "/api/alarms/1/accept", json={}, headers={"X-CSRF-Token": "not-the-token"}
    )
    assert forged.status_code == 403


async def test_a_tampered_cookie_is_no_session(client: httpx.AsyncClient) -> None:
    await logged_in(client)
    value = client.cookies[SESSION_COOKIE]
    payload, mac = value.split(".")
    client.cookies.set(SESSION_COOKIE, payload.replace(payload[-2], "A") + "." + mac)
    assert (await client.get("/api/session")).status_code == 401
    client.cookies.set(SESSION_COOKIE, payload + "." + "0" * len(mac))
    assert (await client.get("/api/session")).status_code == 401


async def test_a_removed_operator_is_logged_out_at_once(
    client: httpx.AsyncClient, ctx: ConsoleContext
) -> None:
    await logged_in(client)
    await ctx.db.execute("DELETE FROM operators WHERE username = 'sam'")
    assert (await client.get("/api/session")).status_code == 401
    assert (await client.get("/")).headers["location"] == "/login"


async def test_logging_out_ends_the_session(client: httpx.AsyncClient) -> None:
    await logged_in(client)
    page = await client.get("/")
    response = await client.post("/logout", data={"csrf": form_csrf(page.text)})
    assert response.status_code == 303
    assert (await client.get("/api/session")).status_code == 401


async def test_an_operator_is_refused_the_supervisors_pages_with_a_clear_page(
    client: httpx.AsyncClient,
) -> None:
    await logged_in(client, OPERATOR)
    for path in ("/audit", "/operators"):
        page = await client.get(path, headers={"accept": "text/html"})
        assert page.status_code == 403
        assert "This page is for a supervisor only" in page.text
    for path in ("/api/audit", "/api/operators"):
        response = await client.get(path)
        assert response.status_code == 403
        assert response.json() == {"detail": "only a supervisor may see this"}


async def test_a_supervisor_sees_the_audit_and_operators(client: httpx.AsyncClient) -> None:
    await logged_in(client, SUPERVISOR)
    assert (await client.get("/audit")).status_code == 200
    operators = (await client.get("/api/operators")).json()
    assert [(o["username"], o["role"], o["actions"]) for o in operators] == [
        ("priya", "supervisor", 0),
        ("sam", "operator", 0),
    ]
    page = await client.get("/operators")
    assert "Priya Shah" in page.text
    assert "Sam Okafor" in page.text
