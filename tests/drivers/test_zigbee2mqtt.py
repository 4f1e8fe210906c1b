"""The Zigbee2MQTT driver: real device payloads in, canonical events of registered devices out."""

import json
import logging
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.decoding import Capabilities, Health, Rejected, StatusReport, Unregistered
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from drivers.zigbee_payloads import VERIFIED_MODELS, parse_battery
from wire.devices import DeviceRecord
from wire.event import DeviceEvent
from wire.schema import InboundMessage

FIXTURES = Path(__file__).parents[1] / "fixtures" / "payloads"
START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
BASE = "zigbee2mqtt"


def record(device_id: str, friendly_name: str, role: str, model: str | None = None) -> DeviceRecord:
    return DeviceRecord(
        id=device_id,
        name=device_id,
        role=role,
        room="Hall",
        source="zigbee2mqtt",
        friendly_name=friendly_name,
        model=model,
        origin="config",
        online=None,
        battery=None,
        last_seen=None,
        created_at=START,
    )


def bridge_devices(*entries: tuple[str, str | None, list[dict[str, Any]]]) -> bytes:
    return json.dumps(
        [
            {
                "friendly_name": name,
                "ieee_address": f"0x00158d00{index:08x}",
                "power_source": "Battery",
                "interview_completed": True,
                "definition": None
                if model is None
                else {"model": model, "vendor": "test", "exposes": exposes},
            }
            for index, (name, model, exposes) in enumerate(entries)
        ]
    ).encode()


def msg(
    topic: str, payload: bytes | dict[str, Any] | str, *, retain: bool = False
) -> InboundMessage:
    if isinstance(payload, dict):
        payload = json.dumps(payload)
    if isinstance(payload, str):
        payload = payload.encode()
    return InboundMessage(topic=topic, payload=payload, qos=1, retain=retain)


def events_of(decoded: list[Any]) -> list[str]:
    return [item.type for item in decoded if isinstance(item, DeviceEvent)]


def fixture_files() -> list[Path]:
    return sorted(FIXTURES.glob("*.json"))


@pytest.mark.parametrize("path", fixture_files(), ids=lambda p: p.stem)
def test_real_payloads_become_canonical_events_on_transitions(path: Path) -> None:
    fixture = json.loads(path.read_text())
    name = f"mum/{fixture['role']}/{fixture['model']}"  # friendly names may contain "/"
    driver = Zigbee2MqttDriver(BASE, [record("dev-1", name, fixture["role"])])
    driver.decode(
        msg(f"{BASE}/bridge/devices", bridge_devices((name, fixture["model"], []))),
        received_at=START,
    )
    now = START
    for index, step in enumerate(fixture["steps"]):
        now += timedelta(seconds=step.get("after_s", 5))
        decoded = driver.decode(msg(f"{BASE}/{name}", step["payload"]), received_at=now)
        assert not [d for d in decoded if isinstance(d, Rejected)], f"step {index}"
        assert events_of(decoded) == step["events"], f"step {index}: {step['payload']}"
        for event in decoded:
            if isinstance(event, DeviceEvent):
                assert (event.device_id, event.source, event.received_at) == (
                    "dev-1",
                    "zigbee2mqtt",
                    now,
                )
        if "value" in step:
            assert [e.value for e in decoded if isinstance(e, DeviceEvent)] == [step["value"]]
        if "battery" in step:
            assert [d.battery for d in decoded if isinstance(d, Health)] == [step["battery"]]


def test_every_fixture_names_a_verified_model_and_its_source() -> None:
    models = set()
    for path in fixture_files():
        fixture = json.loads(path.read_text())
        assert fixture["sources"], path.name
        models.add(fixture["model"])
    assert models == set(VERIFIED_MODELS)


def test_signal_and_battery_are_reported_with_every_state_message() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("leak-1", "kitchen leak", "water", "SJCGQ11LM")])
    decoded = driver.decode(
        msg(f"{BASE}/kitchen leak", {"battery": 91, "linkquality": 142, "water_leak": False}),
        received_at=START,
    )
    assert decoded == [Health("leak-1", 91, 142)]


@pytest.mark.parametrize(
    ("value", "percent"),
    [(87, 87), (51.5, 52), ("80.00", 80), ("x", None), (True, None), (140, None), (None, None)],
)
def test_battery_in_any_release_form(value: object, percent: int | None) -> None:
    assert parse_battery(value) == percent


