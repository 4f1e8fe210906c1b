"""Today's doses as the status page shows them: taken at, late, missed, due at."""

from rules.engine import Engine, EngineState
from rules.incidents import Action, Incident, IncidentChanged
from rules.routines import Medication
from tests.support.rules import clock, event, feed, home

HEART = Medication(name="heart", label="heart tablets", times=("08:00", "20:00"), grace_min=60)
WATER = Medication(name="water", label="water tablet", times=("13:00",), grace_min=30)
STARTED = clock("06:00")


def _incidents(actions: list[Action]) -> list[Incident]:
    latest = {a.incident.id: a.incident for a in actions if isinstance(a, IncidentChanged)}
    return list(latest.values())


def _shown(engine: Engine, actions: list[Action], now_hhmm: str) -> list[tuple[str, str, str]]:
    doses = engine.doses_today(_incidents(actions), now=clock(now_hhmm))
    return [
        (d.label, d.state, f"{d.taken_at:%H:%M}" if d.taken_at else f"{d.due:%H:%M}") for d in doses
    ]


def test_a_day_of_doses_taken_on_time_late_missed_and_to_come() -> None:
    engine = Engine(home(medication=(HEART, WATER)))
    state, actions = engine.tick(EngineState(since=STARTED), now=clock("08:00"))
    assert _shown(engine, [], "07:00") == [
        ("heart tablets", "due", "08:00"),
        ("water tablet", "due", "13:00"),
        ("heart tablets", "due", "20:00"),
    ]
    assert _shown(engine, actions, "08:30")[0] == ("heart tablets", "late", "08:00")

    state, more = feed(engine, state, event("pill-1", "medication.taken", clock("08:20")))
    actions += more
    state, more = engine.tick(state, now=clock("13:31"))
    actions += more

    assert _shown(engine, actions, "13:31") == [
        ("heart tablets", "taken", "08:20"),
        ("water tablet", "missed", "13:00"),
        ("heart tablets", "due", "20:00"),
    ]


def test_a_dose_taken_after_the_carer_was_told_shows_when() -> None:
    engine = Engine(home(medication=(HEART,)))
    state, actions = engine.tick(EngineState(since=STARTED), now=clock("08:00"))
    state, more = engine.tick(state, now=clock("09:00"))
    actions += more
    assert _shown(engine, actions, "09:05")[0] == ("heart tablets", "missed", "08:00")

    _, more = feed(engine, state, event("pill-1", "medication.taken", clock("09:10")))

    assert _shown(engine, actions + more, "09:15")[0] == ("heart tablets", "taken", "09:10")


def test_doses_issued_late_by_a_hub_catching_up_are_read_in_their_own_slots() -> None:
    engine = Engine(home(medication=(HEART,)))
    _, actions = engine.tick(EngineState(since=STARTED), now=clock("20:30"))

    assert _shown(engine, actions, "20:30") == [
        ("heart tablets", "missed", "08:00"),
        ("heart tablets", "late", "20:00"),
    ]


def test_no_medication_means_no_doses() -> None:
    assert Engine(home()).doses_today([], now=clock("12:00")) == []
