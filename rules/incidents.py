"""Incidents and the actions the engine asks the hub to carry out."""

from typing import Literal

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rules.policy import Channel, Severity

IncidentState = Literal["pending", "firing", "acknowledged", "resolved", "cancelled", "suppressed"]
OPEN_STATES: frozenset[IncidentState] = frozenset({"pending", "firing", "acknowledged"})


class Incident(BaseModel):
    """One open or closed occurrence of a cause in the home.

    Attributes:
        id: Stable identifier derived from the cause and the moment it opened.
        cause: The cause name (see `rules.causes`).
        severity: Emergency, urgent or info.
        state: Where it is in its life.
        device_id: The device whose event opened it.
        opened_at: When it opened.
        fired_at: When it started notifying (after any confirm window).
        due_at: When the engine next has something to do for it, if ever.
        steps_sent: How many escalation steps have been carried out.
        closed_at: When it was resolved or cancelled.
        text: The alert text sent to contacts.
        round: How many times it re-fired after an acknowledgement that did not resolve it.
        acknowledged_by: Who said they are handling it, while acknowledged.
        happened_at: When what opened it happened by its own stamp (see
            `rules.evidence.happened_at`); evidence from before it ends nothing. Not stored:
            None for one read back after a restart, and then `opened_at` stands in (never
            earlier, so old news is still refused).
        confirm_by: The end of its confirm window on that same clock, while pending.
        latest_sign_at: When the latest sign of the same cause it took in while open happened
            (a second fall while the first waits), if later than `happened_at`.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    cause: str
    severity: Severity
    state: IncidentState
    device_id: str
    opened_at: AwareDatetime
    fired_at: AwareDatetime | None = None
    due_at: AwareDatetime | None = None
    steps_sent: int = Field(default=0, ge=0)
    closed_at: AwareDatetime | None = None
    text: str
    round: int = Field(default=0, ge=0)
    acknowledged_by: str | None = None
    happened_at: AwareDatetime | None = None
    confirm_by: AwareDatetime | None = None
    latest_sign_at: AwareDatetime | None = None


class IncidentChanged(BaseModel):
    """An incident moved to a new state; recorded in the audit trail with its reason."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["incident"] = "incident"
    incident: Incident
    previous: IncidentState | None
    reason: str
    at: AwareDatetime


class Notify(BaseModel):
    """Tell a contact something on a channel.

    Attributes:
        key: Idempotency key: the same step of the same incident never reaches a contact twice.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["notify"] = "notify"
    key: str
    incident_id: str
    severity: Severity
    contact: str
    channel: Channel
    text: str
    at: AwareDatetime


class DeviceCommand(BaseModel):
    """Ask a device in the home to do something: chime a medication reminder.

    Attributes:
        device_id: The device to command.
        command: What it should do (the public command vocabulary).
        reason: Why, for the log (`medication.due: heart tablets at 08:00`).
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["command"] = "command"
    device_id: str
    command: Literal["reassure", "chime", "identify"]
    incident_id: str | None = None
    reason: str
    at: AwareDatetime


class OccupancyChanged(BaseModel):
    """Someone other than the cared-for person is at home now, or no longer.

    Attributes:
        occupied_by: Who said they are at home; None once they have gone.
        by: Who set it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["occupancy"] = "occupancy"
    occupied_by: str | None
    by: str
    at: AwareDatetime


class SettingChanged(BaseModel):
    """A carer changed what the engine does: a device silenced, or a contact's digest times.

    Attributes:
        setting: Which setting.
        subject: The device (silence) or contact (digest times) it is about.
        value: What it is now, in words ("until 14:00", "12:30, 18:00", "lifted").
        by: Who changed it.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    kind: Literal["setting"] = "setting"
    setting: Literal["silence", "digest_at"]
    subject: str
    value: str
    by: str
    at: AwareDatetime


Action = IncidentChanged | Notify | DeviceCommand | OccupancyChanged | SettingChanged
