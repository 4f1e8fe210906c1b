"""Fixtures for the console's tests: the app over the centre's database and downlink."""

from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest

from centre.bus import CentreBus
from centre.console.actions import DownlinkActions
from centre.console.app import build_app
from centre.console.context import ConsoleContext, console_context
from centre.console.settings import ConsoleSettings
from centre.downlink import Downlink
from tests.centre.console.seed import seed_operators


@pytest.fixture
async def db(centre_pool: asyncpg.Pool) -> asyncpg.Pool:
    """This test's migrated database, with the test operators in it."""
    await seed_operators(centre_pool)
    return centre_pool


@pytest.fixture
async def ctx(db: asyncpg.Pool, centre_bus: CentreBus) -> AsyncIterator[ConsoleContext]:
    actions = DownlinkActions(db, Downlink(db, centre_bus))
    context = console_context(db, ConsoleSettings(port=0, poll_s=0.05), actions)
    async with context.feed:
        yield context


@pytest.fixture
async def client(ctx: ConsoleContext) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=build_app(ctx))
    async with httpx.AsyncClient(transport=transport, base_url="http://console") as opened:
        yield opened
