"""The native driver: raw `telecare/v1/...` messages in, events, statuses or rejections out."""

import json
from datetime import UTC, datetime, timedelta, timezone

import pytest

from drivers.decoding import Announcement, Rejected, StatusReport
from drivers.native import decode
from wire.event import DeviceEvent
from wire.schema import MAX_PAYLOAD_BYTES, PAIRING_TOPIC, InboundMessage, event_topic, status_topic

RECEIVED = datetime(2025, 1, 6, 9, 30, 0, 125000, tzinfo=UTC)

# What the hub's native devices send (firmware 1.4 of the TC-series, as firmware_sim speaks it).
TC_P1_PENDANT_PRESS = (
    b'{"type": "pendant.pressed", "seq": 412, "ts": "2025-01-06T09:29:59.250Z", "battery": 88}'
)
TC_F2_FALL = b'{"type":"fall.detected","seq":3,"ts":"2025-01-06T10:29:58+01:00","battery":64}'
TC_T1_TEMPERATURE = b'{"type":"temperature.reading","seq":1200,"value":17.5,"battery":93}'
TC_W1_LEAK = b'{"type":"water.leak","seq":77}'
TC_D1_HEARTBEAT = b'{"type":"device.heartbeat"}'
TC_P1_STATUS = b'{"online": true, "battery": 71, "fw": "1.4.2"}'
TC_P1_LAST_WILL = b'{"online": false}'
TC_P1_ANNOUNCE = b'{"device_id": "pendant-7", "type": "pendant", "model": "TC-P1", "fw": "1.4.2"}'


def message(topic: str, payload: bytes, *, retain: bool = False) -> InboundMessage:
    return InboundMessage(topic=topic, payload=payload, qos=1, mid=17, retain=retain)


def decoded(topic: str, payload: bytes, *, retain: bool = False) -> object:
    return decode(message(topic, payload, retain=retain), received_at=RECEIVED)


def padded(body: bytes, size: int) -> bytes:
    """`body` with trailing JSON whitespace up to exactly `size` bytes."""
    assert len(body) <= size
    return body + b" " * (size - len(body))


# --- events --------------------------------------------------------------------------------


def test_a_pendant_press_becomes_a_device_event() -> None:
    result = decoded(event_topic("pendant-1"), TC_P1_PENDANT_PRESS)

    assert result == DeviceEvent(
        device_id="pendant-1",
        type="pendant.pressed",
        received_at=RECEIVED,
        source="native",
        ts=datetime(2025, 1, 6, 9, 29, 59, 250000, tzinfo=UTC),
        seq=412,
        battery=88,
        value=None,
    )


@pytest.mark.parametrize(
    ("device_id", "payload", "fields"),
    [
        pytest.param(
            "fall-1",
            TC_F2_FALL,
            {"type": "fall.detected", "seq": 3, "battery": 64},
            id="TC-F2 fall",
        ),
        pytest.param(
            "temp-1",
            TC_T1_TEMPERATURE,
            {"type": "temperature.reading", "seq": 1200, "value": 17.5, "battery": 93},
            id="TC-T1 temperature",
        ),
        pytest.param(
            "water-1",
            TC_W1_LEAK,
            {"type": "water.leak", "seq": 77, "ts": None, "battery": None},
            id="TC-W1 leak",
        ),
        pytest.param(
            "door_back.2",
            TC_D1_HEARTBEAT,
            {"type": "device.heartbeat", "seq": None, "ts": None, "value": None},
            id="TC-D1 heartbeat, minimal",
        ),
    ],
)
def test_good_events_decode(device_id: str, payload: bytes, fields: dict[str, object]) -> None:
    result = decoded(event_topic(device_id), payload)

    assert isinstance(result, DeviceEvent)
    assert result.device_id == device_id
    assert result.received_at == RECEIVED
    assert result.source == "native"
    assert {name: getattr(result, name) for name in fields} == fields


def test_the_device_timestamp_is_kept_apart_from_the_hub_receive_time() -> None:
    # A device whose clock runs an hour fast, in a different offset: its `ts` is kept as said,
    # and the hub's own receive time is what the event is stamped with.
    payload = b'{"type": "door.opened", "seq": 9, "ts": "2025-01-06T11:30:00+01:00"}'

    result = decoded(event_topic("door-1"), payload)

    assert isinstance(result, DeviceEvent)
    assert result.received_at == RECEIVED
    assert result.ts == datetime(2025, 1, 6, 11, 30, tzinfo=timezone(timedelta(hours=1)))
    assert result.ts - result.received_at > timedelta(minutes=59)


