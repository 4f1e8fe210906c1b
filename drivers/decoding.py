"""What a driver makes of one raw message: an event, a status, an announcement, or a rejection."""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal, Protocol

from wire.devices import DeviceRecord
from wire.event import DeviceEvent
from wire.schema import AnnouncePayload, InboundMessage

RejectCause = Literal[
    "oversized",
    "malformed_json",
    "invalid_payload",
    "retained_event",
    "unknown_event_type",
    "unknown_topic",
    "unregistered_device",
    "duplicate",
    "role_mismatch",
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


@dataclass(frozen=True, slots=True)
class Health:
    """A registered device was heard from: a check-in, with battery and signal if it said."""

    device_id: str
    battery: int | None = None
    linkquality: int | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """Which hub commands a registered device can carry out (learnt from its model's exposes).

    Attributes:
        device_id: The registered device.
        commands: `reassure`, `chime`, `identify`, in that order; empty if none.
        model: The model Zigbee2MQTT lists for it, when known.
    """

    device_id: str
    commands: tuple[str, ...]
    model: str | None = None


@dataclass(frozen=True, slots=True)
class Unregistered:
    """A device that is not registered spoke; the installer may adopt it.

    Attributes:
        source: Which driver heard it.
        address: How that driver names it (a native device id, a Zigbee2MQTT friendly name).
        model: Its model, when known.
        spoke: It sent a message (False: only listed, by Zigbee2MQTT's `bridge/devices`).
    """

    source: Literal["native", "zigbee2mqtt", "gpio"]
    address: str
    model: str | None = None
    spoke: bool = True


Decoded = (
    DeviceEvent | StatusReport | Announcement | Rejected | Health | Unregistered | Capabilities
)


class Driver(Protocol):
    """An edge that owns some MQTT topics and turns their messages into decoded items."""

    @property
    def subscriptions(self) -> Sequence[str]:
        """The topic filters this driver needs subscribed."""
        ...

    def owns(self, topic: str) -> bool:
        """Whether messages on `topic` are this driver's to decode."""
        ...

    def decode(self, message: InboundMessage, *, received_at: datetime) -> list[Decoded]:
        """Everything one message carries, in order; never raises on bad input."""
        ...

    def register(self, devices: Iterable[DeviceRecord]) -> None:
        """Replace the driver's view of the registered devices."""
        ...
