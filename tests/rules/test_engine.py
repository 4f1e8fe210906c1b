"""The rules engine, scenario by scenario: what the carer is told, when, and what follows up."""

from datetime import UTC, datetime, timedelta

import pytest

from rules.engine import Engine, EngineState
from rules.incidents import Action, IncidentChanged, Notify
from rules.policy import (
    Contact,
    DeviceInfo,
    EscalationPlan,
    EscalationStep,
    Home,
    PendantPolicy,
    Policies,
    RulesConfig,
)
from wire.event import DeviceEvent, EventType

# A Monday in January: Europe/London is on GMT, so alert texts show the UTC clock time.
T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
CONTACTS = (Contact(name="Alice", phone="+447700900123"), Contact(name="Bob"))
DEVICES = {
    "pendant-1": DeviceInfo(name="pendant", role="pendant", room="bedroom"),
    "fall-1": DeviceInfo(name="fall detector", role="fall_detector", room="living room"),
    "water-1": DeviceInfo(name="flood sensor", role="water", room="kitchen"),
    "smoke-1": DeviceInfo(name="smoke alarm", role="smoke", room="hallway"),
    "door-1": DeviceInfo(name="front door", role="door", room="hall"),
}


def config(**overrides: object) -> RulesConfig:
    values: dict[str, object] = {
        "home": Home(person="Mum", timezone="Europe/London"),
        "contacts": CONTACTS,
        "devices": DEVICES,
    }
    values.update(overrides)
    return RulesConfig.model_validate(values)


def event(device_id: str, type_: EventType, when: datetime) -> DeviceEvent:
    return DeviceEvent(device_id=device_id, type=type_, received_at=when)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def notes(actions: list[Action]) -> list[Notify]:
    return [a for a in actions if isinstance(a, Notify)]


def changes(actions: list[Action]) -> list[IncidentChanged]:
    return [a for a in actions if isinstance(a, IncidentChanged)]


@pytest.fixture
def engine() -> Engine:
    return Engine(config())


def press(engine: Engine, state: EngineState, when: datetime) -> tuple[EngineState, list[Action]]:
    return engine.evaluate(state, event("pendant-1", "pendant.pressed", when), now=when)


# --- pendant -------------------------------------------------------------------------------


def test_pendant_press_fires_at_once_and_tells_every_contact(engine: Engine) -> None:
    state, actions = press(engine, EngineState(), T0)

    assert [(c.previous, c.incident.state) for c in changes(actions)] == [
        (None, "pending"),
        ("pending", "firing"),
    ]
    told = notes(actions)
    assert [n.contact for n in told] == ["Alice", "Bob"]
    for note in told:
        assert note.text == "Mum pressed the pendant (bedroom) at 09:30 and needs help."
        assert note.severity == "emergency"
        assert note.channel == "outbox"
        assert note.at == T0
    incident = state.open["help_call"]
    assert incident.state == "firing"
    assert incident.fired_at == T0
    assert incident.steps_sent == 2
    assert all(n.incident_id == incident.id for n in told)
    assert engine.next_due(state) is None


def test_repeated_press_while_open_opens_nothing_and_sends_nothing(engine: Engine) -> None:
    state, _ = press(engine, EngineState(), T0)

    again, actions = press(engine, state, at(10))

    assert actions == []
    # Only remembered, in case a cancel from between the two presses arrives late.
    remembered = state.open["help_call"].model_copy(update={"latest_sign_at": at(10)})
    assert again == state.model_copy(update={"open": {"help_call": remembered}})


def test_cancel_after_notification_sends_all_ok_to_those_told(engine: Engine) -> None:
    state, first = press(engine, EngineState(), T0)
    incident_id = state.open["help_call"].id

    state, actions = engine.evaluate(
        state, event("pendant-1", "pendant.cancelled", at(75)), now=at(75)
    )

    (change,) = changes(actions)
    assert change.incident.state == "cancelled"
    assert change.previous == "firing"
    assert change.incident.closed_at == at(75)
    assert "after contacts were told" in change.reason
    follow_ups = notes(actions)
    assert {n.contact for n in follow_ups} == {n.contact for n in notes(first)}
    for note in follow_ups:
        assert note.text == "All OK: Mum cancelled the pendant alarm at 09:31."
        assert note.incident_id == incident_id
    assert state.open == {}


