"""The causes of incident the engine knows, built from the configured per-role policies."""

from rules.policy import CausePolicy, Policies


def causes(policy: Policies) -> dict[str, CausePolicy]:
    """Return every cause keyed by its name, with the configured windows applied."""
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
            # fall that is not cleared or cancelled within the confirm window reaches the carer.
            label="fall alarm",
            severity="emergency",
            opened_by=frozenset({"fall.detected"}),
            cancelled_by=frozenset({"pendant.cancelled"}),
            cleared_by=frozenset({"fall.cleared"}),
            confirm_s=policy.fall.confirm_s,
            alert="{person} may have fallen ({room}, {time}) and has not got up.",
        ),
        "smoke": CausePolicy(
            # Fire is never delayed and never held back by anything else in progress.
            label="smoke alarm",
            severity="emergency",
            opened_by=frozenset({"smoke.detected"}),
            cleared_by=frozenset({"smoke.clear"}),
            alert="Smoke alarm sounding in the {room} at {time}.",
        ),
        "water_leak": CausePolicy(
            # A splash dries within seconds; only water that persists is worth a call.
            label="water leak",
            severity="urgent",
            opened_by=frozenset({"water.leak"}),
            cleared_by=frozenset({"water.clear"}),
            confirm_s=policy.water.debounce_s,
            alert="Water leak in the {room} since {time}.",
        ),
    }
