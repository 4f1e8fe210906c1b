"""What holds an alarm back: someone else at home, or a device raising the same thing too often.

Neither ever holds back an emergency from a pendant, a fall detector or a smoke alarm.
"""

from datetime import datetime, timedelta

from rules.incidents import Incident
from rules.lifecycle import Lifecycle
from rules.policy import Policies, Severity
from rules.state import Draft
from rules.texts import Texts

# Door rules exist for a person on her own: with someone else at home, they are suppressed.
OCCUPANCY_SUPPRESSES = frozenset({"night_exit", "door_left_open", "door_day"})
FAULT = "device_fault"
OFFLINE = "device_offline"
PRESS = "help_call"
FLOOD = "offline-flood"


class Inhibitor:
    """Decides whether an incident is suppressed instead, and says why.

    With someone else at home, doors opening and closing are theirs: the door rules (and the
    wellbeing check) are suppressed, never a pendant, fall or smoke alarm. A device whose same
    urgent alarm reaches the carer more than `max_openings` times within `within_min` is
    probably faulty: further ones are suppressed, and the carer gets one "device fault" notice
    for the burst instead of a stream of alerts. Emergencies are never throttled: a pendant
    pressing that often still reaches the carer every time, and is reported as suspicious
    (for the digest). Information is never pushed, so it is never throttled either.
    """

    def __init__(self, policies: Policies, texts: Texts, life: Lifecycle) -> None:
        policy = policies.flapping
        self._max = policy.max_openings
        self._window = timedelta(minutes=policy.within_min)
        self._within_min = policy.within_min
        self._flood = policies.devices.offline_flood
        self._flood_window = timedelta(seconds=policies.devices.offline_confirm_s)
        self._texts = texts
        self._life = life
        life.throttle = self.throttled

    @staticmethod
    def holds(draft: Draft, name: str) -> str | None:
        """Why an opening of cause `name` is suppressed now, or None if it goes ahead."""
        if draft.occupied_by is not None and name in OCCUPANCY_SUPPRESSES:
            return f"someone is home ({draft.occupied_by})"
        return None

    def throttled(self, draft: Draft, incident: Incident, now: datetime) -> str | None:
        """Why this incident, about to fire for the first time, is suppressed, or None."""
        if incident.cause == OFFLINE and self._flooded(draft, incident, now):
            return "many devices went offline together: the hub's link or the broker"
        if incident.round > 0 or incident.cause == FAULT or incident.severity == "info":
            return None
        if not self._repeating(draft, incident, now):
            return None
        key = f"{incident.cause}@{incident.device_id}"
        if incident.severity == "emergency":
            # Never held back; a pendant pressing by itself is reported for the digest.
            if incident.cause == PRESS and not self._fault_noted(draft, key, now):
                self._note_fault(draft, incident, now, severity="info")
            return None
        if not self._fault_noted(draft, key, now):
            self._note_fault(draft, incident, now, severity="urgent")
        return f"raised more than {self._max} times in {self._within_min:g} min: device fault?"

    def _repeating(self, draft: Draft, incident: Incident, now: datetime) -> bool:
        """Count this firing; whether the device has fired this cause too often lately."""
        key = f"{incident.cause}@{incident.device_id}"
        recent = tuple(t for t in draft.openings.get(key, ()) if now - t < self._window)
        recent = (*recent[-self._max :], now)
        draft.set_openings(key, recent)
        return len(recent) > self._max

    def _flooded(self, draft: Draft, incident: Incident, now: datetime) -> bool:
        """Whether this device went offline with many others: the link, not the device.

        Counted among the offline incidents still waiting out their window; once a flood is
        seen, the rest of it (until a window passes without one) is part of it too.
        """
        last = draft.openings.get(FLOOD, ())
        if last and now - last[-1] <= self._flood_window:
            draft.set_openings(FLOOD, (now,))
            return True
        together = [
            other
            for slot, other in draft.open.items()
            if slot.startswith(f"{OFFLINE}@")
            and abs(other.opened_at - incident.opened_at) <= self._flood_window
        ]
        if len(together) < self._flood:
            return False
        draft.set_openings(FLOOD, (now,))
        self._life.note(
            draft,
            cause="link_lost",
            severity="info",
            device_id="hub",
            text=self._texts.render(
                f"{len(together)} devices stopped reporting together at {{time}}: probably the"
                " hub's network or the broker, not the devices.",
                "hub",
                incident.opened_at,
            ),
            reason=f"{len(together)} devices offline together",
            now=now,
        )
        return True

    def _fault_noted(self, draft: Draft, key: str, now: datetime) -> bool:
        """Whether the fault was noted during this burst; the burst goes on while it repeats."""
        noted = draft.openings.get(f"fault:{key}", ())
        draft.set_openings(f"fault:{key}", (now,))
        return bool(noted) and now - noted[-1] < self._window

    def _note_fault(
        self, draft: Draft, incident: Incident, now: datetime, *, severity: Severity
    ) -> None:
        label = incident.cause.replace("_", " ")
        held = (
            "Its further alerts are held back; please check it."
            if severity == "urgent"
            else "Every one was sent; please check it."
        )
        text = (
            f"The {{device}} ({{room}}) has raised '{label}' more than {self._max} times"
            f" in {self._within_min:g} minutes ({{time}}): it may be faulty. {held}"
        )
        self._life.note(
            draft,
            cause=FAULT,
            severity=severity,
            device_id=incident.device_id,
            text=self._texts.render(text, incident.device_id, now),
            reason=f"{label} from {incident.device_id} keeps repeating",
            now=now,
        )
