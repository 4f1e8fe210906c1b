"""Escalation plans, repeats and acknowledgement: the carer who has it in hand stops the calls."""

import pytest
from pydantic import ValidationError

from rules.engine import Engine, EngineState
from rules.policy import EscalationPlan, EscalationStep, escalation_problems
from tests.support.rules import clock, event, feed, home, later, notes, states

START = clock("09:30")


def plan(*steps: tuple[str, float], **values: object) -> EscalationPlan:
    return EscalationPlan.model_validate(
        {"steps": [{"contact": c, "after_s": s} for c, s in steps], **values}
    )


def pressed(engine: Engine) -> EngineState:
    state, _ = feed(engine, EngineState(), event("pendant-1", "pendant.pressed", START))
    return state


def test_an_unanswered_alarm_repeats_its_ladder_a_capped_number_of_times() -> None:
    ladder = plan(("Alice", 0), ("Bob", 60), repeat=2, repeat_after_s=300)
    engine = Engine(home(escalation={"emergency": ladder}))
    state, first = feed(engine, EngineState(), event("pendant-1", "pendant.pressed", START))
    sent = [(0.0, n.contact, n.text) for n in notes(first)]
    while (due := engine.next_due(state)) is not None:
        state, actions = engine.tick(state, now=due)
        sent += [((due - START).total_seconds(), n.contact, n.text) for n in notes(actions)]

    alert = "Mum pressed the pendant (bedroom) at 09:30 and needs help."
    assert sent == [
        (0.0, "Alice", alert),
        (60.0, "Bob", alert),
        (360.0, "Alice", "Still open: " + alert),
        (420.0, "Bob", "Still open: " + alert),
        (720.0, "Alice", "Still open: " + alert),
        (780.0, "Bob", "Still open: " + alert),
    ]


def test_acknowledging_stops_the_ladder_and_tells_the_others_who_has_it() -> None:
    ladder = plan(("Alice", 0), ("Bob", 0), ("Alice", 120), repeat=3)
    engine = Engine(home(escalation={"emergency": ladder}))
    state = pressed(engine)
    incident_id = state.open["help_call"].id

    state, actions = engine.acknowledge(state, incident_id, "Alice", now=later(START, s=40))

    assert states(actions) == [("help_call", "acknowledged")]
    assert [(n.contact, n.text) for n in notes(actions)] == [
        ("Bob", "Alice is handling it: Mum pressed the pendant (bedroom) at 09:30 and needs help.")
    ]
    incident = state.open["help_call"]
    assert incident.acknowledged_by == "Alice"
    assert engine.next_due(state) == later(START, s=40 + ladder.ack_timeout_s)
    assert engine.tick(state, now=later(START, s=600)) == (state, [])


def test_an_acknowledged_alarm_not_resolved_in_time_fires_again() -> None:
    ladder = plan(("Alice", 0), ("Bob", 0), ack_timeout_s=600)
    engine = Engine(home(escalation={"emergency": ladder}))
    state = pressed(engine)
    incident_id = state.open["help_call"].id
    state, _ = engine.acknowledge(state, incident_id, "Alice", now=later(START, s=30))

    state, actions = engine.tick(state, now=later(START, s=630))

    assert states(actions) == [("help_call", "firing")]
    assert [(n.key, n.text[:11]) for n in notes(actions)] == [
        (f"{incident_id}/r1.step0/Alice/outbox", "Still open:"),
        (f"{incident_id}/r1.step1/Bob/outbox", "Still open:"),
    ]
    assert state.open["help_call"].round == 1
    assert state.open["help_call"].acknowledged_by is None


def test_an_acknowledged_alarm_that_is_cancelled_tells_everyone_all_is_ok() -> None:
    engine = Engine(home())
    state = pressed(engine)
    state, _ = engine.acknowledge(state, state.open["help_call"].id, "Bob", now=later(START, s=5))

    state, actions = feed(engine, state, event("pendant-1", "pendant.cancelled", later(START, m=3)))

    assert states(actions) == [("help_call", "cancelled")]
    assert [n.contact for n in notes(actions)] == ["Alice", "Bob"]
    assert engine.next_due(state) is None


@pytest.mark.parametrize("incident_id", ["help_call-99", "nonsense"])
def test_acknowledging_an_incident_that_is_not_open_changes_nothing(incident_id: str) -> None:
    engine = Engine(home())
    state = pressed(engine)

    assert engine.acknowledge(state, incident_id, "Alice", now=later(START, s=5)) == (state, [])


def test_a_second_acknowledgement_changes_nothing() -> None:
    engine = Engine(home())
    state = pressed(engine)
    incident_id = state.open["help_call"].id
    state, _ = engine.acknowledge(state, incident_id, "Alice", now=later(START, s=5))

    assert engine.acknowledge(state, incident_id, "Bob", now=later(START, s=9)) == (state, [])


def test_a_neighbour_who_acknowledges_is_named_to_every_contact() -> None:
    engine = Engine(home())
    state = pressed(engine)

    _, actions = engine.acknowledge(
        state, state.open["help_call"].id, "Mrs Patel next door", now=later(START, s=5)
    )

    assert [n.contact for n in notes(actions)] == ["Alice", "Bob"]
    assert notes(actions)[0].text.startswith("Mrs Patel next door is handling it: ")


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"repeat": 3, "repeat_after_s": 0}, "repeat_after_s"),
        ({"repeat": 1000}, "repeat"),
        ({"repeat": -1}, "repeat"),
        ({"ack_timeout_s": 0}, "ack_timeout_s"),
    ],
)
def test_a_plan_that_could_spam_the_carer_is_refused(values: dict[str, object], key: str) -> None:
    with pytest.raises(ValidationError) as caught:
        plan(("Alice", 0), **values)

    assert caught.value.errors()[0]["loc"] == (key,)


def test_a_plan_with_no_immediate_emergency_route_is_refused() -> None:
    plans = {
        "emergency": plan(("Alice", 30)),
        "urgent": EscalationPlan(steps=(EscalationStep(contact="Zed"),)),
    }

    assert escalation_problems(plans, ("Alice",)) == [
        "urgent.steps[0].contact: 'Zed' is not a contact",
        "emergency.steps[0].after_s: the first emergency step must be immediate (0):"
        " an emergency is never held back",
    ]
    assert escalation_problems({}, ()) == ["emergency: no contact to tell, so no emergency route"]
    assert escalation_problems({"emergency": plan(("Alice", 0))}, ("Alice",)) == []
