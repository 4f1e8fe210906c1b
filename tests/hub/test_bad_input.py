"""Bad input is logged once per cause and topic, counted, dropped; nothing else is lost."""

import json
import logging
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from tests.support.reliability import record
from wire.control import ACK_TOPIC
from wire.schema import MAX_PAYLOAD_BYTES, PAIRING_TOPIC, event_topic, status_topic

CASES = [
    ("malformed_json", event_topic("pendant-1"), b'{"type": "pendant.pressed"'),
    ("malformed_json", event_topic("pendant-1"), b"\xff\xfe not utf-8"),
    ("malformed_json", event_topic("pendant-1"), b"[" * 5000),  # deeper than json recurses
    ("malformed_json", status_topic("pendant-1"), b'{"a":' * 3000),
    ("bad_control", ACK_TOPIC, b"[" * 5000),
    ("invalid_payload", event_topic("pendant-1"), b'{"type": "pendant.pressed", "seq": "x"}'),
    ("invalid_payload", event_topic("pendant-1"), b'{"type": "pendant.pressed", "battery": 400}'),
    ("invalid_payload", event_topic("pendant-1"), b'["pendant.pressed"]'),
    ("invalid_payload", event_topic("pendant-1"), b'{"type": "pendant.pressed", "evil": 1}'),
    ("invalid_payload", status_topic("pendant-1"), b'{"online": "maybe"}'),
    ("invalid_payload", PAIRING_TOPIC, b'{"device_id": "../x", "type": "t", "model": "m"}'),
    (
        "oversized",
        event_topic("pendant-1"),
        json.dumps({"type": "pendant.pressed", "pad": "x" * MAX_PAYLOAD_BYTES}).encode(),
    ),
    ("unknown_event_type", event_topic("pendant-1"), b'{"type": "pendant.exploded"}'),
    ("unknown_event_type", event_topic("pendant-1"), b'{"type": "hub.broker_lost"}'),
    ("unknown_event_type", event_topic("pendant-1"), b'{"type": "device.signal_falling"}'),
    ("unregistered_device", event_topic("stranger-9"), b'{"type": "pendant.pressed"}'),
    ("unknown_topic", "telecare/v1/bad$id/event", b'{"type": "pendant.pressed"}'),
]


@pytest.mark.parametrize(("cause", "topic", "payload"), CASES)
async def test_bad_message_is_dropped_and_counted_and_the_next_one_kept(
    broker: LocalBroker,
    tmp_path: Path,
    caplog: pytest.LogCaptureFixture,
    cause: str,
    topic: str,
    payload: bytes,
) -> None:
    config = in_process_config(broker, tmp_path)
    caplog.set_level(logging.WARNING, logger="telecare.intake")
    async with running_hub(config) as rejects, device_client(broker) as device:
        for _ in range(3):
            await device.publish(topic, payload, qos=1)
        await device.publish(event_topic("door-1"), b'{"type": "door.opened", "seq": 7}', qos=1)

        async def good_one_stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return any(e.event.type == "door.opened" for e in await store.events())

        await eventually(good_one_stored)
    async with Store.open(config.store.path, readonly=True) as store:
        stored = [(e.event.device_id, e.event.type) for e in await store.events()]
    assert stored == [("door-1", "door.opened")]
    assert rejects.counts[cause] == 3
    warnings = [r for r in caplog.records if cause in r.getMessage()]
    assert len(warnings) == 1, "logged once per cause and topic, then only counted"
    assert topic in warnings[0].getMessage()
    record(
        "abuse",
        f"{topic}: {payload[:28]!r}{'...' if len(payload) > 28 else ''} ({len(payload)} B)",
        refused_as=cause,
        sent=3,
        refused_and_counted=rejects.counts[cause],
        next_good_event_stored=len(stored),
    )
