"""What the broker refuses: a hub speaking for another home, reading another's, or plain TCP."""

import asyncio
import socket
import ssl

import nats
import nats.errors
import pytest

from centre.bus import CentreBus, tls_context
from centre.partitions import UPLINK_PARTITIONS, partition_of, stored_subject
from centre.servers.nats import NatsCluster
from centre.simhub import SimulatedHub
from tests.centre.conftest import HubFactory
from wire.uplink import DOWNLINK_STREAM, UPLINK_STREAM, downlink_consumer, inbox_prefix


async def _as_hub(
    cluster: NatsCluster, hub: SimulatedHub, errors: list[str]
) -> nats.aio.client.Client:
    async def noted(err: Exception) -> None:
        errors.append(str(err))

    return await nats.connect(
        servers=cluster.servers,
        user=hub.hub_id,
        password=hub._password,
        tls=tls_context(cluster.ca_file),
        inbox_prefix=inbox_prefix(hub.hub_id),
        error_cb=noted,
        allow_reconnect=False,
    )


async def _stream_messages(bus: CentreBus, cluster: NatsCluster, stream: str) -> int:
    client = await nats.connect(
        servers=cluster.servers, user="centre", password=cluster.centre_password,
        tls=tls_context(cluster.ca_file),
    )  # fmt: skip
    info = await client.jetstream().stream_info(stream)
    await client.close()
    return int(info.state.messages)


async def test_a_hub_cannot_publish_under_another_hubs_subject(
    make_hub: HubFactory, nats_cluster: NatsCluster, centre_bus: CentreBus
):
    mallory = await make_hub("home-m")
    await make_hub("home-b")
    errors: list[str] = []
    client = await _as_hub(nats_cluster, mallory, errors)
    with pytest.raises((TimeoutError, nats.errors.NoRespondersError)):
        await client.jetstream().publish("uplink.home-b.heartbeat", b"{}", timeout=1)
    await client.close()
    assert any("permissions violation for publish" in e.lower() for e in errors), errors
    assert await _stream_messages(centre_bus, nats_cluster, UPLINK_STREAM) == 0


async def test_a_hub_cannot_put_its_messages_into_another_partition(
    make_hub: HubFactory, nats_cluster: NatsCluster, centre_bus: CentreBus
):
    """Where no worker would read them in order with the rest of its messages."""
    mallory = await make_hub("home-m")
    elsewhere = (partition_of(mallory.hub_id) + 1) % UPLINK_PARTITIONS
    errors: list[str] = []
    client = await _as_hub(nats_cluster, mallory, errors)
    for subject in (f"uplink.home-m.heartbeat.{elsewhere}", "uplink.home-m.heartbeat.x"):
        with pytest.raises((TimeoutError, nats.errors.NoRespondersError)):
            await client.jetstream().publish(subject, b"{}", timeout=1)
    assert await client.jetstream().publish(stored_subject("home-m", "heartbeat"), b"{}")
    await client.close()
    assert sum("permissions violation for publish" in e.lower() for e in errors) == 2, errors
    assert await _stream_messages(centre_bus, nats_cluster, UPLINK_STREAM) == 1


async def test_a_hub_cannot_read_another_hubs_inbox_downlink_or_consumer(
    make_hub: HubFactory, nats_cluster: NatsCluster, centre_bus: CentreBus
):
    mallory = await make_hub("home-m")
    await make_hub("home-b")
    errors: list[str] = []
    client = await _as_hub(nats_cluster, mallory, errors)
    for subject in (f"{inbox_prefix('home-b')}.>", "downlink.home-b.action", "uplink.>"):
        await client.subscribe(subject)
    await client.flush()
    subscription = await client.jetstream().pull_subscribe_bind(
        downlink_consumer("home-b"), DOWNLINK_STREAM
    )
    with pytest.raises(TimeoutError):
        await subscription.fetch(1, timeout=1)
    await asyncio.sleep(0)  # let the last -ERR be read
    await client.close()
    refused = " | ".join(errors).lower()
    for subject in (f"{inbox_prefix('home-b')}.>", "downlink.home-b.action", "uplink.>"):
        assert f'subscription to "{subject}"'.lower() in refused
    assert f"consumer.msg.next.{DOWNLINK_STREAM}.hub-home-b".lower() in refused


def test_a_plain_connection_to_the_client_port_gets_no_service(nats_cluster: NatsCluster):
    host, port = nats_cluster.servers[0].removeprefix("tls://").split(":")
    with socket.create_connection((host, int(port)), timeout=5) as plain:
        info = plain.recv(4096)
        assert b'"tls_required":true' in info
        plain.sendall(b'CONNECT {"verbose":true}\r\nPING\r\n')
        answer = b""
        while chunk := plain.recv(4096):
            answer += chunk
    assert b"PONG" not in answer
    assert b"+OK" not in answer


async def test_a_client_that_does_not_trust_the_centres_ca_cannot_connect(
    nats_cluster: NatsCluster,
):
    with pytest.raises((ssl.SSLError, nats.errors.Error, OSError)):
        await nats.connect(
            servers=nats_cluster.servers,
            user="centre",
            password=nats_cluster.centre_password,
            tls=ssl.create_default_context(),
            allow_reconnect=False,
            max_reconnect_attempts=0,
            connect_timeout=2,
        )
