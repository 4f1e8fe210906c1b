"""The servers the centre runs on: a JetStream cluster that reloads its users, and PostgreSQL.

Both start again on fresh ports when a port chosen for them was taken before they listened.
"""

import socket
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import asyncpg
import nats
import nats.errors
import pytest
from nats.js.api import StreamConfig

import centre.servers.nats
import centre.servers.postgres
import centre.servers.process
from centre.bus import tls_context
from centre.db.migrations import DatabaseTooNew, migrate, migrations
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.servers.natsconf import password_hash
from centre.servers.postgres import LocalPostgres
from centre.servers.process import PortInUseError, free_port


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


@pytest.fixture
def taken_port() -> Iterator[int]:
    """A port another process listens on: as if it took the port after it was chosen."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def _taken_first(monkeypatch: pytest.MonkeyPatch, module: ModuleType, taken: int) -> None:
    """The module's first port choice is the taken port, the rest are really free."""
    choices = iter([taken])
    monkeypatch.setattr(module, "free_port", lambda: next(choices, None) or free_port())


async def test_a_node_whose_port_was_taken_meanwhile_starts_again_on_fresh_ports(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, taken_port: int
):
    _taken_first(monkeypatch, centre.servers.nats, taken_port)
    with NatsCluster(tmp_path) as cluster:
        ports = {p for n in cluster.nodes for p in (n.client_port, n.cluster_port, n.http_port)}
        assert taken_port not in ports
        client = await nats.connect(
            servers=cluster.servers,
            user=CENTRE_USER,
            password=cluster.centre_password,
            tls=tls_context(cluster.ca_file),
        )
        try:
            js = client.jetstream()
            await js.add_stream(StreamConfig(name="PORTS", subjects=["ports.>"], num_replicas=3))
            ack = await js.publish("ports.test", b"served")
            stored = await js.get_msg("PORTS", ack.seq)
        finally:
            await client.close()
    assert stored.data == b"served"


async def test_postgres_whose_port_was_taken_meanwhile_starts_on_another(
    monkeypatch: pytest.MonkeyPatch, taken_port: int
):
    _taken_first(monkeypatch, centre.servers.postgres, taken_port)
    with LocalPostgres(fsync=False) as server:
        assert server.port != taken_port
        conn = await asyncpg.connect(server.dsn())
        try:
            assert await conn.fetchval("SELECT 1 + 1") == 2
        finally:
            await conn.close()


def test_a_port_taken_at_every_try_is_named_in_the_error(
    monkeypatch: pytest.MonkeyPatch, taken_port: int
):
    monkeypatch.setattr(centre.servers.postgres, "free_port", lambda: taken_port)
    monkeypatch.setattr(centre.servers.process, "PORT_ATTEMPTS", 2)
    server = LocalPostgres(fsync=False)
    with pytest.raises(PortInUseError, match=f"TCP port {taken_port} is already in use") as err:
        server.__enter__()
    assert "2 tries" in str(err.value)
    assert err.value.port == taken_port
