"""Doors, room temperature, falls and device health, each named for the situation it protects."""

import pytest

from rules.engine import Engine, EngineState
from rules.policy import EscalationPlan, EscalationStep, FallPolicy, Policies
from rules.routines import DoorPolicy
from tests.support.rules import (
    DEVICES,
    MOTION,
    changes,
    clock,
    event,
    feed,
    home,
    later,
    notes,
    states,
)

NIGHT = clock("23:00")


@pytest.fixture
def engine() -> Engine:
    return Engine(home())


# --- doors ---------------------------------------------------------------------------------


def test_night_exit_without_return_calls_the_carer_after_the_return_window(
    engine: Engine,
) -> None:
    state, opened = feed(engine, EngineState(), event("door-1", "door.opened", NIGHT))
    assert notes(opened) == []
    assert engine.tick(state, now=later(NIGHT, s=599)) == (state, [])

    state, actions = engine.tick(state, now=later(NIGHT, s=600))

    told = [n for n in notes(actions) if n.severity == "emergency"]
    assert [n.contact for n in told] == ["Alice", "Bob"]
    assert told[0].text == (
        "Mum went out by the front door (hall) at 23:00 at night and has not come back in."
    )


def test_night_exit_followed_by_movement_inside_is_dropped_silently(engine: Engine) -> None:
    engine = Engine(home(devices={**DEVICES, **MOTION}))
    state, actions = feed(
        engine,
        EngineState(),
        event("door-1", "door.opened", NIGHT),
        event("door-1", "door.closed", later(NIGHT, s=20)),
        event("motion-1", "motion.detected", later(NIGHT, s=90)),
    )

    assert ("night_exit", "cancelled") in states(actions)
    assert engine.tick(state, now=later(NIGHT, m=60)) == (state, [])
    assert notes(actions) == []


def test_night_door_closing_alone_is_not_a_return(engine: Engine) -> None:
    state, _ = feed(
        engine,
        EngineState(),
        event("door-1", "door.opened", NIGHT),
        event("door-1", "door.closed", later(NIGHT, s=30)),  # she may have closed it behind her
    )

    _, actions = engine.tick(state, now=later(NIGHT, s=600))

    assert ("night_exit", "firing") in states(actions)


def test_night_door_closing_is_a_return_where_there_is_no_motion_sensor() -> None:
    policy = Policies(door=DoorPolicy(return_needs_motion=False))
    engine = Engine(home(policy=policy))
    state, actions = feed(
        engine,
        EngineState(),
        event("door-1", "door.opened", NIGHT),
        event("door-1", "door.closed", later(NIGHT, s=30)),
    )

    assert ("night_exit", "cancelled") in states(actions)
    assert state.open == {}


def test_carer_hears_when_a_night_wanderer_is_back_inside(engine: Engine) -> None:
    state, _ = feed(engine, EngineState(), event("door-1", "door.opened", NIGHT))
    state, _ = engine.tick(state, now=later(NIGHT, s=600))

    _, actions = feed(engine, state, event("door-1", "motion.detected", later(NIGHT, m=14)))

    assert ("night_exit", "resolved") in states(actions)
    assert {n.text for n in notes(actions)} == {"All clear: Mum is back inside (hall, 23:14)."}


def test_a_daytime_visitor_is_noted_and_nobody_is_interrupted(engine: Engine) -> None:
    day = clock("14:00")
    state, actions = feed(
        engine,
        EngineState(),
        event("door-1", "door.opened", day),
        event("door-1", "door.closed", later(day, m=2)),
    )

    assert notes(actions) == []
    assert [s for s in states(actions) if s[0] == "door_day"] == [("door_day", "resolved")]
    assert all(cause != "night_exit" for cause, _ in states(actions))
    assert state.open == {}


def test_a_door_left_open_is_urgent_and_its_closing_is_followed_up(engine: Engine) -> None:
    day = clock("14:00")
    state, _ = feed(engine, EngineState(), event("door-1", "door.opened", day))
    assert engine.next_due(state) == later(day, m=15)

    state, fired = engine.tick(state, now=later(day, m=15))
    _, closed = feed(engine, state, event("door-1", "door.closed", later(day, m=40)))

    assert [(n.contact, n.severity, n.text) for n in notes(fired)] == [
        ("Alice", "urgent", "The front door (hall) has been open since 14:00."),
        ("Bob", "urgent", "The front door (hall) has been open since 14:00."),
    ]
    assert {n.text for n in notes(closed)} == {
        "All clear: the front door (hall) was closed at 14:40."
    }


