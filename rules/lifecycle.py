"""An incident's life: opened (pending in a window), fired, stepped, closed with a follow-up."""

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import TypedDict

from rules.evidence import standing
from rules.incidents import Action, Incident, IncidentChanged
from rules.ladder import Ladder, notify
from rules.policy import Severity
from rules.state import Draft
from wire.event import DeviceEvent

Throttle = Callable[[Draft, Incident, datetime], str | None]


class Facts(TypedDict):
    """What every new incident is opened with."""

    cause: str
    severity: Severity
    device_id: str
    text: str
    now: datetime


class Lifecycle:
    """Moves incidents through their states, recording every change with its reason.

    `throttle`, if set, is asked before an incident first fires; a reason it gives suppresses
    the incident instead (a flapping device).
    """

    def __init__(self, ladder: Ladder) -> None:
        self.ladder = ladder
        self.throttle: Throttle | None = None

    def open(
        self,
        draft: Draft,
        *,
        cause: str,
        slot: str,
        severity: Severity,
        device_id: str,
        text: str,
        window_s: float,
        reason: str,
        now: datetime,
        start: datetime | None = None,
        happened: datetime | None = None,
    ) -> Incident:
        """Open an incident, pending until `start + window_s`; fired at once if that is now.

        `happened` is when what opened it happened by its own stamp (else `start`): evidence
        from before it, or from after the window counted from it, does not end the incident
        quietly (see `rules.evidence`).
        """
        start = start or now
        happened = happened or start
        incident = Incident(
            id=draft.new_id(cause),
            cause=cause,
            severity=severity,
            state="pending",
            device_id=device_id,
            opened_at=now,
            due_at=start + timedelta(seconds=window_s),
            text=text,
            happened_at=happened,
            confirm_by=happened + timedelta(seconds=window_s),
        )
        draft.actions.append(
            IncidentChanged(incident=incident, previous=None, reason=reason, at=now)
        )
        if incident.due_at is not None and incident.due_at > now:
            draft.put(slot, incident)
            return incident
        return self._fire(draft, slot, incident, reason="no confirm window", fired_at=now, now=now)

    def catch_up(
        self, draft: Draft, slot: str, event: DeviceEvent, now: datetime
    ) -> Incident | None:
        """The open incident in `slot` as `event` finds it, for `event` to end if its rule says.

        Every clearing rule asks this first (see `rules.evidence.standing`): an event from
        before the incident began finds nothing to end (None); one from after its confirm
        window, arriving while it still waits, finds it fired, as it would have been had the
        event come on time, so the carer is told and then hears that it is over.
        """
        incident = draft.open[slot]
        place = standing(incident, event)
        if place == "before":
            return None
        if place == "in_time":
            return incident
        reason = f"confirm window ended ({event.type} from {event.device_id} arrived late)"
        fired = self._fire(draft, slot, incident, reason=reason, fired_at=now, now=now)
        return fired if fired.state == "firing" else None  # else held back as it fired

    def _fire(
        self,
        draft: Draft,
        slot: str,
        incident: Incident,
        *,
        reason: str,
        fired_at: datetime,
        now: datetime,
    ) -> Incident:
        held = self.throttle(draft, incident, now) if self.throttle is not None else None
        if held is not None:
            update = {"state": "suppressed", "due_at": None, "closed_at": now}
            updated = incident.model_copy(update=update)
            actions: list[Action] = [
                IncidentChanged(
                    incident=updated, previous=incident.state, reason=f"suppressed: {held}", at=now
                )
            ]
        else:
            updated, actions = self.ladder.fire(incident, reason, fired_at, now)
        draft.actions.extend(actions)
        draft.put(slot, updated)
        return updated

    def close(
        self,
        draft: Draft,
        slot: str,
        *,
        how: str,
        reason: str,
        follow_up: str | None,
        now: datetime,
        skip: str | None = None,
    ) -> None:
        """Cancel (by the person), clear (condition gone) or resolve (a carer) an open incident.

        Anyone already told gets `follow_up`, so a carer is never left wondering; only an
        incident replaced by a newer one of the same cause closes without one. The contact
        `skip` (who closed it) is not told what they did.
        """
        incident = draft.open[slot]
        told = incident.state != "pending"
        resolved = how == "resolved" or (told and how == "cleared")
        state = "resolved" if resolved else "cancelled"
        closed = incident.model_copy(update={"state": state, "due_at": None, "closed_at": now})
        when = "after contacts were told" if told else "within the confirm window"
        draft.actions.append(
            IncidentChanged(
                incident=closed, previous=incident.state, reason=f"{reason} {when}", at=now
            )
        )
        if told and follow_up is not None:
            notes = self.ladder.follow_up(incident, how, follow_up, now)
            draft.actions.extend(n for n in notes if n.contact != skip)
        draft.put(slot, closed)

    def suppress(
        self,
        draft: Draft,
        *,
        cause: str,
        severity: Severity,
        device_id: str,
        text: str,
        reason: str,
        now: datetime,
    ) -> None:
        """Record an incident that was held back, and why: the trail shows what was not sent.

        It takes no slot, so it never stands in the way of a later one.
        """
        draft.note(
            cause,
            text,
            f"suppressed: {reason}",
            now,
            severity=severity,
            state="suppressed",
            device_id=device_id,
        )

    def step(self, draft: Draft, slot: str, now: datetime) -> None:
        """Carry out the incident's timer: end its window, take its next step, or re-fire it."""
        incident = draft.open[slot]
        if incident.state == "pending" and incident.due_at is not None:
            # Steps count from the end of the window, however late this tick runs.
            self._fire(
                draft,
                slot,
                incident,
                reason="confirm window ended",
                fired_at=incident.due_at,
                now=now,
            )
            return
        if incident.state == "acknowledged":
            updated, actions = self.ladder.refire(incident, now)
        else:
            updated, actions = self.ladder.escalate(incident, now)
        draft.actions.extend(actions)
        draft.put(slot, updated)

    def note(
        self,
        draft: Draft,
        *,
        cause: str,
        severity: Severity,
        device_id: str,
        text: str,
        reason: str,
        now: datetime,
    ) -> None:
        """Record something nothing will clear (a daytime visitor, tampering) as resolved at once.

        Everyone in its severity's plan is told once, at once: with nothing to wait for, no
        step waits.
        """
        incident = draft.note(
            cause, text, f"noted: {reason}", now, severity=severity, device_id=device_id
        )
        plan = self.ladder.plan(severity)
        told: set[tuple[str, str]] = set()
        for step in plan.steps if plan is not None else ():
            if (step.contact, step.channel) not in told:
                told.add((step.contact, step.channel))
                draft.actions.append(notify(incident, step, "note", text, now))
