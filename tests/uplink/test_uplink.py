"""Incidents and heartbeats reach the centre's engine signed, in order, each once."""

import json
from pathlib import Path

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, running_hub
from tests.uplink.conftest import HUB_ID, HUB_KEY
from tests.uplink.engine import Engine
from tests.uplink.hubs import reporting_hub
from wire.schema import event_topic
from wire.uplink import Heartbeat, IncidentUpdate, message_id, uplink_subject, verified

KEY = bytes.fromhex(HUB_KEY)
EXHAUSTED = "every step of the family ladder was tried without an acceptance"


async def test_incidents_and_heartbeats_arrive_signed_and_in_order(
    broker: LocalBroker, tmp_path: Path, engine: Engine
) -> None:
    config = reporting_hub(broker, tmp_path, engine)
    async with running_hub(config), device_client(broker) as device:
        await device.publish(event_topic("pendant-1"), json.dumps({"type": "pendant.pressed"}))

        async def firing_reported() -> bool:
            return any(
                isinstance(e.body, IncidentUpdate) and e.body.state == "firing"
                for e in await engine.envelopes()
            )

        await eventually(firing_reported)
        await device.publish(event_topic("pendant-1"), json.dumps({"type": "pendant.cancelled"}))

        async def cancelled_reported() -> bool:
            return any(
                isinstance(e.body, IncidentUpdate) and e.body.state == "cancelled"
                for e in await engine.envelopes()
            )

        await eventually(cancelled_reported)
        async with Store.open(config.store.path, readonly=True) as store:
            [incident] = await store.incidents()
            trail = await store.incident_log(incident.id)

    messages = await engine.uplink()
    envelopes = await engine.envelopes()
    seqs = [e.seq for e in envelopes]
    assert seqs == sorted(set(seqs)), "in order, each once"
    for message, envelope in zip(messages, envelopes, strict=True):
        assert verified(envelope, KEY)
        assert envelope.hub_id == HUB_ID
        assert message.headers is not None
        assert message.headers["Nats-Msg-Id"] == message_id(HUB_ID, envelope.seq)
        assert message.subject == uplink_subject(HUB_ID, envelope.body.kind)
    assert isinstance(envelopes[0].body, Heartbeat)
    assert {d.id for d in envelopes[0].body.devices} == {"pendant-1", "door-1", "leak-1"}
    updates = [e.body for e in envelopes if isinstance(e.body, IncidentUpdate)]
    # Alice's alert was the ladder's only step: once it went out, the family was exhausted.
    exhausted = [u for u in updates if u.family_exhausted]
    assert [(u.state, u.reason) for u in exhausted] == [("firing", EXHAUSTED)]
    changes = [u for u in updates if u.reason != EXHAUSTED]
    assert [(u.state, u.reason) for u in changes] == [(t["state"], t["reason"]) for t in trail]
    assert updates.index(exhausted[0]) == 2, "after it fired, before it was cancelled"
    assert {u.incident_id for u in updates} == {incident.id}
    assert updates[0].room == "Bedroom"
    assert updates[0].cause == incident.cause
