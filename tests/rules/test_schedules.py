"""Medication doses and the wellbeing check: what should happen, and the carer told if not."""

import pytest
from pydantic import ValidationError

from rules.engine import Engine, EngineState
from rules.policy import Policies
from rules.routines import ActivityPolicy, Medication
from tests.support.rules import (
    DEVICES,
    MOTION,
    changes,
    clock,
    commands,
    event,
    feed,
    home,
    notes,
    states,
)

HEART = Medication(name="heart", label="heart tablets", times=("08:00", "20:00"), grace_min=60)
STARTED = clock("06:00")


@pytest.fixture
def doses() -> Engine:
    return Engine(home(medication=(HEART,)))


def test_a_dose_is_reminded_on_time_and_taken_without_bothering_the_carer(doses: Engine) -> None:
    state = EngineState(since=STARTED)
    assert doses.next_due(state) == clock("08:00")

    state, due = doses.tick(state, now=clock("08:00"))
    state, taken = feed(doses, state, event("pill-1", "medication.taken", clock("08:20")))

    assert [(c.device_id, c.command) for c in commands(due)] == [("pill-1", "chime")]
    assert states(due) == [("medication_heart", "pending")]
    assert [c.reason for c in changes(due)] == ["medication.due: heart tablets at 08:00"]
    assert states(taken) == [("medication_heart", "cancelled")]
    assert notes(due + taken) == []
    assert doses.next_due(state) == clock("20:00")


def test_a_missed_dose_is_urgent_and_a_late_dose_is_followed_up(doses: Engine) -> None:
    state, _ = doses.tick(EngineState(since=STARTED), now=clock("08:00"))
    assert doses.tick(state, now=clock("08:59")) == (state, [])

    state, missed = doses.tick(state, now=clock("09:00"))
    _, late = feed(doses, state, event("pill-1", "medication.taken", clock("09:10")))

    assert {(n.severity, n.text) for n in notes(missed)} == {
        ("urgent", "Mum has not taken the heart tablets due at 08:00.")
    }
    assert states(late) == [("medication_heart", "resolved")]
    assert {n.text for n in notes(late)} == {"Taken late: Mum took the heart tablets at 09:10."}


def test_doses_that_fell_due_while_nothing_ticked_are_all_issued(doses: Engine) -> None:
    state, actions = doses.tick(EngineState(since=STARTED), now=clock("21:00"))

    assert [c.incident_id for c in commands(actions)] == [
        "medication_heart-1",
        "medication_heart-2",
    ]
    assert ("medication_heart", "cancelled") in states(actions)  # the 08:00 dose, superseded
    assert state.open["medication_heart"].state == "firing"
    assert doses.next_due(state) == clock("08:00", days=1)


def test_no_dose_is_issued_before_the_hub_started(doses: Engine) -> None:
    state = EngineState(since=clock("08:30"))

    assert doses.next_due(state) == clock("20:00")
    assert doses.tick(state, now=clock("09:00")) == (state, [])
    assert doses.next_due(EngineState()) is None


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"name": "heart", "times": ["8am"]}, "times"),
        ({"name": "heart", "times": []}, "times"),
        ({"name": "Heart Pills", "times": ["08:00"]}, "name"),
        ({"name": "heart", "times": ["08:00", "08:00"]}, "times"),
        ({"name": "heart", "times": ["08:00"], "grace_min": 0}, "grace_min"),
    ],
)
def test_a_malformed_schedule_is_refused_naming_the_key(
    values: dict[str, object], key: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Medication.model_validate(values)

    assert caught.value.errors()[0]["loc"][0] == key


# --- wellbeing -----------------------------------------------------------------------------


@pytest.fixture
def watched() -> Engine:
    return Engine(home(devices={**DEVICES, **MOTION}))


def test_no_movement_by_ten_in_the_morning_raises_a_wellbeing_check(watched: Engine) -> None:
    state = EngineState(since=STARTED)
    assert watched.next_due(state) == clock("10:00")

    state, actions = watched.tick(state, now=clock("10:00"))

    assert {(n.severity, n.text) for n in notes(actions)} == {
        ("urgent", "Wellbeing check: no movement seen at home since the hub started (06:00).")
    }
    assert watched.next_due(state) is None


def test_morning_movement_means_no_check_until_a_long_quiet_spell(watched: Engine) -> None:
    state, _ = feed(
        watched, EngineState(since=STARTED), event("motion-1", "motion.detected", clock("07:30"))
    )

    assert watched.next_due(state) == clock("12:30")
    assert watched.tick(state, now=clock("10:00")) == (state, [])


def test_a_long_quiet_afternoon_raises_a_check_and_movement_clears_it(watched: Engine) -> None:
    state, _ = feed(
        watched, EngineState(since=STARTED), event("motion-1", "motion.detected", clock("11:00"))
    )
    state, raised = watched.tick(state, now=clock("16:00"))
    _, cleared = feed(watched, state, event("motion-1", "motion.detected", clock("16:10")))

    assert {n.text for n in notes(raised)} == {
        "Wellbeing check: no movement seen from Mum since 11:00."
    }
    assert states(cleared) == [("wellbeing", "resolved")]
    assert {n.text for n in notes(cleared)} == {"All clear: Mum is up and about (lounge, 16:10)."}


def test_a_quiet_night_in_bed_raises_no_check(watched: Engine) -> None:
    state, _ = feed(
        watched, EngineState(since=STARTED), event("motion-1", "motion.detected", clock("21:00"))
    )

    assert watched.next_due(state) == clock("10:00", days=1)
    assert watched.tick(state, now=clock("09:59", days=1)) == (state, [])


def test_an_open_fall_holds_back_the_wellbeing_check(watched: Engine) -> None:
    state, _ = feed(
        watched, EngineState(since=STARTED), event("fall-1", "fall.detected", clock("09:59"))
    )

    state, actions = watched.tick(state, now=clock("10:30"))

    assert [cause for cause, _ in states(actions)] == ["fall"]
    assert "wellbeing" not in state.open


def test_no_wellbeing_check_in_a_home_without_a_motion_sensor() -> None:
    engine = Engine(home())

    assert engine.next_due(EngineState(since=STARTED)) is None


def test_the_wellbeing_check_can_be_switched_on_without_a_motion_sensor() -> None:
    engine = Engine(home(policy=Policies(activity=ActivityPolicy(enabled=True))))

    assert engine.next_due(EngineState(since=STARTED)) == clock("10:00")


@pytest.mark.parametrize(
    ("values", "message"),
    [
        ({"day": "22:00-07:00"}, "cross midnight"),
        ({"up_by": "06:00"}, "up_by must fall inside day"),
        ({"quiet_h": 16}, "quiet_h must be shorter"),
        ({"day": "7-22"}, "not a time of day"),
    ],
)
def test_a_wellbeing_window_that_makes_no_sense_is_refused(
    values: dict[str, object], message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        ActivityPolicy.model_validate(values)
