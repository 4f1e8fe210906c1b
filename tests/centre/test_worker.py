"""Workers write each uplink message once, apply snapshots newest-first, and refuse forgeries."""

import asyncio

import asyncpg
import nats
import pytest

from centre.bus import CentreBus, Received, tls_context
from centre.db import intake
from centre.partitions import partition_of
from centre.servers.nats import NatsCluster
from centre.simhub import incident_body
from centre.worker import Worker
from tests.centre.conftest import HubFactory, centre_connection
from tests.centre.support import count, ends_when_cancelled, running, until, workers_on
from wire.uplink import DeviceSummary, Heartbeat, UplinkEnvelope, signed, uplink_subject


async def test_a_heartbeat_updates_the_hub_and_its_devices(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    hub = await make_hub("home-a")
    pendant = DeviceSummary(id="pendant", name="Pendant", role="pendant", battery=80)
    await hub.heartbeat(devices=[pendant])
    async with running(workers_on(centre_pool, [centre_bus])):
        await until(
            lambda: count(centre_pool, "SELECT count(*) FROM devices WHERE hub_id = 'home-a'"),
            "the device list is written",
        )
    async with centre_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT * FROM hubs WHERE id = 'home-a'")
        battery = await conn.fetchval("SELECT battery FROM devices WHERE id = 'pendant'")
    assert row["version"] == "sim-1"
    assert row["last_seq"] == 1
    assert row["last_heartbeat"] is not None
    assert battery == 80


async def test_an_older_snapshot_arriving_late_does_not_replace_a_newer_one(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    hub = await make_hub("home-a")
    firing = hub.envelope(incident_body("inc-1", "firing"))
    acknowledged = hub.envelope(incident_body("inc-1", "acknowledged", accepted_by="Alice"))
    await hub.publish(acknowledged)
    await hub.publish(firing)  # seq 1 after seq 2
    async with running(workers_on(centre_pool, [centre_bus])):
        await until(
            lambda: count(centre_pool, "SELECT (count(*) >= 2)::int FROM uplink_messages"),
            "both stored",
        )
    async with centre_pool.acquire() as conn:
        row = await conn.fetchrow("SELECT state, accepted_by, seq FROM incidents")
    assert (row["state"], row["accepted_by"], row["seq"]) == ("acknowledged", "Alice", 2)


async def test_three_workers_sharing_the_consumer_write_every_message_once(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, nats_cluster: NatsCluster
):
    hubs = [await make_hub(f"home-{n}") for n in range(3)]
    buses = [await centre_connection(nats_cluster, f"worker-{n}") for n in range(3)]
    workers = workers_on(centre_pool, buses)
    sent = 0
    async with running(workers):
        for round_ in range(40):
            for hub in hubs:
                await hub.heartbeat()
                sent += 1
            if round_ % 10 == 0:  # a hub that resends what the stream already holds
                envelope = hub.envelope(incident_body(f"inc-{round_}", "firing"))
                assert await hub.publish(envelope)
                assert not await hub.publish(envelope)
                sent += 1

        async def all_written() -> bool:
            return await count(centre_pool, "SELECT count(*) FROM uplink_messages") >= sent

        await until(all_written, "every message written")
    for bus in buses:
        await bus.close()
    assert await count(centre_pool, "SELECT count(*) FROM uplink_messages") == sent
    assert sum(w.counts["stored"] for w in workers) == sent
    assert sum(w.counts["duplicate"] for w in workers) == 0
    assert sum(1 for w in workers if w.counts["stored"]) >= 2  # the work was shared


async def test_a_resend_after_the_duplicate_window_is_written_once(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    hub = await make_hub("home-a")
    envelope = await hub.heartbeat()
    # Past the stream's de-duplication window the same message arrives as a new one.
    await hub.client.jetstream().publish(
        uplink_subject(hub.hub_id, "heartbeat"),
        envelope.model_dump_json().encode(),
        headers={"Nats-Msg-Id": "resend-after-window"},
    )
    worker = Worker(centre_pool, centre_bus)
    async with running([worker]):
        await until(lambda: _handled(worker, 2), "both copies handled")
    assert worker.counts == {"stored": 1, "duplicate": 1}
    assert await count(centre_pool, "SELECT count(*) FROM uplink_messages") == 1


async def test_forged_replayed_unknown_and_malformed_messages_are_refused_and_counted(
    make_hub: HubFactory,
    centre_pool: asyncpg.Pool,
    centre_bus: CentreBus,
    nats_cluster: NatsCluster,
):
    hub = await make_hub("home-a")
    first = await hub.heartbeat()
    replay = signed(first.model_copy(update={"body": _heartbeat(first, version="evil")}), hub.key)
    # The hub's own resend of seq 1 is dropped by the stream; one under another message id is
    # what the centre itself must catch.
    await _publish_as_centre(nats_cluster, "uplink.home-a.heartbeat", replay, "replay")
    bad_sig = hub.envelope(_heartbeat(first)).model_copy(update={"sig": "0" * 64})
    await hub.publish(bad_sig)
    stranger = signed(
        UplinkEnvelope(hub_id="home-x", seq=1, sent_at=first.sent_at, body=first.body), b"k"
    )
    await _publish_as_centre(nats_cluster, "uplink.home-x.heartbeat", stranger, "x1")
    wrong_hub = signed(
        UplinkEnvelope(hub_id="home-b", seq=9, sent_at=first.sent_at, body=first.body), hub.key
    )
    await hub.client.jetstream().publish(
        "uplink.home-a.heartbeat", wrong_hub.model_dump_json().encode()
    )
    await hub.client.jetstream().publish("uplink.home-a.heartbeat", b"{not json")
    worker = Worker(centre_pool, centre_bus)
    async with running([worker]):
        await until(lambda: _handled(worker, 6), "every message handled")
    assert worker.counts == {
        "stored": 1,
        "replayed": 1,
        "forged": 2,
        "unknown_hub": 1,
        "malformed": 1,
    }
    async with centre_pool.acquire() as conn:
        assert await intake.rejection_counts(conn) == {
            "replayed": 1,
            "forged": 2,
            "unknown_hub": 1,
            "malformed": 1,
        }
        version = await conn.fetchval("SELECT version FROM hubs WHERE id = 'home-a'")
    assert version == "sim-1"  # the replay changed nothing


async def _handled(worker: Worker, n: int) -> bool:
    return sum(worker.counts.values()) >= n


def _heartbeat(envelope: UplinkEnvelope, *, version: str = "sim-1") -> Heartbeat:
    body = envelope.body
    assert isinstance(body, Heartbeat)
    return body.model_copy(update={"version": version})


async def _publish_as_centre(
    cluster: NatsCluster, subject: str, envelope: UplinkEnvelope, msg_id: str
) -> None:
    """Publish with full rights: what a hub's own credentials could never send."""
    client = await nats.connect(
        servers=cluster.servers,
        user="centre",
        password=cluster.centre_password,
        tls=tls_context(cluster.ca_file),
    )
    await client.jetstream().publish(
        subject, envelope.model_dump_json().encode(), headers={"Nats-Msg-Id": msg_id}
    )
    await client.close()


async def test_a_worker_goes_on_fetching_after_the_plain_timeout_of_a_failover(
    make_hub: HubFactory, centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    """While a node fails over, nats-py's fetch raises asyncio's own TimeoutError, not its own."""
    hub = await make_hub("home-t")
    partition = partition_of(hub.hub_id)
    assert await centre_bus.fetch(partition, 1, 0.1) == []  # binds the pull subscription
    subscription = centre_bus._partitions[partition]
    real_fetch, failures = subscription.fetch, [0]

    async def failing_over(*args: object, **kwargs: object) -> list[nats.aio.msg.Msg]:
        if failures[0] < 3:
            failures[0] += 1
            raise TimeoutError
        return await real_fetch(*args, **kwargs)  # type: ignore[arg-type]

    subscription.fetch = failing_over  # type: ignore[method-assign]
    await hub.heartbeat()
    async with running(workers_on(centre_pool, [centre_bus])):
        await until(
            lambda: count(centre_pool, "SELECT count(*) FROM uplink_messages"),
            "the heartbeat sent during the failover is written",
        )
    assert failures[0] == 3


async def test_a_worker_stopped_mid_batch_gives_back_what_it_had_not_written(
    make_hub: HubFactory,
    centre_pool: asyncpg.Pool,
    nats_cluster: NatsCluster,
    centre_bus: CentreBus,
    monkeypatch: pytest.MonkeyPatch,
):
    hub = await make_hub("home-a")
    for _ in range(20):
        await hub.heartbeat()
    bus = await centre_connection(nats_cluster, "stopping")
    worker = Worker(centre_pool, bus, batch=20)
    handled: list[Received] = []
    write = worker.handle

    async def write_until_the_fifth(received: Received) -> str:
        handled.append(received)
        if len(handled) == 5:
            await asyncio.Event().wait()
        return await write(received)

    monkeypatch.setattr(worker, "handle", write_until_the_fifth)
    task = asyncio.create_task(worker.run())

    async def at_the_fifth() -> bool:
        return len(handled) == 5

    await until(at_the_fifth, "the worker at its fifth message")
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    await bus.close()
    assert await count(centre_pool, "SELECT count(*) FROM uplink_messages") == 4
    again: list[Received] = []  # another worker has them now, not after the ack wait (30 s)
    while batch := await centre_bus.fetch(partition_of(hub.hub_id), 20, 2.0):
        again += batch
    assert sorted(UplinkEnvelope.model_validate_json(r.data).seq for r in again) == list(
        range(5, 21)
    )
    assert {r.deliveries for r in again} == {2}


async def test_a_worker_stops_when_cancelled_even_if_nats_py_swallowed_the_cancellation(
    centre_pool: asyncpg.Pool, centre_bus: CentreBus
):
    worker = Worker(centre_pool, centre_bus)
    assert await ends_when_cancelled(worker.run, centre_bus, "fetch")
