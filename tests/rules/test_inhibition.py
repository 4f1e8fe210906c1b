"""Someone else at home, and flapping devices: what is held back, and what never is."""

import pytest

from rules.engine import Engine, EngineState
from rules.policy import Contact, DeviceInfo, Policies
from rules.routines import FlappingPolicy
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
    return Engine(home(devices={**DEVICES, **MOTION}))


def visited(engine: Engine, state: EngineState | None = None) -> EngineState:
    state, actions = engine.set_occupancy(
        state or EngineState(since=clock("17:00")), home=True, by="Alice", now=clock("18:00")
    )
    assert [a.kind for a in actions] == ["occupancy"]
    return state


def test_a_visitor_leaving_at_night_is_not_taken_for_wandering(engine: Engine) -> None:
    state, actions = feed(engine, visited(engine), event("door-1", "door.opened", NIGHT))

    assert dict(states(actions)) == {
        "night_exit": "suppressed",
        "door_left_open": "suppressed",
    }
    assert all("someone is home (Alice)" in c.reason for c in changes(actions))
    assert state.open == {}
    assert engine.next_due(state) is None


def test_with_someone_home_no_wellbeing_check_is_raised(engine: Engine) -> None:
    state = visited(engine)

    assert engine.next_due(state) is None
    assert engine.tick(state, now=clock("11:00", days=1)) == (state, [])


@pytest.mark.parametrize(
    ("device_id", "type_", "cause"),
    [
        ("pendant-1", "pendant.pressed", "help_call"),
        ("smoke-1", "smoke.detected", "smoke"),
        ("fall-1", "fall.detected", "fall"),
    ],
)
def test_someone_at_home_never_holds_back_an_emergency(
    engine: Engine, device_id: str, type_: str, cause: str
) -> None:
    state, _ = feed(engine, visited(engine), event(device_id, type_, NIGHT))  # type: ignore[arg-type]
    state, _ = engine.tick(state, now=later(NIGHT, s=60))

    assert state.open[cause].state == "firing"


def test_door_rules_return_when_the_visitor_goes(engine: Engine) -> None:
    state = visited(engine)
    state, gone = engine.set_occupancy(state, home=False, by="Alice", now=clock("22:00"))

    state, actions = feed(engine, state, event("door-1", "door.opened", NIGHT))

    assert [a.kind for a in gone] == ["occupancy"]
    assert ("night_exit", "pending") in states(actions)
    assert engine.set_occupancy(state, home=False, by="Alice", now=NIGHT) == (state, [])


def test_a_flapping_leak_sensor_gives_one_fault_notice_not_a_stream() -> None:
    engine = Engine(home(policy=Policies(flapping=FlappingPolicy(max_openings=3, within_min=30))))
    state, sent = EngineState(), []
    for minute in range(0, 50, 5):  # wet for half a minute, then dry, every five minutes
        start = later(NIGHT, m=minute)
        state, opened = feed(engine, state, event("water-1", "water.leak", start))
        state, fired = engine.tick(state, now=later(start, s=20))
        state, cleared = feed(engine, state, event("water-1", "water.clear", later(start, s=30)))
        sent += notes(opened + fired + cleared)

    faults = [n for n in sent if n.incident_id.startswith("device_fault")]
    assert len({n.incident_id for n in faults}) == 1
    assert faults[0].text.startswith(
        "The flood sensor (kitchen) has raised 'water leak' more than 3 times in 30 minutes"
    )
    leaks = {n.incident_id for n in sent if n.incident_id.startswith("water_leak")}
    assert len(leaks) == 3  # the first three, and their "dry again", reached the carer


def test_leak_alerts_return_once_the_sensor_has_been_quiet(engine: Engine) -> None:
    engine = Engine(home(policy=Policies(flapping=FlappingPolicy(max_openings=1, within_min=10))))
    state, _ = feed(engine, EngineState(), event("water-1", "water.leak", NIGHT))
    state, _ = engine.tick(state, now=later(NIGHT, s=20))
    state, actions = feed(
        engine,
        state,
        event("water-1", "water.clear", later(NIGHT, s=30)),
        event("water-1", "water.leak", later(NIGHT, s=40)),
    )
    state, actions = engine.tick(state, now=later(NIGHT, s=60))
    assert ("water_leak", "suppressed") in states(actions)

    state, _ = feed(engine, state, event("water-1", "water.leak", later(NIGHT, m=11)))
    _, actions = engine.tick(state, now=later(NIGHT, m=11, s=20))

    assert ("water_leak", "firing") in states(actions)


def test_a_pendant_pressed_again_and_again_is_never_throttled() -> None:
    engine = Engine(home(policy=Policies(flapping=FlappingPolicy(max_openings=1, within_min=60))))
    state, presses = EngineState(), 0
    for minute in range(10):
        when = later(NIGHT, m=minute)
        state, actions = feed(
            engine,
            state,
            event("pendant-1", "pendant.pressed", when),
            event("pendant-1", "pendant.cancelled", later(when, s=30)),
        )
        presses += len([n for n in notes(actions) if "needs help" in n.text])

    assert presses == 10 * 2  # every press reached both contacts


def test_a_pendant_pressing_by_itself_is_reported_as_suspicious_in_the_digest() -> None:
    alice = Contact.model_validate({"name": "Alice", "digest_at": ["08:00"]})
    policy = Policies(flapping=FlappingPolicy(max_openings=2, within_min=30))
    engine = Engine(home(contacts=(alice,), policy=policy))
    state, helps = EngineState(), 0
    for minute in range(4):
        when = later(NIGHT, m=minute)
        state, actions = feed(
            engine,
            state,
            event("pendant-1", "pendant.pressed", when),
            event("pendant-1", "pendant.cancelled", later(when, s=20)),
        )
        helps += len([n for n in notes(actions) if "needs help" in n.text])

    _, digest = engine.tick(state, now=clock("08:00", days=1))

    assert helps == 4
    (note,) = notes(digest)
    assert "The pendant (bedroom) has raised 'help call' more than 2 times" in note.text
    assert "Every one was sent" in note.text


def test_a_carer_arriving_presses_her_keyfob_and_is_not_taken_for_a_call_for_help() -> None:
    keyfob = DeviceInfo(name="Alice's keyfob", role="keyfob", room="hall")
    engine = Engine(home(devices={**DEVICES, "fob-1": keyfob}))

    state, arrived = feed(engine, EngineState(), event("fob-1", "pendant.pressed", NIGHT))
    state, door = feed(engine, state, event("door-1", "door.opened", later(NIGHT, m=1)))
    state, left = feed(engine, state, event("fob-1", "pendant.pressed", later(NIGHT, m=90)))

    assert [a.kind for a in arrived] == ["occupancy"]
    assert state.occupied_by is None
    assert {s for _, s in states(door)} == {"suppressed"}
    assert [(a.kind, getattr(a, "occupied_by", "")) for a in left] == [("occupancy", None)]
    assert notes(arrived + door + left) == []
