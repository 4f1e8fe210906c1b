"""Time for the hub: the wall clock, or a virtual clock that a simulator drives.

With `[simulation] virtual_clock = true` the hub's time moves only when a message on
`telecare/v1/hub/clock` says so. The hub then carries out everything that fell due up to that
moment, each at its own due time, and answers on `telecare/v1/hub/clock/done`. A week of a
household plays in seconds, deterministically, whatever the machine's speed. Never enable it in
a real home: anyone who can publish on the broker could move the hub's time.
"""

from datetime import UTC, datetime


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
