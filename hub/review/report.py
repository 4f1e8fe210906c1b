"""The review report: how the technology worked over a period, as one self-contained HTML file.

For installers, care assessors and the family: incidents by kind and by hour, false alarms per
device, night-time door openings, battery and signal trends, who was told and how fast each
contact acknowledged.
"""

import dataclasses
import statistics
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from importlib import resources
from zoneinfo import ZoneInfo

import jinja2
from markupsafe import Markup

from hub.pipeline.supervision import history_trend
from hub.review.charts import bar_chart, column_chart, trend_chart
from hub.store.records import HealthHour, LogEntry, StoredEvent
from hub.store.store import Store
from notifier.model import OutboxEntry
from rules.causes import WATCHES
from rules.incidents import Incident
from rules.trend import SPAN, Trend, signal_falling
from wire.devices import DeviceRecord

NIGHT_START_HOUR = 22
NIGHT_END_HOUR = 7
FALSE_ALARM_STATES = frozenset({"cancelled", "suppressed"})


@dataclass(frozen=True, slots=True)
class ReviewData:
    """Everything the report is drawn from, read from the store in one go."""

    since: datetime
    until: datetime
    incidents: tuple[Incident, ...]
    trail: tuple[LogEntry, ...]
    notifications: tuple[OutboxEntry, ...]
    devices: tuple[DeviceRecord, ...]
    door_openings: tuple[StoredEvent, ...]
    lowest_battery: Mapping[str, int]
    battery_hours: tuple[tuple[str, datetime, int], ...] = ()
    signal_hours: Mapping[str, tuple[HealthHour, ...]] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class FalseAlarms:
    """One device's alarms that were not real, by kind."""

    device: str
    phantom: int
    cancelled: int
    suppressed: int

    @property
    def total(self) -> int:
        """All of them."""
        return self.phantom + self.cancelled + self.suppressed


@dataclass(frozen=True, slots=True)
class SignalTrend:
    """One device's signal over the period, and the rule's verdict at its end.

    Attributes:
        device: The device's name and room.
        daily: Median link quality (of 255) per local day, oldest first.
        trend: The last day against the week before (`rules.trend`), None if too little history.
    """

    device: str
    daily: list[float]
    trend: Trend | None

    @property
    def falling(self) -> bool:
        """Whether `rules.trend.signal_falling` calls it falling."""
        return self.trend is not None and signal_falling(self.trend)


@dataclass(frozen=True, slots=True)
class Response:
    """How long it took someone to acknowledge one alarm."""

    incident: str
    minutes: float
    reason: str
    by: str


@dataclass(frozen=True, slots=True)
class ContactResponses:
    """How often, and how fast, one contact acknowledged alarms."""

    contact: str
    count: int
    median_minutes: float


async def gather(store: Store, *, since: datetime, until: datetime) -> ReviewData:
    """Read the period's alarms, audit trail, notifications, devices and door openings.

    A watch that closed without firing (a door opened and closed again) is everyday life, not
    an incident: door use has its own chart.
    """
    incidents = tuple(
        i
        for i in await store.incidents()
        if i.opened_at >= since and (i.fired_at is not None or i.cause not in WATCHES)
    )
    opened = {i.id for i in incidents}
    notes = tuple(n for n in await store.notifications() if n.incident_id in opened)
    return ReviewData(
        since=since,
        until=until,
        incidents=incidents,
        trail=tuple(e for e in await store.audit_trail(since=since) if e.incident_id in opened),
        notifications=notes,
        devices=tuple(await store.devices()),
        door_openings=tuple(await store.events_since(since, ["door.opened"])),
        lowest_battery=await store.lowest_battery(since=since),
        battery_hours=tuple(await store.battery_by_hour(since=since)),
        signal_hours=await _signal_hours(store, since=min(since, until - SPAN)),
    )


async def _signal_hours(store: Store, *, since: datetime) -> dict[str, tuple[HealthHour, ...]]:
    """Each device's hourly history from `since` (for the trend, at least `SPAN` of it)."""
    return {d.id: tuple(await store.signal_history(d.id, since)) for d in await store.devices()}


def response_times(data: ReviewData) -> list[Response]:
    """Time from an alarm firing to its acknowledgement, for each acknowledged alarm."""
    fired = {i.id: i for i in data.incidents if i.fired_at is not None}
    # Longest first, so "Ben Smith" is not taken for "Ben".
    names = sorted({n.contact for n in data.notifications}, key=len, reverse=True)
    found: list[Response] = []
    for entry in data.trail:
        incident = fired.get(entry.incident_id)
        if entry.state == "acknowledged" and incident is not None and incident.fired_at:
            minutes = (entry.at - incident.fired_at).total_seconds() / 60
            by = next((n for n in names if _said_by(entry.reason, n)), "someone else")
            found.append(Response(incident.text, round(minutes, 1), entry.reason, by))
    return found


def _said_by(reason: str, name: str) -> bool:
    said = f"acknowledged by {name}"
    return reason == said or reason.startswith(f"{said} ")


def contact_responses(responses: list[Response]) -> list[ContactResponses]:
    """Per contact: how many alarms they acknowledged and their median time, quickest first."""
    by: dict[str, list[float]] = {}
    for response in responses:
        by.setdefault(response.by, []).append(response.minutes)
    rows = [
        ContactResponses(name, len(times), round(statistics.median(times), 1))
        for name, times in by.items()
    ]
    return sorted(rows, key=lambda r: (r.median_minutes, r.contact))


