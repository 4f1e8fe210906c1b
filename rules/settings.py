"""What a carer may change from the dashboard: a device silenced for a while, digest times.

Both are part of the engine's state (saved with its memory, so a restart keeps them), and each
change is an action the hub records with who made it.
"""

from collections.abc import Iterable
from datetime import datetime, time, timedelta

from rules.incidents import SettingChanged
from rules.policy import CausePolicy, Role, RulesConfig, Severity
from rules.state import EngineState, Silence
from rules.texts import Texts

# A device whose very purpose is a call for help is never silenced, whatever a carer asks.
EMERGENCY_ROLES: frozenset[Role] = frozenset({"pendant", "pull_cord", "fall_detector", "smoke"})
MAX_SILENCE = timedelta(hours=36)  # "until tomorrow morning", asked just after midnight
MAX_DIGEST_TIMES = 6


class SettingRefusedError(ValueError):
    """A carer's change the engine does not accept; the message says why."""


class CarerSettings:
    """Silenced devices and per-contact digest times, checked and applied.

    A silenced device's non-emergency alarms (a door left open, a low battery, a leak) are
    recorded in the timeline but nobody is told, until the silence runs out by itself. An
    emergency is never silenced: a pendant, pull-cord, fall detector or smoke alarm cannot be,
    and the emergency alarms of any other device (a door opened at night) still get through.
    """

    def __init__(self, config: RulesConfig, causes: Iterable[CausePolicy], texts: Texts) -> None:
        uplifted = {
            role
            for policy in causes
            for role, severity in policy.severity_for.items()
            if severity == "emergency"
        }
        self._emergency = EMERGENCY_ROLES | uplifted
        self._devices = config.devices
        self._contacts = {c.name for c in config.contacts}
        self._texts = texts

    def silence(
        self, state: EngineState, device_id: str, *, until: datetime | None, by: str, now: datetime
    ) -> tuple[EngineState, SettingChanged]:
        """Silence a device until `until`, or lift its silence (None).

        Raises:
            SettingRefusedError: an unknown or emergency device, or a time not ahead of `now`
                by at most `MAX_SILENCE`.
        """
        info = self._devices.get(device_id)
        if info is None:
            raise SettingRefusedError(f"no device {device_id!r}")
        if not self.silenceable(device_id):
            role = info.role.replace("_", " ")
            msg = f"the {info.name} is a {role}: emergencies are never silenced"
            raise SettingRefusedError(msg)
        if until is not None and not now < until <= now + MAX_SILENCE:
            msg = f"a silence must end within {MAX_SILENCE.total_seconds() / 3600:g} hours from now"
            raise SettingRefusedError(msg)
        kept = {d: s for d, s in state.silenced.items() if s.until > now and d != device_id}
        if until is not None:
            kept[device_id] = Silence(until=until, by=by)
        value = f"until {self._local(until)}" if until is not None else "lifted"
        change = SettingChanged(setting="silence", subject=device_id, value=value, by=by, at=now)
        return state.model_copy(update={"silenced": kept}), change

    def silenceable(self, device_id: str) -> bool:
        """Whether the device may be silenced: a known one whose purpose is no emergency."""
        info = self._devices.get(device_id)
        return info is not None and info.role not in self._emergency

    def holds(
        self, state: EngineState, device_id: str, severity: Severity, now: datetime
    ) -> str | None:
        """Why a device's alarm of this severity is not sent now, or None if it is."""
        silence = state.silenced.get(device_id)
        if silence is None or severity == "emergency" or silence.until <= now:
            return None
        return f"silenced by {silence.by} until {self._local(silence.until)}"

    def set_digest_times(
        self,
        state: EngineState,
        contact: str,
        times: tuple[time, ...] | None,
        *,
        by: str,
        now: datetime,
    ) -> tuple[EngineState, SettingChanged]:
        """Give a contact's digest these times, or back to the configured ones (None).

        No times at all: information reaches her as it comes (outside work hours).

        Raises:
            SettingRefusedError: an unknown contact, a time given twice, or too many times.
        """
        if contact not in self._contacts:
            raise SettingRefusedError(f"no contact {contact!r}")
        chosen = dict(state.digest_at)
        chosen.pop(contact, None)
        if times is not None:
            if len(set(times)) != len(times):
                raise SettingRefusedError("the same digest time is given twice")
            if len(times) > MAX_DIGEST_TIMES:
                raise SettingRefusedError(f"at most {MAX_DIGEST_TIMES} digest times a day")
            chosen[contact] = tuple(sorted(times))
        shown = ", ".join(f"{t:%H:%M}" for t in chosen.get(contact, ())) or "none"
        value = shown if times is not None else "as configured"
        change = SettingChanged(setting="digest_at", subject=contact, value=value, by=by, at=now)
        return state.model_copy(update={"digest_at": chosen}), change

    def _local(self, when: datetime) -> str:
        local = when.astimezone(self._texts.zone)
        return f"{local:%a %H:%M}"