# --- room temperature ----------------------------------------------------------------------


def test_a_cold_home_for_thirty_minutes_is_urgent(engine: Engine) -> None:
    start = clock("06:00")
    state, _ = feed(
        engine,
        EngineState(),
        event("temp-1", "temperature.reading", start, value=9.0),
        event("temp-1", "temperature.reading", later(start, m=10), value=8.5),
    )
    assert engine.tick(state, now=later(start, m=29)) == (state, [])

    _, actions = engine.tick(state, now=later(start, m=30))

    assert {(n.severity, n.text) for n in notes(actions)} == {
        ("urgent", "It is cold in the lounge: below 10 °C since 06:00.")
    }


def test_a_brief_chill_that_warms_up_is_dropped(engine: Engine) -> None:
    start = clock("06:00")
    state, actions = feed(
        engine,
        EngineState(),
        event("temp-1", "temperature.reading", start, value=9.5),
        event("temp-1", "temperature.reading", later(start, m=5), value=12.0),
    )

    assert states(actions) == [("cold", "pending"), ("cold", "cancelled")]
    assert engine.next_due(state) is None


def test_an_overheated_room_is_urgent_and_cooling_is_followed_up(engine: Engine) -> None:
    start = clock("15:00")
    state, _ = feed(engine, EngineState(), event("temp-1", "temperature.reading", start, value=29))
    state, fired = engine.tick(state, now=later(start, m=30))
    _, cooled = feed(
        engine, state, event("temp-1", "temperature.reading", later(start, m=50), value=25)
    )

    assert {n.text for n in notes(fired)} == {"It is hot in the lounge: above 27 °C since 15:00."}
    assert {n.text for n in notes(cooled)} == {"Cooler again: the lounge is below 27 °C at 15:50."}


def test_a_reading_without_a_value_changes_nothing(engine: Engine) -> None:
    state, actions = feed(engine, EngineState(), event("temp-1", "temperature.reading", NIGHT))

    assert actions == []
    assert state == EngineState()


# --- falls ---------------------------------------------------------------------------------


def test_a_possible_fall_waits_longer_than_a_definite_one() -> None:
    engine = Engine(home(policy=Policies(fall=FallPolicy(confirm_s=20, maybe_confirm_s=90))))
    start = clock("11:00")
    state, _ = feed(engine, EngineState(), event("fall-1", "fall.suspected", start))

    assert engine.tick(state, now=later(start, s=20)) == (state, [])
    _, actions = engine.tick(state, now=later(start, s=90))

    assert [n.contact for n in notes(actions)] == ["Alice", "Bob"]


def test_ordinary_movement_elsewhere_drops_a_fall_in_its_window(engine: Engine) -> None:
    start = clock("11:00")
    state, actions = feed(
        engine,
        EngineState(),
        event("fall-1", "fall.detected", start),
        event("motion-1", "motion.detected", later(start, s=8)),
    )

    assert states(actions) == [("fall", "pending"), ("fall", "cancelled")]
    assert state.open == {}


def test_movement_after_a_fall_was_raised_does_not_close_it(engine: Engine) -> None:
    # Someone else moving about (a visitor, the cat) does not mean she got up.
    start = clock("11:00")
    state, _ = feed(engine, EngineState(), event("fall-1", "fall.detected", start))
    state, _ = engine.tick(state, now=later(start, s=20))

    state, actions = feed(engine, state, event("motion-1", "motion.detected", later(start, m=1)))

    assert actions == []
    assert state.open["fall"].state == "firing"


# --- device health -------------------------------------------------------------------------


