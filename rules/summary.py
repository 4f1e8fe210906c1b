"""The daily "all is well" summary: peace of mind for the carer who asks for it."""

from collections.abc import Mapping
from datetime import datetime

from rules.incidents import Notify
from rules.medication import DoseSchedule
from rules.policy import Channel, Contact, RulesConfig
from rules.schedule import next_time
from rules.state import Draft, EngineState
from rules.texts import Texts

CAUSE = "summary"
DEVICE_FAULTS = {
    "device_offline": "offline",
    "battery_low": "battery low",
    "signal_falling": "signal falling",
}


class DailySummary:
    """Once a day, at her `summary_at` time, a contact who opted in hears how things are.

    Last movement (where the home has a motion sensor), doses taken against doses due over
    the last day, devices needing attention, and alarms still open. "All is well" when nothing
    needs a look.
    """

    def __init__(self, config: RulesConfig, texts: Texts, doses: DoseSchedule) -> None:
        self._readers = [c for c in config.contacts if c.summary_at is not None]
        # A summary goes on the channel by which the contact is first reached in an emergency.
        plan = config.plan_for("emergency")
        steps = plan.steps if plan is not None else ()
        self._channels: dict[str, Channel] = {}
        for step in steps:
            self._channels.setdefault(step.contact, step.channel)
        self._medication = bool(config.medication)
        self._person = config.home.person
        self._texts = texts
        self._doses = doses

    def next_due(self, state: EngineState) -> datetime | None:
        """When the next summary falls due."""
        if state.since is None or not self._readers:
            return None
        return min(self._due(c, state.since, state.summaries) for c in self._readers)

    def deliver(self, draft: Draft, now: datetime) -> None:
        """Send each summary that has fallen due."""
        if draft.since is None:
            return
        for contact in self._readers:
            due = self._due(contact, draft.since, draft.summaries)
            if due <= now:
                draft.set_summary(contact.name, due)
                self._send(draft, contact, due, now)

    def _due(self, contact: Contact, since: datetime, sent: Mapping[str, datetime]) -> datetime:
        times = (contact.summary_at,) if contact.summary_at is not None else ()
        last = sent.get(contact.name)
        anchor = since if last is None or last < since else last
        return next_time(times, anchor, self._texts.zone)

    def _lines(self, draft: Draft, now: datetime) -> tuple[bool, list[str]]:
        """(all is well, the summary's lines)."""
        lines, well = [], True
        if draft.last_activity is not None:
            seen = self._texts.render("{time}", "hub", draft.last_activity)
            lines.append(f"{self._person} last moved at {seen}.")
        if self._medication and draft.since is not None:
            due = self._doses.due_in_last_day(draft.since, now)
            taken = sum(1 for t in draft.taken if (now - t).days < 1)
            well = well and taken >= due
            lines.append(f"Doses: {min(taken, due)} of {due} taken in the last day.")
        faults = sorted(
            f"{self._texts.render('{device}', i.device_id, now)} ({DEVICE_FAULTS[i.cause]})"
            for i in draft.open.values()
            if i.cause in DEVICE_FAULTS
        )
        well = well and not faults
        lines.append(
            f"Devices needing attention: {', '.join(faults)}."
            if faults
            else "Devices: all reporting."
        )
        alarms = [i.text for i in draft.open.values() if i.severity != "info"]
        well = well and not alarms
        lines.extend(f"Still open: {text}" for text in alarms)
        return well, lines

    def _send(self, draft: Draft, contact: Contact, due: datetime, now: datetime) -> None:
        well, lines = self._lines(draft, now)
        head = "all is well" if well else "needs a look"
        when = self._texts.render("{time}", "hub", due)
        text = f"Daily summary ({when}): {head}.\n" + "\n".join(f"- {line}" for line in lines)
        incident = draft.note(CAUSE, text, f"daily summary for {contact.name}", now)
        channel = self._channels.get(contact.name, "outbox")
        draft.actions.append(
            Notify(
                key=f"{incident.id}/summary/{contact.name}/{channel}",
                incident_id=incident.id,
                severity="info",
                contact=contact.name,
                channel=channel,
                text=text,
                at=now,
            )
        )
