"""The centre's decisions: which hubs are silent, which incidents the centre must take.

Functions of rows and `now`. Pure: no I/O, no clock; the timers carry the decisions out.
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Literal

OPEN_STATES = frozenset({"pending", "firing"})


@dataclass(frozen=True, slots=True)
class HubLiveness:
    """When a hub was last heard, and its open "hub silent" alarm if it has one."""

    hub_id: str
    home_id: str
    last_heartbeat: datetime | None
    silent_alarm: int | None


@dataclass(frozen=True, slots=True)
class SilenceChange:
    """Raise a "hub silent" alarm, or clear one because the hub is heard again."""

    change: Literal["raise", "clear"]
    hub: HubLiveness


def last_heard(hub: HubLiveness, in_stream: Mapping[str, datetime]) -> datetime | None:
    """A hub's newest heartbeat: the one stored, or a newer one the stream holds unwritten."""
    unwritten = in_stream.get(hub.hub_id)
    if hub.last_heartbeat is None or unwritten is None:
        return hub.last_heartbeat
    return max(hub.last_heartbeat, unwritten)


def silence_changes(
    hubs: Sequence[HubLiveness],
    *,
    now: datetime,
    silent_after_s: float,
    in_stream: Mapping[str, datetime],
) -> list[SilenceChange]:
    """A hub not heard for `silent_after_s` is silent; heard again, it is back.

    Heard: its newest heartbeat stored or, in `in_stream`, one the stream holds that the
    workers have not written yet. So a centre draining a backlog (after it was down itself)
    does not take the hubs for silent because it has not read their heartbeats yet, and a hub
    that died is raised on time however long the backlog. A raise carries the hub as last
    heard. A hub never heard (registered, not installed yet) is not judged.
    """
    limit = timedelta(seconds=silent_after_s)
    changes: list[SilenceChange] = []
    for hub in hubs:
        heard = last_heard(hub, in_stream)
        if heard is None:
            continue
        silent = now - heard >= limit
        if silent and hub.silent_alarm is None:
            changes.append(SilenceChange("raise", replace(hub, last_heartbeat=heard)))
        elif not silent and hub.silent_alarm is not None:
            changes.append(SilenceChange("clear", hub))
    return changes


@dataclass(frozen=True, slots=True)
class OpenIncident:
    """An incident still open in the home, without an alarm at the centre."""

    hub_id: str
    home_id: str
    incident_id: str
    cause: str
    severity: str
    state: str
    opened_at: datetime
    family_exhausted: bool
    escalation: Mapping[str, int]


@dataclass(frozen=True, slots=True)
class Escalation:
    """The centre takes this incident, for this reason."""

    incident: OpenIncident
    why: str


def escalation_s(escalation: Mapping[str, int], cause: str, severity: str) -> int | None:
    """Seconds the family has to accept: the home's figure for the cause, else the severity's.

    None: incidents of that kind never come to the centre on time alone.
    """
    if cause in escalation:
        return escalation[cause]
    return escalation.get(severity)


def due_escalations(incidents: Sequence[OpenIncident], *, now: datetime) -> list[Escalation]:
    """Open incidents the family has not accepted in time, or has been exhausted on.

    The rule: an incident still pending or firing is the centre's once every family contact has
    been tried without an acceptance, or once the home's escalation seconds for its cause (else
    its severity) have passed since it opened, whichever comes first.
    """
    due: list[Escalation] = []
    for incident in incidents:
        if incident.state not in OPEN_STATES:
            continue
        if incident.family_exhausted:
            due.append(Escalation(incident, "every family contact was tried; nobody accepted"))
            continue
        limit = escalation_s(incident.escalation, incident.cause, incident.severity)
        if limit is not None and now - incident.opened_at >= timedelta(seconds=limit):
            due.append(Escalation(incident, f"not accepted by the family within {limit} s"))
    return due
