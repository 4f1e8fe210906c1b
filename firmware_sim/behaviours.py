"""What simulated devices do: each behaviour is a short sequence of canonical events.

The same behaviour is spoken in the native schema or as a given Zigbee2MQTT model by the
device's encoder; offsets are seconds of scenario time after the step's moment.
"""

from dataclasses import dataclass
from typing import get_args

from rules.policy import Role
from wire.event import EventType

ANY_ROLE: frozenset[str] = frozenset(get_args(Role))
PRESSABLE = frozenset({"pendant", "pull_cord"})


@dataclass(frozen=True, slots=True)
class Behaviour:
    """A named behaviour: who can do it and the events it produces."""

    roles: frozenset[str]
    events: tuple[tuple[float, EventType], ...]
    description: str


BEHAVIOURS: dict[str, Behaviour] = {
    "press": Behaviour(PRESSABLE, ((0, "pendant.pressed"),), "a press for help"),
    "accidental_press": Behaviour(
        PRESSABLE,
        ((0, "pendant.pressed"), (4, "pendant.cancelled")),
        "a press by mistake, cancelled by a second press pattern within seconds",
    ),
    "phantom_press": Behaviour(
        PRESSABLE, ((0, "pendant.pressed"),), "the device reports a press nobody made"
    ),
    "cancel": Behaviour(PRESSABLE, ((0, "pendant.cancelled"),), "the person cancels the alarm"),
    "fall": Behaviour(
        frozenset({"fall_detector"}), ((0, "fall.detected"),), "a fall with no recovery"
    ),
    "fall_false_positive": Behaviour(
        frozenset({"fall_detector"}),
        ((0, "fall.detected"), (6, "fall.cleared")),
        "bending or sitting down quickly: the radar clears within seconds",
    ),
    "door_open_close": Behaviour(
        frozenset({"door"}),
        ((0, "door.opened"), (30, "door.closed")),
        "someone goes through the door and closes it",
    ),
    "door_open": Behaviour(frozenset({"door"}), ((0, "door.opened"),), "the door opens"),
    "door_close": Behaviour(frozenset({"door"}), ((0, "door.closed"),), "the door closes"),
    "leak": Behaviour(frozenset({"water"}), ((0, "water.leak"),), "water that stays"),
    "splash": Behaviour(
        frozenset({"water"}),
        ((0, "water.leak"), (3, "water.clear")),
        "a splash that dries within seconds",
    ),
    "dry": Behaviour(frozenset({"water"}), ((0, "water.clear"),), "the sensor is dry again"),
    "smoke": Behaviour(frozenset({"smoke"}), ((0, "smoke.detected"),), "the smoke alarm sounds"),
    "smoke_clear": Behaviour(frozenset({"smoke"}), ((0, "smoke.clear"),), "the smoke clears"),
    "temperature": Behaviour(
        frozenset({"temperature"}), ((0, "temperature.reading"),), "a room temperature reading"
    ),
    "dose_taken": Behaviour(
        frozenset({"medication"}), ((0, "medication.taken"),), "a dose is taken"
    ),
    "motion": Behaviour(frozenset({"motion"}), ((0, "motion.detected"),), "someone moves"),
    "heartbeat": Behaviour(ANY_ROLE, ((0, "device.heartbeat"),), "a routine check-in"),
    "battery_low": Behaviour(ANY_ROLE, ((0, "device.battery_low"),), "the battery runs low"),
    "out_of_range": Behaviour(
        ANY_ROLE, ((0, "device.offline"),), "the device drops off the network (its last will)"
    ),
    "back_in_range": Behaviour(ANY_ROLE, ((0, "device.online"),), "the device is back"),
}
