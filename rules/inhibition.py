"""What holds an alarm back: someone else at home, or a device raising the same thing too often.

Neither ever holds back an emergency from a pendant, a fall detector or a smoke alarm.
"""

from datetime import datetime, timedelta

from rules.events import DeviceEvent
from rules.lifecycle import Lifecycle
from rules.policy import CausePolicy, FlappingPolicy, Severity
from rules.state import Draft
from rules.texts import Texts

# Door rules exist for a person on her own: with someone else at home, they are suppressed.
OCCUPANCY_SUPPRESSES = frozenset({"night_exit", "door_left_open", "door_day"})


class Inhibitor:
    """Decides whether an incident about to open is suppressed instead, and says why.

    With someone else at home, doors opening and closing are theirs: the door rules (and the
    wellbeing check) are suppressed, never a pendant, fall or smoke alarm. A device that opens
    the same non-emergency cause more than `max_openings` times within `within_min` is
    probably faulty: further openings are suppressed, and the carer gets one "device fault"
    notice instead of a stream of alerts.
    """

    def __init__(self, policy: FlappingPolicy, texts: Texts, life: Lifecycle) -> None:
        self._max = policy.max_openings
        self._window = timedelta(minutes=policy.within_min)
        self._within_min = policy.within_min
        self._texts = texts
        self._life = life

    def holds(
        self,
        draft: Draft,
        *,
        name: str,
        policy: CausePolicy,
        severity: Severity,
        event: DeviceEvent,
        now: datetime,
    ) -> str | None:
        """Why this opening is suppressed, or None if it goes ahead.

        Only urgent alarms are throttled: emergencies never are, and information is never
        pushed, so there is nothing to spare the carer from.
        """
        if draft.occupied_by is not None and name in OCCUPANCY_SUPPRESSES:
            return f"someone is home ({draft.occupied_by})"
        if severity != "urgent":
            return None
        key = f"{name}@{event.device_id}"
        recent = tuple(t for t in draft.openings.get(key, ()) if now - t < self._window)
        recent = (*recent[-self._max :], now)
        draft.set_openings(key, recent)
        if len(recent) <= self._max:
            return None
        if not self._fault_noted(draft, key, now):
            self._note_fault(draft, policy, event, now)
        return f"{policy.label} from {event.device_id} more than {self._max} times in a short time"

    def _fault_noted(self, draft: Draft, key: str, now: datetime) -> bool:
        """Whether the fault was noted during this burst; the burst goes on while it repeats."""
        noted = draft.openings.get(f"fault:{key}", ())
        draft.set_openings(f"fault:{key}", (now,))
        return bool(noted) and now - noted[-1] < self._window

    def _note_fault(
        self, draft: Draft, policy: CausePolicy, event: DeviceEvent, now: datetime
    ) -> None:
        text = (
            f"The {{device}} ({{room}}) has raised '{policy.label}' more than {self._max} times"
            f" in {self._within_min:g} minutes ({{time}}): it may be faulty. Its further"
            " alerts are held back; please check it."
        )
        slot = f"device_fault@{event.device_id}"
        self._life.open(
            draft,
            cause="device_fault",
            slot=slot,
            severity="urgent",
            device_id=event.device_id,
            text=self._texts.render(text, event.device_id, now),
            window_s=0,
            reason=f"{policy.label} from {event.device_id} keeps repeating",
            now=now,
        )
        self._life.one_shot(draft, slot, now)