def battery_trends(data: ReviewData, zone: ZoneInfo) -> list[tuple[str, list[float]]]:
    """Each device's lowest battery level per local day, oldest first."""
    names = _device_names(data)
    days: dict[str, dict[str, int]] = {}
    for device, hour, level in data.battery_hours:
        day = f"{hour.astimezone(zone):%Y-%m-%d}"
        levels = days.setdefault(names.get(device, device), {})
        levels[day] = min(level, levels.get(day, level))
    return [
        (name, [float(level) for _, level in sorted(levels.items())])
        for name, levels in sorted(days.items())
    ]


def signal_trends(data: ReviewData, zone: ZoneInfo) -> list[SignalTrend]:
    """Each device's median link quality per local day of the period, with the rule's verdict.

    The verdict is judged at the end of the period from the last day and the week before, as the
    hub's hourly check does; devices that never reported a link quality are left out.
    """
    names = _device_names(data)
    found: list[SignalTrend] = []
    for device, hours in data.signal_hours.items():
        days: dict[str, list[float]] = {}
        for hour in hours:
            if hour.linkquality is not None and data.since <= hour.hour <= data.until:
                days.setdefault(f"{hour.hour.astimezone(zone):%Y-%m-%d}", []).append(
                    hour.linkquality
                )
        if days:
            daily = [statistics.median(levels) for _, levels in sorted(days.items())]
            trend = history_trend(hours, "linkquality", data.until)
            found.append(SignalTrend(names.get(device, device), daily, trend))
    return sorted(found, key=lambda s: (not s.falling, s.device))


def false_alarms(data: ReviewData) -> list[FalseAlarms]:
    """Alarms that were not real, per device, most first.

    Phantom: cancelled or cleared before anyone was told. Cancelled: the person said they were
    all right after contacts were told. Suppressed: the hub held it back as noise.
    """
    names = _device_names(data)
    found: dict[str, FalseAlarms] = {}
    for incident in data.incidents:
        if incident.state not in FALSE_ALARM_STATES:
            continue
        name = names.get(incident.device_id, incident.device_id)
        row = found.get(name, FalseAlarms(name, 0, 0, 0))
        if incident.state == "suppressed":
            row = dataclasses.replace(row, suppressed=row.suppressed + 1)
        elif incident.fired_at is None:
            row = dataclasses.replace(row, phantom=row.phantom + 1)
        else:
            row = dataclasses.replace(row, cancelled=row.cancelled + 1)
        found[name] = row
    return sorted(found.values(), key=lambda r: (-r.total, r.device))


def _device_names(data: ReviewData) -> dict[str, str]:
    return {d.id: d.name + (f" ({d.room})" if d.room else "") for d in data.devices}


def night_door_openings(data: ReviewData, zone: ZoneInfo) -> list[tuple[str, float]]:
    """Door openings between 22:00 and 07:00, per night (named by the evening's date)."""
    nights: Counter[str] = Counter()
    for stored in data.door_openings:
        local = stored.event.received_at.astimezone(zone)
        if NIGHT_END_HOUR <= local.hour < NIGHT_START_HOUR:
            continue
        evening = local - timedelta(days=1) if local.hour < NIGHT_END_HOUR else local
        nights[f"{evening:%a %d %b}"] += 1
    return [(night, float(n)) for night, n in sorted(nights.items())]


def render_review(data: ReviewData, *, person: str, labels: Mapping[str, str], zone: str) -> str:
    """The report as one HTML page with its styles and charts inline."""
    tz = ZoneInfo(zone)
    delivery = Counter((n.contact, n.channel, n.state) for n in data.notifications)
    responses = response_times(data)
    signals = signal_trends(data, tz)
    template = _environment().get_template("review.html")
    return template.render(
        falling_signals=[s for s in signals if s.falling],
        person=person,
        since=data.since.astimezone(tz),
        until=data.until.astimezone(tz),
        total=len(data.incidents),
        charts=_charts(data, labels, tz, signals),
        false_alarms=false_alarms(data),
        responses=responses,
        by_contact=contact_responses(responses),
        median_minutes=statistics.median(r.minutes for r in responses) if responses else None,
        delivery=sorted(delivery.items()),
    )


def _charts(
    data: ReviewData, labels: Mapping[str, str], tz: ZoneInfo, signals: list[SignalTrend]
) -> dict[str, Markup]:
    names = _device_names(data)
    by_kind = Counter(labels.get(i.cause, i.cause) for i in data.incidents)
    by_hour = Counter(i.opened_at.astimezone(tz).hour for i in data.incidents)
    svg = {
        "kinds": bar_chart("Incidents by kind", [(k, float(n)) for k, n in by_kind.most_common()]),
        "hours": column_chart(
            "Incidents by hour of day", [(f"{h:02d}", float(by_hour[h])) for h in range(24)]
        ),
        "false_alarms": bar_chart(
            "False alarms per device", [(r.device, float(r.total)) for r in false_alarms(data)]
        ),
        "battery": bar_chart(
            "Lowest battery per device",
            [(names.get(d, d), float(level)) for d, level in data.lowest_battery.items()],
            unit="%",
            full=100,
        ),
        "nights": bar_chart("Door openings at night", night_door_openings(data, tz)),
        "battery_trends": trend_chart(
            "Battery per device, lowest each day", battery_trends(data, tz), unit="%"
        ),
        "signal_trends": trend_chart(
            "Signal per device (link quality of 255), median each day",
            [(s.device + (": falling" if s.falling else ""), s.daily) for s in signals],
            full=255,
            marked={s.device + ": falling" for s in signals if s.falling},
        ),
    }
    return {name: Markup(chart) for name, chart in svg.items()}  # noqa: S704  # charts escape their text


def _environment() -> jinja2.Environment:
    folder = resources.files("hub.review") / "templates"
    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(folder)),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
