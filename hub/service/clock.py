"""Time for the hub: the wall clock, or a virtual clock that a simulator drives.

The wall clock is watched against the monotonic clock: when NTP steps it (a Pi has no
battery-backed clock), `WallClock.step` says by how much, and the hub moves its relative timers
by that step (see `rules.timers`).

For tests only, `TELECARE_TEST_CLOCK_OFFSET_FILE` names a file holding a number of seconds that
is added to the wall clock, re-read whenever the file changes: a test steps the running hub's
clock as NTP would, while its monotonic clock runs on. (libfaketime would be the outside way, but
the one Debian ships breaks Python's `time.sleep` when the monotonic clock is left real, and
faking the monotonic clock too would hide exactly what such a test must show.) Never set it in a
real home.

With `[simulation] virtual_clock = true` the hub's time moves only when a message on
`telecare/v1/hub/clock` says so. The hub then carries out everything that fell due up to that
moment, each at its own due time, and answers on `telecare/v1/hub/clock/done`. A week of a
household plays in seconds, deterministically, whatever the machine's speed. Never enable it in
a real home: anyone who can publish on the broker could move the hub's time.
"""

import os
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from rules.timers import clock_step

OFFSET_FILE_ENV = "TELECARE_TEST_CLOCK_OFFSET_FILE"


class WallClock:
    """The wall clock, and the steps it takes (measured against the monotonic clock)."""

    def __init__(
        self,
        *,
        offset_file: Path | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._offset = _Offset(offset_file) if offset_file is not None else None
        self._monotonic = monotonic
        self._last = (self.now(), monotonic())

    @classmethod
    def from_environment(cls) -> "WallClock":
        """The wall clock, offset as the test-only environment variable says, if set."""
        named = os.environ.get(OFFSET_FILE_ENV)
        return cls(offset_file=Path(named) if named else None)

    def now(self) -> datetime:
        """The wall clock's time."""
        now = datetime.now(UTC)
        return now if self._offset is None else now + self._offset.read()

    def step(self) -> timedelta | None:
        """How far the wall clock stepped since the last call, if it did (beyond a few seconds)."""
        wall, monotonic = self.now(), self._monotonic()
        (last_wall, last_monotonic), self._last = self._last, (wall, monotonic)
        return clock_step((wall - last_wall).total_seconds(), monotonic - last_monotonic)


class _Offset:
    """Seconds read from a file, re-read when the file changes (tests only)."""

    def __init__(self, path: Path) -> None:
        self._path = path
        self._seen: int | None = None
        self._value = timedelta()

    def read(self) -> timedelta:
        try:
            changed = self._path.stat().st_mtime_ns
        except FileNotFoundError:
            return self._value
        if changed != self._seen:
            self._seen = changed
            self._value = timedelta(seconds=float(self._path.read_text().strip() or 0))
        return self._value


class VirtualClock:
    """A clock that only moves forward, when told to."""

    def __init__(self) -> None:
        self._now: datetime | None = None

    def now(self) -> datetime:
        """The simulated moment (the wall clock until the first one is set)."""
        return self._now or datetime.now(UTC)

    def set(self, moment: datetime) -> None:
        """Move to `moment`; the first setting may go anywhere, later ones only forward."""
        if self._now is not None and moment < self._now:
            msg = f"the clock cannot go back from {self._now.isoformat()} to {moment.isoformat()}"
            raise ValueError(msg)
        self._now = moment