def test_cancel_with_nothing_open_does_nothing(engine: Engine) -> None:
    state, actions = engine.evaluate(
        EngineState(), event("pendant-1", "pendant.cancelled", T0), now=T0
    )

    assert actions == []
    assert state.open == {}


def test_pendant_delay_lets_a_quick_cancel_stop_the_alarm_unsent() -> None:
    engine = Engine(config(policy=Policies(pendant=PendantPolicy(delay_s=5))))
    state, actions = press(engine, EngineState(), T0)
    assert notes(actions) == []
    assert engine.next_due(state) == at(5)

    state, actions = engine.evaluate(
        state, event("pendant-1", "pendant.cancelled", at(4)), now=at(4)
    )

    assert notes(actions) == []
    assert [c.incident.state for c in changes(actions)] == ["cancelled"]
    assert engine.tick(state, now=at(60)) == (EngineState(opened=1), [])


def test_pendant_delay_fires_when_the_delay_ends() -> None:
    engine = Engine(config(policy=Policies(pendant=PendantPolicy(delay_s=5))))
    state, _ = press(engine, EngineState(), T0)

    assert engine.tick(state, now=at(4.999)) == (state, [])
    state, actions = engine.tick(state, now=at(5))

    assert [n.contact for n in notes(actions)] == ["Alice", "Bob"]
    assert all(n.at == at(5) for n in notes(actions))


# --- fall ----------------------------------------------------------------------------------


def test_fall_cleared_within_confirm_window_is_cancelled_without_telling_anyone(
    engine: Engine,
) -> None:
    state, opened = engine.evaluate(EngineState(), event("fall-1", "fall.detected", T0), now=T0)
    assert notes(opened) == []
    assert state.open["fall"].state == "pending"

    state, actions = engine.evaluate(state, event("fall-1", "fall.cleared", at(8)), now=at(8))

    assert notes(actions) == []
    (change,) = changes(actions)
    assert change.incident.state == "cancelled"
    assert "within the confirm window" in change.reason
    assert state.open == {}
    assert engine.next_due(state) is None
    assert engine.tick(state, now=at(600)) == (state, [])


def test_cancel_press_drops_a_pending_fall(engine: Engine) -> None:
    state, _ = engine.evaluate(EngineState(), event("fall-1", "fall.detected", T0), now=T0)

    state, actions = engine.evaluate(
        state, event("pendant-1", "pendant.cancelled", at(3)), now=at(3)
    )

    assert notes(actions) == []
    assert [c.incident.cause for c in changes(actions)] == ["fall"]
    assert state.open == {}


def test_fall_not_cleared_fires_exactly_when_the_confirm_window_ends(engine: Engine) -> None:
    state, _ = engine.evaluate(EngineState(), event("fall-1", "fall.detected", T0), now=T0)
    assert engine.next_due(state) == at(20)

    assert engine.tick(state, now=at(19.999999)) == (state, [])
    state, actions = engine.tick(state, now=at(20))

    (change,) = changes(actions)
    assert (change.previous, change.incident.state) == ("pending", "firing")
    assert change.reason == "confirm window ended"
    told = notes(actions)
    assert [n.contact for n in told] == ["Alice", "Bob"]
    assert all(n.at == at(20) for n in told)
    assert told[0].text == "Mum may have fallen (living room, 09:30) and has not got up."
    assert state.open["fall"].fired_at == at(20)
    assert engine.next_due(state) is None


def test_a_late_event_carries_out_timers_that_fell_due_before_it(engine: Engine) -> None:
    state, _ = engine.evaluate(EngineState(), event("fall-1", "fall.detected", T0), now=T0)

    # No tick in between: the hub was busy. The door event must still let the fall fire first.
    state, actions = engine.evaluate(state, event("door-1", "door.opened", at(45)), now=at(45))

    assert [n.contact for n in notes(actions)] == ["Alice", "Bob"]
    assert state.open["fall"].state == "firing"


