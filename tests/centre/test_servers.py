"""The servers the centre runs on: a JetStream cluster that reloads its users, and PostgreSQL."""

import asyncpg
import nats
import nats.errors
import pytest

from centre.bus import tls_context
from centre.db.migrations import DatabaseTooNew, migrate, migrations
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.servers.natsconf import password_hash
from centre.servers.postgres import LocalPostgres


async def test_the_cluster_has_three_nodes_and_a_jetstream_leader(nats_cluster: NatsCluster):
    client = await nats.connect(
        servers=nats_cluster.servers[:1],
        user=CENTRE_USER,
        password=nats_cluster.centre_password,
        tls=tls_context(nats_cluster.ca_file),
    )
    info = await client.jetstream().account_info()
    await client.close()
    assert len(nats_cluster.servers) == 3
    assert info.api.total >= 0


async def test_a_hub_added_to_the_accounts_can_connect_after_the_reload(nats_cluster: NatsCluster):
    async def connects(user: str, password: str) -> bool:
        try:
            client = await nats.connect(
                servers=nats_cluster.servers,
                user=user,
                password=password,
                tls=tls_context(nats_cluster.ca_file),
                allow_reconnect=False,
                max_reconnect_attempts=0,
                connect_timeout=2,
            )
        except (nats.errors.Error, OSError):
            return False
        await client.close()
        return True

    assert not await connects("hub-late", "its-password")
    nats_cluster.set_hubs({"hub-late": password_hash("its-password")})
    assert await connects("hub-late", "its-password")
    assert not await connects("hub-late", "another-password")
    nats_cluster.set_hubs({})


async def test_migrations_apply_once_and_a_newer_database_is_refused(
    postgres_server: LocalPostgres,
):
    conn = await asyncpg.connect(postgres_server.dsn())
    await conn.execute("CREATE DATABASE migrations_once")
    await conn.close()
    conn = await asyncpg.connect(postgres_server.dsn("migrations_once"))
    try:
        applied = await migrate(conn)
        assert applied == [m.name for m in migrations()]
        assert await migrate(conn) == []
        await conn.execute("INSERT INTO schema_migrations (version, name) VALUES (9999, 'x.sql')")
        with pytest.raises(DatabaseTooNew, match="9999"):
            await migrate(conn)
    finally:
        await conn.close()