def test_a_timestamp_without_a_zone_is_refused() -> None:
    result = decoded(event_topic("door-1"), b'{"type": "door.opened", "ts": "2025-01-06T09:29:59"}')

    assert isinstance(result, Rejected)
    assert result.cause == "invalid_payload"
    assert result.detail.startswith("ts: ")


# --- status and pairing --------------------------------------------------------------------


@pytest.mark.parametrize("retain", [False, True], ids=["live", "retained"])
def test_a_status_becomes_a_status_report(retain: bool) -> None:
    result = decoded(status_topic("pendant-1"), TC_P1_STATUS, retain=retain)

    assert result == StatusReport(device_id="pendant-1", online=True, battery=71)


@pytest.mark.parametrize("retain", [False, True], ids=["live", "retained"])
def test_a_last_will_reports_offline(retain: bool) -> None:
    result = decoded(status_topic("pendant-1"), TC_P1_LAST_WILL, retain=retain)

    assert result == StatusReport(device_id="pendant-1", online=False, battery=None)


def test_a_pairing_announcement_is_recognised() -> None:
    result = decoded(PAIRING_TOPIC, TC_P1_ANNOUNCE)

    assert isinstance(result, Announcement)
    assert result.payload.device_id == "pendant-7"
    assert (result.payload.type, result.payload.model, result.payload.fw) == (
        "pendant",
        "TC-P1",
        "1.4.2",
    )


# --- rejections ----------------------------------------------------------------------------

PENDANT_EVENT = event_topic("pendant-1")
PENDANT_STATUS = status_topic("pendant-1")


@pytest.mark.parametrize(
    ("topic", "payload", "cause", "detail"),
    [
        # Payloads that are not JSON at all.
        pytest.param(PENDANT_EVENT, b"", "malformed_json", "EOF while parsing", id="empty"),
        pytest.param(PENDANT_EVENT, TC_P1_PENDANT_PRESS[:40], "malformed_json", "", id="truncated"),
        pytest.param(
            PENDANT_EVENT, b"type=pendant.pressed", "malformed_json", "", id="form-encoded"
        ),
        pytest.param(
            PENDANT_EVENT,
            b'{"type": "door.opened", "room": "caf\xe9"}',
            "malformed_json",
            "unicode",
            id="latin-1 bytes",
        ),
        pytest.param(PENDANT_EVENT, b"\xff\xfe\xfd", "malformed_json", "", id="binary"),
        # JSON, but not an object.
        pytest.param(PENDANT_EVENT, b"[1, 2]", "invalid_payload", "got list", id="array"),
        pytest.param(
            PENDANT_EVENT, b'"pendant.pressed"', "invalid_payload", "got str", id="string"
        ),
        pytest.param(PENDANT_EVENT, b"42", "invalid_payload", "got int", id="number"),
        pytest.param(PENDANT_EVENT, b"null", "invalid_payload", "got NoneType", id="null"),
        pytest.param(PENDANT_STATUS, b"true", "invalid_payload", "got bool", id="status bool"),
        # Objects that break the schema.
        pytest.param(
            PENDANT_EVENT,
            b'{"type": "pendant.pressed", "battery": 101}',
            "invalid_payload",
            "battery: ",
            id="battery over 100",
        ),
        pytest.param(
            PENDANT_EVENT,
            b'{"type": "pendant.pressed", "battery": -1}',
            "invalid_payload",
            "battery: ",
            id="battery negative",
        ),
        pytest.param(
            PENDANT_EVENT,
            b'{"type": "pendant.pressed", "seq": -5}',
            "invalid_payload",
            "seq: ",
            id="negative seq",
        ),
        pytest.param(
            PENDANT_EVENT,
            b'{"type": "pendant.pressed", "rssi": -71}',
            "invalid_payload",
            "rssi: ",
            id="unknown field",
        ),
        pytest.param(PENDANT_EVENT, b'{"seq": 1}', "invalid_payload", "type: ", id="no type"),
        pytest.param(PENDANT_EVENT, b'{"type": ""}', "invalid_payload", "type: ", id="empty type"),
        pytest.param(PENDANT_EVENT, b'{"type": 7}', "invalid_payload", "type: ", id="type number"),
        pytest.param(
            PENDANT_EVENT,
            json.dumps({"type": "x" * 65}).encode(),
            "invalid_payload",
            "type: ",
            id="type too long",
        ),
        pytest.param(
            PENDANT_STATUS,
            b'{"online": true, "battery": 150}',
            "invalid_payload",
            "battery: ",
            id="status battery over 100",
        ),
        pytest.param(
            PENDANT_STATUS, b'{"battery": 50}', "invalid_payload", "online: ", id="status no online"
        ),
        pytest.param(
            PAIRING_TOPIC,
            b'{"device_id": "../etc", "type": "pendant", "model": "TC-P1"}',
            "invalid_payload",
            "device_id: ",
            id="announce bad id",
        ),
        pytest.param(
            PAIRING_TOPIC,
            b'{"device_id": "pendant-7", "type": "pendant"}',
            "invalid_payload",
            "model: ",
            id="announce no model",
        ),
        # Well formed, but not an event the hub knows.
        pytest.param(
            PENDANT_EVENT,
            b'{"type": "button.pressed"}',
            "unknown_event_type",
            "'button.pressed'",
            id="unknown type",
        ),
        pytest.param(
            PENDANT_EVENT,
            b'{"type": "PENDANT.PRESSED"}',
            "unknown_event_type",
            "",
            id="type in capitals",
        ),
        # Topics outside the native scheme, whatever they carry.
        pytest.param(
            "telecare/v1/hub/event", TC_P1_PENDANT_PRESS, "unknown_topic", "", id="hub id"
        ),
        pytest.param(
            "telecare/v1/pairing/event",
            TC_P1_PENDANT_PRESS,
            "unknown_topic",
            "",
            id="pairing id",
        ),
        pytest.param(
            "telecare/v1/pendant-1/command",
            TC_P1_PENDANT_PRESS,
            "unknown_topic",
            "",
            id="command topic",
        ),
        pytest.param(
            "telecare/v2/pendant-1/event", TC_P1_PENDANT_PRESS, "unknown_topic", "", id="v2"
        ),
        pytest.param(
            "telecare/v1/pendant-1/event/extra",
            TC_P1_PENDANT_PRESS,
            "unknown_topic",
            "",
            id="too deep",
        ),
        pytest.param("telecare/v1//event", TC_P1_PENDANT_PRESS, "unknown_topic", "", id="no id"),
        pytest.param(
            "telecare/v1/pendant 1/event", TC_P1_PENDANT_PRESS, "unknown_topic", "", id="space"
        ),
        pytest.param(
            event_topic("p" * 65), TC_P1_PENDANT_PRESS, "unknown_topic", "", id="id too long"
        ),
        pytest.param("zigbee2mqtt/pendant", TC_P1_PENDANT_PRESS, "unknown_topic", "", id="z2m"),
        pytest.param(
            "telecare/v1/pendant-1/event", b"{", "malformed_json", "", id="unclosed object"
        ),
        pytest.param(
            "telecare/v1/pendant-1/nonsense", b"{", "unknown_topic", "", id="topic checked first"
        ),
    ],
)
def test_bad_messages_are_rejected_with_their_cause(
    topic: str, payload: bytes, cause: str, detail: str
) -> None:
    result = decoded(topic, payload)

    assert isinstance(result, Rejected)
    assert result.cause == cause
    assert detail in result.detail


