"""Today's doses as the carer sees them: taken (and when), late, missed, or still to come."""

from collections.abc import Sequence, Set
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, BaseModel, ConfigDict

from rules.incidents import OPEN_STATES, Incident
from rules.medication import cause_of
from rules.routines import Medication
from rules.schedule import at_local, next_time

DoseState = Literal["taken", "late", "missed", "due"]


class DoseToday(BaseModel):
    """One dose due today.

    Attributes:
        medication: The medication's name.
        label: How texts name it ("heart tablets").
        due: When it is (or was) due.
        state: `taken` (at `taken_at`), `late` (due, within its grace, not taken yet),
            `missed` (the grace ran out, or the next dose came first), `due` (still to come).
        taken_at: When it was taken, if it was.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    medication: str
    label: str
    due: AwareDatetime
    state: DoseState
    taken_at: AwareDatetime | None = None


def doses_today(
    medication: Sequence[Medication],
    incidents: Sequence[Incident],
    now: datetime,
    zone: ZoneInfo,
    *,
    resolved_by_hand: Set[str] = frozenset(),
) -> list[DoseToday]:
    """Every dose due on `now`'s local day, in order of due time.

    Each dose is read from the incident the engine opened for it (opened at its due time, or
    soon after if the hub was catching up): closed quietly or after the carer was told means
    taken at its closing; closed when the next dose fell due, or by a carer's "Resolve" (the
    ids in `resolved_by_hand`), means missed.
    """
    today = now.astimezone(zone).date()
    doses = []
    for item in medication:
        cause, grace = cause_of(item), timedelta(minutes=item.grace_min)
        mine = sorted((i for i in incidents if i.cause == cause), key=lambda i: i.opened_at)
        for moment in item.times:
            due = at_local(today, moment, zone)
            following = next_time(item.times, due, zone)
            # The last one opened in its slot: a hub catching up opens several doses at once.
            incident = next((i for i in reversed(mine) if due <= i.opened_at < following), None)
            state, taken_at = _state(incident, due, following, grace, now)
            if incident is not None and incident.id in resolved_by_hand:
                state, taken_at = "missed", None
            doses.append(
                DoseToday(
                    medication=item.name,
                    label=item.label or item.name,
                    due=due,
                    state=state,
                    taken_at=taken_at,
                )
            )
    return sorted(doses, key=lambda d: (d.due, d.medication))


def _state(
    incident: Incident | None, due: datetime, following: datetime, grace: timedelta, now: datetime
) -> tuple[DoseState, datetime | None]:
    if incident is None:
        if now < due:
            return "due", None
        return ("late" if now < due + grace else "missed"), None
    if incident.state in OPEN_STATES:
        return ("late" if incident.state == "pending" else "missed"), None
    closed = incident.closed_at
    if closed is None or closed >= following:
        return "missed", None  # superseded by the next dose
    return "taken", closed
