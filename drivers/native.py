"""Driver for the hub's native MQTT schema (`telecare/v1/...`)."""

from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from drivers.decoding import Announcement, Decoded, Rejected, StatusReport, Unregistered
from wire.devices import DeviceRecord
from wire.event import EVENT_TYPES, DeviceEvent
from wire.schema import (
    MAX_PAYLOAD_BYTES,
    NATIVE_SUBSCRIPTIONS,
    PAIRING_TOPIC,
    PREFIX,
    AnnouncePayload,
    EventPayload,
    InboundMessage,
    StatusPayload,
    parse_device_topic,
)

M = TypeVar("M", bound=BaseModel)
HUB_TOPICS = f"{PREFIX}/hub/"


class NativeDriver:
    """The native schema as a driver: owns `telecare/v1/...` except the hub's own topics."""

    def __init__(self, devices: Iterable[DeviceRecord] = ()) -> None:
        self._ids: frozenset[str] = frozenset()
        self.register(devices)

    @property
    def subscriptions(self) -> Sequence[str]:
        """Device events and statuses, and pairing announcements."""
        return NATIVE_SUBSCRIPTIONS

    def owns(self, topic: str) -> bool:
        """Native topics; the hub's own (`telecare/v1/hub/...`) belong to nobody."""
        return topic.startswith(f"{PREFIX}/") and not topic.startswith(HUB_TOPICS)

    def register(self, devices: Iterable[DeviceRecord]) -> None:
        """Remember which native devices are registered."""
        self._ids = frozenset(d.id for d in devices if d.source == "native")

    def decode(self, message: InboundMessage, *, received_at: datetime) -> list[Decoded]:
        """The one item a native message carries; unregistered devices are named as such."""
        decoded = decode(message, received_at=received_at)
        if isinstance(decoded, DeviceEvent | StatusReport) and decoded.device_id not in self._ids:
            return [Unregistered("native", decoded.device_id)]
        return [decoded]


def decode(message: InboundMessage, *, received_at: datetime) -> Decoded:
    """Turn one native message into a canonical event, status or announcement.

    Args:
        message: The raw message.
        received_at: The hub's receive time, stamped on events.

    Returns:
        The decoded item, or `Rejected` naming the first problem.
    """
    if len(message.payload) > MAX_PAYLOAD_BYTES:
        return Rejected("oversized", f"{len(message.payload)} bytes > {MAX_PAYLOAD_BYTES}")
    if message.topic == PAIRING_TOPIC:
        return _decode_announcement(message.payload)
    parsed_topic = parse_device_topic(message.topic)
    if parsed_topic is None:
        return Rejected("unknown_topic", "not telecare/v1/<device_id>/(event|status)")
    device_id, kind = parsed_topic
    if kind == "status":
        return _decode_status(device_id, message.payload)
    if message.retain:
        # A retained event would be replayed as new on every reconnect: an alarm raised again.
        return Rejected("retained_event", "events must be published without the retain flag")
    return _decode_event(device_id, message.payload, received_at)


def _decode_announcement(payload: bytes) -> Decoded:
    announce = _parse(AnnouncePayload, payload)
    return announce if isinstance(announce, Rejected) else Announcement(announce)


def _decode_status(device_id: str, payload: bytes) -> Decoded:
    status = _parse(StatusPayload, payload)
    if isinstance(status, Rejected):
        return status
    return StatusReport(device_id, status.online, status.battery)


def _decode_event(device_id: str, payload: bytes, received_at: datetime) -> Decoded:
    body = _parse(EventPayload, payload)
    if isinstance(body, Rejected):
        return body
    if body.type not in EVENT_TYPES:
        return Rejected("unknown_event_type", f"type {body.type[:64]!r} is not an event type")
    return DeviceEvent.model_validate(
        {
            "device_id": device_id,
            "type": body.type,
            "received_at": received_at,
            "source": "native",
            "ts": body.ts,
            "seq": body.seq,
            "battery": body.battery,
            "value": body.value,
        }
    )


def _parse(model: type[M], payload: bytes) -> M | Rejected:
    """`payload` as `model`, parsed and checked in one pass (no intermediate Python objects)."""
    try:
        return model.model_validate_json(payload)
    except ValidationError as err:
        first = err.errors(include_url=False)[0]
        if first["type"] == "json_invalid":
            return Rejected("malformed_json", first["msg"][:120])
        if first["type"] == "model_type" and not first["loc"]:
            got = type(first["input"]).__name__
            return Rejected("invalid_payload", f"expected a JSON object, got {got}")
        where = ".".join(str(part) for part in first["loc"]) or "payload"
        return Rejected("invalid_payload", f"{where}: {first['msg']}")