def test_fall_cleared_after_firing_resolves_with_all_clear(engine: Engine) -> None:
    state, _ = engine.evaluate(EngineState(), event("fall-1", "fall.detected", T0), now=T0)
    state, _ = engine.tick(state, now=at(20))

    state, actions = engine.evaluate(state, event("fall-1", "fall.cleared", at(90)), now=at(90))

    assert [c.incident.state for c in changes(actions)] == ["resolved"]
    assert [n.text for n in notes(actions)] == [
        "All clear: the fall alarm (living room) stopped at 09:31."
    ] * 2


# --- water ---------------------------------------------------------------------------------


def test_water_splash_within_debounce_is_never_reported(engine: Engine) -> None:
    state, opened = engine.evaluate(EngineState(), event("water-1", "water.leak", T0), now=T0)
    assert notes(opened) == []
    assert engine.next_due(state) == at(20)

    state, actions = engine.evaluate(state, event("water-1", "water.clear", at(12)), now=at(12))

    assert notes(actions) == []
    assert [c.incident.state for c in changes(actions)] == ["cancelled"]
    assert engine.tick(state, now=at(500)) == (state, [])


def test_water_leak_that_persists_is_reported_after_the_debounce(engine: Engine) -> None:
    state, _ = engine.evaluate(EngineState(), event("water-1", "water.leak", T0), now=T0)
    # A second wet reading does not restart the debounce.
    state, repeat = engine.evaluate(state, event("water-1", "water.leak", at(10)), now=at(10))
    assert repeat == []

    assert engine.tick(state, now=at(19.5)) == (state, [])
    state, actions = engine.tick(state, now=at(20))

    told = notes(actions)
    assert [n.contact for n in told] == ["Alice", "Bob"]
    assert {n.severity for n in told} == {"urgent"}
    assert told[0].text == "Water leak in the kitchen since 09:30."


# --- smoke ---------------------------------------------------------------------------------


def test_smoke_cleared_after_firing_is_resolved_with_all_clear(engine: Engine) -> None:
    state, fired = engine.evaluate(EngineState(), event("smoke-1", "smoke.detected", T0), now=T0)
    assert [n.text for n in notes(fired)] == [
        "FIRE ALARM: smoke detected in the hallway at 09:30. Call 999 if Mum does not answer."
    ] * 2

    state, actions = engine.evaluate(state, event("smoke-1", "smoke.clear", at(300)), now=at(300))

    (change,) = changes(actions)
    assert (change.previous, change.incident.state) == ("firing", "resolved")
    assert change.incident.closed_at == at(300)
    follow_ups = notes(actions)
    assert [n.contact for n in follow_ups] == ["Alice", "Bob"]
    assert {n.text for n in follow_ups} == {
        "All clear: the smoke alarm (hallway) stopped at 09:35."
    }
    assert state.open == {}


def test_smoke_is_not_held_back_by_a_pending_fall(engine: Engine) -> None:
    state, _ = engine.evaluate(EngineState(), event("fall-1", "fall.detected", T0), now=T0)

    state, actions = engine.evaluate(state, event("smoke-1", "smoke.detected", at(1)), now=at(1))

    assert {n.incident_id for n in notes(actions)} == {state.open["smoke"].id}
    assert len(notes(actions)) == 2
    assert state.open["fall"].state == "pending"


def test_one_cancel_press_closes_every_cause_it_cancels(engine: Engine) -> None:
    state, _ = press(engine, EngineState(), T0)
    state, _ = engine.evaluate(state, event("fall-1", "fall.detected", at(1)), now=at(1))
    state, _ = engine.tick(state, now=at(21))

    state, actions = engine.evaluate(
        state, event("pendant-1", "pendant.cancelled", at(30)), now=at(30)
    )

    assert {c.incident.cause: c.incident.state for c in changes(actions)} == {
        "help_call": "cancelled",
        "fall": "cancelled",
    }
    assert sorted(n.text for n in notes(actions)) == [
        "All OK: Mum cancelled the fall alarm at 09:30.",
        "All OK: Mum cancelled the fall alarm at 09:30.",
        "All OK: Mum cancelled the pendant alarm at 09:30.",
        "All OK: Mum cancelled the pendant alarm at 09:30.",
    ]
    assert state.open == {}


# --- escalation ----------------------------------------------------------------------------


