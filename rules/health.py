"""Device health: devices going offline, low batteries, tampering."""

from rules.policy import CausePolicy, DeviceHealthPolicy


def health_causes(policy: DeviceHealthPolicy) -> dict[str, CausePolicy]:
    """One incident per device and fault."""
    return {
        "broker_lost": CausePolicy(
            # The hub has lost its broker: no sensor can reach it, so it could not raise an
            # alarm. Told after a grace period (a broker restart is not news), over channels that
            # do not need the broker, and again when contact is back.
            label="hub cut off from its sensors",
            severity="urgent",
            opened_by=frozenset({"hub.broker_lost"}),
            cleared_by=frozenset({"hub.broker_back"}),
            alert="The telecare hub has been cut off from its sensors since {time}: alarms"
            " cannot reach it. Check the hub's power and network, or call {person}.",
            clear_text="All clear: the hub is in contact with its sensors again ({time}).",
        ),
        "storage_failing": CausePolicy(
            # The hub cannot write to its disk (full, read-only, failing): alarms still go out
            # from memory, but nothing is kept across a power cut. Told once, and again when
            # the disk takes writes and what was held has been written.
            label="hub storage failing",
            severity="urgent",
            opened_by=frozenset({"hub.storage_failing"}),
            cleared_by=frozenset({"hub.storage_back"}),
            alert="The telecare hub cannot save to its memory card since {time}: alarms still"
            " go out, but a power cut now would lose its records. Check the hub's storage.",
            clear_text="All clear: the hub is saving its records again ({time}).",
        ),
        "device_offline": CausePolicy(
            # A pendant or fall detector that has gone silent leaves the person unprotected:
            # urgent. Any other device offline waits for the digest.
            label="device offline",
            severity="info",
            severity_for=dict.fromkeys(policy.urgent_offline_roles, "urgent"),
            per_device=True,
            opened_by=frozenset({"device.offline"}),
            confirm_s=policy.offline_confirm_s,
            cleared_by=frozenset({"device.online", "device.heartbeat"}),
            alert="The {device} ({room}) stopped reporting at {time}.",
            clear_text="All clear: the {device} ({room}) is reporting again ({time}).",
        ),
        "battery_low": CausePolicy(
            # A flat battery is a silent alarm: noted for the digest until a fresh one reports.
            label="low battery",
            severity="info",
            per_device=True,
            opened_by=frozenset({"device.battery_low"}),
            clears_above_battery=policy.battery_ok_above,
            alert="The {device} ({room}) needs a new battery (reported at {time}).",
            clear_text="All clear: the {device} ({room}) has a good battery again ({time}).",
        ),
        "signal_falling": CausePolicy(
            # A fading radio link is a pendant that will soon fail to call for help: the hub
            # compares each device's last day with the week before (rules/trend.py) and the
            # carer reads it in the digest, with time to move the device or add a repeater.
            label="signal falling",
            severity="info",
            per_device=True,
            opened_by=frozenset({"device.signal_falling"}),
            cleared_by=frozenset({"device.signal_steady"}),
            alert="The {device} ({room}) signal is falling: {baseline} -> {value}/255 over 7 days"
            " (the week before against the last day; noted at {time}). Move it nearer the hub or"
            " add a repeater.",
            clear_text="All clear: the {device} ({room}) signal is steady again ({time}).",
        ),
        "tamper": CausePolicy(
            # A device opened or moved is noted for the digest; nothing reports it undone.
            label="tamper",
            severity="info",
            per_device=True,
            opened_by=frozenset({"device.tamper"}),
            one_shot=True,
            alert="The {device} ({room}) was opened or moved at {time}.",
        ),
    }
