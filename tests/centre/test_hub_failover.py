"""A real hub reporting to a 3-node cluster loses the node it is connected to, as a machine
that loses power: its uplink goes on through another node with nothing lost or written twice,
and an operator's accept sent after the loss still reaches it and stops its ladder.

The cluster is this test's own (a node killed would disturb the session's shared cluster).
"""

import asyncio
import json
import urllib.request
from collections.abc import AsyncIterator, Iterator
from contextlib import AsyncExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest

from centre.bus import BusError, CentreBus
from centre.console.actions import DownlinkActions, HubUnreachableError
from centre.downlink import Downlink
from centre.family import FamilyMessenger
from centre.registry import Registry
from centre.servers.nats import CENTRE_USER, NatsCluster
from centre.timers import Timers
from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.centre.console.seed import OPERATOR, seed_operators
from tests.centre.support import count, running, until, workers_on
from tests.support.calls import twilio_section
from tests.support.hubs import config_data, device_client, running_hub
from tests.support.standins import TwilioStandIn, serving
from wire.schema import event_topic

ALICE = "+447700900123"


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[NatsCluster]:
    with NatsCluster(tmp_path / "nats") as own:
        yield own


@pytest.fixture
async def bus(cluster: NatsCluster) -> AsyncIterator[CentreBus]:
    connected = await CentreBus.connect(
        cluster.servers,
        user=CENTRE_USER,
        password=cluster.centre_password,
        ca_file=cluster.ca_file,
        name="centre",
    )
    await connected.ensure_streams(replicas=3)
    yield connected
    await connected.close()


def node_serving(cluster: NatsCluster, client_name: str) -> int:
    """The index of the node `client_name` is connected to."""
    for index, node in enumerate(cluster.nodes):
        address = f"http://127.0.0.1:{node.http_port}/connz"
        with urllib.request.urlopen(address, timeout=2) as answer:
            reply = json.load(answer)
        if any(c.get("name") == client_name for c in reply.get("connections") or ()):
            return index
    raise AssertionError(f"{client_name} is connected to no node")


async def ticked_despite_failover(timers: Timers, now: datetime) -> None:
    """A tick of the centre's timers at `now`, tried again (as `Timers.run` does) meanwhile."""

    async def ticked() -> bool:
        try:
            await timers.tick(now)
        except BusError:
            return False
        return True

    await until(ticked, "a tick of the timers")


async def accepted_despite_failover(actions: DownlinkActions, alarm_id: int) -> None:
    """Accept as Sam, trying again while the centre's own connection fails over."""

    async def taken() -> bool:
        try:
            await actions.act(alarm_id, "accept", operator=OPERATOR[0], note="calling her")
        except HubUnreachableError:
            return False
        return True

    await until(taken, "the accept taken by the downlink")


async def test_the_hub_goes_on_through_another_node_when_its_own_dies(
    broker: LocalBroker, tmp_path: Path, cluster: NatsCluster, bus: CentreBus,
    centre_pool: asyncpg.Pool,
) -> None:  # fmt: skip
    pool = centre_pool
    await seed_operators(pool)

    async def users_changed(hashes: dict[str, str]) -> None:
        await asyncio.to_thread(cluster.set_hubs, hashes)

    registry = Registry(pool, bus, users_changed)
    credentials = await registry.add_home("home-f", "Home F")
    twilio = TwilioStandIn()
    timers = Timers(pool, bus, FamilyMessenger(None, None), silent_after_s=3600)
    async with AsyncExitStack() as stack:
        data = config_data(
            broker,
            tmp_path,
            web={"enabled": False},
            contacts=[{"name": "Alice", "phone": ALICE}],
            twilio=twilio_section(await stack.enter_async_context(serving(twilio))),
            centre={
                "servers": cluster.servers,
                "hub_id": credentials.hub_id,
                "password": credentials.nats_password,
                "key": credentials.key_hex,
                "ca_file": str(cluster.ca_file),
                "ack_timeout_s": 2,
            },
            escalation={
                "emergency": {"steps": [{"contact": "Alice", "channel": "sms", "after_s": 0}]}
            },
        )
        config = config_from_dict(data)
        await stack.enter_async_context(running(workers_on(pool, [bus])))
        await stack.enter_async_context(running_hub(config))
        device = await stack.enter_async_context(device_client(broker))
        await device.publish(event_topic("pendant-1"), json.dumps({"type": "pendant.pressed"}))
        sql_incidents = "SELECT count(*) FROM incidents WHERE hub_id = $1"
        await until(lambda: count(pool, sql_incidents, credentials.hub_id), "the press uplinked")

        cluster.stop_node(node_serving(cluster, f"hub {credentials.hub_id}"), kill=True)
        await ticked_despite_failover(timers, datetime.now(UTC) + timedelta(minutes=4))
        alarm_id = await count(pool, "SELECT id FROM alarms WHERE kind = 'incident'")
        await accepted_despite_failover(DownlinkActions(pool, Downlink(pool, bus)), alarm_id)
        sql_taken = "SELECT count(*) FROM incidents WHERE hub_id = $1 AND state = 'acknowledged'"
        await until(
            lambda: count(pool, sql_taken, credentials.hub_id),
            "the hub's acceptance of the operator's accept uplinked after the failover",
        )
        async with pool.acquire() as conn:
            seqs = [
                r["seq"]
                for r in await conn.fetch(
                    "SELECT seq FROM uplink_messages WHERE hub_id = $1 ORDER BY seq",
                    credentials.hub_id,
                )
            ]

    async with Store.open(config.store.path, readonly=True) as store:
        [incident] = await store.incidents()
    assert incident.acknowledged_by == "Sam Okafor at the monitoring centre"
    assert seqs == list(range(1, len(seqs) + 1)), "every message once, none missing"
    assert [m["body"] for m in twilio.outbound(to=ALICE)][-1].startswith("Sam Okafor at the")
