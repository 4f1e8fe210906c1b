"""The signal trend rule: properties that hold whatever the history."""

from datetime import UTC, datetime, timedelta
from random import Random

from hypothesis import given
from hypothesis import strategies as st

from rules.trend import (
    MIN_BASELINE_HOURS,
    MIN_RECENT_HOURS,
    RECENT,
    SIGNAL_FLOOR,
    SIGNAL_MARGIN,
    SPAN,
    Trend,
    level_trend,
    signal_falling,
)

NOW = datetime(2026, 11, 23, 12, 30, tzinfo=UTC)
HOUR = timedelta(hours=1)
QUALITY = st.integers(0, 255).map(float)


def history(recent: list[float], before: list[float]) -> list[tuple[datetime, float]]:
    """Hourly medians: `recent` for the last hours back from now, `before` for the week before."""
    start = NOW.replace(minute=0)
    hours = [(start - i * HOUR, v) for i, v in enumerate(recent)]
    return hours + [(NOW - RECENT - (i + 1) * HOUR, v) for i, v in enumerate(before)]


RECENT_LEVELS = st.lists(QUALITY, min_size=MIN_RECENT_HOURS, max_size=24)
BEFORE_LEVELS = st.lists(QUALITY, min_size=MIN_BASELINE_HOURS, max_size=7 * 24 - 1)


def falling(recent: list[float], before: list[float]) -> bool:
    trend = level_trend(history(recent, before), NOW)
    assert trend is not None
    return signal_falling(trend)


def test_the_hall_pendant_sinking_from_142_to_61_is_falling() -> None:
    trend = level_trend(history([61.0] * 24, [142.0] * 150), NOW)
    assert trend == Trend(before=142.0, recent=61.0, days=7, at=NOW)
    assert signal_falling(trend)


def test_too_little_history_gives_no_verdict() -> None:
    assert level_trend(history([61.0] * (MIN_RECENT_HOURS - 1), [142.0] * 150), NOW) is None
    assert level_trend(history([61.0] * 24, [142.0] * (MIN_BASELINE_HOURS - 1)), NOW) is None


@given(st.floats(0, 255), st.integers(MIN_RECENT_HOURS, 24), st.integers(MIN_BASELINE_HOURS, 167))
def test_a_steady_signal_never_falls(level: float, recent: int, before: int) -> None:
    assert not falling([level] * recent, [level] * before)


@given(RECENT_LEVELS, BEFORE_LEVELS)
def test_a_signal_that_rose_never_falls(recent: list[float], before: list[float]) -> None:
    floor = max(before)
    assert not falling([max(v, floor) for v in recent], before)


@given(RECENT_LEVELS, BEFORE_LEVELS, st.integers(0, 255))
def test_a_weaker_last_day_never_turns_falling_into_steady(
    recent: list[float], before: list[float], drop: int
) -> None:
    weaker = [max(0.0, v - drop) for v in recent]
    assert falling(weaker, before) or not falling(recent, before)


@given(RECENT_LEVELS, BEFORE_LEVELS, st.integers(0, 255))
def test_a_stronger_week_before_never_turns_falling_into_steady(
    recent: list[float], before: list[float], rise: int
) -> None:
    stronger = [min(255.0, v + rise) for v in before]
    assert falling(recent, stronger) or not falling(recent, before)


@given(RECENT_LEVELS, BEFORE_LEVELS, st.randoms(use_true_random=False))
def test_the_order_of_the_hours_does_not_matter(
    recent: list[float], before: list[float], rng: Random
) -> None:
    hours = history(recent, before)
    shuffled = list(hours)
    rng.shuffle(shuffled)
    assert level_trend(shuffled, NOW) == level_trend(hours, NOW)


@given(RECENT_LEVELS, BEFORE_LEVELS, st.lists(QUALITY, max_size=20), st.lists(QUALITY, max_size=5))
def test_hours_outside_the_span_are_not_counted(
    recent: list[float], before: list[float], older: list[float], later: list[float]
) -> None:
    hours = history(recent, before)
    noise = [(NOW - SPAN - (i + 1) * HOUR, v) for i, v in enumerate(older)]
    noise += [(NOW + (i + 1) * HOUR, v) for i, v in enumerate(later)]
    assert level_trend(hours + noise, NOW) == level_trend(hours, NOW)


@given(RECENT_LEVELS, BEFORE_LEVELS)
def test_always_weak_is_not_a_trend_and_sinking_under_the_floor_is(
    recent: list[float], before: list[float]
) -> None:
    weak = [min(v, SIGNAL_FLOOR - 1) for v in before]
    low = [min(v, SIGNAL_FLOOR - 1) for v in recent]
    trend = level_trend(history(low, weak), NOW)
    assert trend is not None
    assert signal_falling(trend) == (trend.before - trend.recent >= SIGNAL_MARGIN)
    good = [max(v, SIGNAL_FLOOR) for v in before]
    assert falling(low, good)