def test_payload_contradicting_the_role_is_refused_not_guessed() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("door-1", "front door", "door", "TS0203")])
    decoded = driver.decode(
        msg(f"{BASE}/front door", {"contact": True, "water_leak": True, "linkquality": 80}),
        received_at=START,
    )
    assert events_of(decoded) == []
    assert [d.cause for d in decoded if isinstance(d, Rejected)] == ["role_mismatch"]


def test_emergency_action_from_a_door_sensor_is_a_mismatch() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("door-1", "front door", "door")])
    decoded = driver.decode(msg(f"{BASE}/front door", {"action": "emergency"}), received_at=START)
    assert events_of(decoded) == []
    assert [d.cause for d in decoded if isinstance(d, Rejected)] == ["role_mismatch"]


def test_unknown_model_is_mapped_by_its_exposes_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, logger="telecare.zigbee2mqtt")
    driver = Zigbee2MqttDriver(BASE, [record("fall-1", "landing radar", "fall_detector")])
    exposes = [
        {"type": "enum", "property": "status", "values": ["occupied", "falling"]},
        {"type": "composite", "features": [{"type": "binary", "property": "occupancy"}]},
    ]
    listed = bridge_devices(("landing radar", "FDS999-NEW", exposes))
    driver.decode(msg(f"{BASE}/bridge/devices", listed), received_at=START)
    first = driver.decode(msg(f"{BASE}/landing radar", {"status": "falling"}), received_at=START)
    second = driver.decode(msg(f"{BASE}/landing radar", {"occupancy": True}), received_at=START)
    assert events_of(first) == ["fall.detected"]
    assert events_of(second) == ["motion.detected"]
    warnings = [r for r in caplog.records if "FDS999-NEW" in r.getMessage()]
    assert len(warnings) == 1


def test_without_exposes_a_generic_status_is_not_taken_for_a_fall() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("fall-1", "radar", "fall_detector", "UNKNOWN-1")])
    decoded = driver.decode(msg(f"{BASE}/radar", {"status": "falling"}), received_at=START)
    assert events_of(decoded) == []


@pytest.mark.parametrize(
    ("payload", "online"),
    [
        ('{"state":"online"}', True),
        ('{"state":"offline"}', False),
        ("online", True),
        ("offline", False),
    ],
)
def test_availability_in_json_and_legacy_text(payload: str, online: bool) -> None:
    driver = Zigbee2MqttDriver(BASE, [record("sos-1", "mum/bedroom/sos", "pendant")])
    decoded = driver.decode(
        msg(f"{BASE}/mum/bedroom/sos/availability", payload, retain=True), received_at=START
    )
    assert decoded == [StatusReport("sos-1", online)]


def test_bridge_state_in_json_and_legacy_text() -> None:
    driver = Zigbee2MqttDriver(BASE)
    driver.decode(msg(f"{BASE}/bridge/state", '{"state":"online"}'), received_at=START)
    assert driver.bridge_online is True
    driver.decode(msg(f"{BASE}/bridge/state", "offline"), received_at=START)
    assert driver.bridge_online is False


def test_base_topic_is_configurable() -> None:
    driver = Zigbee2MqttDriver("home/z2m", [record("sos-1", "sos", "pendant")])
    assert driver.subscriptions == ("home/z2m/#",)
    assert driver.owns("home/z2m/sos")
    assert not driver.owns("zigbee2mqtt/sos")
    decoded = driver.decode(msg("home/z2m/sos", {"action": "sos"}), received_at=START)
    assert events_of(decoded) == ["pendant.pressed"]


def test_unregistered_devices_are_named_for_adoption_or_refused() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("sos-1", "sos", "pendant")])
    listed = bridge_devices(("sos", "TS0215A_sos", []), ("0xa4c13899607febd1", "TS0601_sos", []))
    driver.decode(msg(f"{BASE}/bridge/devices", listed), received_at=START)
    stranger = driver.decode(
        msg(f"{BASE}/0xa4c13899607febd1", {"action": "emergency"}), received_at=START
    )
    unknown = driver.decode(msg(f"{BASE}/nobody/knows", {"action": "emergency"}), received_at=START)
    assert stranger == [Unregistered("zigbee2mqtt", "0xa4c13899607febd1", "TS0601_sos")]
    assert [type(d) for d in unknown] == [Rejected]


