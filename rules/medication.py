"""Medication: doses reminded at their times, taken within the grace period or reported missed."""

from collections.abc import Mapping
from datetime import datetime, timedelta

from rules.evidence import happened_at, standing
from rules.incidents import DeviceCommand
from rules.lifecycle import Lifecycle
from rules.policy import RulesConfig
from rules.routines import Medication
from rules.schedule import next_time
from rules.state import Draft, EngineState
from rules.texts import Texts
from wire.event import DeviceEvent

CAUSE_PREFIX = "medication_"
HUB_DEVICE = "hub"
DAY = timedelta(days=1)
MEMO_SIZE = 256  # next due times remembered: they change only when a dose is issued
MAX_CATCH_UP = 64  # doses issued in one tick after a long stop; older ones are superseded


def cause_of(medication: Medication) -> str:
    """The cause (and slot) of a medication's dose incidents."""
    return CAUSE_PREFIX + medication.name


class DoseSchedule:
    """Doses reminded on time, and the carer told only of a dose that was missed.

    Each dose is due at its time: the person is reminded (a chime on the dispenser) and an
    incident waits through the grace period. `medication.taken` within it closes the incident
    quietly; otherwise the carer is told the dose was missed (urgent), and hears if it is taken
    late after all. A dose taken counts for a dose only if it was taken once that dose was due
    (by the dispenser's own stamp, however late it arrives): an earlier dose taken late is not
    this one taken; and one taken after the grace period is late even if its news came sooner.
    """

    def __init__(self, config: RulesConfig, texts: Texts, life: Lifecycle) -> None:
        self._medication = config.medication
        self._texts = texts
        self._life = life
        dispensers = tuple(i for i, d in config.devices.items() if d.role == "medication")
        self._devices = {
            m.name: (m.device,) if m.device is not None else dispensers for m in self._medication
        }
        self._person = config.home.person
        self._memo: dict[tuple[str, datetime], datetime] = {}
        # The last answer of `next_due`: it changes only when a dose is issued.
        self._last: tuple[datetime | None, Mapping[str, datetime] | None] = (None, None)
        self._last_due: datetime | None = None

    def due_in_last_day(self, since: datetime, now: datetime) -> int:
        """How many doses fell due in the day before `now` (and after `since`)."""
        count = 0
        for medication in self._medication:
            due = next_time(medication.times, max(since, now - DAY), self._texts.zone)
            while due <= now:
                count += 1
                due = next_time(medication.times, due, self._texts.zone)
        return count

    def next_due(self, state: EngineState) -> datetime | None:
        """When the next dose falls due, if any is scheduled."""
        if state.since is None or not self._medication:
            return None
        since, doses = self._last
        if since != state.since or doses is not state.doses:
            due = min(self._next(m, state.since, state.doses) for m in self._medication)
            self._last, self._last_due = (state.since, state.doses), due
        return self._last_due

    def due(self, state: EngineState, now: datetime) -> bool:
        """Whether a dose has fallen due by `now`."""
        due = self.next_due(state)
        return due is not None and due <= now

    def tick(self, draft: Draft, now: datetime) -> None:
        """Issue every dose that has fallen due by `now`."""
        if draft.since is None:
            return
        for medication in self._medication:
            for _ in range(MAX_CATCH_UP):
                due = self._next(medication, draft.since, draft.doses)
                if due > now:
                    break
                self._issue(draft, medication, due, now)

    def observe(self, draft: Draft, event: DeviceEvent, now: datetime) -> None:
        """A dose taken closes the earliest dose still open that was due when it was taken."""
        if event.type != "medication.taken":
            return
        waiting = [
            (i.happened_at or i.opened_at, s)
            for s, i in draft.open.items()
            if s.startswith(CAUSE_PREFIX) and standing(i, event) != "before"
        ]
        if not waiting:
            return
        _, slot = min(waiting)
        if self._life.catch_up(draft, slot, event, now) is None:
            return
        draft.taken = (*(t for t in draft.taken if now - t < DAY), now)
        label = self._label(slot.removeprefix(CAUSE_PREFIX))
        follow_up = f"Taken late: {self._person} took the {label} at {{time}}."
        self._life.close(
            draft,
            slot,
            how="cleared",
            reason=f"medication.taken from {event.device_id}",
            follow_up=self._texts.render(follow_up, event.device_id, happened_at(event)),
            now=now,
        )

    def _issue(self, draft: Draft, medication: Medication, due: datetime, now: datetime) -> None:
        slot = cause_of(medication)
        draft.set_dose(medication.name, due)
        if slot in draft.open:
            self._life.close(
                draft,
                slot,
                how="superseded",
                reason="the next dose fell due",
                follow_up=None,
                now=now,
            )
        label = medication.label or medication.name
        devices = self._devices[medication.name]
        incident = self._life.open(
            draft,
            cause=slot,
            slot=slot,
            severity="urgent",
            device_id=devices[0] if devices else HUB_DEVICE,
            text=self._texts.render(
                f"{self._person} has not taken the {label} due at {{time}}.", HUB_DEVICE, due
            ),
            window_s=medication.grace_min * 60,
            reason=f"medication.due: {label} at {due.astimezone(self._texts.zone):%H:%M}",
            now=now,
            start=due,
        )
        draft.actions.extend(
            DeviceCommand(
                device_id=device,
                command="chime",
                incident_id=incident.id,
                reason=f"medication.due: {label}",
                at=now,
            )
            for device in devices
        )

    def _next(
        self, medication: Medication, since: datetime, doses: Mapping[str, datetime]
    ) -> datetime:
        last = doses.get(medication.name)
        anchor = since if last is None or last < since else last
        key = (medication.name, anchor)
        found = self._memo.get(key)
        if found is None:
            if len(self._memo) >= MEMO_SIZE:
                self._memo.clear()
            found = self._memo[key] = next_time(medication.times, anchor, self._texts.zone)
        return found

    def _label(self, name: str) -> str:
        for medication in self._medication:
            if medication.name == name:
                return medication.label or medication.name
        return name
