"""What a carer changes from the dashboard: a device silenced for a while, digest times."""

from datetime import time, timedelta

import pytest

from rules.engine import Engine, EngineState
from rules.incidents import SettingChanged
from rules.policy import Contact, EscalationPlan, EscalationStep
from rules.settings import CarerSettings, SettingRefusedError
from rules.state import Memory
from rules.texts import Texts
from tests.support.rules import changes, clock, event, feed, home, later, notes

START = clock("10:00")


def _settings(actions: list[object]) -> list[tuple[str, str, str, str]]:
    return [(a.setting, a.subject, a.value, a.by) for a in actions if isinstance(a, SettingChanged)]


def test_a_silenced_leak_sensor_is_recorded_but_nobody_is_told_until_it_expires() -> None:
    engine = Engine(home())
    state, actions = engine.silence(
        EngineState(), "water-1", until=later(START, m=60), by="Alice", now=START
    )
    assert _settings(actions) == [("silence", "water-1", "until Mon 11:00", "Alice")]

    state, quiet = feed(
        engine,
        state,
        event("water-1", "water.leak", later(START, m=5)),
        event("water-1", "water.clear", later(START, m=6)),
        event("water-1", "water.leak", later(START, m=30)),
    )
    assert notes(quiet) == []
    suppressed = [c for c in changes(quiet) if c.incident.state == "suppressed"]
    assert [c.reason for c in suppressed] == [
        "suppressed: silenced by Alice until Mon 11:00",
        "suppressed: silenced by Alice until Mon 11:00",
    ]

    state, loud = feed(engine, state, event("water-1", "water.leak", later(START, m=61)))
    state, loud = engine.tick(state, now=later(START, m=70))
    assert [n.contact for n in notes(loud)] == ["Alice", "Bob"]


@pytest.mark.parametrize("device_id", ["pendant-1", "fall-1", "smoke-1"])
def test_an_emergency_device_is_never_silenced(device_id: str) -> None:
    engine = Engine(home())
    with pytest.raises(SettingRefusedError, match="emergencies are never silenced"):
        engine.silence(EngineState(), device_id, until=later(START, m=60), by="Alice", now=START)


def test_a_role_the_rules_make_an_emergency_is_never_silenced() -> None:
    config = home()
    leak = Engine(config).causes["water_leak"]
    uplifted = leak.model_copy(update={"severity_for": {"water": "emergency"}})
    settings = CarerSettings(config, [uplifted], Texts(config))
    with pytest.raises(SettingRefusedError, match="flood sensor is a water"):
        settings.silence(EngineState(), "water-1", until=later(START, m=60), by="Al", now=START)


def test_a_silenced_door_still_raises_a_night_exit() -> None:
    night = clock("23:00")
    engine = Engine(home())
    state, _ = engine.silence(
        EngineState(), "door-1", until=later(night, m=240), by="Alice", now=night
    )
    state, actions = feed(engine, state, event("door-1", "door.opened", later(night, m=1)))
    state, actions = engine.tick(state, now=later(night, m=30))
    assert {c.incident.cause for c in changes(actions)} == {"night_exit"}
    assert {n.contact for n in notes(actions)} == {"Alice", "Bob"}


@pytest.mark.parametrize(
    ("device_id", "until", "message"),
    [
        ("nobody", timedelta(hours=1), "no device 'nobody'"),
        ("water-1", timedelta(0), "within 36 hours"),
        ("water-1", timedelta(hours=37), "within 36 hours"),
    ],
)
def test_a_silence_that_makes_no_sense_is_refused(
    device_id: str, until: timedelta, message: str
) -> None:
    engine = Engine(home())
    with pytest.raises(SettingRefusedError, match=message):
        engine.silence(EngineState(), device_id, until=START + until, by="Alice", now=START)


def test_lifting_a_silence_early_lets_alarms_through_again() -> None:
    engine = Engine(home())
    state, _ = engine.silence(
        EngineState(), "water-1", until=later(START, m=240), by="Alice", now=START
    )
    state, actions = engine.silence(state, "water-1", until=None, by="Bob", now=later(START, m=1))
    assert _settings(actions) == [("silence", "water-1", "lifted", "Bob")]
    assert state.silenced == {}
    assert state.memory().silenced == {}


def test_a_contacts_own_digest_times_replace_the_configured_ones() -> None:
    alice = Contact.model_validate({"name": "Alice", "digest_at": ["12:30"]})
    plan = EscalationPlan(steps=(EscalationStep(contact="Alice"),))
    engine = Engine(home(contacts=(alice, Contact(name="Bob")), escalation={"info": plan}))
    state, actions = engine.set_digest_times(
        EngineState(), "Alice", (time(18, 0), time(9, 0)), by="Alice", now=START
    )
    assert _settings(actions) == [("digest_at", "Alice", "09:00, 18:00", "Alice")]
    assert state.memory().digest_at == {"Alice": (time(9, 0), time(18, 0))}

    state, actions = feed(engine, state, event("smoke-1", "device.tamper", later(START, m=5)))
    assert notes(actions) == []
    assert engine.next_due(state) == clock("18:00")

    state, actions = engine.set_digest_times(state, "Alice", None, by="Alice", now=START)
    assert _settings(actions) == [("digest_at", "Alice", "as configured", "Alice")]
    assert engine.next_due(state) == clock("12:30")


def test_no_digest_times_at_all_means_information_as_it_comes() -> None:
    alice = Contact.model_validate({"name": "Alice", "digest_at": ["12:30"]})
    plan = EscalationPlan(steps=(EscalationStep(contact="Alice"),))
    engine = Engine(home(contacts=(alice,), escalation={"info": plan}))
    state, _ = engine.set_digest_times(EngineState(), "Alice", (), by="Alice", now=START)
    _, actions = feed(engine, state, event("smoke-1", "device.tamper", later(START, m=5)))
    assert [n.contact for n in notes(actions)] == ["Alice"]


@pytest.mark.parametrize(
    ("contact", "times", "message"),
    [
        ("Carol", (time(12, 0),), "no contact 'Carol'"),
        ("Alice", (time(12, 0), time(12, 0)), "given twice"),
        ("Alice", tuple(time(h, 0) for h in range(7)), "at most 6"),
    ],
)
def test_digest_times_that_cannot_be_used_are_refused(
    contact: str, times: tuple[time, ...], message: str
) -> None:
    engine = Engine(home())
    with pytest.raises(SettingRefusedError, match=message):
        engine.set_digest_times(EngineState(), contact, times, by="Alice", now=START)


def test_silences_and_digest_times_are_remembered_across_a_restart() -> None:
    engine = Engine(home())
    state, _ = engine.silence(
        EngineState(), "water-1", until=later(START, m=240), by="Alice", now=START
    )
    state, _ = engine.set_digest_times(state, "Bob", (time(18, 0),), by="Bob", now=START)
    saved = state.memory().model_dump_json()

    restored = Engine(home()).restore(
        [], opened=state.opened, since=START, memory=Memory.model_validate_json(saved)
    )

    assert restored.silenced == state.silenced
    assert engine.digest_times(restored, "Bob") == (time(18, 0),)
    _, actions = feed(engine, restored, event("water-1", "water.leak", later(START, m=5)))
    assert notes(actions) == []
