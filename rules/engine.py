"""The rules engine: a pure function from (state, event, now) to (new state, actions).

It never sends, sleeps or reads the clock: the hub passes `now` in and carries the actions out.
Replaying the same events at the same times gives the same actions.
"""

from collections.abc import Mapping
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from pydantic import BaseModel, ConfigDict, Field

from rules.causes import causes
from rules.events import DeviceEvent
from rules.incidents import OPEN_STATES, Action, Incident, IncidentChanged, Notify
from rules.policy import CausePolicy, EscalationStep, RulesConfig


class EngineState(BaseModel):
    """The open incidents, one per cause at most, and how many incidents were ever opened.

    `opened` numbers incident ids, so a cause that closes and reopens at the same instant (one
    batch of messages) still gets a new incident with new notification keys.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    open: Mapping[str, Incident] = Field(default_factory=dict)
    opened: int = Field(default=0, ge=0)


Step = tuple[Incident, list[Action]]


class Engine:
    """Decides what events mean, bound to one home's rules configuration."""

    def __init__(self, config: RulesConfig) -> None:
        self.config = config
        self.causes: dict[str, CausePolicy] = causes(config.policy)
        self._zone = ZoneInfo(config.home.timezone)

    def evaluate(
        self, state: EngineState, event: DeviceEvent, *, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """Apply one event: open, repeat, cancel or clear incidents.

        Timers that fell due before `now` are carried out first, so the outcome does not depend
        on how often the hub ticks.
        """
        state, actions = self.tick(state, now=now)
        incidents = dict(state.open)
        opened = state.opened
        for cause, policy in self.causes.items():
            current = incidents.get(cause)
            if event.type in policy.opened_by and current is None:
                opened += 1
                current, done = self._open(f"{cause}-{opened}", cause, policy, event, now)
            elif current is not None and event.type in policy.cancelled_by:
                current, done = self._close(current, policy, "cancelled", event, now)
            elif current is not None and event.type in policy.cleared_by:
                current, done = self._close(current, policy, "cleared", event, now)
            else:
                continue
            actions.extend(done)
            _keep_if_open(incidents, cause, current)
        return EngineState(open=incidents, opened=opened), actions

    def tick(self, state: EngineState, *, now: datetime) -> tuple[EngineState, list[Action]]:
        """Carry out whatever fell due by `now`: confirm windows ending, escalation steps."""
        actions: list[Action] = []
        incidents = dict(state.open)
        for cause, incident in state.open.items():
            if incident.due_at is None or incident.due_at > now:
                continue
            if incident.state == "pending":
                # Steps count from the end of the window, however late this tick runs.
                updated, done = self._fire(incident, "confirm window ended", incident.due_at, now)
            else:
                updated, done = self._escalate(incident, now)
            actions.extend(done)
            incidents[cause] = updated
        return EngineState(open=incidents, opened=state.opened), actions

    @staticmethod
    def next_due(state: EngineState) -> datetime | None:
        """When `tick` next has something to do, or None if nothing is waiting."""
        due = [i.due_at for i in state.open.values() if i.due_at is not None]
        return min(due, default=None)

    def _open(
        self, incident_id: str, cause: str, policy: CausePolicy, event: DeviceEvent, now: datetime
    ) -> Step:
        incident = Incident(
            id=incident_id,
            cause=cause,
            severity=policy.severity,
            state="pending",
            device_id=event.device_id,
            opened_at=now,
            due_at=now + timedelta(seconds=policy.confirm_s),
            text=self._render(policy.alert, event.device_id, now),
        )
        opened = IncidentChanged(
            incident=incident,
            previous=None,
            reason=f"{event.type} from {event.device_id}",
            at=now,
        )
        if policy.confirm_s > 0:
            return incident, [opened]
        fired, actions = self._fire(incident, "no confirm window", now, now)
        return fired, [opened, *actions]

    def _fire(self, incident: Incident, reason: str, fired_at: datetime, now: datetime) -> Step:
        update = {"state": "firing", "fired_at": fired_at, "due_at": None}
        fired = incident.model_copy(update=update)
        change = IncidentChanged(incident=fired, previous=incident.state, reason=reason, at=now)
        escalated, notes = self._escalate(fired, now)
        return escalated, [change, *notes]

    def _escalate(self, incident: Incident, now: datetime) -> Step:
        """Send every step whose delay has passed; set `due_at` to the next one."""
        plan = self.config.plan_for(incident.severity)
        if plan is None or incident.fired_at is None or incident.state != "firing":
            return incident.model_copy(update={"due_at": None}), []
        fired_at = incident.fired_at
        notes: list[Action] = []
        sent = incident.steps_sent
        for index, step in enumerate(plan.steps[sent:], start=sent):
            if fired_at + timedelta(seconds=step.after_s) > now:
                due_at = fired_at + timedelta(seconds=step.after_s)
                break
            notes.append(_notify(incident, step, f"step{index}", incident.text, now))
            sent = index + 1
        else:
            due_at = None
        return incident.model_copy(update={"steps_sent": sent, "due_at": due_at}), notes

    def _close(
        self,
        incident: Incident,
        policy: CausePolicy,
        how: str,
        event: DeviceEvent,
        now: datetime,
    ) -> Step:
        """Cancel (by the person) or clear (condition gone) an open incident.

        Anyone already told gets a follow-up, so a carer is never left wondering.
        """
        told = incident.state != "pending"
        state = "resolved" if told and how == "cleared" else "cancelled"
        closed = incident.model_copy(update={"state": state, "due_at": None, "closed_at": now})
        when = "after contacts were told" if told else "within the confirm window"
        reason = f"{how} by {event.type} from {event.device_id} {when}"
        actions: list[Action] = [
            IncidentChanged(incident=closed, previous=incident.state, reason=reason, at=now)
        ]
        if told:
            text = self._follow_up(policy, how, event.device_id, now)
            actions.extend(_notify(closed, step, how, text, now) for step in self._told(incident))
        return closed, actions

    def _told(self, incident: Incident) -> list[EscalationStep]:
        plan = self.config.plan_for(incident.severity)
        if plan is None:
            return []
        seen: dict[tuple[str, str], EscalationStep] = {}
        for step in plan.steps[: incident.steps_sent]:
            seen.setdefault((step.contact, step.channel), step)
        return list(seen.values())

    def _follow_up(self, policy: CausePolicy, how: str, device_id: str, now: datetime) -> str:
        if how == "cancelled":
            template = "All OK: {person} cancelled the " + policy.label + " at {time}."
        else:
            template = "All clear: the " + policy.label + " ({room}) stopped at {time}."
        return self._render(template, device_id, now)

    def _render(self, template: str, device_id: str, now: datetime) -> str:
        info = self.config.devices.get(device_id)
        return template.format(
            person=self.config.home.person,
            device=info.name if info else device_id,
            room=(info.room if info and info.room else "room unknown"),
            time=f"{now.astimezone(self._zone):%H:%M}",
        )


def _notify(
    incident: Incident, step: EscalationStep, part: str, text: str, now: datetime
) -> Notify:
    return Notify(
        key=f"{incident.id}/{part}/{step.contact}/{step.channel}",
        incident_id=incident.id,
        severity=incident.severity,
        contact=step.contact,
        channel=step.channel,
        text=text,
        at=now,
    )


def _keep_if_open(incidents: dict[str, Incident], cause: str, incident: Incident) -> None:
    if incident.state in OPEN_STATES:
        incidents[cause] = incident
    else:
        incidents.pop(cause, None)
