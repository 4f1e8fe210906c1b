"""Connections to the centre's database: a pool with JSON codecs, migrated at open."""

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import asyncpg

from centre.db.migrations import migrate


class DatabaseError(Exception):
    """The database could not be reached or refused a statement; the message says which."""


async def _codecs(conn: asyncpg.Connection) -> None:
    for kind in ("json", "jsonb"):
        await conn.set_type_codec(kind, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


@asynccontextmanager
async def open_pool(
    dsn: str, *, min_size: int = 1, max_size: int = 10, migrated: bool = True
) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on `dsn`, the schema brought up to date first when `migrated`.

    Raises:
        DatabaseError: PostgreSQL cannot be reached at `dsn`.
    """
    try:
        pool = await asyncpg.create_pool(dsn, min_size=min_size, max_size=max_size, init=_codecs)
    except (OSError, asyncpg.PostgresError) as err:
        msg = f"PostgreSQL unreachable at {_safe(dsn)}: {err}"
        raise DatabaseError(msg) from err
    try:
        if migrated:
            async with pool.acquire() as conn:
                await migrate(conn)
        yield pool
    finally:
        await pool.close()


def _safe(dsn: str) -> str:
    """The DSN without a password, for error messages."""
    if "@" not in dsn or "://" not in dsn:
        return dsn
    scheme, rest = dsn.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    return f"{scheme}://{credentials.split(':', 1)[0]}@{host}"
