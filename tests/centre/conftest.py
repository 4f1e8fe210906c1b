"""The centre's fixtures: a 3-node NATS cluster and a PostgreSQL, each started once per session.

Each test gets a fresh database (a copy of a migrated template) and fresh streams, so tests do
not see each other's messages.
"""

import asyncio
import contextlib
import itertools
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator

import asyncpg
import nats
import nats.js.errors
import pytest
import stamina
from nats.js.api import ConsumerInfo
from nats.js.errors import ServiceUnavailableError

from centre.bus import CentreBus, tls_context
from centre.db.migrations import migrate
from centre.db.models import ContactRow
from centre.db.pool import open_pool
from centre.partitions import partition_consumer
from centre.registry import Registry
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.servers.postgres import LocalPostgres
from centre.simhub import SimulatedHub
from wire.uplink import DOWNLINK_STREAM, UPLINK_STREAM

TEMPLATE = "centre_template"
_databases = itertools.count(1)
HubFactory = Callable[..., Awaitable[SimulatedHub]]
ConsumerState = Callable[[int], Awaitable[ConsumerInfo]]


@pytest.fixture(scope="session")
def nats_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[NatsCluster]:
    """Three nats-server nodes with JetStream, TLS on the client ports, on free ports."""
    with NatsCluster(tmp_path_factory.mktemp("nats")) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def postgres_server() -> Iterator[LocalPostgres]:
    """A throwaway PostgreSQL with a migrated template database."""
    with LocalPostgres(fsync=False) as server:

        async def template() -> None:
            conn = await asyncpg.connect(server.dsn())
            await conn.execute(f"CREATE DATABASE {TEMPLATE}")
            await conn.close()
            conn = await asyncpg.connect(server.dsn(TEMPLATE))
            await migrate(conn)
            await conn.close()

        asyncio.run(template())
        yield server


@pytest.fixture
async def centre_dsn(postgres_server: LocalPostgres) -> AsyncIterator[str]:
    """A fresh, migrated database for this test."""
    name = f"centre_test_{next(_databases)}"
    conn = await asyncpg.connect(postgres_server.dsn())
    await conn.execute(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}")
    yield postgres_server.dsn(name)
    await conn.execute(f"DROP DATABASE {name} WITH (FORCE)")
    await conn.close()


@pytest.fixture
def centre_dsn_sync(postgres_server: LocalPostgres) -> Iterator[str]:
    """A fresh, migrated database, for tests that are not coroutines (the CLI's)."""
    name = f"centre_test_{next(_databases)}"

    async def admin(sql: str) -> None:
        conn = await asyncpg.connect(postgres_server.dsn())
        await conn.execute(sql)
        await conn.close()

    asyncio.run(admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE}"))
    yield postgres_server.dsn(name)
    asyncio.run(admin(f"DROP DATABASE {name} WITH (FORCE)"))


@pytest.fixture
async def centre_pool(centre_dsn: str) -> AsyncIterator[asyncpg.Pool]:
    """A connection pool on this test's database."""
    async with open_pool(centre_dsn, max_size=8) as pool:
        yield pool


async def _fresh_streams(cluster: NatsCluster) -> None:
    client = await nats.connect(
        servers=cluster.servers,
        user=CENTRE_USER,
        password=cluster.centre_password,
        tls=tls_context(cluster.ca_file),
    )
    js = client.jetstream()
    for stream in (UPLINK_STREAM, DOWNLINK_STREAM):
        with contextlib.suppress(nats.js.errors.NotFoundError):
            await js.delete_stream(stream)
    await client.close()


async def centre_connection(cluster: NatsCluster, name: str = "centre") -> CentreBus:
    """Another connection of the centre (a second worker process, say)."""
    return await CentreBus.connect(
        cluster.servers,
        user=CENTRE_USER,
        password=cluster.centre_password,
        ca_file=cluster.ca_file,
        name=name,
    )


@pytest.fixture
async def centre_bus(nats_cluster: NatsCluster) -> AsyncIterator[CentreBus]:
    """The centre's connection, on streams (R3) and a workers' consumer made new for this test."""
    await _fresh_streams(nats_cluster)
    bus = await centre_connection(nats_cluster)
    await bus.ensure_streams(replicas=3)
    yield bus
    await bus.close()


@pytest.fixture
def registry(
    centre_pool: asyncpg.Pool, centre_bus: CentreBus, nats_cluster: NatsCluster
) -> Registry:
    """Registers homes in this test's database and their hubs' users in the cluster."""

    async def users_changed(hashes: dict[str, str]) -> None:
        await asyncio.to_thread(nats_cluster.set_hubs, hashes)

    return Registry(centre_pool, centre_bus, users_changed)


@pytest.fixture
async def make_hub(registry: Registry, nats_cluster: NatsCluster) -> AsyncIterator[HubFactory]:
    """Register a home and connect its simulated hub: `await make_hub("home-a", ...)`."""
    opened: list[SimulatedHub] = []

    async def make(
        home_id: str,
        *,
        contacts: tuple[ContactRow, ...] = (),
        escalation: dict[str, int] | None = None,
    ) -> SimulatedHub:
        credentials = await registry.add_home(
            home_id, f"Home {home_id}", contacts=contacts, escalation=escalation
        )
        hub = SimulatedHub(
            credentials.hub_id,
            bytes.fromhex(credentials.key_hex),
            credentials.nats_password,
            nats_cluster.servers,
            nats_cluster.ca_file,
        )
        await hub.__aenter__()
        opened.append(hub)
        return hub

    yield make
    for hub in opened:
        await hub.__aexit__(None, None, None)


@pytest.fixture
async def partition_consumers(nats_cluster: NatsCluster) -> AsyncIterator[ConsumerState]:
    """Reads the workers' consumers: `await state(p)` is partition p's `ConsumerInfo` now."""
    client = await nats.connect(
        servers=nats_cluster.servers,
        user=CENTRE_USER,
        password=nats_cluster.centre_password,
        tls=tls_context(nats_cluster.ca_file),
    )

    # A consumer just made answers "unavailable" until its replicas have elected a leader.
    @stamina.retry(on=ServiceUnavailableError, timeout=30)
    async def state(partition: int) -> ConsumerInfo:
        return await client.jetstream().consumer_info(UPLINK_STREAM, partition_consumer(partition))

    yield state
    await client.close()
