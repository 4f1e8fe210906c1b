"""The causes of incident the engine knows, and which of them an event opens, clears or cancels.

Alarms (pendant, fall, smoke, water) are declared here; doors, room temperature and device
health in their own modules. Each cause's comment states the rule in care words.
"""

from datetime import time
from typing import Literal

from rules.door import door_causes
from rules.environment import temperature_causes
from rules.health import health_causes
from rules.policy import CausePolicy, Policies, Role
from rules.schedule import in_window
from wire.event import DeviceEvent

Verdict = Literal["open", "cancel", "clear", "drop"]

# Causes that everyday life opens (a door opening, a cool reading): they watch for something to
# go wrong, and one that closes without firing was no alarm at all, false or otherwise.
WATCHES: frozenset[str] = frozenset({"night_exit", "door_left_open", "door_day", "cold", "heat"})


def causes(policy: Policies) -> dict[str, CausePolicy]:
    """Return every cause keyed by its name, with the configured windows applied."""
    return {
        **help_causes(policy),
        **hazard_causes(policy),
        **door_causes(policy.door),
        **temperature_causes(policy.temperature),
        **health_causes(policy.devices),
    }


def help_causes(policy: Policies) -> dict[str, CausePolicy]:
    """A person asking for help, or fallen."""
    return {
        "help_call": CausePolicy(
            # A press is a person asking for help: told at once (or after a few seconds at most),
            # and a cancel afterwards is followed up with "all OK" rather than silence.
            label="pendant alarm",
            severity="emergency",
            opened_by=frozenset({"pendant.pressed"}),
            cancelled_by=frozenset({"pendant.cancelled"}),
            confirm_s=policy.pendant.delay_s,
            alert="{person} pressed the {device} ({room}) at {time} and needs help.",
        ),
        "fall": CausePolicy(
            # Fall detectors raise false alarms when someone bends or sits down quickly: only a
            # fall that is not cleared, cancelled, or followed by ordinary movement elsewhere
            # within the confirm window reaches the carer. A possible fall waits longer.
            label="fall alarm",
            severity="emergency",
            opened_by=frozenset({"fall.detected", "fall.suspected"}),
            cancelled_by=frozenset({"pendant.cancelled"}),
            cleared_by=frozenset({"fall.cleared"}),
            drops_pending=frozenset({"motion.detected"}),
            confirm_s=policy.fall.confirm_s,
            confirm_s_for={"fall.suspected": policy.fall.maybe_confirm_s},
            alert="{person} may have fallen ({room}, {time}) and has not got up.",
        ),
    }


def hazard_causes(policy: Policies) -> dict[str, CausePolicy]:
    """Fire and water in the home."""
    return {
        "smoke": CausePolicy(
            # Fire is never delayed, never held back by anything else in progress, and its
            # message cannot be mistaken for any other alarm.
            label="smoke alarm",
            severity="emergency",
            opened_by=frozenset({"smoke.detected"}),
            cleared_by=frozenset({"smoke.clear"}),
            alert="FIRE ALARM: smoke detected in the {room} at {time}. Call 999 if {person}"
            " does not answer.",
        ),
        "water_leak": CausePolicy(
            # A splash dries within seconds; only water that persists is worth a call, and the
            # carer who was told hears when it is dry again.
            label="water leak",
            severity="urgent",
            opened_by=frozenset({"water.leak"}),
            cleared_by=frozenset({"water.clear"}),
            confirm_s=policy.water.debounce_s,
            alert="Water leak in the {room} since {time}.",
            clear_text="Dry again: the water leak in the {room} stopped at {time}.",
        ),
    }


def verdict(
    policy: CausePolicy, event: DeviceEvent, role: Role | None, local: time
) -> Verdict | None:
    """What `event` does to `policy`'s cause, given the device's role and the local time."""
    kind = event.type
    if kind in policy.opened_by:
        return _opening(policy, event, role, local)
    if kind in policy.cancelled_by:
        return "cancel"
    if kind in policy.cleared_by:
        return "clear"
    if kind in policy.drops_pending:
        return "drop"
    limit = policy.clears_above_battery
    if limit is not None and event.battery is not None and event.battery > limit:
        return "clear"
    return None


def _opening(
    policy: CausePolicy, event: DeviceEvent, role: Role | None, local: time
) -> Verdict | None:
    if policy.roles is not None and role not in policy.roles:
        return None
    if policy.below is not None or policy.above is not None:
        if event.value is None:
            return None
        out_of_range = (policy.below is not None and event.value < policy.below) or (
            policy.above is not None and event.value > policy.above
        )
        return "open" if out_of_range else "clear"
    if policy.only_in is not None and not in_window(policy.only_in, local):
        return None
    if policy.except_in is not None and in_window(policy.except_in, local):
        return None
    return "open"
