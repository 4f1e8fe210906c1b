"""Room temperature: a home too cold or too hot for too long."""

from rules.policy import CausePolicy
from rules.routines import TemperaturePolicy


def temperature_causes(policy: TemperaturePolicy) -> dict[str, CausePolicy]:
    """Cold and heat, one incident per thermometer."""
    cold, hot = f"{policy.cold_below_c:g} °C", f"{policy.hot_above_c:g} °C"
    return {
        "cold": CausePolicy(
            # Cold homes kill: a room below the limit for the whole window is urgent; a reading
            # back above it clears the incident.
            label="cold room",
            severity="urgent",
            per_device=True,
            opened_by=frozenset({"temperature.reading"}),
            below=policy.cold_below_c,
            confirm_s=policy.for_s,
            alert=f"It is cold in the {{room}}: below {cold} since {{time}}.",
            clear_text=f"Warm again: the {{room}} is above {cold} at {{time}}.",
        ),
        "heat": CausePolicy(
            # Heat is dangerous for older people too: the same rule above the upper limit.
            label="hot room",
            severity="urgent",
            per_device=True,
            opened_by=frozenset({"temperature.reading"}),
            above=policy.hot_above_c,
            confirm_s=policy.for_s,
            alert=f"It is hot in the {{room}}: above {hot} since {{time}}.",
            clear_text=f"Cooler again: the {{room}} is below {hot} at {{time}}.",
        ),
    }
