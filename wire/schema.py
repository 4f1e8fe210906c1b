"""The public MQTT schema: topic scheme and payload models, shared by the hub and devices.

Pure: no I/O. `firmware_sim` and any native device (an ESP32, say) speak exactly this.
"""

import json
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

PREFIX = "telecare/v1"
MAX_PAYLOAD_BYTES = 64 * 1024
DEVICE_ID_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
PAIRING_TOPIC = f"{PREFIX}/pairing/announce"
HUB_STATUS_TOPIC = f"{PREFIX}/hub/status"
CLOCK_TOPIC = f"{PREFIX}/hub/clock"  # simulation only: see hub/service/clock.py
CLOCK_DONE_TOPIC = f"{PREFIX}/hub/clock/done"
SENT_TOPIC = f"{PREFIX}/hub/sent"  # retained: alerts sent that the hub's card has no record of
NATIVE_SUBSCRIPTIONS = (f"{PREFIX}/+/event", f"{PREFIX}/+/status", PAIRING_TOPIC)
_RESERVED_IDS = frozenset({"hub", "pairing"})
_DEVICE_ID = re.compile(DEVICE_ID_PATTERN)


@dataclass(frozen=True, slots=True)
class InboundMessage:
    """One MQTT message as the hub received it.

    Attributes:
        topic: The topic it was published on.
        payload: The raw bytes.
        qos: Delivery QoS (0 or 1).
        mid: The broker's packet id for this delivery (meaningful for QoS 1).
        dup: The broker says it may have delivered this before.
        retain: A retained message replayed on subscribe.
        session: Which connection delivered it; an ack is valid only on the same one.
        received_ns: When the hub began reading it (`time.perf_counter_ns()`; 0 if unknown),
            for the event path's stage timings. Not part of its identity.
    """

    topic: str
    payload: bytes
    qos: int = 0
    mid: int = 0
    dup: bool = False
    retain: bool = False
    session: int = 0
    received_ns: int = field(default=0, compare=False)


def event_topic(device_id: str) -> str:
    """Topic a native device publishes its events on."""
    return f"{PREFIX}/{device_id}/event"


def status_topic(device_id: str) -> str:
    """Topic a native device keeps its retained online status on (with a last will)."""
    return f"{PREFIX}/{device_id}/status"


def command_topic(device_id: str) -> str:
    """Topic the hub sends commands to a native device on."""
    return f"{PREFIX}/{device_id}/command"


def incident_topic(incident_id: str) -> str:
    """Topic the hub publishes an incident's state on (retained)."""
    return f"{PREFIX}/hub/incident/{incident_id}"


def is_device_id(value: str) -> bool:
    """Whether `value` may name a native device in a topic."""
    return bool(_DEVICE_ID.match(value)) and value not in _RESERVED_IDS


def parse_device_topic(topic: str) -> tuple[str, Literal["event", "status"]] | None:
    """Split `telecare/v1/<device_id>/(event|status)`; None for anything else."""
    parts = topic.split("/")
    if len(parts) != 4 or f"{parts[0]}/{parts[1]}" != PREFIX:  # noqa: PLR2004
        return None
    device_id, kind = parts[2], parts[3]
    if not is_device_id(device_id):
        return None
    if kind == "event":
        return device_id, "event"
    if kind == "status":
        return device_id, "status"
    return None


class _Payload(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class EventPayload(_Payload):
    """Body of `telecare/v1/<device_id>/event`; `type` is checked against the vocabulary."""

    type: str = Field(min_length=1, max_length=64)
    seq: int | None = Field(default=None, ge=0)
    ts: AwareDatetime | None = None
    battery: int | None = Field(default=None, ge=0, le=100)
    value: float | None = None


class StatusPayload(_Payload):
    """Body of the retained `telecare/v1/<device_id>/status` (and of its last will)."""

    online: bool
    battery: int | None = Field(default=None, ge=0, le=100)
    fw: str | None = Field(default=None, max_length=32)


class AnnouncePayload(_Payload):
    """Body of `telecare/v1/pairing/announce`: a device in pairing mode."""

    device_id: str = Field(pattern=DEVICE_ID_PATTERN)
    type: str = Field(min_length=1, max_length=32)
    model: str = Field(min_length=1, max_length=64)
    fw: str | None = Field(default=None, max_length=32)


class CommandPayload(_Payload):
    """Body of `telecare/v1/<device_id>/command`: reassurance light, reminder chime."""

    command: Literal["reassure", "chime", "identify"]
    incident_id: str | None = None


class HubStatusPayload(_Payload):
    """Body of the retained `telecare/v1/hub/status` (and of the hub's last will)."""

    online: bool
    since: AwareDatetime | None = None


class IncidentPayload(_Payload):
    """Body of the retained `telecare/v1/hub/incident/<id>`."""

    id: str
    cause: str
    severity: str
    state: str
    text: str
    updated_at: AwareDatetime
    acknowledged_by: str | None = None


class SentNotice(_Payload):
    """One alert the hub sent while its card kept no record of it, and what became of it.

    Attributes:
        entry_id: Its outbox entry's id, if the card held the entry (written, pending, before
            the card failed): the send is then written on that entry at the next start. None
            if the entry was made in memory.
    """

    key: str = Field(min_length=1)
    channel: str
    state: Literal["sent", "delivered"]
    ref: str | None = None
    at: AwareDatetime
    entry_id: int | None = Field(default=None, gt=0)


class SentIncident(_Payload):
    """An incident some of whose alerts were sent so, and how the hub knows it again.

    Attributes:
        incident_id: Its id when the alerts were sent.
        cause: Its cause; with `opened_by`.
        device_id: The device whose event opened it; with `opened_by`.
        opened_by: If it opened while the card kept no record: the messages among which was
            the one that opened it, each as "<packet id>:<digest in hex>"; for the hub's own
            "cannot save to its card" notice, which no message opened, "hub.storage_failing".
            None if the store holds it (its id is then its own).
        sent: Its alerts sent.
    """

    incident_id: str = Field(min_length=1)
    cause: str | None = None
    device_id: str | None = None
    opened_by: list[str] | None = None
    sent: list[SentNotice]


class SentPayload(_Payload):
    """Body of the retained `telecare/v1/hub/sent`: alerts sent with no record on the card."""

    incidents: list[SentIncident]


class ClockPayload(_Payload):
    """Body of the simulation clock topics: the moment the simulation has reached."""

    now: AwareDatetime


def load_json(payload: bytes | str) -> Any:  # any JSON document
    """The JSON document in a payload from the broker.

    Raises:
        ValueError: Not UTF-8, not JSON, or nested deeper than the parser can follow: a few
            kilobytes of "[[[[" make `json` raise RecursionError, which must not end a loop.
    """
    try:
        return json.loads(payload)
    except RecursionError as err:
        raise ValueError("JSON nested too deeply") from err
