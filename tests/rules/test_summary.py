"""The daily "all is well" summary, for the carer who asks for it."""

from rules.engine import Engine, EngineState
from rules.policy import Contact
from rules.routines import Medication
from tests.support.rules import DEVICES, MOTION, clock, event, feed, home, notes

ALICE = Contact.model_validate({"name": "Alice", "summary_at": "20:00"})
BOB = Contact(name="Bob")
HEART = Medication.model_validate({"name": "heart", "label": "heart tablets", "times": ["08:00"]})


def engine() -> Engine:
    return Engine(home(contacts=(ALICE, BOB), devices={**DEVICES, **MOTION}, medication=(HEART,)))


def day(engine: Engine, *events: tuple[str, str, str]) -> EngineState:
    state, _ = engine.tick(EngineState(since=clock("06:00")), now=clock("08:00"))
    for device_id, kind, hhmm in events:
        while (due := engine.next_due(state)) is not None and due <= clock(hhmm):
            state, _ = engine.tick(state, now=due)
        state, _ = feed(engine, state, event(device_id, kind, clock(hhmm)))  # type: ignore[arg-type]
    return state


def test_an_ordinary_day_ends_with_all_is_well_for_the_carer_who_asked() -> None:
    rules = engine()
    state = day(
        rules, ("pill-1", "medication.taken", "08:10"), ("motion-1", "motion.detected", "19:00")
    )
    assert rules.next_due(state) == clock("20:00")

    state, actions = rules.tick(state, now=clock("20:00"))

    (summary,) = notes(actions)
    assert summary.contact == "Alice"
    assert summary.text == (
        "Daily summary (20:00): all is well.\n"
        "- Mum last moved at 19:00.\n"
        "- Doses: 1 of 1 taken in the last day.\n"
        "- Devices: all reporting."
    )
    assert rules.next_due(state) == clock("08:00", days=1)


def test_a_day_with_a_missed_dose_and_a_silent_pendant_needs_a_look() -> None:
    rules = engine()
    state = day(
        rules,
        ("motion-1", "motion.detected", "09:30"),
        ("pendant-1", "device.offline", "12:00"),
        ("motion-1", "motion.detected", "16:00"),
    )

    state, actions = rules.tick(state, now=clock("20:00"))

    summary = [n for n in notes(actions) if n.incident_id.startswith("summary")]
    assert [n.contact for n in summary] == ["Alice"]
    lines = summary[0].text.splitlines()
    assert lines[0] == "Daily summary (20:00): needs a look."
    assert "- Doses: 0 of 1 taken in the last day." in lines
    assert "- Devices needing attention: pendant (offline)." in lines
    assert "- Still open: Mum has not taken the heart tablets due at 08:00." in lines
