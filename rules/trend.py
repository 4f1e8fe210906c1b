"""Signal trends: a device whose radio link is fading will soon stop being heard.

Pure: the hub passes in a device's hourly medians (kept in its store) and the time.
"""

from collections.abc import Iterable
from datetime import datetime, timedelta
from statistics import median

from pydantic import AwareDatetime, BaseModel, ConfigDict

RECENT = timedelta(days=1)  # the level now: the last day's hours
BASELINE = timedelta(days=7)  # the usual level: the week before that
SPAN = RECENT + BASELINE  # how much history a trend needs
MIN_RECENT_HOURS = 6  # fewer hours than this in the last day: too little to judge
MIN_BASELINE_HOURS = 24  # likewise for the week before
SIGNAL_MARGIN = 25.0  # link quality points (of 255) below the usual level that count as falling
SIGNAL_FLOOR = 30.0  # below this many devices start losing messages


class Trend(BaseModel):
    """A device's usual level (the week before the last day) and its level over the last day.

    Attributes:
        before: Median of the hourly medians over the week before the last day.
        recent: Median of the hourly medians over the last day.
        days: How many days the comparison spans.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    before: float
    recent: float
    days: int
    at: AwareDatetime


def level_trend(hours: Iterable[tuple[datetime, float]], now: datetime) -> Trend | None:
    """The usual and the recent level from hourly medians (hour start, value); None if too few.

    Hours after `now` or older than `SPAN` are not counted.
    """
    recent_from, baseline_from = now - RECENT, now - SPAN
    recent: list[float] = []
    baseline: list[float] = []
    for at, value in hours:
        if recent_from <= at <= now:
            recent.append(value)
        elif baseline_from <= at < recent_from:
            baseline.append(value)
    if len(recent) < MIN_RECENT_HOURS or len(baseline) < MIN_BASELINE_HOURS:
        return None
    return Trend(before=median(baseline), recent=median(recent), days=BASELINE.days, at=now)


def signal_falling(trend: Trend) -> bool:
    """A pendant whose signal is sinking is one that will soon fail to call for help.

    The signal is falling when the last day's median link quality is `SIGNAL_MARGIN` or more
    below the median of the week before, or has sunk under `SIGNAL_FLOOR` from above it. A
    signal that was always weak is not a trend: it is an installation to improve.
    """
    dropped = trend.before - trend.recent >= SIGNAL_MARGIN
    sank = trend.recent < SIGNAL_FLOOR <= trend.before
    return dropped or sank
