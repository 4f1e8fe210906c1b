"""What the JSON API returns: frozen models, built from the store's records."""

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from hub.config.sections import WebRole
from hub.store.records import IncidentNote
from notifier.model import DeliveryState, OutboxEntry
from rules.doses_today import DoseToday
from rules.incidents import Incident, IncidentState
from rules.policy import Severity
from rules.schedule import TimeOfDay
from rules.settings import MAX_DIGEST_TIMES
from wire.control import MAX_NOTE_CHARS
from wire.devices import DeviceRecord

LOW_BATTERY_PERCENT = 20
VerdictLevel = Literal["well", "checking", "help", "handled"]
SilenceLength = Literal["1h", "4h", "morning"]
_URGENCY: dict[str, int] = {"firing": 0, "pending": 1, "acknowledged": 2}


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Verdict(_Frozen):
    """The one answer to "is everything OK at home?"."""

    level: VerdictLevel
    headline: str
    detail: str


class IncidentSummary(_Frozen):
    """An incident as a list shows it."""

    id: str
    cause: str
    severity: Severity
    state: IncidentState
    text: str
    opened_at: AwareDatetime
    fired_at: AwareDatetime | None
    closed_at: AwareDatetime | None
    acknowledged_by: str | None = None

    @classmethod
    def of(cls, incident: Incident) -> "IncidentSummary":
        """Summarise a stored incident."""
        return cls.model_validate(incident.model_dump(include=set(cls.model_fields)))


class TimelineEntry(_Frozen):
    """One change in an incident's life, with why it happened."""

    at: AwareDatetime
    previous: IncidentState | None
    state: IncidentState
    reason: str


class NotificationView(_Frozen):
    """What was sent to whom, on which channel, and how far it got."""

    contact: str
    channel: str
    state: DeliveryState
    attempts: int
    created_at: AwareDatetime
    updated_at: AwareDatetime
    text: str

    @classmethod
    def of(cls, entry: OutboxEntry) -> "NotificationView":
        """Describe an outbox entry."""
        return cls.model_validate(entry.model_dump(include=set(cls.model_fields)))


class IncidentDetail(_Frozen):
    """An incident with its timeline and its notifications."""

    incident: IncidentSummary
    timeline: tuple[TimelineEntry, ...]
    notifications: tuple[NotificationView, ...]
    notes: tuple[IncidentNote, ...]
    can_acknowledge: bool
    can_resolve: bool


class SilenceView(_Frozen):
    """A device silenced by a carer: its non-emergency alarms are recorded, nobody is told."""

    device_id: str
    until: AwareDatetime
    by: str


class DeviceView(_Frozen):
    """A device as the carer and installer see it."""

    id: str
    name: str
    role: str
    room: str | None
    source: str
    online: bool | None
    battery: int | None
    last_seen: AwareDatetime | None
    offline: bool
    low_battery: bool
    can_silence: bool = False
    silence: SilenceView | None = None

    @classmethod
    def of(
        cls,
        device: DeviceRecord,
        *,
        can_silence: bool = False,
        silence: SilenceView | None = None,
    ) -> "DeviceView":
        """Describe a registered device, with its warning flags and any silence."""
        return cls(
            can_silence=can_silence,
            silence=silence,
            id=device.id,
            name=device.name,
            role=device.role,
            room=device.room,
            source=device.source,
            online=device.online,
            battery=device.battery,
            last_seen=device.last_seen,
            offline=device.online is False,
            low_battery=device.battery is not None and device.battery <= LOW_BATTERY_PERCENT,
        )


class SilenceRequest(_Frozen):
    """Silence a device for an hour, four hours, or until tomorrow morning (08:00)."""

    length: SilenceLength


class DigestTimesView(_Frozen):
    """A contact's digest times, and whether they were chosen here (else configured)."""

    contact: str
    times: tuple[TimeOfDay, ...]
    chosen: bool


class DigestTimesChange(_Frozen):
    """New digest times for a contact ("HH:MM"); none: no digest; null: as configured."""

    times: tuple[TimeOfDay, ...] | None = Field(max_length=MAX_DIGEST_TIMES)


class Activity(_Frozen):
    """The last thing any device reported."""

    at: AwareDatetime
    device: str
    room: str | None
    type: str


class StatusView(_Frozen):
    """The status page in data."""

    verdict: Verdict
    open_incidents: tuple[IncidentSummary, ...]
    last_activity: Activity | None
    devices_needing_attention: int
    at_home: tuple[str, ...]
    broker_connected: bool
    as_of: AwareDatetime
    doses: tuple[DoseToday, ...] = ()


class Health(_Frozen):
    """`/healthz`: can the hub do its job right now."""

    ok: bool
    broker_connected: bool
    store_writable: bool


class PresenceChange(_Frozen):
    """The caller says they are now at home or away."""

    state: Literal["home", "away"]


class NewNote(_Frozen):
    """A note to add to an incident."""

    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class Resolution(_Frozen):
    """Closing an incident, with an optional note on why ("Mum pressed by mistake")."""

    note: str | None = Field(default=None, min_length=1, max_length=MAX_NOTE_CHARS)


class ResolveResult(_Frozen):
    """Outcome of a resolution."""

    incident_id: str
    resolved: bool
    state: IncidentState


class SessionView(_Frozen):
    """The caller's session: who, in which role, and the CSRF token for state changes."""

    name: str
    role: WebRole
    csrf_token: str


class AckResult(_Frozen):
    """Outcome of an acknowledgement."""

    incident_id: str
    acknowledged: bool
    state: IncidentState


def timeline(rows: Sequence[Mapping[str, Any]]) -> tuple[TimelineEntry, ...]:
    """The store's audit rows as timeline entries."""
    return tuple(TimelineEntry.model_validate(dict(row)) for row in rows)


def verdict(
    open_incidents: Sequence[Incident],
    latest_reason: Mapping[str, str],
    labels: Mapping[str, str],
    zone: ZoneInfo,
) -> Verdict:
    """One sentence for the carer: the most urgent open incident decides it."""
    if not open_incidents:
        return Verdict(level="well", headline="All is well", detail="No alarms are open.")
    first = min(open_incidents, key=lambda i: (_URGENCY[i.state], i.opened_at))
    what = f"{labels.get(first.cause, first.cause)} {_clock(first.opened_at, zone)}"
    if first.state == "firing":
        return Verdict(level="help", headline=f"Help needed: {what}", detail=first.text)
    if first.state == "pending":
        return Verdict(level="checking", headline=f"Checking: {what}", detail=first.text)
    reason = latest_reason.get(first.id, "acknowledged")
    return Verdict(level="handled", headline=f"Being dealt with: {what}", detail=reason)


def _clock(at: datetime, zone: ZoneInfo) -> str:
    return f"{at.astimezone(zone):%H:%M}"
