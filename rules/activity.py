"""The wellbeing check: no sign of the person when there should have been one."""

from datetime import datetime, time, timedelta

from rules.evidence import happened_at
from rules.lifecycle import Lifecycle
from rules.policy import RulesConfig
from rules.schedule import at_local
from rules.state import Draft, EngineState
from rules.texts import Texts
from wire.event import DeviceEvent

SLOT = "wellbeing"
FALL_SLOT = "fall"
ACTIVITY = frozenset(
    {
        "motion.detected",
        "door.opened",
        "door.closed",
        "pendant.pressed",
        "pendant.cancelled",
        "medication.taken",
    }
)


def _between(earlier: time, later: time) -> timedelta:
    return timedelta(hours=later.hour - earlier.hour, minutes=later.minute - earlier.minute)


class WellbeingCheck:
    """No sign of life when there should be one: the carer is asked to look in.

    Nothing has moved by the morning's `up_by` time, or for `quiet_h` hours in the day: a
    wellbeing check (urgent) asks the carer to look in. Any movement since the last one seen
    clears it, even arriving late; movement from before then is old news and clears nothing.
    While a fall is open the check waits: the carer is already on her way for the fall.
    """

    def __init__(self, config: RulesConfig, texts: Texts, life: Lifecycle) -> None:
        policy = config.policy.activity
        has_motion = any(d.role == "motion" for d in config.devices.values())
        self.enabled = has_motion if policy.enabled is None else policy.enabled
        self._policy = policy
        self._texts = texts
        self._life = life
        self._person = config.home.person
        # No deadline comes sooner after a movement than this (an hour spare for clock changes).
        start_to_up_by = _between(policy.day[0], policy.up_by or policy.day[1])
        soonest = min(timedelta(hours=policy.quiet_h), start_to_up_by)
        self._margin = max(timedelta(0), soonest - timedelta(hours=1))
        # The last deadline worked out: most inputs are not movement and leave it as it was.
        self._memo: tuple[tuple[datetime | None, datetime | None], datetime | None] = (
            (None, None),
            None,
        )

    def next_due(self, state: EngineState) -> datetime | None:
        """When a check would be raised if nothing moves before then."""
        if not self.enabled or state.since is None or SLOT in state.open:
            return None
        if state.occupied_by is not None:
            return None  # someone else is home: the check is suppressed
        if FALL_SLOT in state.open:
            return None
        key = (state.since, state.last_activity)
        if self._memo[0] != key:
            self._memo = (key, self._deadline(state.since, state.last_activity))
        return self._memo[1]

    def due(self, state: EngineState, now: datetime) -> bool:
        """Whether a check is due by `now`; quick while the last movement is recent."""
        seen, since = state.last_activity, state.since
        if seen is not None and since is not None and seen >= since and now - seen < self._margin:
            return False
        deadline = self.next_due(state)
        return deadline is not None and deadline <= now

    def observe(self, draft: Draft, event: DeviceEvent, now: datetime) -> None:
        """Movement: remember it, and clear a check that is open if it came after the last seen."""
        if not self.enabled or event.type not in ACTIVITY:
            return
        draft.last_activity = now
        if SLOT in draft.open and self._life.catch_up(draft, SLOT, event, now) is not None:
            text = f"All clear: {self._person} is up and about ({{room}}, {{time}})."
            self._life.close(
                draft,
                SLOT,
                how="cleared",
                reason=f"{event.type} from {event.device_id}",
                follow_up=self._texts.render(text, event.device_id, happened_at(event)),
                now=now,
            )

    def tick(self, draft: Draft, now: datetime) -> None:
        """Raise the check if its deadline has passed."""
        if not self.enabled or draft.since is None or SLOT in draft.open:
            return
        if draft.occupied_by is not None:
            return
        if FALL_SLOT in draft.open:
            return
        deadline = self._deadline(draft.since, draft.last_activity)
        if deadline > now:
            return
        seen = draft.last_activity
        if seen is None:
            text = "Wellbeing check: no movement seen at home since the hub started ({time})."
        else:
            text = f"Wellbeing check: no movement seen from {self._person} since {{time}}."
        self._life.open(
            draft,
            cause=SLOT,
            slot=SLOT,
            severity="urgent",
            device_id="hub",
            text=self._texts.render(text, "hub", seen or draft.since),
            window_s=0,
            happened=seen or draft.since,
            reason=f"no activity by {deadline.astimezone(self._texts.zone):%H:%M}",
            now=now,
        )

    def _deadline(self, since: datetime, seen: datetime | None) -> datetime:
        """The earliest moment a check is due, given the last activity (or the start)."""
        anchor = since if seen is None or seen < since else seen
        start, end = self._policy.day
        quiet = timedelta(hours=self._policy.quiet_h)
        if seen is not None and seen >= since:
            # The usual case, movement in the day: only a quiet spell can come next today.
            local = seen.astimezone(self._texts.zone)
            quiet_ends = seen + quiet
            if local.time() >= start and quiet_ends <= at_local(
                local.date(), end, self._texts.zone
            ):
                return quiet_ends
        day = anchor.astimezone(self._texts.zone).date()
        for offset in range(3):
            date = day + timedelta(days=offset)
            begins, ends = (
                at_local(date, start, self._texts.zone),
                at_local(date, end, self._texts.zone),
            )
            found = []
            if self._policy.up_by is not None and (seen is None or seen < begins):
                up_by = at_local(date, self._policy.up_by, self._texts.zone)
                if up_by > anchor:
                    found.append(up_by)
            quiet_ends = max(anchor, begins) + quiet
            if quiet_ends <= ends:
                found.append(quiet_ends)
            if found:
                return min(found)
        msg = "the day window leaves no deadline"  # unreachable: quiet_h fits in a day
        raise AssertionError(msg)
