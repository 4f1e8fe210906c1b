"""The rules engine: a pure function from (state, input, now) to (new state, actions).

It never sends, sleeps or reads the clock: the hub passes `now` in and carries the actions out.
Replaying the same inputs at the same times gives the same actions. This module owns the
engine's entry points (events, timers, a carer's acknowledgement, resolution and settings, a
contact no path reached, the state restored at start) and hands each to the part that decides
it: the declared causes (`rules.alarms`), doses, the wellbeing check, digests and summaries.
"""

from collections.abc import Iterable, Mapping, Sequence, Set
from datetime import datetime, time

from rules.activity import ACTIVITY, WellbeingCheck
from rules.alarms import Alarms
from rules.causes import causes
from rules.digest import Digests
from rules.doses_today import DoseToday, doses_today
from rules.incidents import Action, Incident, OccupancyChanged
from rules.inhibition import Inhibitor
from rules.ladder import Ladder
from rules.lifecycle import Lifecycle
from rules.medication import DoseSchedule
from rules.policy import CausePolicy, RulesConfig
from rules.settings import CarerSettings
from rules.state import Draft, EngineState, Memory
from rules.summary import DailySummary
from rules.texts import Texts
from wire.event import DeviceEvent

__all__ = ["Engine", "EngineState"]
RESOLVED_BY = "resolved by "  # how the audit trail starts a carer's resolution


