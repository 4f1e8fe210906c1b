"""Check-in deadlines: a device not heard from within its role's deadline is offline.

Zigbee2MQTT marks a battery device offline only after 25 hours; a pendant that has been dead
for a day is a pendant that failed someone. Each role has its own deadline; any message from a
registered device counts as a check-in. The hub only says that the device is offline; the rules
decide how much that matters.
"""

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from hub.records import DeviceRecord
from rules.policy import Role
from rules.timers import shift_deadline

DEFAULT_CHECK_IN_H: Mapping[Role, float] = {
    "pendant": 6.0,
    "pull_cord": 6.0,
    "fall_detector": 6.0,
    "smoke": 26.0,
    "water": 26.0,
    "door": 26.0,
    "motion": 26.0,
    "medication": 26.0,
    "temperature": 26.0,
    "keyfob": 26.0,
}
UNSUPERVISED_SOURCES = frozenset({"gpio"})  # wired to the hub: nothing to miss


class Supervisor:
    """Remembers when each registered device was last heard and which deadlines have passed.

    Args:
        check_in_h: Hours per role, over the defaults.
        started_at: When the hub started: a device gets a full deadline from then, since
            nothing could be heard while the hub was down.
    """

    def __init__(self, check_in_h: Mapping[Role, float], *, started_at: datetime) -> None:
        hours = {**DEFAULT_CHECK_IN_H, **check_in_h}
        self._deadlines: dict[str, timedelta] = {r: timedelta(hours=h) for r, h in hours.items()}
        self._started_at = started_at
        self._due: dict[str, datetime] = {}
        self._roles: dict[str, str] = {}

    def register(self, devices: Iterable[DeviceRecord]) -> None:
        """Supervise these devices (a reload keeps what was heard of those that stay)."""
        previous = self._due
        self._due, self._roles = {}, {}
        for device in devices:
            deadline = self._deadlines.get(device.role)
            if deadline is None or device.source in UNSUPERVISED_SOURCES:
                continue
            self._roles[device.id] = device.role
            self._due[device.id] = previous.get(device.id, self._started_at + deadline)

    def restart(self, at: datetime) -> None:
        """Count every deadline afresh from `at` (a simulation's clock has just been set)."""
        self._started_at = at
        self._due = {d: at + self._deadlines[role] for d, role in self._roles.items()}

    def shift(self, step: timedelta) -> None:
        """The wall clock stepped: every deadline keeps its remaining time."""
        self._due = {d: shift_deadline(due, step) for d, due in self._due.items()}

    def heard(self, device_id: str, at: datetime) -> None:
        """A message from the device arrived: its next deadline starts now."""
        role = self._roles.get(device_id)
        if role is not None:
            self._due[device_id] = at + self._deadlines[role]

    def overdue(self, now: datetime) -> list[str]:
        """Devices whose deadline passed since the last call, each reported once per silence."""
        late = sorted(d for d, due in self._due.items() if due <= now)
        for device_id in late:
            self._due[device_id] = datetime.max.replace(tzinfo=now.tzinfo)
        return late

    def next_due(self) -> datetime | None:
        """The earliest deadline still ahead."""
        return min(self._due.values(), default=None)
