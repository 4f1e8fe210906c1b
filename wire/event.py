"""The canonical device event: what every driver turns a raw payload into."""

from typing import Literal, get_args

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

EventType = Literal[
    "pendant.pressed",
    "pendant.cancelled",
    "fall.detected",
    "fall.suspected",
    "fall.cleared",
    "door.opened",
    "door.closed",
    "water.leak",
    "water.clear",
    "smoke.detected",
    "smoke.clear",
    "temperature.reading",
    "medication.due",
    "medication.taken",
    "motion.detected",
    "device.heartbeat",
    "device.battery_low",
    "device.tamper",
    "device.offline",
    "device.online",
]

EVENT_TYPES: frozenset[str] = frozenset(get_args(EventType))

# What the hub observes of its own links, its store and its clock; each device's signal trend,
# measured from its stored history. Never accepted from a device: drivers check EVENT_TYPES.
HubEventType = Literal[
    "hub.broker_lost",
    "hub.broker_back",
    "hub.storage_failing",
    "hub.storage_back",
    "hub.clock_stepped",  # value: the step in seconds; recorded, decides nothing
    "device.signal_falling",
    "device.signal_steady",
]
HUB_DEVICE_ID = "hub"

Source = Literal["native", "zigbee2mqtt", "gpio"]


class DeviceEvent(BaseModel):
    """One thing a device reported, decoded and stamped by the hub.

    Attributes:
        device_id: The registered device that reported it.
        type: What happened, from the public event vocabulary.
        received_at: When the hub received it (the hub's clock, always set).
        source: Which driver decoded it.
        ts: When the device says it happened, if it said.
        seq: The device's own sequence number, if it sends one.
        battery: Battery level in percent, if reported alongside.
        value: A measured value (temperature in degrees Celsius), if any.
        baseline: The usual level `value` is compared with, for the hub's own trend events
            (`device.signal_*`: the median of the week before the last day); never from a device.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    device_id: str = Field(min_length=1, max_length=128)
    type: EventType | HubEventType
    received_at: AwareDatetime
    source: Source = "native"
    ts: AwareDatetime | None = None
    seq: int | None = Field(default=None, ge=0)
    battery: int | None = Field(default=None, ge=0, le=100)
    value: float | None = None
    baseline: float | None = None