class Engine:
    """Decides what events mean, bound to one home's rules configuration."""

    def __init__(self, config: RulesConfig) -> None:
        self.config = config
        self.causes: dict[str, CausePolicy] = causes(config.policy)
        self.texts = Texts(config)
        self.ladder = Ladder(config)
        self._life = Lifecycle(self.ladder)
        self._doses = DoseSchedule(config, self.texts, self._life)
        self._wellbeing = WellbeingCheck(config, self.texts, self._life)
        self._inhibitor = Inhibitor(config.policy, self.texts, self._life)
        self._digests = Digests(config, self.texts)
        self._summary = DailySummary(config, self.texts, self._doses)
        self._settings = CarerSettings(config, self.causes.values(), self.texts)
        self._alarms = Alarms(
            config,
            self.causes,
            texts=self.texts,
            life=self._life,
            inhibitor=self._inhibitor,
            settings=self._settings,
        )
        self._watched = {"medication.taken", *(ACTIVITY if self._wellbeing.enabled else ())}
        self._due_cache: tuple[Mapping[str, Incident] | None, datetime | None] = (None, None)
        self._keyfobs = {i for i, d in config.devices.items() if d.role == "keyfob"}

    def evaluate(
        self, state: EngineState, event: DeviceEvent, *, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """Apply one event: open, repeat, cancel or clear incidents.

        Timers that fell due before `now` are carried out first, so the outcome does not depend
        on how often the hub ticks. Only an event that happened after an incident began may end
        it, whatever order the events arrive in (see `rules.evidence`).
        """
        if event.device_id in self._keyfobs and event.type == "pendant.pressed":
            return self._keyfob(state, event, now)
        state, actions = self.tick(state, now=now)
        candidates = self._alarms.candidates(event)
        watched = event.type in self._watched
        if not watched and not self._alarms.relevant(state, event, candidates):
            return state, actions  # the usual case: a heartbeat, a reading in range
        draft = Draft.of(state)
        draft.actions, timed = actions, len(actions)
        self._alarms.apply(draft, event, candidates, now)
        self._wellbeing.observe(draft, event, now)
        self._doses.observe(draft, event, now)
        self._digests.route(draft, timed, now)
        return draft.state(), draft.actions

    def tick(self, state: EngineState, *, now: datetime) -> tuple[EngineState, list[Action]]:
        """Carry out whatever fell due by `now`: windows ending, steps, doses, wellbeing checks."""
        first = self._first_due(state.open)
        if (first is None or first > now) and not (
            self._doses.due(state, now)
            or self._wellbeing.due(state, now)
            or (state.held and _passed(self._digests.next_due(state), now))
            or _passed(self._summary.next_due(state), now)
        ):
            return state, []
        due = [s for s, i in state.open.items() if i.due_at is not None and i.due_at <= now]
        draft = Draft.of(state)
        for slot in sorted(due, key=lambda s: (state.open[s].due_at, s)):
            self._life.step(draft, slot, now)
        self._doses.tick(draft, now)
        self._wellbeing.tick(draft, now)
        self._digests.route(draft, 0, now)
        self._digests.deliver(draft, now)
        self._summary.deliver(draft, now)
        return draft.state(), draft.actions

    def next_due(self, state: EngineState) -> datetime | None:
        """When `tick` next has something to do, or None if nothing is waiting."""
        due = [self._first_due(state.open), self._doses.next_due(state)]
        due += [self._wellbeing.next_due(state), self._digests.next_due(state)]
        due.append(self._summary.next_due(state))
        return min((when for when in due if when is not None), default=None)

    def _first_due(self, incidents: Mapping[str, Incident]) -> datetime | None:
        """The earliest incident timer, remembered: most inputs leave the incidents as they were."""
        cached, first = self._due_cache
        if cached is not incidents:
            due = (i.due_at for i in incidents.values() if i.due_at is not None)
            first = min(due, default=None)
            self._due_cache = (incidents, first)
        return first

    def acknowledge(
        self, state: EngineState, incident_id: str, by: str, *, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """`by` says they are handling an incident: its ladder stops; the others hear who has it.

        Nothing changes if it is not open or already acknowledged; if it is still
        not resolved when the plan's `ack_timeout_s` runs out, it fires again.
        """
        state, actions = self.tick(state, now=now)
        for slot, incident in state.open.items():
            if incident.id == incident_id and incident.state in {"pending", "firing"}:
                draft = Draft.of(state)
                acked, done = self.ladder.acknowledge(incident, by, now)
                draft.put(slot, acked)
                draft.actions = [*actions, *done]
                self._digests.route(draft, len(actions), now)
                return draft.state(), draft.actions
        return state, actions

    def unreached(
        self, state: EngineState, incident_id: str, contact: str, *, key: str, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """Every phone path of the step keyed `key` failed to reach `contact`: the ladder moves on.

        The hub says so once the last of them has failed for good (undelivered, busy, no phone
        reached), never while one is still on its way. The incident's next step is taken now
        instead of at its time, if the incident still fires and that step was its latest (see
        `Ladder.bring_forward`); otherwise nothing changes.
        """
        state, actions = self.tick(state, now=now)
        for slot, incident in state.open.items():
            if incident.id == incident_id:
                moved, done = self.ladder.bring_forward(incident, contact, key, now)
                if not done:
                    break
                draft = Draft.of(state)
                draft.put(slot, moved)
                draft.actions = [*actions, *done]
                self._digests.route(draft, len(actions), now)
                return draft.state(), draft.actions
        return state, actions

    def resolve(
        self, state: EngineState, incident_id: str, *, by: str, via: str, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """`by` says an incident is over (help arrived, a press by mistake): it closes.

        Its ladder and any re-fire after an acknowledgement stop with it, and everyone who was
        told hears who resolved it (not `by`, who knows). Nothing changes if it is not open.
        """
        state, actions = self.tick(state, now=now)
        for slot, incident in state.open.items():
            if incident.id == incident_id:
                draft = Draft.of(state)
                draft.actions = actions
                label = self.causes[incident.cause].label if incident.cause in self.causes else ""
                text = f"Resolved by {by} at {{time}}: {label or incident.text}"
                self._life.close(
                    draft,
                    slot,
                    how="resolved",
                    reason=f"{RESOLVED_BY}{by} {via}",
                    follow_up=self.texts.render(text, incident.device_id, now),
                    now=now,
                    skip=by,
                )
                self._digests.route(draft, len(actions), now)
                return draft.state(), draft.actions
        return state, actions

    def silence(
        self, state: EngineState, device_id: str, *, until: datetime | None, by: str, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """`by` silences a device until `until` (None lifts it): see `rules.settings`.

        Raises:
            SettingRefusedError: an unknown or emergency device, or a time out of range.
        """
        state, actions = self.tick(state, now=now)
        state, change = self._settings.silence(state, device_id, until=until, by=by, now=now)
        return state, [*actions, change]

    def doses_today(
        self,
        incidents: Sequence[Incident],
        *,
        now: datetime,
        resolved_by_hand: Set[str] = frozenset(),
    ) -> list[DoseToday]:
        """Today's doses, taken, late, missed or to come, read from their incidents.

        `resolved_by_hand`: ids of dose incidents a carer resolved (not a dose taken).
        """
        return doses_today(
            self.config.medication,
            incidents,
            now,
            self.texts.zone,
            resolved_by_hand=resolved_by_hand,
        )

    def silenceable(self, device_id: str) -> bool:
        """Whether a carer may silence the device (never an emergency one)."""
        return self._settings.silenceable(device_id)

    def digest_times(self, state: EngineState, contact: str) -> tuple[time, ...]:
        """A contact's digest times: her own choice, or else the configured ones."""
        return self._digests.times(state, contact)

    def set_digest_times(
        self,
        state: EngineState,
        contact: str,
        times: tuple[time, ...] | None,
        *,
        by: str,
        now: datetime,
    ) -> tuple[EngineState, list[Action]]:
        """`by` gives a contact's digest new times (None: back to the configured ones).

        Raises:
            SettingRefusedError: an unknown contact, or times that cannot be used.
        """
        state, actions = self.tick(state, now=now)
        state, change = self._settings.set_digest_times(state, contact, times, by=by, now=now)
        return state, [*actions, change]

    def set_occupancy(
        self, state: EngineState, *, home: bool, by: str, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """Someone else is at home (`home`), or has gone.

        While they are, the door rules and the wellbeing check are suppressed (their comings
        and goings are not hers); a pendant, fall or smoke alarm never is.
        """
        state, actions = self.tick(state, now=now)
        occupied_by = by if home else None
        if occupied_by == state.occupied_by:
            return state, actions
        change = OccupancyChanged(occupied_by=occupied_by, by=by, at=now)
        return state.model_copy(update={"occupied_by": occupied_by}), [*actions, change]

    def _keyfob(
        self, state: EngineState, event: DeviceEvent, now: datetime
    ) -> tuple[EngineState, list[Action]]:
        """A keyfob press by the door: someone else arrived, or left. Not a call for help.

        It turns the occupancy suppression on or off, named after the keyfob.
        """
        name = self.texts.render("{device}", event.device_id, now)
        home = state.occupied_by is None
        return self.set_occupancy(state, home=home, by=name, now=now)

    def restore(
        self,
        incidents: Iterable[Incident],
        *,
        opened: int,
        since: datetime,
        last_activity: datetime | None = None,
        occupied_by: str | None = None,
        memory: Memory | None = None,
    ) -> EngineState:
        """The state the hub resumes with: the open incidents from the store, in their slots."""
        slots = {}
        for incident in incidents:
            policy = self.causes.get(incident.cause)
            per_device = policy is not None and policy.per_device
            slot = f"{incident.cause}@{incident.device_id}" if per_device else incident.cause
            slots[slot] = incident
        return EngineState(
            open=slots,
            opened=opened,
            since=since,
            last_activity=last_activity,
            occupied_by=occupied_by,
            **(memory.model_dump() if memory is not None else {}),
        )


def _passed(when: datetime | None, now: datetime) -> bool:
    return when is not None and when <= now
