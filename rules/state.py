"""What the engine remembers between inputs, and a working copy it edits while deciding."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from rules.incidents import OPEN_STATES, Action, Incident


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
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    open: Mapping[str, Incident] = Field(default_factory=dict)
    opened: int = Field(default=0, ge=0)
    since: AwareDatetime | None = None
    last_activity: AwareDatetime | None = None
    doses: Mapping[str, AwareDatetime] = Field(default_factory=dict)


@dataclass(slots=True)
class Draft:
    """A mutable copy of the state while one input is decided, and the actions so far."""

    open: dict[str, Incident]
    opened: int
    since: datetime | None
    last_activity: datetime | None
    doses: dict[str, datetime]
    actions: list[Action] = field(default_factory=list)

    @classmethod
    def of(cls, state: EngineState) -> "Draft":
        """Start editing `state`."""
        return cls(
            dict(state.open), state.opened, state.since, state.last_activity, dict(state.doses)
        )

    def new_id(self, cause: str) -> str:
        """The next incident id for `cause`."""
        self.opened += 1
        return f"{cause}-{self.opened}"

    def put(self, slot: str, incident: Incident) -> None:
        """Keep the incident in its slot while open; free the slot once it closes."""
        if incident.state in OPEN_STATES:
            self.open[slot] = incident
        else:
            self.open.pop(slot, None)

    def state(self) -> EngineState:
        """The finished state."""
        return EngineState.model_construct(
            open=self.open,
            opened=self.opened,
            since=self.since,
            last_activity=self.last_activity,
            doses=self.doses,
        )
