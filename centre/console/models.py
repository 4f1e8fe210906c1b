"""What the console shows and accepts: the JSON API's bodies, also rendered by the pages."""

from datetime import datetime
from typing import Annotated, Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, StringConstraints

from centre.console.auth import Role

MAX_NOTE_CHARS = 1000
LOW_BATTERY_PERCENT = 20
Severity = Literal["emergency", "urgent", "info"]
AlarmKind = Literal["incident", "hub_silent"]
AlarmState = Literal["open", "accepted", "resolved"]
HubStatus = Literal["online", "silent", "never_heard"]
Applied = Literal["applied", "refused", "waiting", "not_sent"]


class _View(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Alarm(_View):
    """One alarm of the queue: a home needs an operator.

    Attributes:
        what: In a few words: the incident's cause ("Help call") or "Hub silent".
        raised_at: When the centre raised the alarm.
        since: How long the home has waited from: the incident's opening (the press), or the
            alarm's raising for a silent hub.
        family_exhausted: The hub tried every family contact without an acceptance (None for a
            silent hub, which has no incident).
        accepted_by: Who took it: an operator, or the family after the centre was alerted.
    """

    id: int
    home_id: str
    home_name: str
    hub_id: str
    kind: AlarmKind
    severity: str
    what: str
    room: str | None
    text: str
    why: str
    raised_at: AwareDatetime
    since: AwareDatetime
    state: AlarmState
    accepted_by: str | None
    accepted_at: AwareDatetime | None
    resolved_at: AwareDatetime | None
    incident_id: str | None
    incident_state: str | None
    family_exhausted: bool | None


class Device(_View):
    """A device of a home, as its hub last reported it."""

    id: str
    name: str
    role: str
    room: str | None
    battery: int | None
    last_seen: AwareDatetime | None
    silent: bool

    @property
    def low_battery(self) -> bool:
        """Below `LOW_BATTERY_PERCENT`: someone should change it soon."""
        return self.battery is not None and self.battery < LOW_BATTERY_PERCENT


class Incident(_View):
    """An incident the hub reported, as its newest snapshot says."""

    id: str
    cause: str
    severity: str
    state: str
    room: str | None
    text: str
    opened_at: AwareDatetime
    updated_at: AwareDatetime
    accepted_by: str | None
    family_exhausted: bool


class Contact(_View):
    """A family contact of a home (the hub's ladder calls them first)."""

    name: str
    phone: str | None
    ntfy_topic: str | None


class HomeSummary(_View):
    """One line of the homes list."""

    id: str
    name: str
    hub_id: str
    status: HubStatus
    last_heartbeat: AwareDatetime | None
    silent_since: AwareDatetime | None
    open_alarms: int


class Home(_View):
    """One home's page: its hub's state, devices needing attention, incidents, contacts.

    Attributes:
        attention: Devices with a low battery or that stopped reporting.
        alarms: The home's alarms still in the queue.
    """

    id: str
    name: str
    timezone: str
    hub_id: str
    status: HubStatus
    last_heartbeat: AwareDatetime | None
    silent_since: AwareDatetime | None
    version: str | None
    started_at: AwareDatetime | None
    device_count: int
    attention: tuple[Device, ...]
    alarms: tuple[Alarm, ...]
    incidents: tuple[Incident, ...]
    contacts: tuple[Contact, ...]


class AuditEntry(_View):
    """One operator action, and whether the home's hub carried it out.

    Attributes:
        applied: `applied` (the hub reported it done), `refused` (the hub reported why not),
            `waiting` (no report yet), `not_sent` (nothing for a hub to do: a silent hub).
        hub_applied: The hub's report: true (carried out), false (refused), null (none yet).
        applied_at: When the hub reported, by its clock.
        applied_detail: The hub's words with its report (why, for a refusal).
    """

    id: int
    action_id: str
    at: AwareDatetime
    operator: str
    operator_name: str
    action: str
    note: str
    alarm_id: int | None
    home_id: str | None
    home_name: str | None
    what: str | None
    applied: Applied
    hub_applied: bool | None
    applied_at: AwareDatetime | None
    applied_detail: str | None


class Operator(_View):
    """An operator account, for the supervisor's list."""

    username: str
    display_name: str
    role: Role
    created_at: AwareDatetime
    actions: int
    last_action_at: datetime | None


class SessionView(_View):
    """Who is logged in, and the token state changes must carry."""

    username: str
    name: str
    role: Role
    csrf_token: str


Note = Annotated[str, StringConstraints(strip_whitespace=True, max_length=MAX_NOTE_CHARS)]
RequiredNote = Annotated[
    str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_NOTE_CHARS)
]


class Acceptance(_View):
    """Accepting an alarm: the note is optional ("Calling Mrs Patel now")."""

    note: Note = ""


class Resolution(_View):
    """Resolving an alarm: the note is required: what happened and what was done."""

    note: RequiredNote = Field(description="What happened and what was done.")


class ActionDone(_View):
    """An action taken: its id (the audit's, and the hub's to report back) and the alarm now."""

    action_id: str
    alarm: Alarm
