"""Check-in deadlines: a device not heard from within its role's deadline is offline.

Zigbee2MQTT marks a battery device offline only after 25 hours; a pendant that has been dead
for a day is a pendant that failed someone. Each role has its own deadline; any message from a
registered device counts as a check-in. The hub only says that the device is offline; the rules
decide how much that matters.
"""

from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from datetime import datetime, timedelta
from typing import Literal

from hub.store.records import HealthHour
from rules.policy import Role
from rules.timers import shift_deadline
from rules.trend import SPAN, Trend, level_trend, signal_falling
from wire.devices import DeviceRecord
from wire.event import DeviceEvent

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
TREND_EVERY = timedelta(hours=1)  # history is kept by the hour: judging more often adds nothing
History = Callable[[str, datetime], Awaitable[list[HealthHour]]]


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


def history_trend(
    hours: Sequence[HealthHour], what: Literal["linkquality", "battery"], now: datetime
) -> Trend | None:
    """The trend of a device's signal or battery from its hourly history, if there is enough."""
    levels = [(h.hour, level) for h in hours if (level := getattr(h, what)) is not None]
    return level_trend(levels, now)


class SignalWatch:
    """Judges each device's signal trend from its stored history, once an hour.

    The rule is `rules.trend.signal_falling`; this says only when its verdict for a device
    changes: `device.signal_falling` (the last day's median as its value, the week before's as
    its baseline), and
    `device.signal_steady` once it no longer falls (also at the first verdict after a start, so
    an incident left open by a previous run can close).

    Args:
        history: Reads a device's hourly history since a time (`Store.signal_history`).
    """

    def __init__(self, history: History) -> None:
        self._history = history
        self._falling: dict[str, bool] = {}
        self._checked: datetime | None = None

    async def check(self, devices: Iterable[DeviceRecord], now: datetime) -> list[DeviceEvent]:
        """The changes of verdict since the last check (nothing if that was within the hour)."""
        if self._checked is not None and now - self._checked < TREND_EVERY:
            return []
        self._checked = now
        events: list[DeviceEvent] = []
        for device in devices:
            trend = history_trend(await self._history(device.id, now - SPAN), "linkquality", now)
            if trend is None or self._falling.get(device.id) == signal_falling(trend):
                continue
            falling = self._falling[device.id] = signal_falling(trend)
            events.append(
                DeviceEvent.model_validate(
                    {
                        "device_id": device.id,
                        "type": "device.signal_falling" if falling else "device.signal_steady",
                        "received_at": now,
                        "source": device.source,
                        "value": trend.recent,
                        "baseline": trend.before,
                    }
                )
            )
        return events
