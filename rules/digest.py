"""Digests: information waits for the carer's chosen times, and never interrupts her at work."""

from datetime import datetime, time

from rules.incidents import IncidentChanged, Notify
from rules.policy import Channel, Contact, RulesConfig
from rules.schedule import at_local, at_work, next_time
from rules.state import Draft, EngineState, Held
from rules.texts import Texts

CAUSE = "digest"
MAX_LINES = 30  # a digest lists this many items; the rest are counted
MAX_HELD = 500  # kept for one digest at most: the oldest go (they are in the incident log)


class Digests:
    """Information (a daytime visitor, a low battery) is batched, never pushed one by one.

    A contact with `digest_at` times (her own choice from the dashboard, or else the config's)
    gets it in a digest at the next of them; a contact with
    only `work_hours` gets what arrived during work in one digest when work ends, and the rest
    as it happens. Emergencies and urgent alarms are never held: they interrupt, at work or not.
    """

    def __init__(self, config: RulesConfig, texts: Texts) -> None:
        self._contacts: dict[str, Contact] = {c.name: c for c in config.contacts}
        self._info_plan = config.escalation.get("info")
        self._texts = texts

    def route(self, draft: Draft, start: int, now: datetime) -> None:
        """Hold back the information among `draft.actions[start:]` for the digests."""
        if start == len(draft.actions):
            return
        kept = draft.actions[:start]
        for action in draft.actions[start:]:
            if (
                isinstance(action, Notify)
                and action.severity == "info"
                and self._holds(draft.base, action.contact, now)
            ):
                self._queue(draft, action.contact, action.channel, action.text, now)
                continue
            if (
                self._info_plan is None
                and isinstance(action, IncidentChanged)
                and action.incident.severity == "info"
                and action.incident.cause != CAUSE
                and (
                    action.incident.state == "firing"
                    or (action.previous is None and action.incident.state == "resolved")
                )
            ):
                for name in self._readers(draft.base):  # no plan for information: readers get it
                    self._queue(draft, name, "outbox", action.incident.text, now)
            kept.append(action)
        draft.actions = kept

    def next_due(self, state: EngineState) -> datetime | None:
        """When the next digest with something in it falls due."""
        due = [self._due(state, name, items) for name, items in state.held.items() if items]
        return min(due, default=None)

    def deliver(self, draft: Draft, now: datetime) -> None:
        """Send every digest that has fallen due."""
        for name, items in list(draft.held.items()):
            if items and self._due(draft.base, name, items) <= now:
                self._send(draft, name, items, now)
                draft.set_held(name, ())

    def times(self, state: EngineState, name: str) -> tuple[time, ...]:
        """A contact's digest times: chosen on the dashboard, or else configured."""
        chosen = state.digest_at.get(name)
        if chosen is not None:
            return chosen
        contact = self._contacts.get(name)
        return contact.digest_at if contact is not None else ()

    def _readers(self, state: EngineState) -> list[str]:
        return [name for name in self._contacts if self.times(state, name)]

    def _holds(self, state: EngineState, name: str, now: datetime) -> bool:
        contact = self._contacts.get(name)
        if contact is None:
            return False
        return bool(self.times(state, name)) or at_work(
            contact.work_hours, now.astimezone(self._texts.zone)
        )

    def _queue(self, draft: Draft, name: str, channel: Channel, text: str, now: datetime) -> None:
        held = draft.held.get(name, ())
        draft.set_held(name, (*held[-MAX_HELD:], Held(at=now, channel=channel, text=text)))

    def _due(self, state: EngineState, name: str, items: tuple[Held, ...]) -> datetime:
        contact = self._contacts[name]
        first = items[0].at
        times = self.times(state, name)
        if times:
            return next_time(times, first, self._texts.zone)
        local = first.astimezone(self._texts.zone)
        ends = [
            at_local(local.date(), end, self._texts.zone)
            for days, start, end in contact.work_hours
            if local.weekday() in days and start <= local.time() < end
        ]
        return min(ends, default=first)

    def _send(self, draft: Draft, name: str, items: tuple[Held, ...], now: datetime) -> None:
        local = self._texts.zone
        lines = [f"- {item.at.astimezone(local):%H:%M} {item.text}" for item in items[:MAX_LINES]]
        if len(items) > MAX_LINES:
            lines.append(f"- and {len(items) - MAX_LINES} more (telecare incidents)")
        summary = f"Digest for {name}, {len(items)} item(s):\n" + "\n".join(lines)
        incident = draft.note(CAUSE, summary, f"digest for {name}: {len(items)} item(s)", now)
        draft.actions.append(
            Notify(
                key=f"{incident.id}/digest/{name}/{items[0].channel}",
                incident_id=incident.id,
                severity="info",
                contact=name,
                channel=items[0].channel,
                text=summary,
                at=now,
            )
        )
