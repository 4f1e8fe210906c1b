"""Rows for the console's tests, written as the centre's workers would, and logging in."""

import functools
import re
from datetime import UTC, datetime, timedelta

import asyncpg
import httpx

from centre.console.passwords import hash_password

OPERATOR = ("sam", "Sam Okafor", "operator", "night-shift-42")
SUPERVISOR = ("priya", "Priya Shah", "supervisor", "supervise-all-9")
_CSRF_FIELD = re.compile(r'name="csrf" value="([^"]+)"')


def now() -> datetime:
    """The wall clock: the console shows ages against it."""
    return datetime.now(UTC)


@functools.cache
def _hash(password: str) -> str:
    return hash_password(password)


async def seed_operators(db: asyncpg.Pool) -> None:
    """Sam the operator and Priya the supervisor."""
    for username, name, role, password in (OPERATOR, SUPERVISOR):
        await db.execute(
            "INSERT INTO operators (username, display_name, role, password_hash)"
            " VALUES ($1, $2, $3, $4)",
            username,
            name,
            role,
            _hash(password),
        )


async def add_home(
    db: asyncpg.Pool,
    home_id: str,
    name: str,
    *,
    heartbeat_ago_s: float | None = 30,
    silent: bool = False,
) -> str:
    """A home and its hub (same id), with one family contact; returns the hub id."""
    beat = None if heartbeat_ago_s is None else now() - timedelta(seconds=heartbeat_ago_s)
    await db.execute("INSERT INTO homes (id, name) VALUES ($1, $2)", home_id, name)
    await db.execute(
        "INSERT INTO hubs (id, home_id, key_hex, version, started_at, last_heartbeat,"
        " silent_since) VALUES ($1, $1, $2, '1.4.0', $3, $4, $5)",
        home_id,
        "00" * 32,
        beat,
        beat,
        beat + timedelta(seconds=180) if silent and beat else None,
    )
    await db.execute(
        "INSERT INTO contacts (home_id, name, phone) VALUES ($1, 'Alice', '+447700900123')",
        home_id,
    )
    return home_id


async def add_device(
    db: asyncpg.Pool, hub_id: str, device_id: str, *, battery: int | None, silent: bool = False
) -> None:
    """A device as the hub's last heartbeat listed it."""
    await db.execute(
        "INSERT INTO devices (hub_id, id, name, role, room, battery, last_seen, silent)"
        " VALUES ($1, $2, $3, 'sensor', 'Hall', $4, $5, $6)",
        hub_id,
        device_id,
        device_id.replace("-", " "),
        battery,
        now() - timedelta(hours=3),
        silent,
    )


async def add_incident_alarm(
    db: asyncpg.Pool,
    hub_id: str,
    incident_id: str,
    *,
    cause: str = "help_call",
    severity: str = "emergency",
    ago_s: float = 200,
    family_exhausted: bool = True,
    room: str = "Bedroom",
) -> int:
    """An incident the hub reported and the alarm the centre raised for it; the alarm's id."""
    opened = now() - timedelta(seconds=ago_s)
    await db.execute(
        "INSERT INTO incidents (hub_id, id, seq, cause, severity, state, device_id, room,"
        " opened_at, updated_at, text, family_exhausted)"
        " VALUES ($1, $2, 1, $3, $4, 'firing', 'pendant-1', $5, $6, $6, $7, $8)",
        hub_id,
        incident_id,
        cause,
        severity,
        room,
        opened,
        f"{cause.replace('_', ' ').capitalize()} in the {room.lower()}",
        family_exhausted,
    )
    alarm_id: int = await db.fetchval(
        "INSERT INTO alarms (home_id, hub_id, kind, incident_id, severity, raised_at, why)"
        " VALUES ($1, $1, 'incident', $2, $3, $4, $5) RETURNING id",
        hub_id,
        incident_id,
        severity,
        opened + timedelta(seconds=ago_s / 2),
        "family all tried" if family_exhausted else "not accepted in time",
    )
    return alarm_id


async def add_silent_alarm(db: asyncpg.Pool, hub_id: str, *, ago_s: float = 100) -> int:
    """The centre's "hub silent" alarm for a hub; the alarm's id."""
    alarm_id: int = await db.fetchval(
        "INSERT INTO alarms (home_id, hub_id, kind, severity, raised_at, why)"
        " VALUES ($1, $1, 'hub_silent', 'urgent', $2, 'no heartbeat for 180 s') RETURNING id",
        hub_id,
        now() - timedelta(seconds=ago_s),
    )
    return alarm_id


def form_csrf(html: str) -> str:
    """The CSRF token a page's form carries."""
    found = _CSRF_FIELD.search(html)
    assert found is not None, "no CSRF field on the page"
    return found.group(1)


async def log_in(
    client: httpx.AsyncClient, who: tuple[str, str, str, str] = OPERATOR, password: str = ""
) -> httpx.Response:
    """Log in through the form as `who` (a fresh browser); the answer to the form."""
    client.cookies.clear()
    page = await client.get("/login")
    return await client.post(
        "/login",
        data={"username": who[0], "password": password or who[3], "csrf": form_csrf(page.text)},
    )


async def logged_in(client: httpx.AsyncClient, who: tuple[str, str, str, str] = OPERATOR) -> str:
    """Log in as `who`; returns the session's CSRF token for API calls."""
    response = await log_in(client, who)
    assert response.status_code == 303, response.text
    token: str = (await client.get("/api/session")).json()["csrf_token"]
    return token
