"""Times of day and daily windows in the home's own clock, as configuration writes them.

`"07:30"` is a time of day; `"22:00-07:00"` is a window that crosses midnight. Pure: the moment
to compare is always passed in.
"""

import re
from datetime import date, datetime, time, timedelta, tzinfo
from typing import Annotated

from pydantic import BeforeValidator, PlainSerializer

_TIME = re.compile(r"^([01][0-9]|2[0-3]):([0-5][0-9])$")


def parse_time(value: object) -> time:
    """`"HH:MM"` (24-hour clock) as a time of day.

    Raises:
        ValueError: naming the expected form.
    """
    if isinstance(value, time):
        return value
    match = _TIME.match(value) if isinstance(value, str) else None
    if match is None:
        msg = f"{value!r} is not a time of day such as '07:30' (24-hour HH:MM)"
        raise ValueError(msg)
    return time(int(match.group(1)), int(match.group(2)))


def parse_window(value: object) -> tuple[time, time]:
    """`"HH:MM-HH:MM"` as (start, end); the window may cross midnight but not be empty.

    Raises:
        ValueError: naming the expected form.
    """
    if isinstance(value, tuple):
        return value  # already parsed (a model built in code)
    if not isinstance(value, str) or value.count("-") != 1:
        msg = f"{value!r} is not a daily window such as '22:00-07:00'"
        raise ValueError(msg)
    start, end = (parse_time(part.strip()) for part in value.split("-"))
    if start == end:
        msg = f"{value!r} is empty: start and end are the same time"
        raise ValueError(msg)
    return start, end


def _show_time(value: time) -> str:
    return f"{value:%H:%M}"


def _show_window(value: tuple[time, time]) -> str:
    return f"{value[0]:%H:%M}-{value[1]:%H:%M}"


TimeOfDay = Annotated[time, BeforeValidator(parse_time), PlainSerializer(_show_time)]
DailyWindow = Annotated[
    tuple[time, time], BeforeValidator(parse_window), PlainSerializer(_show_window)
]


_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def parse_work_hours(value: object) -> tuple[frozenset[int], time, time]:
    """Working hours such as `"Mon-Fri 09:00-17:30"` as (weekdays, start, end).

    Also `"Sat 10:00-14:00"` and `"Mon,Wed 09:00-13:00"`; weekdays are 0 for Monday, and the
    hours may not cross midnight.

    Raises:
        ValueError: naming the expected form.
    """
    if isinstance(value, tuple):
        return value  # already parsed (a model built in code)
    form = "working hours such as 'Mon-Fri 09:00-17:30'"
    parts = value.split() if isinstance(value, str) else []
    if len(parts) != 2:  # noqa: PLR2004  # days, then hours
        msg = f"{value!r} is not {form}"
        raise ValueError(msg)
    days: set[int] = set()
    for item in parts[0].lower().split(","):
        first, _, last = item.partition("-")
        if first not in _DAYS or (last and last not in _DAYS):
            msg = f"{value!r} is not {form} (days are Mon, Tue, ... Sun)"
            raise ValueError(msg)
        start_day, end_day = _DAYS.index(first), _DAYS.index(last or first)
        days.update(range(start_day, end_day + 1) if start_day <= end_day else [])
    start, end = parse_window(parts[1])
    if not days or start > end:
        msg = f"{value!r} is not {form} (days in week order, hours within one day)"
        raise ValueError(msg)
    return frozenset(days), start, end


def _show_work_hours(value: tuple[frozenset[int], time, time]) -> str:
    days = ",".join(_DAYS[d].title() for d in sorted(value[0]))
    return f"{days} {value[1]:%H:%M}-{value[2]:%H:%M}"


WorkHours = Annotated[
    tuple[frozenset[int], time, time],
    BeforeValidator(parse_work_hours),
    PlainSerializer(_show_work_hours),
]


def at_work(hours: tuple[tuple[frozenset[int], time, time], ...], local: datetime) -> bool:
    """Whether a local moment falls inside any of the working hours."""
    moment = local.time()
    return any(local.weekday() in d and s <= moment < e for d, s, e in hours)


def in_window(window: tuple[time, time], moment: time) -> bool:
    """Whether a local time of day falls inside the window (start inclusive, end exclusive)."""
    start, end = window
    if start < end:
        return start <= moment < end
    return moment >= start or moment < end


def at_local(day: date, moment: time, zone: tzinfo) -> datetime:
    """That local time on that day, as an aware datetime in the home's zone."""
    return datetime.combine(day, moment, tzinfo=zone)


def next_time(times: tuple[time, ...], after: datetime, zone: tzinfo) -> datetime:
    """The first of the daily `times` strictly after `after`, in the home's zone."""
    local = after.astimezone(zone)
    for offset in range(3):
        day = local.date() + timedelta(days=offset)
        for moment in sorted(times):
            candidate = at_local(day, moment, zone)
            if candidate > after:
                return candidate
    msg = "no time of day given"
    raise ValueError(msg)
