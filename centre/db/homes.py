"""Homes, their contacts and hubs, and operators: registration and listing."""

import secrets
from collections.abc import Mapping, Sequence

import asyncpg

from centre.db.models import ContactRow, HomeRow, HubCredentials, HubRow, OperatorRow
from centre.servers.natsconf import password_hash

DEFAULT_ESCALATION: dict[str, int] = {"emergency": 180}
_HOMES = """
SELECT h.id, h.name, h.timezone, h.escalation, h.created_at, b.id AS hub_id, b.version,
       b.last_heartbeat, b.silent_since,
       (SELECT count(*) FROM alarms a WHERE a.home_id = h.id AND a.state <> 'resolved')
           AS open_alarms
FROM homes h JOIN hubs b ON b.home_id = h.id
"""


class RegistrationError(Exception):
    """A home or hub that cannot be registered (already there, say); the message says why."""


async def register_home(
    conn: asyncpg.Connection,
    home_id: str,
    name: str,
    *,
    hub_id: str | None = None,
    contacts: Sequence[ContactRow] = (),
    escalation: Mapping[str, int] | None = None,
    timezone: str = "Europe/London",
) -> HubCredentials:
    """Register a home and its hub: a new signing key and NATS password, printed once.

    Raises:
        RegistrationError: the home or hub id is taken.
    """
    hub = hub_id or home_id
    key_hex = secrets.token_hex(32)
    password = secrets.token_urlsafe(24)
    try:
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO homes (id, name, timezone, escalation) VALUES ($1, $2, $3, $4)",
                home_id,
                name,
                timezone,
                dict(escalation or DEFAULT_ESCALATION),
            )
            await conn.execute(
                "INSERT INTO hubs (id, home_id, key_hex, nats_password_hash) VALUES ($1,$2,$3,$4)",
                hub,
                home_id,
                key_hex,
                password_hash(password),
            )
            await conn.executemany(
                "INSERT INTO contacts (home_id, name, phone, ntfy_topic) VALUES ($1, $2, $3, $4)",
                [(home_id, c.name, c.phone, c.ntfy_topic) for c in contacts],
            )
    except asyncpg.UniqueViolationError as err:
        msg = f"home {home_id!r} or hub {hub!r} is already registered"
        raise RegistrationError(msg) from err
    return HubCredentials(home_id=home_id, hub_id=hub, key_hex=key_hex, nats_password=password)


async def homes(conn: asyncpg.Connection) -> list[HomeRow]:
    """Every home with its hub's liveness and its count of alarms not yet resolved, by id."""
    return [HomeRow(**r) for r in await conn.fetch(_HOMES + " ORDER BY h.id")]


async def home(conn: asyncpg.Connection, home_id: str) -> HomeRow | None:
    """One home, as `homes` lists it."""
    row = await conn.fetchrow(_HOMES + " WHERE h.id = $1", home_id)
    return None if row is None else HomeRow(**row)


async def contacts(conn: asyncpg.Connection, home_id: str) -> list[ContactRow]:
    """A home's family contacts, by name."""
    rows = await conn.fetch("SELECT * FROM contacts WHERE home_id = $1 ORDER BY name", home_id)
    return [ContactRow(**r) for r in rows]


async def hub(conn: asyncpg.Connection, hub_id: str) -> HubRow | None:
    """One hub, or None if no home has it."""
    row = await conn.fetchrow("SELECT * FROM hubs WHERE id = $1", hub_id)
    return None if row is None else HubRow(**row)


async def hub_password_hashes(conn: asyncpg.Connection) -> dict[str, str]:
    """Every hub's id and NATS password hash: the broker's user list."""
    rows = await conn.fetch(
        "SELECT id, nats_password_hash FROM hubs WHERE nats_password_hash IS NOT NULL"
    )
    return {r["id"]: r["nats_password_hash"] for r in rows}


async def add_operator(
    conn: asyncpg.Connection, username: str, display_name: str, role: str, hashed: str
) -> OperatorRow:
    """Add an operator (the caller hashes the password with argon2).

    Raises:
        RegistrationError: the user name is taken, or the role is not operator/supervisor.
    """
    try:
        row = await conn.fetchrow(
            "INSERT INTO operators (username, display_name, role, password_hash)"
            " VALUES ($1, $2, $3, $4) RETURNING *",
            username,
            display_name,
            role,
            hashed,
        )
    except asyncpg.UniqueViolationError as err:
        msg = f"operator {username!r} already exists"
        raise RegistrationError(msg) from err
    except asyncpg.CheckViolationError as err:
        msg = f"role {role!r} is not operator or supervisor"
        raise RegistrationError(msg) from err
    return OperatorRow(**row)


async def operator(conn: asyncpg.Connection, username: str) -> OperatorRow | None:
    """One operator by user name."""
    row = await conn.fetchrow("SELECT * FROM operators WHERE username = $1", username)
    return None if row is None else OperatorRow(**row)
