"""Zigbee2MQTT state payloads to canonical event types, by the device's role and model.

Zigbee2MQTT repeats every cached attribute in every message (`cache_state`), so states are
turned into events only on a transition, remembered per device in a `DeviceMemory`. `action`
is an edge: each non-empty value is one press, except an identical repeat within
`ACTION_REPEAT_S` (Zigbee2MQTT sometimes publishes one press twice). `null` means unknown: it
neither fires nor forgets what was known.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, get_args

from rules.policy import Role
from wire.event import EventType

ACTION_REPEAT_S = 2.0
LOW_BATTERY_PERCENT = 15
TEMPERATURE_STEP_C = 0.5  # a reading is news when it moved this far since the last one told

HELP_ROLES = frozenset({"pendant", "pull_cord", "keyfob"})
COMMON_PROPERTIES = frozenset({"battery", "battery_low", "tamper", "linkquality"})

# Buttons that are help calls whatever the press (Heiman HS1EB is sold as an emergency button):
# given the pendant role at pairing, any click is a call for help.
HELP_ACTIONS = frozenset({"emergency", "sos"})
PRESS_ACTIONS = frozenset({"single", "double", "triple", "hold", "long", "press", "click"})
MOTION_ACTIONS = frozenset({"vibration", "tilt", "drop"})

Level = Callable[[Any], bool | None]
"""Whether a state value is active (True), inactive (False) or unknown (None)."""


def _flag(value: Any) -> bool | None:
    return value if isinstance(value, bool) else None


def _open_contact(value: Any) -> bool | None:
    # `contact: true` means the magnet is present: the door is closed.
    return (not value) if isinstance(value, bool) else None


def _one_of(active: frozenset[str], inactive: frozenset[str]) -> Level:
    def level(value: Any) -> bool | None:
        if value in active:
            return True
        if value in inactive:
            return False
        return None  # "unknown", or a value that does not say (OWON's low_posture after a fall)

    return level


@dataclass(frozen=True, slots=True)
class StateRule:
    """One state property of one family of roles, and the events its transitions mean."""

    prop: str
    roles: frozenset[str]
    level: Level
    rising: EventType
    falling: EventType | None = None


ALL_ROLES: frozenset[str] = frozenset(get_args(Role))
PRESENCE_ROLES = frozenset({"motion", "fall_detector"})

STATE_RULES: tuple[StateRule, ...] = (
    StateRule("sos", HELP_ROLES, _flag, "pendant.pressed"),
    StateRule("water_leak", frozenset({"water"}), _flag, "water.leak", "water.clear"),
    StateRule("contact", frozenset({"door"}), _open_contact, "door.opened", "door.closed"),
    StateRule("contact", frozenset({"medication"}), _open_contact, "medication.taken"),
    StateRule("smoke", frozenset({"smoke"}), _flag, "smoke.detected", "smoke.clear"),
    StateRule("occupancy", PRESENCE_ROLES, _flag, "motion.detected"),
    StateRule("presence", PRESENCE_ROLES, _flag, "motion.detected"),
    StateRule("vibration", frozenset({"motion"}), _flag, "motion.detected"),
    StateRule(
        "fall_down_status",
        frozenset({"fall_detector"}),
        # A suspected fall opens a pending incident; the engine's confirm window decides.
        _one_of(frozenset({"maybe_fall", "fall"}), frozenset({"none"})),
        "fall.detected",
        "fall.cleared",
    ),
    StateRule(
        "fall_status",
        frozenset({"fall_detector"}),
        _one_of(frozenset({"fall_warning", "fall_alarm"}), frozenset({"normal"})),
        "fall.detected",
        "fall.cleared",
    ),
    StateRule(
        "status",
        frozenset({"fall_detector"}),
        _one_of(
            frozenset({"falling"}),
            frozenset({"unoccupied", "occupied", "sitting", "on_the_bed"}),
        ),
        "fall.detected",
        "fall.cleared",
    ),
    StateRule("battery_low", ALL_ROLES, _flag, "device.battery_low"),
    StateRule("tamper", ALL_ROLES, _flag, "device.tamper"),
)

# Properties that say what kind of device this is: one of these on a device whose role has no
# rule for it (a door sensor reporting `water_leak`) is a mistake at pairing, not an event.
ROLE_PROPERTIES = frozenset({"sos", "water_leak", "contact", "smoke", "fall_down_status"}) | {
    "fall_status"
}

# Models whose payloads are verified against the fixtures in tests/fixtures/payloads/: the
# properties mapped for each. Any other model is mapped by the properties it exposes.
VERIFIED_MODELS: Mapping[str, frozenset[str]] = {
    "TS0215A_sos": frozenset({"action"}),
    "TS0601_sos": frozenset({"action"}),
    "HS1EB/HS1EB-E": frozenset({"action"}),
    "SEB01ZB": frozenset({"sos"}),
    "HS2FD-EF1-3.0": frozenset({"fall_status", "occupancy"}),
    "MIR-HE200-TY": frozenset({"fall_down_status", "presence", "occupancy"}),
    "FDS315": frozenset({"status"}),
    "SJCGQ11LM": frozenset({"water_leak"}),
    "ZWLD-100": frozenset({"water_leak"}),
    "TS0203": frozenset({"contact"}),
    "MCCGQ11LM": frozenset({"contact"}),
    "DJT11LM": frozenset({"action", "vibration"}),
    "TS0202": frozenset({"occupancy"}),
    "WSDCGQ11LM": frozenset({"temperature"}),
}
# `status` is too generic a name to trust without evidence that it carries a posture.
GENERIC_PROPERTIES = (
    frozenset(rule.prop for rule in STATE_RULES) | {"action", "temperature"} | COMMON_PROPERTIES
) - {"status"}


@dataclass(slots=True)
class DeviceMemory:
    """What the driver last knew of one device's states, to fire on transitions only."""

    states: dict[str, bool] = field(default_factory=dict)
    last_action: tuple[str, datetime] | None = None
    last_reading: float | None = None