# --- size limit ----------------------------------------------------------------------------


def test_the_size_limit_is_64_kib() -> None:
    assert MAX_PAYLOAD_BYTES == 65536


@pytest.mark.parametrize(
    "topic", [PENDANT_EVENT, PENDANT_STATUS, PAIRING_TOPIC, "telecare/v1/pendant-1/nonsense"]
)
def test_one_byte_over_the_limit_is_oversized_whatever_the_topic(topic: str) -> None:
    payload = padded(TC_P1_PENDANT_PRESS, 65537)

    result = decoded(topic, payload)

    assert result == Rejected("oversized", "65537 bytes > 65536")


def test_an_event_of_exactly_the_limit_is_decoded() -> None:
    payload = padded(TC_P1_PENDANT_PRESS, 65536)

    result = decoded(PENDANT_EVENT, payload)

    assert isinstance(result, DeviceEvent)
    assert (result.type, result.seq) == ("pendant.pressed", 412)


def test_a_status_of_exactly_the_limit_is_decoded() -> None:
    result = decoded(PENDANT_STATUS, padded(TC_P1_STATUS, 65536))

    assert result == StatusReport(device_id="pendant-1", online=True, battery=71)


def test_a_limit_sized_payload_is_still_checked() -> None:
    # Size is only the first check: a payload at the limit that is not JSON is still refused.
    result = decoded(PENDANT_EVENT, b"x" * 65536)

    assert isinstance(result, Rejected)
    assert result.cause == "malformed_json"


def test_a_retained_event_is_refused_so_reconnects_do_not_replay_alarms() -> None:
    result = decoded(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', retain=True)
    assert isinstance(result, Rejected)
    assert result.cause == "retained_event"
