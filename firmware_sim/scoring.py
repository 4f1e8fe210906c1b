"""Scoring a hub's run of a scenario against the scenario's ground truth.

Pure: it reads the scenario, its emissions, and the incidents and notifications the hub stored.
"""

import re
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

from firmware_sim.behaviours import BEHAVIOURS
from firmware_sim.player import Emission
from firmware_sim.scenario import Scenario, Step
from notifier.model import OutboxEntry
from rules.incidents import Incident
from rules.policy import Contact
from rules.schedule import at_work as schedule_at_work

# What a naive flow (MQTT in, a function, an SMS out) forwards: every alarm-type message.
ALARM_EVENTS = frozenset({"pendant.pressed", "fall.detected", "water.leak", "smoke.detected"})
_STEP = re.compile(r"^(r\d+\.)?step\d+$")


def at_work(contact: Contact, moment: datetime, zone: ZoneInfo) -> bool:
    """Whether the contact is at work at that moment (her `work_hours`)."""
    return schedule_at_work(contact.work_hours, moment.astimezone(zone))


@dataclass(frozen=True, slots=True)
class Outcome:
    """What became of one step that needed the carer."""

    step: Step
    moment: datetime
    first_notice: datetime | None

    @property
    def on_time(self) -> bool:
        """Told before the step's deadline."""
        assert self.step.deadline_s is not None
        limit = self.moment + timedelta(seconds=self.step.deadline_s)
        return self.first_notice is not None and self.first_notice <= limit

    @property
    def delay_s(self) -> float | None:
        """Seconds from the step to the first notification about it."""
        return (
            None if self.first_notice is None else (self.first_notice - self.moment).total_seconds()
        )


@dataclass
class Score:
    """One scenario's figures."""

    scenario: str
    outcomes: list[Outcome] = field(default_factory=list)
    notifications: int = 0
    interruptions_at_work: int = 0
    unnecessary_at_work: int = 0
    follow_ups_at_work: int = 0
    baseline_at_work: int = 0
    duplicates: int = 0
    cancelled_before_sent: int = 0

    @property
    def on_time(self) -> int:
        """Steps needing the carer that reached her before their deadline."""
        return sum(o.on_time for o in self.outcomes)


def score(
    scenario: Scenario,
    emissions: list[Emission],
    incidents: list[Incident],
    notifications: list[OutboxEntry],
) -> Score:
    """Compare what the hub did with what the scenario says should happen."""
    zone = ZoneInfo(scenario.home.timezone)
    result = Score(scenario.name, notifications=len(notifications))
    needed: set[str] = set()
    for step in scenario.all_steps():
        if step.deadline_s is None:
            continue
        moment = scenario.moment(step)
        causes = _incidents_of(step, moment, incidents)
        needed.update(i.id for i in causes)
        times = [n.created_at for n in notifications if n.incident_id in {i.id for i in causes}]
        result.outcomes.append(Outcome(step, moment, min(times, default=None)))
    contacts = {c.name: c for c in scenario.contacts}
    for note in notifications:
        contact = contacts.get(note.contact)
        if contact is None or not at_work(contact, note.created_at, zone):
            continue
        if not is_alert(note):
            result.follow_ups_at_work += 1
            continue
        result.interruptions_at_work += 1
        result.unnecessary_at_work += note.incident_id not in needed
    seen = Counter((n.incident_id, n.contact, n.channel, n.text) for n in notifications)
    result.duplicates = sum(count - 1 for count in seen.values())
    told = {n.incident_id for n in notifications}
    result.cancelled_before_sent = sum(
        1 for i in incidents if i.state == "cancelled" and i.id not in told
    )
    result.baseline_at_work = _baseline(scenario, emissions, zone)
    return result


def is_alert(note: OutboxEntry) -> bool:
    """An alert asks the carer to act (an escalation step); a follow-up closes a loop."""
    part = note.key.split("/")[1] if note.key.count("/") >= 3 else ""  # noqa: PLR2004
    return bool(_STEP.match(part))


def _incidents_of(step: Step, moment: datetime, incidents: list[Incident]) -> list[Incident]:
    """Incidents opened by the step's device while the step was playing out."""
    span = max((offset for offset, _ in BEHAVIOURS[step.do].events), default=0.0)
    until = moment + timedelta(seconds=span + 1)
    return [i for i in incidents if i.device_id == step.device and moment <= i.opened_at <= until]


def _baseline(scenario: Scenario, emissions: list[Emission], zone: ZoneInfo) -> int:
    """Interruptions at work if every alarm-type message were forwarded as an SMS to everyone."""
    count = 0
    for emission in emissions:
        if emission.event not in ALARM_EVENTS:
            continue
        copies = 2 if emission.step.misbehave == "duplicate" else 1
        for contact in scenario.contacts:
            count += copies * at_work(contact, emission.at, zone)
    return count
