"""What the engine remembers between inputs, and a working copy it edits while deciding."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rules.incidents import OPEN_STATES, Action, Incident, IncidentChanged, IncidentState
from rules.policy import Channel, Severity
from rules.schedule import TimeOfDay


class Held(BaseModel):
    """A piece of information waiting for a contact's digest."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    at: AwareDatetime
    channel: Channel
    text: str


class Silence(BaseModel):
    """A device a carer silenced for a while: its non-emergency alarms are recorded, not sent."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    until: AwareDatetime
    by: str


class Memory(BaseModel):
    """What the engine remembers beyond open incidents, saved by the hub with each decision.

    Attributes:
        doses: The due time of the last dose issued, per medication.
        openings: Recent firings per `cause@device` (flapping) and fault notices.
        held: Information waiting for each contact's digest.
        taken: When doses were taken, over the last day.
        summaries: When each contact's last daily summary was due.
        silenced: Devices silenced by a carer, until when.
        digest_at: Digest times a contact chose on the dashboard, in place of the config's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    doses: Mapping[str, AwareDatetime] = Field(default_factory=dict)
    openings: Mapping[str, tuple[AwareDatetime, ...]] = Field(default_factory=dict)
    held: Mapping[str, tuple[Held, ...]] = Field(default_factory=dict)
    taken: tuple[AwareDatetime, ...] = ()
    summaries: Mapping[str, AwareDatetime] = Field(default_factory=dict)
    silenced: Mapping[str, Silence] = Field(default_factory=dict)
    digest_at: Mapping[str, tuple[TimeOfDay, ...]] = Field(default_factory=dict)


