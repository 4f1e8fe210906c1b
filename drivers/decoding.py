"""What a driver makes of one raw message: an event, a status, an announcement, or a rejection."""

from dataclasses import dataclass
from typing import Literal

from hub.wire import AnnouncePayload
from rules.events import DeviceEvent

RejectCause = Literal[
    "oversized",
    "malformed_json",
    "invalid_payload",
    "retained_event",
    "unknown_event_type",
    "unknown_topic",
    "unregistered_device",
    "duplicate",
]


@dataclass(frozen=True, slots=True)
class Rejected:
    """The message is dropped; `detail` names the first problem found."""

    cause: RejectCause
    detail: str


@dataclass(frozen=True, slots=True)
class StatusReport:
    """A device said whether it is online (a retained status or its last will)."""

    device_id: str
    online: bool
    battery: int | None = None


@dataclass(frozen=True, slots=True)
class Announcement:
    """A device in pairing mode introduced itself."""

    payload: AnnouncePayload


Decoded = DeviceEvent | StatusReport | Announcement | Rejected
