"""Uplink partitions: each hub's messages written in its order, however many workers share them."""

import asyncpg
import nats
import pytest

from centre.bus import CentreBus, tls_context
from centre.partitions import UPLINK_PARTITIONS, partition_of, share, stored_subject
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.worker import Worker
from tests.centre.conftest import HubFactory, centre_connection
from tests.centre.support import count, running, until
from wire.uplink import uplink_subject


def test_the_partitions_are_shared_out_whole_among_the_workers():
    for workers in range(1, UPLINK_PARTITIONS + 1):
        shares = [share(slot, workers) for slot in range(workers)]
        assert sorted(p for s in shares for p in s) == list(range(UPLINK_PARTITIONS))
        assert min(map(len, shares)) >= UPLINK_PARTITIONS // workers
    with pytest.raises(ValueError, match="17 workers"):
        share(0, UPLINK_PARTITIONS + 1)
    with pytest.raises(ValueError, match="slot 2 is not one of 0 to 1"):
        share(2, 2)


async def test_the_brokers_put_each_hub_in_the_partition_the_centre_reads_it_from(
    nats_cluster: NatsCluster, centre_bus: CentreBus
):
    client = await nats.connect(
        servers=nats_cluster.servers,
        user=CENTRE_USER,
        password=nats_cluster.centre_password,
        tls=tls_context(nats_cluster.ca_file),
    )
    hubs = [f"hub-{n}" for n in range(64)]
    for hub in hubs:
        await client.jetstream().publish(uplink_subject(hub, "heartbeat"), hub.encode())
    await client.close()
    assert len({partition_of(hub) for hub in hubs}) == UPLINK_PARTITIONS
    for hub in hubs:
        newest = await centre_bus.newest(hub, "heartbeat")
        assert newest is not None, f"{hub} is not under {stored_subject(hub, 'heartbeat')}"
        assert (newest.subject, newest.data) == (stored_subject(hub, "heartbeat"), hub.encode())


async def test_two_workers_draining_a_backlog_write_each_hubs_messages_in_its_order(
    make_hub: HubFactory,
    centre_pool: asyncpg.Pool,
    centre_bus: CentreBus,
    nats_cluster: NatsCluster,
):
    hubs = [await make_hub(f"home-{n}") for n in range(4)]
    for _ in range(40):  # the centre was away: each batch fetched holds every hub's next one
        for hub in hubs:
            await hub.heartbeat()
    other = await centre_connection(nats_cluster, "second-worker")
    workers = [
        Worker(centre_pool, bus, partitions=share(slot, 2), batch=4)
        for slot, bus in enumerate((centre_bus, other))
    ]
    async with running(workers):
        await until(
            lambda: count(centre_pool, "SELECT (count(*) = 160)::int FROM uplink_messages"),
            "the backlog written",
        )
    await other.close()
    async with centre_pool.acquire() as conn:
        overtaken = await conn.fetch(
            "SELECT hub_id, seq FROM (SELECT hub_id, seq, received_at,"
            " lag(received_at) OVER (PARTITION BY hub_id ORDER BY seq) AS before"
            " FROM uplink_messages) AS w WHERE received_at < before"
        )
    assert [dict(r) for r in overtaken] == []
