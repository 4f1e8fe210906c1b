"""Timers through a correction of the wall clock.

A Pi has no battery-backed clock: it boots on a stale time, and NTP later steps it, often by an
hour or more. Two kinds of timer live through such a step differently:

- Relative timers (a confirm window, the wait before the next escalation step, the re-fire after
  an acknowledgement) promise a duration. They keep their remaining time: their moments are
  moved by the step, so a pendant alarm's next step neither goes an hour early nor an hour late.
- Schedules (a digest at 18:00, a dose at 08:00, work and night hours) promise a time of day.
  They follow the corrected clock and are not touched here.
"""

from datetime import datetime, timedelta

from rules.incidents import Incident
from rules.state import EngineState

STEP_THRESHOLD_S = 5.0
MOVED = ("due_at", "fired_at", "happened_at", "confirm_by", "latest_sign_at")


def clock_step(
    wall_elapsed_s: float, monotonic_elapsed_s: float, *, threshold_s: float = STEP_THRESHOLD_S
) -> timedelta | None:
    """The step the wall clock took between two readings, if beyond `threshold_s`.

    The monotonic clock never steps: whatever the wall clock moved beyond it was a correction.
    NTP's gentle slewing stays far below the threshold.
    """
    step_s = wall_elapsed_s - monotonic_elapsed_s
    return timedelta(seconds=step_s) if abs(step_s) > threshold_s else None


def shift_relative_timers(
    state: EngineState, step: timedelta
) -> tuple[EngineState, list[Incident]]:
    """Move every open incident's timer by the clock's step, so its remaining time is unchanged.

    The ladder counts its steps from `fired_at`, so that moves too; `opened_at` is a record of
    when the alarm came and stays as written. The times later evidence is judged against
    (`happened_at`, `confirm_by`, `latest_sign_at`: see `rules.evidence`) move as well: they
    were read off the clock before its correction, and the evidence will be read off the
    corrected one, so movement seconds after a fall still ends it within its window.

    Returns:
        The new state, and the incidents whose timers moved.
    """
    moved = {
        slot: _shifted(incident, step)
        for slot, incident in state.open.items()
        if any(getattr(incident, name) is not None for name in MOVED)
    }
    if not moved:
        return state, []
    return state.model_copy(update={"open": {**state.open, **moved}}), list(moved.values())


def shift_deadline(due: datetime, step: timedelta) -> datetime:
    """A deadline moved by the clock's step (one already at the end of time stays there)."""
    try:
        return due + step
    except OverflowError:
        return due


def _shifted(incident: Incident, step: timedelta) -> Incident:
    update = {
        name: getattr(incident, name) + step
        for name in MOVED
        if getattr(incident, name) is not None
    }
    return incident.model_copy(update=update)
