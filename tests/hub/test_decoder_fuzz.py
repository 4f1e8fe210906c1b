"""Every decoder of outside input takes anything without crashing, and counts what it refuses.

Covered here: every subscribed device topic through the intake (native events, status and
pairing; Zigbee2MQTT device, availability and bridge topics; GPIO), the hub's control topics,
ntfy acknowledgement tokens and SMS replies. Hostile shapes on top of plain random bytes: JSON
nested thousands deep, payloads at and over the size limit, NaN and infinities, negative and
huge numbers, unicode that is not what it looks like.
"""

import json
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from drivers.gpio import GpioDriver
from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.pipeline.intake import Intake
from hub.pipeline.rejections import RejectLog
from notifier.acks import AckTokens
from notifier.replies import parse_reply
from tests.hub.test_intake_properties import REGISTERED, registry
from tests.notifier.entries import entry
from tests.support.reliability import record
from wire.control import ACK_TOPIC, OCCUPANCY_CONTROL_TOPIC, AckPayload, decode_control
from wire.schema import InboundMessage

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)
EXAMPLES = 500
DEVICE_TOPICS = [
    "telecare/v1/pendant-1/event",
    "telecare/v1/pendant-1/status",
    "telecare/v1/stranger/event",
    "telecare/v1/pairing/announce",
    "zigbee2mqtt/mum/sos",
    "zigbee2mqtt/mum/sos/availability",
    "zigbee2mqtt/bridge/devices",
    "zigbee2mqtt/bridge/event",
    "zigbee2mqtt/bridge/state",
    "zigbee2mqtt/stranger",
    "gpio/cord-1",
]
HOSTILE_JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats()  # NaN and the infinities included
    | st.text(max_size=20)
    | st.sampled_from(["pendant.pressed", "online", "\u202epressed", "x" * 5000]),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(["type", "seq", "battery", "ts", "online", "action", "data", "value"])
            | st.text(max_size=8),
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
).map(lambda value: json.dumps(value).encode())
HOSTILE_BYTES = st.one_of(
    HOSTILE_JSON,
    st.binary(max_size=200),
    st.integers(min_value=1, max_value=20_000).map(lambda depth: b"[" * depth),
    st.integers(min_value=1, max_value=5_000).map(lambda depth: b'{"a":' * depth + b"1"),
    st.sampled_from([64 * 1024, 64 * 1024 + 1, 300_000]).map(
        lambda size: b'{"type": "pendant.pressed", "pad": "' + b"x" * size + b'"}'
    ),
    st.sampled_from([b"NaN", b"-Infinity", b'{"battery": -5}', b'{"seq": 1e400}', b"\xff\xfe"]),
)


def fuzz(name: str, inputs: st.SearchStrategy[Any], check: Callable[[Any], None]) -> int:
    """Run `check` on hypothesis's inputs; returns how many it tried (it fails on any crash)."""
    tried = [0]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )
    @given(inputs)
    def run(value: Any) -> None:
        tried[0] += 1
        check(value)

    run()
    record("fuzz", name, inputs=tried[0], crashes=0)
    return tried[0]


def test_device_topics_take_anything() -> None:
    rejects = RejectLog()
    intake = Intake(
        registry(), rejects, [NativeDriver(), Zigbee2MqttDriver("zigbee2mqtt"), GpioDriver()]
    )

    def check(value: tuple[str, bytes, bool]) -> None:
        topic, payload, retain = value
        message = InboundMessage(topic=topic, payload=payload, qos=1, retain=retain)
        before = rejects.counts.total()
        events = intake.decode(message, received_at=START + timedelta(seconds=before))
        assert all(e.device_id in REGISTERED for e in events)
        if topic.startswith("telecare/v1/pendant-1/") and payload == b"[" * len(payload):
            assert rejects.counts.total() == before + 1, "deep JSON refused and counted"

    tried = fuzz(
        "decoders: every device topic (native, Zigbee2MQTT, GPIO)",
        st.tuples(st.sampled_from(DEVICE_TOPICS), HOSTILE_BYTES, st.booleans()),
        check,
    )
    assert tried == EXAMPLES
    assert rejects.counts["malformed_json"] > 0


def test_control_topics_take_anything() -> None:
    def check(value: tuple[str, bytes]) -> None:
        topic, payload = value
        request = decode_control(topic, payload)
        if isinstance(request, str):
            assert request.startswith("bad control request: ")
            assert len(request) < 200
        elif isinstance(request, AckPayload):
            assert 1 <= len(request.incident_id) <= 128

    fuzz(
        "decoders: hub control topics (ack, occupancy)",
        st.tuples(st.sampled_from([ACK_TOPIC, OCCUPANCY_CONTROL_TOPIC]), HOSTILE_BYTES),
        check,
    )


def test_ntfy_acknowledgement_tokens_accept_only_what_the_hub_signed() -> None:
    tokens = AckTokens(b"k" * 32)
    genuine = {tokens.token(entry(id=n)) for n in range(1, 6)}
    outcomes: Counter[str] = Counter()

    def check(body: str) -> None:
        entry = tokens.entry_id(body)
        if body.strip() in genuine:
            assert entry == int(body.strip().split(".")[0])
        else:
            assert entry is None, body
        outcomes["accepted" if entry is not None else "refused"] += 1

    fuzz(
        "decoders: ntfy acknowledgement tokens",
        st.one_of(
            st.text(max_size=60),
            st.sampled_from(sorted(genuine)),
            st.sampled_from(sorted(genuine)).map(lambda t: t[:-1] + ("A" if t[-1] != "A" else "B")),
            st.builds(lambda n, sig: f"{n}.{sig}", st.text(max_size=30), st.text(max_size=30)),
            st.sampled_from(["\u0661.abc", "\u00b2.abc", "9" * 5000 + ".abc", "1.\u00e9\u00e9"]),
        ),
        check,
    )
    assert outcomes["refused"] > 0


def test_sms_replies_are_read_without_crashing() -> None:
    kinds: Counter[str] = Counter()

    def check(body: str) -> None:
        reply = parse_reply(body)
        kinds[reply.kind] += 1
        if reply.incident is not None:
            assert reply.kind == "ack"
            assert 0 <= reply.incident < 10**6

    fuzz(
        "decoders: SMS replies",
        st.one_of(
            st.text(max_size=200),
            st.sampled_from(
                ["OK", "ack 12", "ACK #999999", "ACK 1234567", "home!", "\uff2f\uff2b", "ok\x00"]
            ),
            st.builds(lambda n: f"ACK {n}", st.integers()),
            st.just("x" * 100_000),
        ),
        check,
    )
    assert kinds["ack"] > 0
    assert kinds["unknown"] > 0
