"""Resolution: a carer says an incident is over; it closes, its calls stop, the others are told."""

from rules.engine import Engine, EngineState
from rules.policy import EscalationPlan
from tests.support.rules import changes, clock, event, feed, home, later, notes, states

START = clock("09:30")


def _engine(**plan: object) -> Engine:
    steps = [{"contact": "Alice", "after_s": 0}, {"contact": "Bob", "after_s": 0}]
    ladder = EscalationPlan.model_validate({"steps": steps, **plan})
    return Engine(home(escalation={"emergency": ladder}))


def _pressed(engine: Engine) -> EngineState:
    state, _ = feed(engine, EngineState(), event("pendant-1", "pendant.pressed", START))
    return state


def test_resolving_closes_the_incident_and_tells_everyone_else_who_resolved_it() -> None:
    engine = _engine()
    state = _pressed(engine)
    incident_id = state.open["help_call"].id

    state, actions = engine.resolve(
        state, incident_id, by="Alice", via="on the dashboard", now=later(START, m=8)
    )

    assert states(actions) == [("help_call", "resolved")]
    assert (
        changes(actions)[0].reason == "resolved by Alice on the dashboard after contacts were told"
    )
    assert [(n.contact, n.key, n.text) for n in notes(actions)] == [
        ("Bob", f"{incident_id}/resolved/Bob/outbox", "Resolved by Alice at 09:38: pendant alarm")
    ]
    assert state.open == {}
    assert engine.next_due(state) is None


def test_resolving_an_acknowledged_incident_stops_it_firing_again() -> None:
    engine = _engine(ack_timeout_s=600)
    state = _pressed(engine)
    incident_id = state.open["help_call"].id
    state, _ = engine.acknowledge(state, incident_id, "Bob", now=later(START, s=30))

    state, actions = engine.resolve(
        state, incident_id, by="Bob", via="with telecare resolve", now=later(START, m=5)
    )

    assert states(actions) == [("help_call", "resolved")]
    assert [n.contact for n in notes(actions)] == ["Alice"]
    assert engine.tick(state, now=later(START, m=60)) == (state, [])


def test_resolving_within_the_confirm_window_tells_nobody() -> None:
    engine = Engine(home(policy={"pendant": {"delay_s": 10}}))
    state = _pressed(engine)

    state, actions = engine.resolve(
        state, state.open["help_call"].id, by="Alice", via="on the dashboard", now=later(START, s=5)
    )

    assert states(actions) == [("help_call", "resolved")]
    assert notes(actions) == []
    assert engine.tick(state, now=later(START, m=5)) == (state, [])


def test_resolving_an_incident_that_is_not_open_changes_nothing() -> None:
    engine = _engine()
    state = _pressed(engine)
    incident_id = state.open["help_call"].id
    state, _ = engine.resolve(state, incident_id, by="Alice", via="here", now=later(START, s=5))

    assert engine.resolve(state, incident_id, by="Bob", via="here", now=later(START, s=9)) == (
        state,
        [],
    )
    assert engine.resolve(state, "nonsense", by="Bob", via="here", now=later(START, s=9)) == (
        state,
        [],
    )
