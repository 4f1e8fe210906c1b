"""Simulated Zigbee2MQTT: real models' state payloads, the bridge's device list, availability.

Payload shapes follow real Zigbee2MQTT devices (see tests/fixtures/payloads and the research
notes): every state message repeats all cached attributes, an `action` is an edge followed by
`"action": ""`, and `contact: true` means closed.
"""

from dataclasses import dataclass, field
from typing import Any

from wire.event import EventType


@dataclass(frozen=True, slots=True)
class Model:
    """A real Zigbee2MQTT model: vendor, description, and how canonical events look in it."""

    vendor: str
    description: str
    initial: dict[str, Any]
    changes: dict[str, dict[str, Any]]
    exposes: tuple[str, ...]


_IAS = {"battery": 100, "battery_low": False, "tamper": False, "linkquality": 120}
MODELS: dict[str, Model] = {
    "TS0215A_sos": Model(
        "TuYa",
        "SOS button",
        {"action": None, "battery": 100, "linkquality": 90},
        {"pendant.pressed": {"action": "emergency"}},
        ("action", "battery", "linkquality"),
    ),
    "SEB01ZB": Model(
        "Feibit",
        "SOS button",
        {"sos": False, **_IAS},
        {"pendant.pressed": {"sos": True}},
        ("sos", "battery_low", "tamper", "battery", "linkquality"),
    ),
    "MIR-HE200-TY": Model(
        "TuYa",
        "Human presence sensor with fall function",
        {"presence": True, "occupancy": True, "fall_down_status": "none", "linkquality": 150},
        {
            "fall.detected": {"fall_down_status": "fall"},
            "fall.cleared": {"fall_down_status": "none"},
            "motion.detected": {"presence": True, "occupancy": True},
        },
        ("presence", "occupancy", "fall_down_status", "linkquality"),
    ),
    "SJCGQ11LM": Model(
        "Xiaomi",
        "Aqara water leak sensor",
        {"water_leak": False, "voltage": 3025, "temperature": 21, **_IAS},
        {"water.leak": {"water_leak": True}, "water.clear": {"water_leak": False}},
        ("water_leak", "battery_low", "tamper", "battery", "voltage", "linkquality"),
    ),
    "TS0203": Model(
        "TuYa",
        "Door sensor",
        {"contact": True, "voltage": 3000, **_IAS},
        {"door.opened": {"contact": False}, "door.closed": {"contact": True}},
        ("contact", "battery_low", "tamper", "battery", "voltage", "linkquality"),
    ),
    "TS0202": Model(
        "TuYa",
        "Motion sensor",
        {"occupancy": False, **_IAS},
        {"motion.detected": {"occupancy": True}},
        ("occupancy", "battery_low", "tamper", "battery", "linkquality"),
    ),
    "HS1SA": Model(
        "Heiman",
        "Smoke detector",
        {"smoke": False, **_IAS},
        {"smoke.detected": {"smoke": True}, "smoke.clear": {"smoke": False}},
        ("smoke", "battery_low", "tamper", "battery", "linkquality"),
    ),
    "WSDCGQ11LM": Model(
        "Xiaomi",
        "Aqara temperature, humidity and pressure sensor",
        {"temperature": 20.0, "humidity": 50, "battery": 100, "linkquality": 110},
        {"temperature.reading": {}},
        ("temperature", "humidity", "battery", "linkquality"),
    ),
}


@dataclass
class ZigbeeState:
    """One simulated Zigbee device's cached attributes, as Zigbee2MQTT keeps them."""

    model: str
    cache: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.cache:
            self.cache = dict(MODELS[self.model].initial)

    def messages(self, event: EventType, *, value: float | None = None) -> list[dict[str, Any]]:
        """The state messages Zigbee2MQTT would publish for this event (cache repeated)."""
        if event == "device.heartbeat":
            return [dict(self.cache)]  # a periodic report: the same attributes again
        if event == "device.battery_low":
            self.cache.update({"battery_low": True, "battery": 5})
            return [dict(self.cache)]
        if event == "temperature.reading" and value is not None:
            self.cache["temperature"] = value
            return [dict(self.cache)]
        change = MODELS[self.model].changes.get(event)
        if change is None:
            msg = f"{self.model} has no way to report {event}"
            raise ValueError(msg)
        published = []
        if event == "motion.detected" and self.cache.get("occupancy") is True:
            # Zigbee2MQTT's occupancy_timeout has passed since the last detection: it reported
            # the room empty before this new detection.
            self.cache.update(dict.fromkeys(change, False))
            published.append(dict(self.cache))
        self.cache.update(change)
        published.append(dict(self.cache))
        if "action" in change:
            self.cache["action"] = ""  # an action is an edge: Zigbee2MQTT clears it at once
            published.append(dict(self.cache))
        return published


def bridge_device(friendly_name: str, ieee: str, model: str) -> dict[str, Any]:
    """One entry of the retained `bridge/devices` list, as Zigbee2MQTT 2.x publishes it."""
    spec = MODELS[model]
    return {
        "ieee_address": ieee,
        "friendly_name": friendly_name,
        "type": "EndDevice",
        "power_source": "Battery",
        "supported": True,
        "interview_completed": True,
        "definition": {
            "model": model,
            "vendor": spec.vendor,
            "description": spec.description,
            "exposes": [{"name": name, "property": name, "access": 1} for name in spec.exposes],
        },
    }