def test_listed_devices_not_registered_are_named_without_having_spoken() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("sos-1", "sos", "pendant")])
    listed = json.loads(bridge_devices(("sos", "TS0215A_sos", []), ("0xsilent", "TS0203", [])))
    listed.append({"friendly_name": "Coordinator", "type": "Coordinator", "definition": None})
    decoded = driver.decode(msg(f"{BASE}/bridge/devices", json.dumps(listed)), received_at=START)
    assert decoded == [
        Capabilities(
            "sos-1", (), "TS0215A_sos"
        ),  # registered: what it can be commanded to do (nothing)
        Unregistered("zigbee2mqtt", "0xsilent", "TS0203", spoke=False),
    ]


def test_a_registered_device_leaving_the_network_is_offline() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("sos-1", "mum/sos", "pendant")])
    leave = {"type": "device_leave", "data": {"ieee_address": "0x847127fffe0542eb",
             "friendly_name": "mum/sos"}}  # fmt: skip
    other = {"type": "device_leave", "data": {"friendly_name": "stranger"}}
    joined = {"type": "device_joined", "data": {"friendly_name": "mum/sos"}}
    topic = f"{BASE}/bridge/event"
    assert driver.decode(msg(topic, leave), received_at=START) == [StatusReport("sos-1", False)]
    assert driver.decode(msg(topic, other), received_at=START) == []
    assert driver.decode(msg(topic, joined), received_at=START) == []
    assert [type(d) for d in driver.decode(msg(topic, "{"), received_at=START)] == [Rejected]


def test_commands_and_the_legacy_action_topic_are_not_state() -> None:
    driver = Zigbee2MqttDriver(BASE, [record("sos-1", "sos", "pendant")])
    for topic, payload in [
        (f"{BASE}/sos/set", '{"state":"ON"}'),
        (f"{BASE}/sos/set/state", "ON"),
        (f"{BASE}/sos/action", "emergency"),
        (f"{BASE}/bridge/request/permit_join", '{"time":0}'),
    ]:
        assert driver.decode(msg(topic, payload), received_at=START) == []


def test_registry_reload_keeps_known_states() -> None:
    device = record("leak-1", "leak", "water")
    driver = Zigbee2MqttDriver(BASE, [device])
    driver.decode(msg(f"{BASE}/leak", {"water_leak": True}), received_at=START)
    driver.register([device, record("door-1", "door", "door")])
    again = driver.decode(msg(f"{BASE}/leak", {"water_leak": True}), received_at=START)
    assert events_of(again) == []


JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=12),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=6)
    ),
    max_leaves=20,
)
STATE_KEYS = ["action", "sos", "water_leak", "contact", "occupancy", "presence", "vibration",
              "fall_down_status", "fall_status", "status", "battery", "battery_low", "tamper",
              "linkquality", "smoke"]  # fmt: skip
STATE = st.dictionaries(st.sampled_from(STATE_KEYS), JSON, max_size=8)
TOPICS = st.sampled_from(
    [
        "sos",
        "mum/hall/door",
        "mum/hall/door/availability",
        "stranger",
        "stranger/availability",
        "bridge/devices",
        "bridge/state",
        "bridge/event",
        "mum",
        "",
    ]
) | st.text(max_size=20)


@settings(max_examples=300, deadline=None)
@given(
    steps=st.lists(
        st.tuples(TOPICS, st.one_of(JSON, STATE), st.booleans()), min_size=1, max_size=12
    )
)
def test_arbitrary_json_never_crashes_and_never_speaks_for_a_stranger(
    steps: list[tuple[str, Any, bool]],
) -> None:
    driver = Zigbee2MqttDriver(
        BASE, [record("sos-1", "sos", "pendant"), record("door-1", "mum/hall/door", "door")]
    )
    for index, (topic, body, as_text) in enumerate(steps):
        payload = str(body).encode() if as_text else json.dumps(body).encode()
        decoded = driver.decode(
            msg(f"{BASE}/{topic}", payload), received_at=START + timedelta(seconds=index)
        )
        for item in decoded:
            if isinstance(item, DeviceEvent | StatusReport | Health):
                assert item.device_id in {"sos-1", "door-1"}