@dataclass(frozen=True, slots=True)
class Translation:
    """What one state payload means.

    Attributes:
        events: Canonical event types, in the order they were found, without repeats.
        battery: Battery in percent, if the payload carried a usable value.
        linkquality: Signal (0 to 255), if carried.
        mismatches: Properties that contradict the device's role.
        reading: The temperature in degrees Celsius of a `temperature.reading`, if one.
    """

    events: tuple[EventType, ...]
    battery: int | None
    linkquality: int | None
    mismatches: tuple[str, ...]
    reading: float | None = None


def mapped_properties(model: str | None, exposes: frozenset[str] | None) -> frozenset[str]:
    """The properties the driver maps for a device of `model` exposing `exposes`."""
    if model is not None and model in VERIFIED_MODELS:
        return VERIFIED_MODELS[model] | COMMON_PROPERTIES
    if exposes is not None:
        return exposes & (GENERIC_PROPERTIES | {"status"}) | COMMON_PROPERTIES
    return GENERIC_PROPERTIES


def translate(
    payload: Mapping[str, Any],
    *,
    role: str,
    properties: frozenset[str],
    memory: DeviceMemory,
    received_at: datetime,
) -> Translation:
    """Turn one state payload of a registered device into canonical event types.

    Args:
        payload: The JSON object Zigbee2MQTT published on the device's topic.
        role: The device's role in the home.
        properties: The properties mapped for its model (`mapped_properties`).
        memory: The device's remembered states; updated in place.
        received_at: The hub's receive time (for repeated actions).
    """
    found: list[EventType] = []
    mismatches = _role_mismatches(payload, role)
    action = payload.get("action") if "action" in properties else None
    if isinstance(action, str) and action and not _repeated(action, memory, received_at):
        event = action_event(action, role)
        if event is not None:
            found.append(event)
        elif action in HELP_ACTIONS:
            mismatches.append(f"action={action}")
    _on_states(payload, role, properties, memory, found)
    reading = None
    if role == "temperature" and "temperature" in properties:
        reading = _new_reading(payload.get("temperature"), memory)
        if reading is not None:
            found.append("temperature.reading")
    battery = parse_battery(payload.get("battery"))
    if battery is not None:
        low = battery <= LOW_BATTERY_PERCENT
        _on_level("battery<=low", low, "device.battery_low", memory, found)
    return Translation(
        events=tuple(dict.fromkeys(found)),
        battery=battery,
        linkquality=_signal(payload.get("linkquality")),
        mismatches=tuple(mismatches),
        reading=reading,
    )


def _on_states(
    payload: Mapping[str, Any],
    role: str,
    properties: frozenset[str],
    memory: DeviceMemory,
    found: list[EventType],
) -> None:
    for rule in STATE_RULES:
        if rule.prop in properties and role in rule.roles and rule.prop in payload:
            active = rule.level(payload[rule.prop])
            if active is not None:
                _on_level(rule.prop, active, rule.rising if active else rule.falling, memory, found)


def _signal(value: Any) -> int | None:
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value if 0 <= value <= 255 else None  # noqa: PLR2004


def _new_reading(value: Any, memory: DeviceMemory) -> float | None:
    """The temperature, if it moved far enough since the last one told to be news."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if not -50 <= value <= 100:  # noqa: PLR2004  # not a room temperature: a broken sensor
        return None
    last = memory.last_reading
    if last is not None and abs(value - last) < TEMPERATURE_STEP_C:
        return None
    memory.last_reading = float(value)
    return float(value)


def action_event(action: str, role: str) -> EventType | None:
    """The event a button's `action` means for a device of `role`, if any."""
    if role in HELP_ROLES and (action in HELP_ACTIONS or action in PRESS_ACTIONS):
        return "pendant.pressed"
    if role == "motion" and action in MOTION_ACTIONS:
        return "motion.detected"
    if role == "medication" and action in PRESS_ACTIONS:
        return "medication.taken"
    return None


def _role_mismatches(payload: Mapping[str, Any], role: str) -> list[str]:
    return [
        prop
        for prop in sorted(ROLE_PROPERTIES & payload.keys())
        if payload[prop] is not None
        and not any(r.prop == prop and role in r.roles for r in STATE_RULES)
    ]


def _repeated(action: str, memory: DeviceMemory, received_at: datetime) -> bool:
    last = memory.last_action
    memory.last_action = (action, received_at)
    return (
        last is not None
        and last[0] == action
        and 0 <= (received_at - last[1]).total_seconds() < ACTION_REPEAT_S
    )


def _on_level(
    key: str, active: bool, event: EventType | None, memory: DeviceMemory, found: list[EventType]
) -> None:
    before = memory.states.get(key)
    memory.states[key] = active
    # From unknown, only an active state is news: a sensor first heard dry says nothing new.
    if before == active or (before is None and not active) or event is None:
        return
    found.append(event)


def parse_battery(value: Any) -> int | None:
    """Battery in percent from a number or, in old releases, a string such as "80.00"."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str):
        try:
            value = float(value)
        except ValueError:
            return None
    if isinstance(value, int | float) and 0 <= value <= 100:  # noqa: PLR2004
        return round(value)
    return None