class EngineState(BaseModel):
    """Open incidents and the clocks of the schedules.

    Attributes:
        open: Open incidents by slot: the cause, or `cause@device` for per-device causes.
        opened: How many incidents were ever opened; numbers incident ids, so a cause that
            closes and reopens at the same instant still gets a new id and new keys.
        since: When scheduling began (the hub's start). Medication doses and wellbeing checks
            fall due only after it; unset, there are no schedules.
        last_activity: When the person was last seen moving (for the wellbeing check).
        doses: The due time of the last dose issued, per medication.
        occupied_by: Someone else at home (a carer, a visitor); None if she is on her own.
        openings: When each urgent `cause@device` recently fired, for flapping, and when a
            device fault was last noted for it (`fault:cause@device`), and when devices last
            went offline together (`offline-flood`).
        held: Information waiting for each contact's digest.
        taken: When doses were taken, over the last day (for the daily summary).
        summaries: When each contact's last daily summary was due.
        silenced: Devices silenced by a carer, until when (an expired one is ignored).
        digest_at: Digest times a contact chose on the dashboard, in place of the config's.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    open: Mapping[str, Incident] = Field(default_factory=dict)
    opened: int = Field(default=0, ge=0)
    since: AwareDatetime | None = None
    last_activity: AwareDatetime | None = None
    doses: Mapping[str, AwareDatetime] = Field(default_factory=dict)
    occupied_by: str | None = None
    openings: Mapping[str, tuple[AwareDatetime, ...]] = Field(default_factory=dict)
    held: Mapping[str, tuple[Held, ...]] = Field(default_factory=dict)
    taken: tuple[AwareDatetime, ...] = ()
    summaries: Mapping[str, AwareDatetime] = Field(default_factory=dict)
    silenced: Mapping[str, Silence] = Field(default_factory=dict)
    digest_at: Mapping[str, tuple[TimeOfDay, ...]] = Field(default_factory=dict)

    def memory(self) -> Memory:
        """The part the hub saves so a restart loses no digest, dose or count."""
        return Memory(
            doses=self.doses,
            openings=self.openings,
            held=self.held,
            taken=self.taken,
            summaries=self.summaries,
            silenced=self.silenced,
            digest_at=self.digest_at,
        )

    def remembers_as(self, other: "EngineState") -> bool:
        """Whether `other` remembers the same (cheap: the engine copies only what changes)."""
        return (
            self.doses is other.doses
            and self.openings is other.openings
            and self.held is other.held
            and self.taken is other.taken
            and self.summaries is other.summaries
            and self.silenced is other.silenced
            and self.digest_at is other.digest_at
        )


@dataclass(slots=True)
class Draft:
    """A working copy of the state while one input is decided, and the actions so far.

    The open incidents and doses are copied on first change only, so an input that changes
    neither leaves them the same objects (the engine caches what it derives from them).
    """

    base: EngineState
    open: Mapping[str, Incident]
    opened: int
    last_activity: datetime | None
    doses: Mapping[str, datetime]
    openings: Mapping[str, tuple[datetime, ...]]
    held: Mapping[str, tuple[Held, ...]]
    taken: tuple[datetime, ...]
    summaries: Mapping[str, datetime]
    actions: list[Action] = field(default_factory=list)

    @classmethod
    def of(cls, state: EngineState) -> "Draft":
        """Start editing `state`."""
        return cls(
            state,
            state.open,
            state.opened,
            state.last_activity,
            state.doses,
            state.openings,
            state.held,
            state.taken,
            state.summaries,
        )

    @property
    def occupied_by(self) -> str | None:
        """Someone else at home, if anyone."""
        return self.base.occupied_by

    def set_summary(self, name: str, due: datetime) -> None:
        """Record when a contact's daily summary was due."""
        if self.summaries is self.base.summaries:
            self.summaries = dict(self.summaries)
        self.summaries[name] = due  # type: ignore[index]  # copied above

    def set_held(self, name: str, items: tuple[Held, ...]) -> None:
        """Replace what waits for a contact's digest."""
        if self.held is self.base.held:
            self.held = dict(self.held)
        self.held[name] = items  # type: ignore[index]  # copied above

    def set_openings(self, key: str, times: tuple[datetime, ...]) -> None:
        """Record the recent openings of a `cause@device`."""
        if self.openings is self.base.openings:
            self.openings = dict(self.openings)
        self.openings[key] = times  # type: ignore[index]  # copied above

    @property
    def since(self) -> datetime | None:
        """When scheduling began."""
        return self.base.since

    def set_dose(self, name: str, due: datetime) -> None:
        """Record the due time of the dose just issued."""
        if self.doses is self.base.doses:
            self.doses = dict(self.doses)
        self.doses[name] = due  # type: ignore[index]  # copied above

    def new_id(self, cause: str) -> str:
        """The next incident id for `cause`."""
        self.opened += 1
        return f"{cause}-{self.opened}"

    def note(
        self,
        cause: str,
        text: str,
        reason: str,
        now: datetime,
        *,
        severity: Severity = "info",
        state: IncidentState = "resolved",
        device_id: str = "hub",
    ) -> Incident:
        """Record an incident that opens and closes at once, with its audit entry.

        A digest, a daytime visitor, an alarm held back: what was or was not sent can be traced.
        """
        incident = Incident(
            id=self.new_id(cause),
            cause=cause,
            severity=severity,
            state=state,
            device_id=device_id,
            opened_at=now,
            fired_at=None if state == "suppressed" else now,
            closed_at=now,
            text=text,
        )
        change = IncidentChanged(incident=incident, previous=None, reason=reason, at=now)
        self.actions.append(change)
        return incident

    def put(self, slot: str, incident: Incident) -> None:
        """Keep the incident in its slot while open; free the slot once it closes."""
        if self.open is self.base.open:
            self.open = dict(self.open)
        opened = self.open
        assert isinstance(opened, dict)
        if incident.state in OPEN_STATES:
            opened[slot] = incident
        else:
            opened.pop(slot, None)

    def state(self) -> EngineState:
        """The finished state (the one it started from, if nothing changed)."""
        base = self.base
        if (
            self.open is base.open
            and self.opened == base.opened
            and self.last_activity == base.last_activity
            and self.doses is base.doses
            and self.openings is base.openings
            and self.held is base.held
            and self.taken is base.taken
            and self.summaries is base.summaries
        ):
            return base
        return base.model_copy(
            update={
                "open": self.open,
                "opened": self.opened,
                "last_activity": self.last_activity,
                "doses": self.doses,
                "openings": self.openings,
                "held": self.held,
                "taken": self.taken,
                "summaries": self.summaries,
            }
        )
