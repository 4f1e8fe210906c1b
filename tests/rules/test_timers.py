"""A step of the wall clock: relative timers keep their remaining time, and nothing else moves."""

from datetime import datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Engine, EngineState
from rules.incidents import Notify
from rules.policy import EscalationPlan, EscalationStep
from rules.timers import STEP_THRESHOLD_S, clock_step, shift_deadline, shift_relative_timers
from tests.support.rules import clock, home
from wire.event import DeviceEvent, EventType

PROPERTY = settings(max_examples=60, deadline=None)
LADDER = EscalationPlan(
    steps=(
        EscalationStep(contact="Alice", after_s=0),
        EscalationStep(contact="Bob", after_s=120),
    ),
    repeat=2,
    repeat_after_s=300,
)
ENGINE = Engine(home(escalation={"emergency": LADDER, "urgent": LADDER}))
SIGNALS: list[tuple[str, EventType]] = [
    ("pendant-1", "pendant.pressed"),
    ("pendant-1", "pendant.cancelled"),
    ("fall-1", "fall.detected"),
    ("smoke-1", "smoke.detected"),
    ("water-1", "water.leak"),
]
STEPS_S = st.one_of(
    st.floats(min_value=STEP_THRESHOLD_S + 0.001, max_value=3 * 3600),
    st.floats(min_value=-3 * 3600, max_value=-STEP_THRESHOLD_S - 0.001),
)


@st.composite
def busy_states(draw: st.DrawFn) -> tuple[EngineState, datetime]:
    """A state with alarms pending, firing and part-way up their ladders, and its moment."""
    now = clock("10:00")
    state = EngineState()
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        now += timedelta(seconds=draw(st.integers(min_value=0, max_value=200)))
        device_id, kind = draw(st.sampled_from(SIGNALS))
        event = DeviceEvent(device_id=device_id, type=kind, received_at=now)
        state, _ = ENGINE.evaluate(state, event, now=now)
        state, _ = ENGINE.tick(state, now=now)
    return state, now


@PROPERTY
@given(busy_states(), STEPS_S)
def test_after_a_shift_each_relative_timer_has_the_same_time_left(
    busy: tuple[EngineState, datetime], step_s: float
) -> None:
    state, now = busy
    step = timedelta(seconds=step_s)
    shifted, moved = shift_relative_timers(state, step)
    for slot, incident in state.open.items():
        after = shifted.open[slot]
        if incident.due_at is not None:
            assert after.due_at is not None
            assert after.due_at - (now + step) == incident.due_at - now
        if incident.fired_at is not None:
            assert after.fired_at is not None
            assert after.fired_at - (now + step) == incident.fired_at - now
        assert after.opened_at == incident.opened_at, "when the alarm came is a record"
    assert {i.id for i in moved} <= {i.id for i in shifted.open.values()}
    assert shifted.model_copy(update={"open": state.open}) == state, "schedules are untouched"


@PROPERTY
@given(busy_states(), STEPS_S, st.integers(min_value=0, max_value=1500))
def test_after_a_shift_the_carers_get_the_same_steps_at_the_same_moments(
    busy: tuple[EngineState, datetime], step_s: float, later_s: int
) -> None:
    """Whatever the step, a ladder runs on as if the clock had never been corrected."""
    state, now = busy
    step = timedelta(seconds=step_s)
    shifted, _ = shift_relative_timers(state, step)
    later = timedelta(seconds=later_s)
    _, plain = ENGINE.tick(state, now=now + later)
    _, corrected = ENGINE.tick(shifted, now=now + step + later)
    assert _keys(corrected) == _keys(plain)


def _keys(actions: list[object]) -> list[str]:
    return sorted(a.key for a in actions if isinstance(a, Notify))


@given(
    st.floats(min_value=0, max_value=86400),
    st.floats(min_value=-7200, max_value=7200, allow_nan=False),
)
def test_a_step_is_what_the_wall_clock_moved_beyond_the_monotonic_clock(
    elapsed_s: float, jump_s: float
) -> None:
    step = clock_step(elapsed_s + jump_s, elapsed_s)
    if abs((elapsed_s + jump_s) - elapsed_s) > STEP_THRESHOLD_S:
        assert step is not None
        assert abs(step.total_seconds() - jump_s) < 1e-6
    else:
        assert step is None


def test_a_deadline_already_at_the_end_of_time_stays_there() -> None:
    never = datetime.max.replace(tzinfo=clock("00:00").tzinfo)
    assert shift_deadline(never, timedelta(hours=1)) == never
    assert shift_deadline(clock("10:00"), timedelta(hours=-1)) == clock("09:00")


def test_a_cancel_just_after_a_fall_still_ends_it_quietly_across_a_clock_step() -> None:
    fell = clock("10:00")
    state, _ = ENGINE.evaluate(
        EngineState(),
        DeviceEvent(device_id="fall-1", type="fall.detected", received_at=fell),
        now=fell,
    )
    step = timedelta(hours=1)  # NTP corrects a stale clock while the fall waits
    state, _ = shift_relative_timers(state, step)
    later = fell + step + timedelta(seconds=5)
    cancel = DeviceEvent(device_id="pendant-1", type="pendant.cancelled", received_at=later)

    state, actions = ENGINE.evaluate(state, cancel, now=later)

    assert "fall" not in state.open
    assert not [a for a in actions if isinstance(a, Notify)]
