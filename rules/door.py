"""Doors: someone leaving at night and not coming back, a door left open, daytime visits."""

from rules.policy import CausePolicy
from rules.routines import DoorPolicy
from wire.event import EventType


def door_causes(policy: DoorPolicy) -> dict[str, CausePolicy]:
    """The door causes, with the configured night hours and windows applied."""
    return {"night_exit": night_exit(policy), **door_state_causes(policy)}


def night_exit(policy: DoorPolicy) -> CausePolicy:
    """Someone leaving at night and not coming back."""
    returned: frozenset[EventType] = frozenset({"motion.detected"})
    if not policy.return_needs_motion:
        returned = frozenset({"motion.detected", "door.closed"})
    return CausePolicy(
        # At night a person living with dementia may walk out: if nobody is seen back
        # inside within the return window, it is an emergency. Movement inside (or, where
        # configured, the door closing again) within the window means all is well.
        label="night exit",
        severity="emergency",
        opened_by=frozenset({"door.opened"}),
        roles=frozenset({"door"}),
        only_in=policy.night,
        cleared_by=returned,
        confirm_s=policy.return_s,
        alert="{person} went out by the {device} ({room}) at {time} at night and has not"
        " come back in.",
        clear_text="All clear: {person} is back inside ({room}, {time}).",
    )


def door_state_causes(policy: DoorPolicy) -> dict[str, CausePolicy]:
    """A door left open, and daytime comings and goings."""
    return {
        "door_left_open": CausePolicy(
            # A door standing open lets the cold and strangers in, day or night.
            label="door left open",
            severity="urgent",
            per_device=True,
            opened_by=frozenset({"door.opened"}),
            roles=frozenset({"door"}),
            cleared_by=frozenset({"door.closed"}),
            confirm_s=policy.left_open_s,
            alert="The {device} ({room}) has been open since {time}.",
            clear_text="All clear: the {device} ({room}) was closed at {time}.",
        ),
        "door_day": CausePolicy(
            # By day, comings and goings are normal: noted for the digest, nobody interrupted.
            label="door opened",
            severity="info",
            per_device=True,
            opened_by=frozenset({"door.opened"}),
            roles=frozenset({"door"}),
            except_in=policy.night,
            one_shot=True,
            alert="The {device} ({room}) was opened at {time}.",
        ),
    }
