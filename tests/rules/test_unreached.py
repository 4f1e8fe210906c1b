"""A contact no path reached: the ladder's next step is taken at once, not at its time."""

from rules.engine import Engine, EngineState
from rules.policy import EscalationPlan
from tests.support.rules import changes, clock, event, feed, home, later, notes

START = clock("09:30")
ALERT = "Mum pressed the pendant (bedroom) at 09:30 and needs help."


def ladder(*steps: tuple[str, float], repeat: int = 0) -> Engine:
    plan = EscalationPlan.model_validate(
        {
            "steps": [{"contact": c, "channel": "sms", "after_s": s} for c, s in steps],
            "repeat": repeat,
        }
    )
    return Engine(home(escalation={"emergency": plan}))


def pressed(engine: Engine) -> tuple[EngineState, str]:
    state, _ = feed(engine, EngineState(), event("pendant-1", "pendant.pressed", START))
    return state, state.open["help_call"].id


def test_a_step_that_failed_on_every_path_brings_the_next_one_forward() -> None:
    engine = ladder(("Alice", 0), ("Bob", 180))
    state, incident = pressed(engine)

    state, actions = engine.unreached(
        state, incident, "Alice", key=f"{incident}/step0/Alice/sms", now=later(START, s=40)
    )

    [told] = notes(actions)
    assert (told.contact, told.key) == ("Bob", f"{incident}/step1/Bob/sms")
    assert told.text == f"Alice could not be reached. {ALERT}"
    [change] = changes(actions)
    assert change.incident.state == "firing"
    assert change.reason == (
        "Alice could not be reached on any path: step 2 (Bob by sms) brought forward"
    )
    assert state.open["help_call"].steps_sent == 2
    # Not again at its own time, nor after a restart from what the store keeps.
    assert engine.next_due(state) is None
    assert notes(engine.tick(state, now=later(START, s=600))[1]) == []
    restored = engine.restore(state.open.values(), opened=state.opened, since=START)
    assert notes(engine.tick(restored, now=later(START, s=600))[1]) == []


def test_an_alarm_accepted_or_resolved_meanwhile_moves_nobody_on() -> None:
    engine = ladder(("Alice", 0), ("Bob", 180))
    firing, incident = pressed(engine)
    acked, _ = engine.acknowledge(firing, incident, "Alice", now=later(START, s=30))
    resolved, _ = engine.resolve(firing, incident, by="Alice", via="by sms", now=later(START, s=30))

    for state in (acked, resolved):
        after, actions = engine.unreached(
            state, incident, "Alice", key=f"{incident}/step0/Alice/sms", now=later(START, s=40)
        )
        assert (after, actions) == (state, [])


def test_a_delivery_still_on_its_way_leaves_the_next_step_at_its_time() -> None:
    engine = ladder(("Alice", 0), ("Bob", 180))
    state, _ = pressed(engine)

    state, early = engine.tick(state, now=later(START, s=179))
    state, on_time = engine.tick(state, now=later(START, s=180))

    assert notes(early) == []
    assert [(n.contact, n.text) for n in notes(on_time)] == [("Bob", ALERT)]


def test_only_the_latest_step_moves_the_ladder_and_never_into_a_repeat() -> None:
    engine = ladder(("Alice", 0), ("Bob", 180), ("Alice", 600), repeat=1)
    state, incident = pressed(engine)
    alice, bob = f"{incident}/step0/Alice/sms", f"{incident}/step1/Bob/sms"
    told, _ = engine.tick(state, now=later(START, s=200))  # Bob told at his time

    stale, nothing = engine.unreached(told, incident, "Alice", key=alice, now=later(START, s=210))
    state, actions = engine.unreached(told, incident, "Bob", key=bob, now=later(START, s=220))
    last = f"{incident}/step2/Alice/sms"
    end, after_last = engine.unreached(state, incident, "Alice", key=last, now=later(START, s=230))

    assert (stale, nothing) == (told, [])  # Bob had been told since
    assert [(n.contact, n.text) for n in notes(actions)] == [
        ("Alice", f"Bob could not be reached. {ALERT}")
    ]
    assert after_last == [] and end is state  # nobody left in the run: the repeat keeps its time
    assert engine.next_due(end) == later(START, s=600 + 300)


def test_the_same_contact_next_is_not_told_about_herself() -> None:
    engine = ladder(("Alice", 0), ("Alice", 300))
    state, incident = pressed(engine)

    _, actions = engine.unreached(
        state, incident, "Alice", key=f"{incident}/step0/Alice/sms", now=later(START, s=20)
    )

    assert [(n.contact, n.text) for n in notes(actions)] == [("Alice", ALERT)]
