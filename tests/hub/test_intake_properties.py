"""Whatever arrives on any subscribed topic, no driver crashes and no stranger speaks."""

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.gpio import GpioDriver
from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.pipeline.intake import Intake
from hub.pipeline.rejections import RejectLog
from wire.devices import DeviceRecord
from wire.schema import InboundMessage

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
REGISTERED = {"pendant-1": "native", "sos-1": "zigbee2mqtt", "cord-1": "gpio"}


def registry() -> list[DeviceRecord]:
    return [
        DeviceRecord(
            id=device_id,
            name=device_id,
            role="pendant",
            room=None,
            source=source,
            friendly_name="mum/sos" if source == "zigbee2mqtt" else None,
            model=None,
            origin="config",
            online=None,
            battery=None,
            last_seen=None,
            created_at=START,
        )
        for device_id, source in REGISTERED.items()
    ]


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=10),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=10), inner, max_size=5)
    ),
    max_leaves=15,
)
EVENTISH = st.fixed_dictionaries(
    {"type": st.sampled_from(["pendant.pressed", "door.opened", "x"])},
    optional={"seq": JSON, "battery": JSON, "online": JSON, "action": JSON, "sos": JSON},
)
TOPIC = st.sampled_from(
    [
        "telecare/v1/pendant-1/event",
        "telecare/v1/pendant-1/status",
        "telecare/v1/stranger/event",
        "telecare/v1/stranger/status",
        "telecare/v1/pairing/announce",
        "telecare/v1/hub/status",
        "zigbee2mqtt/mum/sos",
        "zigbee2mqtt/mum/sos/availability",
        "zigbee2mqtt/bridge/devices",
        "zigbee2mqtt/bridge/state",
        "zigbee2mqtt/other",
        "gpio/cord-1",
        "gpio/stranger",
    ]
) | st.builds(
    lambda a, b: f"{a}/{b}",
    st.sampled_from(["telecare/v1", "zigbee2mqtt", "gpio"]),
    st.text(max_size=15),
)


def body(value: Any, raw: bytes | None) -> bytes:
    return raw if raw is not None else json.dumps(value).encode()


@settings(max_examples=400, deadline=None)
@given(
    messages=st.lists(
        st.tuples(TOPIC, JSON | EVENTISH, st.none() | st.binary(max_size=40), st.booleans()),
        min_size=1,
        max_size=15,
    )
)
def test_no_crash_and_no_event_for_an_unregistered_device(
    messages: list[tuple[str, Any, bytes | None, bool]],
) -> None:
    intake = Intake(
        registry(),
        RejectLog(),
        [NativeDriver(), Zigbee2MqttDriver("zigbee2mqtt"), GpioDriver()],
    )
    for index, (topic, value, raw, retain) in enumerate(messages):
        message = InboundMessage(topic=topic, payload=body(value, raw), qos=1, retain=retain)
        for event in intake.decode(message, received_at=START + timedelta(seconds=index)):
            assert event.device_id in REGISTERED
        sightings = intake.take_sightings()
        assert set(sightings.health) <= set(REGISTERED)


def test_a_topic_cannot_forge_log_lines(caplog: pytest.LogCaptureFixture) -> None:
    intake = Intake(registry(), RejectLog(), [NativeDriver(), Zigbee2MqttDriver("zigbee2mqtt")])
    forged = "zigbee2mqtt/x\nWARNING telecare.hub all clear"
    intake.decode(InboundMessage(topic=forged, payload=b"{}"), received_at=START)
    assert caplog.records
    assert all("\n" not in r.getMessage() for r in caplog.records)
