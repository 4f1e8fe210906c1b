"""Declarative rules configuration: who is cared for, who to tell, and how each cause behaves.

These models are the `[home]`, `[[contacts]]`, `[policy.*]` and `[escalation.*]` tables of the
hub's TOML file. They hold no behaviour beyond validation: the engine reads them.
"""

import re
from collections.abc import Mapping
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from rules.routines import (
    ActivityPolicy,
    DoorPolicy,
    FlappingPolicy,
    Medication,
    TemperaturePolicy,
)
from rules.schedule import DailyWindow, TimeOfDay, WorkHours
from wire.event import EventType, HubEventType

_E164 = re.compile(r"^\+[1-9][0-9]{6,14}$")
Severity = Literal["emergency", "urgent", "info"]
Channel = Literal["outbox", "sms", "whatsapp", "voice", "ntfy", "pushover", "apprise"]
# Pushover user (and application) keys: 30 letters and digits.
_PUSHOVER_KEY = re.compile(r"^[A-Za-z0-9]{30}$")
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
    # The contact's own Pushover user key (from the Pushover app), for emergencies that ring
    # until she acknowledges them.
    pushover_user: str | None = None

    @field_validator("pushover_user")
    @classmethod
    def _pushover_key(cls, value: str | None) -> str | None:
        if value is not None and not _PUSHOVER_KEY.match(value):
            msg = (
                "is not a Pushover user key: 30 letters and digits, as shown at the top of"
                " the Pushover app's settings"
            )
            raise ValueError(msg)
        return value

    @field_validator("phone")
    @classmethod
    def _international(cls, value: str | None) -> str | None:
        if value is not None and not _E164.match(value):
            msg = f"{value!r} is not an international number such as +447700900123"
            raise ValueError(msg)
        return value

    # When this contact would rather not be interrupted, and when to batch information for her.
    work_hours: tuple[WorkHours, ...] = ()
    digest_at: tuple[TimeOfDay, ...] = Field(default=(), max_length=6)
    # Opt-in: a daily "all is well" summary at this time, for peace of mind.
    summary_at: TimeOfDay | None = None

    @field_validator("work_hours")
    @classmethod
    def _apart(cls, hours: tuple[object, ...]) -> tuple[object, ...]:
        spans = [h for h in hours if isinstance(h, tuple)]
        for index, (days, start, end) in enumerate(spans):
            for other_days, other_start, other_end in spans[index + 1 :]:
                if days & other_days and start < other_end and other_start < end:
                    msg = "two working-hours entries overlap; give each hour once"
                    raise ValueError(msg)
        return hours


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
        confirm_s: Seconds in which `fall.cleared`, a cancel press or movement elsewhere in the
            home drops a definite fall (`fall.detected`). Commercial detectors use 10 to 30 s.
        maybe_confirm_s: The longer window for a possible fall (`fall.suspected`: the detector
            saw an impact but not a person lying still). At least `confirm_s`.
    """

    confirm_s: float = Field(default=20.0, ge=0.0, le=300.0)
    maybe_confirm_s: float = Field(default=60.0, ge=0.0, le=600.0)

    @model_validator(mode="after")
    def _maybe_waits_longer(self) -> "FallPolicy":
        if self.maybe_confirm_s < self.confirm_s:
            msg = "maybe_confirm_s must be at least confirm_s: a possible fall waits longer"
            raise ValueError(msg)
        return self


class WaterPolicy(_Frozen):
    """A splash clears within seconds; a leak persists.

    Attributes:
        debounce_s: Seconds a leak must persist before the carer is told.
    """

    debounce_s: float = Field(default=20.0, ge=0.0, le=3600.0)


class DeviceHealthPolicy(_Frozen):
    """Device health: offline alarm devices are urgent; other faults wait for the digest.

    Attributes:
        urgent_offline_roles: Roles whose going offline leaves the person unprotected.
        battery_ok_above: A battery report above this level clears a low-battery notice.
        offline_confirm_s: Seconds a device must stay offline before it counts (a blip of the
            radio or a restarting broker is not news).
        offline_flood: This many devices going offline within `offline_confirm_s` of each
            other is the hub's link or the broker, not the devices: their offline alarms are
            suppressed and one notice says so.
    """

    urgent_offline_roles: frozenset[Role] = frozenset(
        {"pendant", "pull_cord", "fall_detector", "smoke"}
    )
    battery_ok_above: int = Field(default=25, ge=5, le=100)
    offline_confirm_s: float = Field(default=120.0, ge=0.0, le=3600.0)
    offline_flood: int = Field(default=3, ge=2, le=1000)


class Policies(_Frozen):
    """Per-role parameters (`[policy.pendant]`, `[policy.fall]`, `[policy.water]`, ...)."""

    pendant: PendantPolicy = PendantPolicy()
    fall: FallPolicy = FallPolicy()
    water: WaterPolicy = WaterPolicy()
    door: DoorPolicy = DoorPolicy()
    temperature: TemperaturePolicy = TemperaturePolicy()
    activity: ActivityPolicy = ActivityPolicy()
    devices: DeviceHealthPolicy = DeviceHealthPolicy()
    flapping: FlappingPolicy = FlappingPolicy()


class EscalationStep(_Frozen):
    """Tell `contact` on `channel`, `after_s` seconds after the alarm fired unless acknowledged."""

    contact: str
    channel: Channel = "outbox"
    after_s: float = Field(default=0.0, ge=0.0)


MIN_REPEAT_AFTER_S = 60.0
MAX_REPEATS = 10


class EscalationPlan(_Frozen):
    """The ordered steps taken for incidents of one severity.

    Attributes:
        steps: Who is told, on which channel, how long after the alarm fired.
        repeat: How many more times the whole ladder runs if nobody acknowledges (capped).
        repeat_after_s: Seconds between the last step of one run and the first of the next.
        ack_timeout_s: An acknowledged incident not resolved within this re-fires.
    """

    steps: tuple[EscalationStep, ...] = Field(min_length=1)
    repeat: int = Field(default=0, ge=0, le=MAX_REPEATS)
    repeat_after_s: float = Field(default=300.0, ge=MIN_REPEAT_AFTER_S)
    ack_timeout_s: float = Field(default=1800.0, ge=60.0, le=86400.0)

    @field_validator("steps")
    @classmethod
    def _in_time_order(cls, steps: tuple[EscalationStep, ...]) -> tuple[EscalationStep, ...]:
        delays = [step.after_s for step in steps]
        if delays != sorted(delays):
            msg = "steps must be in order of after_s"
            raise ValueError(msg)
        return steps

    @property
    def run_s(self) -> float:
        """Seconds from the first step of one run of the ladder to the first of the next."""
        return self.steps[-1].after_s + self.repeat_after_s


class CausePolicy(_Frozen):
    """How the engine treats one cause of incident.

    Attributes:
        label: Words for the cause in texts ("pendant alarm").
        severity: Emergency, urgent or info.
        opened_by: Events that raise (or repeat) this cause.
        cancelled_by: Events by which the person says "I'm all right".
        cleared_by: Events that show the condition has gone.
        drops_pending: Events that drop it only while it is still pending (movement elsewhere).
        confirm_s: Seconds the incident stays pending before it fires.
        confirm_s_for: A different window for particular opening events.
        per_device: One incident per device rather than one for the home.
        roles: Only events from devices in these roles count (any device if unset).
        only_in: Only openings inside these local hours count.
        except_in: Openings inside these local hours do not count.
        below: An opening event counts only if its value is below this; otherwise it clears.
        above: An opening event counts only if its value is above this; otherwise it clears.
        clears_above_battery: Any event reporting a battery level above this clears it.
        one_shot: Noted and closed at once (everyone in its plan told once): nothing would
            clear it.
        severity_for: A different severity for devices in particular roles.
        alert: Text template; fields: person, device, room, time, value (the event's).
        clear_text: Follow-up when it clears after contacts were told.
    """

    label: str
    severity: Severity
    opened_by: frozenset[EventType | HubEventType]
    cancelled_by: frozenset[EventType | HubEventType] = frozenset()
    cleared_by: frozenset[EventType | HubEventType] = frozenset()
    drops_pending: frozenset[EventType | HubEventType] = frozenset()
    confirm_s: float = 0.0
    confirm_s_for: Mapping[EventType | HubEventType, float] = Field(default_factory=dict)
    per_device: bool = False
    roles: frozenset[Role] | None = None
    only_in: DailyWindow | None = None
    except_in: DailyWindow | None = None
    below: float | None = None
    above: float | None = None
    clears_above_battery: int | None = None
    one_shot: bool = False
    severity_for: Mapping[Role, Severity] = Field(default_factory=dict)
    alert: str
    clear_text: str = "All clear: the {label} ({room}) stopped at {time}."


class RulesConfig(_Frozen):
    """Everything the engine needs to decide, bound once at start."""

    home: Home = Home()
    contacts: tuple[Contact, ...] = ()
    escalation: Mapping[Severity, EscalationPlan] = Field(default_factory=dict)
    policy: Policies = Policies()
    devices: Mapping[str, DeviceInfo] = Field(default_factory=dict)
    medication: tuple[Medication, ...] = ()

    def plan_for(self, severity: Severity) -> EscalationPlan | None:
        """The escalation plan for a severity; by default every contact at once on the outbox.

        Info is never pushed by default: it belongs in the daily digest.
        """
        if severity in self.escalation:
            return self.escalation[severity]
        if severity == "info" or not self.contacts:
            return None
        return EscalationPlan(steps=tuple(EscalationStep(contact=c.name) for c in self.contacts))


def escalation_problems(
    plans: Mapping[Severity, EscalationPlan], contacts: tuple[str, ...]
) -> list[str]:
    """What makes a set of escalation plans unsafe, one line per problem, each naming its key.

    Every step must name a contact, and an emergency must reach someone the moment it fires:
    a plan whose first emergency step waits, or a home with nobody to tell, has no emergency
    route.
    """
    problems = [
        f"{severity}.steps[{index}].contact: {step.contact!r} is not a contact"
        for severity, plan in plans.items()
        for index, step in enumerate(plan.steps)
        if step.contact not in contacts
    ]
    emergency = plans.get("emergency")
    if emergency is not None and emergency.steps[0].after_s > 0:
        problems.append(
            "emergency.steps[0].after_s: the first emergency step must be immediate (0):"
            " an emergency is never held back"
        )
    if not contacts:
        problems.append("emergency: no contact to tell, so no emergency route")
    return problems
