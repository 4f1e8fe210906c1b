"""Work hours and digests: information waits; emergencies and urgent alarms never do."""

import pytest
from pydantic import ValidationError

from rules.engine import Engine, EngineState
from rules.policy import Contact, EscalationPlan, EscalationStep
from tests.support.rules import changes, clock, event, feed, home, later, notes

ALICE_AT_WORK = Contact.model_validate(
    {"name": "Alice", "work_hours": ["Mon-Fri 09:00-17:30"], "digest_at": ["12:30", "18:00"]}
)
BOB_AT_WORK = Contact.model_validate({"name": "Bob", "work_hours": ["Mon-Fri 09:00-17:30"]})


@pytest.fixture
def engine() -> Engine:
    return Engine(home(contacts=(ALICE_AT_WORK, BOB_AT_WORK)))


def test_daytime_visitors_wait_for_the_lunchtime_digest(engine: Engine) -> None:
    state, actions = feed(
        engine,
        EngineState(),
        event("door-1", "door.opened", clock("10:00")),
        event("door-1", "door.closed", clock("10:01")),
        event("door-1", "door.opened", clock("11:15")),
        event("door-1", "door.closed", clock("11:16")),
    )
    assert notes(actions) == []
    assert engine.next_due(state) == clock("12:30")

    state, actions = engine.tick(state, now=clock("12:30"))

    (digest,) = notes(actions)
    assert (digest.contact, digest.severity) == ("Alice", "info")
    assert digest.text == (
        "Digest for Alice, 2 item(s):\n"
        "- 10:00 The front door (hall) was opened at 10:00.\n"
        "- 11:15 The front door (hall) was opened at 11:15."
    )
    assert [c.incident.cause for c in changes(actions)] == ["digest"]
    assert engine.next_due(state) is None


def test_information_for_a_contact_at_work_waits_until_work_ends(engine: Engine) -> None:
    plan = EscalationPlan(steps=(EscalationStep(contact="Bob"),))
    engine = Engine(home(contacts=(ALICE_AT_WORK, BOB_AT_WORK), escalation={"info": plan}))
    state, actions = feed(engine, EngineState(), event("smoke-1", "device.tamper", clock("10:00")))
    assert notes(actions) == []
    assert engine.next_due(state) == clock("17:30")

    state, actions = engine.tick(state, now=clock("17:30"))
    _, evening = feed(engine, state, event("smoke-1", "device.tamper", clock("19:00")))

    assert [n.contact for n in notes(actions)] == ["Bob"]
    assert notes(actions)[0].text.startswith("Digest for Bob, 1 item(s):\n- 10:00 The smoke")
    assert [(n.contact, n.text) for n in notes(evening)] == [
        ("Bob", "The smoke alarm (hallway) was opened or moved at 19:00.")
    ]


def test_an_urgent_leak_still_interrupts_the_carer_at_work(engine: Engine) -> None:
    state, _ = feed(engine, EngineState(), event("water-1", "water.leak", clock("10:00")))

    _, actions = engine.tick(state, now=later(clock("10:00"), s=20))

    assert [(n.contact, n.severity) for n in notes(actions)] == [
        ("Alice", "urgent"),
        ("Bob", "urgent"),
    ]


def test_a_press_for_help_reaches_everyone_at_work_at_once(engine: Engine) -> None:
    _, actions = feed(engine, EngineState(), event("pendant-1", "pendant.pressed", clock("10:00")))

    assert [(n.contact, n.at) for n in notes(actions)] == [
        ("Alice", clock("10:00")),
        ("Bob", clock("10:00")),
    ]


@pytest.mark.parametrize(
    ("values", "key"),
    [
        ({"work_hours": ["weekdays 9-5"]}, "work_hours"),
        ({"work_hours": ["Fri-Mon 09:00-17:00"]}, "work_hours"),
        ({"work_hours": ["Mon-Fri 17:00-09:00"]}, "work_hours"),
        ({"digest_at": ["lunchtime"]}, "digest_at"),
        ({"work_hours": ["Mon-Fri 09:00-17:00", "Fri 16:00-18:00"]}, "work_hours"),
        ({"summary_at": "8pm"}, "summary_at"),
    ],
)
def test_a_schedule_that_makes_no_sense_is_refused_naming_the_key(
    values: dict[str, object], key: str
) -> None:
    with pytest.raises(ValidationError) as caught:
        Contact.model_validate({"name": "Alice", **values})

    assert caught.value.errors()[0]["loc"][0] == key
