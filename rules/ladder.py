"""Escalation: who is told when, repeats, acknowledgement, re-firing and follow-ups."""

from datetime import datetime, timedelta

from rules.incidents import Action, Incident, IncidentChanged, Notify
from rules.policy import EscalationPlan, EscalationStep, RulesConfig, Severity

Step = tuple[Incident, list[Action]]
DEFAULT_ACK_TIMEOUT_S = 1800.0


class Ladder:
    """Carries incidents up their severity's escalation plan."""

    def __init__(self, config: RulesConfig) -> None:
        severities: tuple[Severity, ...] = ("emergency", "urgent", "info")
        self._plans = {severity: config.plan_for(severity) for severity in severities}

    def plan(self, severity: Severity) -> EscalationPlan | None:
        """The plan for a severity (None: nobody is pushed)."""
        return self._plans[severity]

    def fire(self, incident: Incident, reason: str, fired_at: datetime, now: datetime) -> Step:
        """Start notifying: steps count from `fired_at`, however late this runs."""
        update = {"state": "firing", "fired_at": fired_at, "due_at": None}
        fired = incident.model_copy(update=update)
        change = IncidentChanged(incident=fired, previous=incident.state, reason=reason, at=now)
        escalated, notes = self.escalate(fired, now)
        return escalated, [change, *notes]

    def escalate(self, incident: Incident, now: datetime) -> Step:
        """Send every step whose time has passed, through repeated runs; set `due_at` to the next.

        Nobody who acknowledged stops this; only acknowledgement, cancellation or clearing
        does, and a plan's runs are capped, so an unanswered alarm never becomes a flood.
        """
        plan = self.plan(incident.severity)
        if plan is None or incident.fired_at is None or incident.state != "firing":
            return incident.model_copy(update={"due_at": None}), []
        count = len(plan.steps)
        total = count * (plan.repeat + 1)
        sent, due_at, notes = incident.steps_sent, None, list[Action]()
        while sent < total:
            run, index = divmod(sent, count)
            step = plan.steps[index]
            when = incident.fired_at + timedelta(seconds=run * plan.run_s + step.after_s)
            if when > now:
                due_at = when
                break
            text = _step_text(incident, run)
            notes.append(notify(incident, step, _part(incident, f"step{sent}"), text, now))
            sent += 1
        return incident.model_copy(update={"steps_sent": sent, "due_at": due_at}), notes

    def bring_forward(self, incident: Incident, contact: str, key: str, now: datetime) -> Step:
        """`contact` could not be reached on any path by the step keyed `key`: the next now.

        Only the latest step sent counts (someone later was told already otherwise), and only
        while the incident is firing; the step brought forward is the next in the same run
        (a repeat is not: it would ring the same people again at once), and is not sent again
        at its own time. The carer hears why it is early.
        """
        plan = self.plan(incident.severity)
        sent = incident.steps_sent
        if plan is None or incident.state != "firing" or sent == 0:
            return incident, []
        count = len(plan.steps)
        run, last = divmod(sent - 1, count)
        latest = notify(incident, plan.steps[last], _part(incident, f"step{sent - 1}"), "", now)
        if latest.key != key or last + 1 == count:
            return incident, []
        step = plan.steps[last + 1]
        text = _step_text(incident, run)
        if step.contact != contact:
            text = f"{contact} could not be reached. {text}"
        note = notify(incident, step, _part(incident, f"step{sent}"), text, now)
        moved, later = self.escalate(incident.model_copy(update={"steps_sent": sent + 1}), now)
        reason = (
            f"{contact} could not be reached on any path: step {last + 2}"
            f" ({step.contact} by {step.channel}) brought forward"
        )
        change = IncidentChanged(incident=moved, previous=incident.state, reason=reason, at=now)
        return moved, [change, note, *later]

    def told(self, incident: Incident) -> list[EscalationStep]:
        """Each (contact, channel) told about the incident so far, once."""
        plan = self.plan(incident.severity)
        if plan is None:
            return []
        if incident.round > 0:
            reached = list(plan.steps)
        else:
            reached = [plan.steps[k % len(plan.steps)] for k in range(incident.steps_sent)]
        seen: dict[tuple[str, str], EscalationStep] = {}
        for step in reached:
            seen.setdefault((step.contact, step.channel), step)
        return list(seen.values())

    def acknowledge(self, incident: Incident, by: str, now: datetime) -> Step:
        """`by` is handling it: the ladder stops and everyone else told hears who has it."""
        plan = self.plan(incident.severity)
        timeout_s = plan.ack_timeout_s if plan is not None else DEFAULT_ACK_TIMEOUT_S
        update = {
            "state": "acknowledged",
            "acknowledged_by": by,
            "due_at": now + timedelta(seconds=timeout_s),
        }
        acked = incident.model_copy(update=update)
        change = IncidentChanged(
            incident=acked, previous=incident.state, reason=f"acknowledged by {by}", at=now
        )
        text = f"{by} is handling it: {incident.text}"
        part = _part(incident, "ack")
        notes = [notify(acked, s, part, text, now) for s in self.told(incident) if s.contact != by]
        return acked, [change, *notes]

    def refire(self, incident: Incident, now: datetime) -> Step:
        """Acknowledged but still not resolved when the timeout ran out: start the ladder again."""
        by = incident.acknowledged_by or "someone"
        again = incident.model_copy(
            update={"round": incident.round + 1, "steps_sent": 0, "acknowledged_by": None}
        )
        reason = f"acknowledged by {by} but not resolved in time"
        return self.fire(again, reason, now, now)

    def follow_up(self, incident: Incident, part: str, text: str, now: datetime) -> list[Notify]:
        """Tell everyone already told how it ended."""
        return [notify(incident, step, part, text, now) for step in self.told(incident)]


def notify(incident: Incident, step: EscalationStep, part: str, text: str, now: datetime) -> Notify:
    """A notification whose key is unique to the incident, the step and the contact."""
    return Notify(
        key=f"{incident.id}/{part}/{step.contact}/{step.channel}",
        incident_id=incident.id,
        severity=incident.severity,
        contact=step.contact,
        channel=step.channel,
        text=text,
        at=now,
    )


def _step_text(incident: Incident, run: int) -> str:
    """A step's words: the alert, and "Still open: " before it on a repeat or a re-fire."""
    if run == 0 and incident.round == 0:
        return incident.text
    return "Still open: " + incident.text


def _part(incident: Incident, name: str) -> str:
    return name if incident.round == 0 else f"r{incident.round}.{name}"