@pytest.fixture
def stepped() -> Engine:
    plan = EscalationPlan(
        steps=(
            EscalationStep(contact="Alice", after_s=0),
            EscalationStep(contact="Bob", after_s=60),
        )
    )
    return Engine(config(escalation={"emergency": plan}))


def test_escalation_second_step_only_after_its_delay(stepped: Engine) -> None:
    state, actions = press(stepped, EngineState(), T0)
    incident_id = state.open["help_call"].id
    assert [n.contact for n in notes(actions)] == ["Alice"]
    assert stepped.next_due(state) == at(60)

    assert stepped.tick(state, now=at(59.9)) == (state, [])
    state, actions = stepped.tick(state, now=at(60))

    (note,) = notes(actions)
    assert note.contact == "Bob"
    assert note.key == f"{incident_id}/step1/Bob/outbox"
    assert note.at == at(60)
    assert state.open["help_call"].steps_sent == 2
    assert stepped.next_due(state) is None
    assert stepped.tick(state, now=at(3600)) == (state, [])


def test_escalation_overdue_steps_are_sent_by_the_next_event(stepped: Engine) -> None:
    state, _ = press(stepped, EngineState(), T0)

    _, actions = stepped.evaluate(state, event("door-1", "door.opened", at(90)), now=at(90))

    assert [n.contact for n in notes(actions)] == ["Bob"]


def test_cancel_between_steps_tells_only_those_already_told(stepped: Engine) -> None:
    state, _ = press(stepped, EngineState(), T0)

    state, actions = stepped.evaluate(
        state, event("pendant-1", "pendant.cancelled", at(30)), now=at(30)
    )

    assert [n.contact for n in notes(actions)] == ["Alice"]
    assert stepped.next_due(state) is None
    assert stepped.tick(state, now=at(60)) == (state, [])


def test_a_contact_in_two_steps_gets_one_follow_up() -> None:
    plan = EscalationPlan(
        steps=(
            EscalationStep(contact="Alice", after_s=0),
            EscalationStep(contact="Alice", after_s=30),
        )
    )
    engine = Engine(config(escalation={"emergency": plan}))
    state, _ = press(engine, EngineState(), T0)
    state, reminder = engine.tick(state, now=at(30))
    assert [n.contact for n in notes(reminder)] == ["Alice"]

    _, actions = engine.evaluate(state, event("pendant-1", "pendant.cancelled", at(40)), now=at(40))

    assert [n.contact for n in notes(actions)] == ["Alice"]


def test_a_plan_for_one_severity_leaves_the_others_on_the_default() -> None:
    plan = EscalationPlan(steps=(EscalationStep(contact="Bob"),))
    engine = Engine(config(escalation={"emergency": plan}))

    state, actions = engine.evaluate(EngineState(), event("water-1", "water.leak", T0), now=T0)
    _, actions = engine.tick(state, now=at(120))

    assert [n.contact for n in notes(actions)] == ["Alice", "Bob"]


# --- plans, severities, texts --------------------------------------------------------------


def test_info_is_never_pushed_by_default() -> None:
    assert config().plan_for("info") is None
    assert config(contacts=()).plan_for("emergency") is None
    default = config().plan_for("urgent")
    assert default is not None
    assert [(s.contact, s.after_s) for s in default.steps] == [("Alice", 0.0), ("Bob", 0.0)]


def test_an_explicit_info_plan_is_used() -> None:
    plan = EscalationPlan(steps=(EscalationStep(contact="Bob"),))

    assert config(escalation={"info": plan}).plan_for("info") == plan


def test_with_no_plan_an_alarm_fires_but_nobody_is_notified() -> None:
    engine = Engine(config(contacts=()))
    state, actions = press(engine, EngineState(), T0)

    assert notes(actions) == []
    assert state.open["help_call"].state == "firing"
    assert engine.next_due(state) is None

    state, actions = engine.evaluate(
        state, event("pendant-1", "pendant.cancelled", at(10)), now=at(10)
    )
    assert notes(actions) == []
    assert [c.incident.state for c in changes(actions)] == ["cancelled"]
    assert state.open == {}


