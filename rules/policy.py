"""Declarative rules configuration: who is cared for, who to tell, and how each cause behaves.

These models are the `[home]`, `[[contacts]]`, `[policy.*]` and `[escalation.*]` tables of the
hub's TOML file. They hold no behaviour beyond validation: the engine reads them.
"""

import re
from collections.abc import Mapping
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator

from rules.events import EventType

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
Severity = Literal["emergency", "urgent", "info"]
Channel = Literal["outbox", "sms", "whatsapp", "voice", "ntfy", "apprise"]
Role = Literal[
    "pendant",
    "pull_cord",
    "fall_detector",
    "door",
    "water",
    "smoke",
    "temperature",
    "medication",
    "motion",
    "keyfob",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Home(_Frozen):
    """The cared-for person and the home's clock.

    Attributes:
        person: How alerts name the cared-for person ("Mum", "Margaret").
        timezone: IANA time zone used for times in alert texts and for schedules.
    """

    person: str = Field(default="the person at home", min_length=1, max_length=60)
    timezone: str = "Europe/London"

    @field_validator("timezone")
    @classmethod
    def _known_timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError) as err:
            msg = f"unknown time zone {value!r} (use an IANA name such as 'Europe/London')"
            raise ValueError(msg) from err
        return value


class Contact(_Frozen):
    """Someone the hub may tell: a family carer, a neighbour, a warden."""

    name: str = Field(min_length=1, max_length=60)
    phone: str | None = None
    ntfy_topic: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_-]{1,64}$")

    @field_validator("phone")
    @classmethod
    def _international(cls, value: str | None) -> str | None:
        if value is not None and not _E164.match(value):
            msg = f"{value!r} is not an international number such as +447700900123"
            raise ValueError(msg)
        return value


class DeviceInfo(_Frozen):
    """What alert texts say about a device."""

    name: str
    role: Role
    room: str | None = None


class PendantPolicy(_Frozen):
    """A pendant or pull-cord press is a call for help.

    Attributes:
        delay_s: Seconds a press may wait for a cancel before the carer is told. Kept to a few
            seconds at most: a person who pressed for help must never wait on the hub.
    """

    delay_s: float = Field(default=0.0, ge=0.0, le=10.0)


class FallPolicy(_Frozen):
    """Fall detectors are noisy: a fall is confirmed only if it is not cleared within a window.

    Attributes:
        confirm_s: Seconds in which `fall.cleared` or a cancel press drops the alarm. Commercial
            fall detectors use 10 to 30 s.
    """

    confirm_s: float = Field(default=20.0, ge=0.0, le=300.0)


class WaterPolicy(_Frozen):
    """A splash clears within seconds; a leak persists.

    Attributes:
        debounce_s: Seconds a leak must persist before the carer is told (commercial flood
            alarms raise a second alarm if still wet after 2 minutes).
    """

    debounce_s: float = Field(default=120.0, ge=0.0, le=3600.0)


class Policies(_Frozen):
    """Per-role parameters (`[policy.pendant]`, `[policy.fall]`, `[policy.water]`)."""

    pendant: PendantPolicy = PendantPolicy()
    fall: FallPolicy = FallPolicy()
    water: WaterPolicy = WaterPolicy()


class EscalationStep(_Frozen):
    """Tell `contact` on `channel`, `after_s` seconds after the alarm fired unless acknowledged."""

    contact: str
    channel: Channel = "outbox"
    after_s: float = Field(default=0.0, ge=0.0)


class EscalationPlan(_Frozen):
    """The ordered steps taken for incidents of one severity."""

    steps: tuple[EscalationStep, ...] = Field(min_length=1)

    @field_validator("steps")
    @classmethod
    def _in_time_order(cls, steps: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        delays = [step.after_s for step in steps]
        if delays != sorted(delays):
            msg = "steps must be in order of after_s"
            raise ValueError(msg)
        return steps


class CausePolicy(_Frozen):
    """How the engine treats one cause of incident.

    Attributes:
        label: Words for the cause in texts ("pendant alarm").
        severity: Emergency, urgent or info.
        opened_by: Events that raise (or repeat) this cause.
        cancelled_by: Events by which the person says "I'm all right".
        cleared_by: Events that show the condition has gone.
        confirm_s: Seconds the incident stays pending before it fires.
        alert: Text template; fields: person, device, room, time.
    """

    label: str
    severity: Severity
    opened_by: frozenset[EventType]
    cancelled_by: frozenset[EventType] = frozenset()
    cleared_by: frozenset[EventType] = frozenset()
    confirm_s: float = 0.0
    alert: str


class RulesConfig(_Frozen):
    """Everything the engine needs to decide, bound once at start."""

    home: Home = Home()
    contacts: tuple[Contact, ...] = ()
    escalation: Mapping[Severity, EscalationPlan] = Field(default_factory=dict)
    policy: Policies = Policies()
    devices: Mapping[str, DeviceInfo] = Field(default_factory=dict)

    def plan_for(self, severity: Severity) -> EscalationPlan | None:
        """The escalation plan for a severity; by default every contact at once on the outbox.

        Info is never pushed by default: it belongs in the daily digest.
        """
        if severity in self.escalation:
            return self.escalation[severity]
        if severity == "info" or not self.contacts:
            return None
        return EscalationPlan(steps=tuple(EscalationStep(contact=c.name) for c in self.contacts))