def test_a_silent_pendant_is_urgent_because_she_is_unprotected(engine: Engine) -> None:
    state, opened = feed(engine, EngineState(), event("pendant-1", "device.offline", NIGHT))
    assert notes(opened) == []  # a radio blip is not news
    state, actions = engine.tick(state, now=later(NIGHT, s=120))

    assert [(n.contact, n.severity) for n in notes(actions)] == [
        ("Alice", "urgent"),
        ("Bob", "urgent"),
    ]
    assert notes(actions)[0].text == "The pendant (bedroom) stopped reporting at 23:00."

    _, back = feed(engine, state, event("pendant-1", "device.online", later(NIGHT, m=5)))
    assert {n.text for n in notes(back)} == {
        "All clear: the pendant (bedroom) is reporting again (23:05)."
    }


def test_a_pendant_back_within_a_blip_is_not_reported(engine: Engine) -> None:
    state, actions = feed(
        engine,
        EngineState(),
        event("pendant-1", "device.offline", NIGHT),
        event("pendant-1", "device.online", later(NIGHT, s=40)),
    )

    assert states(actions) == [("device_offline", "pending"), ("device_offline", "cancelled")]
    assert engine.next_due(state) is None


def test_devices_going_offline_together_are_the_network_not_the_devices(
    engine: Engine,
) -> None:
    state, first = feed(
        engine,
        EngineState(),
        event("pendant-1", "device.offline", NIGHT),
        event("fall-1", "device.offline", later(NIGHT, s=5)),
        event("smoke-1", "device.offline", later(NIGHT, s=9)),
        event("door-1", "device.offline", later(NIGHT, s=150)),  # the flood goes on
    )

    sent, outcome = notes(first), states(first)
    while (due := engine.next_due(state)) is not None:
        state, actions = engine.tick(state, now=due)
        sent += notes(actions)
        outcome += states(actions)

    assert sent == []
    assert outcome.count(("device_offline", "suppressed")) == 4
    assert ("link_lost", "resolved") in outcome


def test_other_devices_offline_wait_for_the_digest(engine: Engine) -> None:
    state, _ = feed(engine, EngineState(), event("door-1", "device.offline", NIGHT))
    state, actions = engine.tick(state, now=later(NIGHT, s=120))

    assert notes(actions) == []
    assert state.open["device_offline@door-1"].severity == "info"


def test_low_battery_is_noted_once_until_a_good_battery_reports(engine: Engine) -> None:
    state, actions = feed(
        engine,
        EngineState(),
        event("door-1", "device.battery_low", NIGHT, battery=9),
        event("door-1", "device.battery_low", later(NIGHT, m=60), battery=8),
    )
    assert states(actions) == [("battery_low", "pending"), ("battery_low", "firing")]

    state, actions = feed(
        engine, state, event("door-1", "device.heartbeat", later(NIGHT, m=90), battery=100)
    )

    assert states(actions) == [("battery_low", "resolved")]
    assert state.open == {}


def test_a_fault_notice_reaches_everyone_in_its_plan_at_once() -> None:
    plan = EscalationPlan(
        steps=(EscalationStep(contact="Alice"), EscalationStep(contact="Bob", after_s=300))
    )
    engine = Engine(home(escalation={"info": plan}))

    _, actions = feed(engine, EngineState(), event("smoke-1", "device.tamper", NIGHT))

    assert [(n.contact, n.at) for n in notes(actions)] == [("Alice", NIGHT), ("Bob", NIGHT)]


def test_tampering_is_noted_and_closed_at_once(engine: Engine) -> None:
    state, actions = feed(engine, EngineState(), event("smoke-1", "device.tamper", NIGHT))

    assert [c.incident.state for c in changes(actions)] == ["resolved"]
    assert notes(actions) == []
    assert state.open == {}


def test_a_definite_fall_after_a_possible_one_is_raised_sooner() -> None:
    engine = Engine(home(policy=Policies(fall=FallPolicy(confirm_s=20, maybe_confirm_s=90))))
    start = clock("11:00")
    state, actions = feed(
        engine,
        EngineState(),
        event("fall-1", "fall.suspected", start),
        event("fall-1", "fall.detected", later(start, s=10)),
    )

    assert states(actions) == [("fall", "pending"), ("fall", "pending")]
    assert engine.next_due(state) == later(start, s=30)
    _, again = feed(engine, state, event("fall-1", "fall.suspected", later(start, s=12)))
    assert again == []
