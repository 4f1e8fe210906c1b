"""Fixtures for the console's tests: a real PostgreSQL, a fresh database per test, the app."""

import itertools
from collections.abc import AsyncIterator, Iterator

import asyncpg
import httpx
import pytest

from centre.console.app import build_app
from centre.console.context import ConsoleContext, console_context
from centre.console.settings import ConsoleSettings
from tests.centre.console.pg import local_postgres, migrations
from tests.centre.console.seed import seed_operators

_numbers = itertools.count(1)


@pytest.fixture(scope="session")
def postgres() -> Iterator[str]:
    with local_postgres() as dsn:
        yield dsn


@pytest.fixture
async def db(postgres: str) -> AsyncIterator[asyncpg.Pool]:
    """A pool on a fresh, migrated database with the test operators in it."""
    name = f"console_{next(_numbers)}"
    admin = await asyncpg.connect(postgres)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
    finally:
        await admin.close()
    pool = await asyncpg.create_pool(postgres.rsplit("/", 1)[0] + f"/{name}", min_size=1)
    try:
        async with pool.acquire() as conn:
            for script in migrations():
                async with conn.transaction():
                    await conn.execute(script)
        await seed_operators(pool)
        yield pool
    finally:
        await pool.close()


@pytest.fixture
async def ctx(db: asyncpg.Pool) -> AsyncIterator[ConsoleContext]:
    context = console_context(db, ConsoleSettings(port=0, poll_s=0.05))
    async with context.feed:
        yield context


@pytest.fixture
async def client(ctx: ConsoleContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as opened:
        yield opened