@pytest.mark.parametrize(
    "type_",
    ["door.closed", "temperature.reading", "device.heartbeat", "motion.detected", "smoke.clear"],
)
def test_events_with_no_rule_change_nothing(engine: Engine, type_: EventType) -> None:
    state, actions = engine.evaluate(EngineState(), event("door-1", type_, T0), now=T0)

    assert actions == []
    assert state == EngineState()


def test_an_unknown_device_is_named_by_its_id() -> None:
    engine = Engine(config())

    _, actions = engine.evaluate(EngineState(), event("pendant-9", "pendant.pressed", T0), now=T0)

    assert (
        notes(actions)[0].text
        == "Mum pressed the pendant-9 (room unknown) at 09:30 and needs help."
    )


def test_times_in_texts_are_in_the_home_time_zone() -> None:
    summer = datetime(2025, 7, 1, 9, 30, tzinfo=UTC)  # British Summer Time: UTC+1

    _, actions = press(Engine(config()), EngineState(), summer)
    _, abroad = press(
        Engine(config(home=Home(person="Mum", timezone="America/New_York"))), EngineState(), summer
    )

    assert notes(actions)[0].text.endswith("at 10:30 and needs help.")
    assert notes(abroad)[0].text.endswith("at 05:30 and needs help.")


# --- whole runs ----------------------------------------------------------------------------

SCRIPT: list[tuple[float, str, EventType | None]] = [
    (0, "pendant-1", "pendant.pressed"),
    (5, "pendant-1", "pendant.pressed"),
    (40, "pendant-1", "pendant.cancelled"),
    (60, "fall-1", "fall.detected"),
    (70, "fall-1", "fall.cleared"),
    (100, "fall-1", "fall.detected"),
    (130, "", None),  # a tick: the fall fires
    (200, "water-1", "water.leak"),
    (260, "smoke-1", "smoke.detected"),
    (330, "", None),  # a tick: the leak fires
    (400, "smoke-1", "smoke.clear"),
    (410, "pendant-1", "pendant.pressed"),
    (420, "pendant-1", "pendant.cancelled"),
    (500, "water-1", "water.clear"),
    (600, "pendant-1", "pendant.pressed"),
]


def replay(engine: Engine) -> tuple[EngineState, list[Action]]:
    state, actions = EngineState(), []
    for offset, device_id, type_ in SCRIPT:
        if type_ is None:
            state, done = engine.tick(state, now=at(offset))
        else:
            state, done = engine.evaluate(
                state, event(device_id, type_, at(offset)), now=at(offset)
            )
        actions.extend(done)
    return state, actions


def test_idempotency_keys_are_unique_across_a_run(stepped: Engine) -> None:
    for engine in (Engine(config()), stepped):
        _, actions = replay(engine)
        keys = [n.key for n in notes(actions)]

        assert len(keys) > 10
        assert len(set(keys)) == len(keys)


def test_the_same_inputs_give_the_same_outputs() -> None:
    first = replay(Engine(config()))
    second = replay(Engine(config()))

    assert first == second
    assert [a.model_dump() for a in first[1]] == [a.model_dump() for a in second[1]]


def test_an_alarm_reopened_in_the_same_batch_gets_fresh_keys(engine: Engine) -> None:
    # The hub stamps every message of one batch with the same `now` (hub/pipeline/pipeline.py).
    state, first = press(engine, EngineState(), T0)
    state, cancel = engine.evaluate(state, event("pendant-1", "pendant.cancelled", T0), now=T0)
    state, second = press(engine, state, T0)

    assert len(notes(second)) == 2
    keys = [n.key for n in notes(first + cancel + second)]
    assert len(set(keys)) == len(keys)


def test_a_late_tick_catches_up_on_steps_that_fell_due(stepped: Engine) -> None:
    # The hub was stalled (or restarted after a power cut) from 10 s to 100 s: the fall's window
    # ended at 20 s and Bob's step (60 s after firing) fell due at 80 s.
    state, _ = stepped.evaluate(EngineState(), event("fall-1", "fall.detected", T0), now=T0)

    state, actions = stepped.tick(state, now=at(100))

    assert [n.contact for n in notes(actions)] == ["Alice", "Bob"]
    assert state.open["fall"].fired_at == at(20)
