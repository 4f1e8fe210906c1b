"""Evidence that arrives late, after a broker outage: only what happened after an alarm ends it.

Each clearing rule is tested both ways with the same clearing event, delivered after the alarm:
stamped before the alarm began it ends nothing; stamped after it, it ends the alarm as ever.
"""

from datetime import UTC, datetime, timedelta

import pytest

from rules.engine import Engine, EngineState
from rules.incidents import Action
from rules.routines import Medication
from tests.support.rules import DEVICES, MOTION, clock, feed, home, later, notes, states
from wire.event import DeviceEvent, EventType

NIGHT = clock("02:00")  # a door opened now is a night exit too
OUTAGE = timedelta(minutes=10)  # how late the backlog arrives
HEART = Medication(name="heart", label="heart tablets", times=("08:00",), grace_min=60)
Signal = tuple[str, EventType, float | None, int | None]  # device, type, value, battery


def stamped(signal: Signal, ts: datetime, received: datetime) -> DeviceEvent:
    device_id, kind, value, battery = signal
    return DeviceEvent(
        device_id=device_id, type=kind, ts=ts, received_at=received, value=value, battery=battery
    )


def ended(actions: list[Action], cause: str) -> bool:
    return any(c == cause and s in {"cancelled", "resolved"} for c, s in states(actions))


@pytest.fixture
def engine() -> Engine:
    return Engine(home(devices={**DEVICES, **MOTION}, medication=(HEART,)))


def backlog(engine: Engine, opener: Signal, clearer: Signal, offset_s: float) -> list[Action]:
    """`opener` at NIGHT and `clearer` `offset_s` from it, both arriving after the outage."""
    arrival = NIGHT + OUTAGE
    state, actions = feed(engine, EngineState(), stamped(opener, NIGHT, arrival))
    state, more = engine.evaluate(
        state, stamped(clearer, later(NIGHT, s=offset_s), arrival), now=arrival
    )
    _, last = engine.tick(state, now=later(arrival, m=60))
    return [*actions, *more, *last]


def signal(
    device_id: str, kind: EventType, value: float | None = None, battery: int | None = None
) -> Signal:
    return (device_id, kind, value, battery)


FALL, MOTION_SEEN = signal("fall-1", "fall.detected"), signal("motion-1", "motion.detected")
PRESS, CANCEL = signal("pendant-1", "pendant.pressed"), signal("pendant-1", "pendant.cancelled")
OPENED = signal("door-1", "door.opened")
RULES: list[tuple[str, Signal, Signal]] = [
    ("fall", FALL, MOTION_SEEN),
    ("fall", FALL, signal("fall-1", "fall.cleared")),
    ("fall", FALL, CANCEL),
    ("help_call", PRESS, CANCEL),
    ("smoke", signal("smoke-1", "smoke.detected"), signal("smoke-1", "smoke.clear")),
    ("water_leak", signal("water-1", "water.leak"), signal("water-1", "water.clear")),
    ("door_left_open", OPENED, signal("door-1", "door.closed")),
    ("night_exit", OPENED, MOTION_SEEN),
    (
        "cold",
        signal("temp-1", "temperature.reading", 6.0),
        signal("temp-1", "temperature.reading", 19.0),
    ),
    (
        "device_offline",
        signal("pendant-1", "device.offline"),
        signal("pendant-1", "device.heartbeat"),
    ),
    (
        "battery_low",
        signal("door-1", "device.battery_low"),
        signal("door-1", "device.heartbeat", battery=90),
    ),
]
IDS = [f"{cause}-by-{clearer[1]}" for cause, _, clearer in RULES]


@pytest.mark.parametrize(("cause", "opener", "clearer"), RULES, ids=IDS)
def test_evidence_stamped_before_an_alarm_does_not_end_it(
    engine: Engine, cause: str, opener: Signal, clearer: Signal
) -> None:
    assert not ended(backlog(engine, opener, clearer, -60), cause)


@pytest.mark.parametrize(("cause", "opener", "clearer"), RULES, ids=IDS)
def test_the_same_evidence_stamped_after_the_alarm_ends_it(
    engine: Engine, cause: str, opener: Signal, clearer: Signal
) -> None:
    assert ended(backlog(engine, opener, clearer, +1), cause)


def test_motion_from_before_a_fall_leaves_the_carer_told(engine: Engine) -> None:
    fall, motion = (
        ("fall-1", "fall.detected", None, None),
        ("motion-1", "motion.detected", None, None),
    )

    actions = backlog(engine, fall, motion, -60)

    assert {n.text for n in notes(actions)} == {
        "Mum may have fallen (living room, 02:00) and has not got up."
    }


def test_motion_long_after_a_fall_does_not_drop_it_even_when_it_arrives_at_once(
    engine: Engine,
) -> None:
    """She lay for longer than the window before moving: the fall reaches the carer."""
    fall, motion = (
        ("fall-1", "fall.detected", None, None),
        ("motion-1", "motion.detected", None, None),
    )

    actions = backlog(engine, fall, motion, +60)

    assert states(actions)[:2] == [("fall", "pending"), ("fall", "firing")]
    assert not ended(actions, "fall")


def test_a_leak_dry_only_after_its_window_is_told_and_then_followed_up(engine: Engine) -> None:
    actions = backlog(
        engine, signal("water-1", "water.leak"), signal("water-1", "water.clear"), +60
    )

    assert states(actions) == [
        ("water_leak", "pending"),
        ("water_leak", "firing"),
        ("water_leak", "resolved"),
    ]
    assert [n.text for n in notes(actions) if n.contact == "Bob"] == [
        "Water leak in the kitchen since 02:00.",
        "Dry again: the water leak in the kitchen stopped at 02:01.",
    ]


def dose_taken_at(engine: Engine, taken: datetime) -> list[Action]:
    """The 08:00 dose issued, and a dose taken at `taken` arriving at 08:10."""
    state, due = engine.tick(EngineState(since=clock("06:00")), now=clock("08:00"))
    pill = signal("pill-1", "medication.taken")
    state, more = engine.evaluate(state, stamped(pill, taken, clock("08:10")), now=clock("08:10"))
    _, last = engine.tick(state, now=clock("09:30"))
    return [*due, *more, *last]


def test_a_dose_taken_before_it_was_due_does_not_count_for_it(engine: Engine) -> None:
    actions = dose_taken_at(engine, clock("07:50"))

    assert not ended(actions, "medication_heart")
    assert {n.text for n in notes(actions)} == {"Mum has not taken the heart tablets due at 08:00."}


def test_a_dose_taken_once_due_counts_however_late_its_news(engine: Engine) -> None:
    actions = dose_taken_at(engine, clock("08:01"))

    assert ended(actions, "medication_heart")
    assert notes(actions) == []


def wellbeing_then_motion(engine: Engine, moved: datetime) -> list[Action]:
    """Last seen at 11:00, a check at 16:00, then motion stamped `moved` arriving at 16:10."""
    motion = MOTION_SEEN
    state, _ = feed(
        engine, EngineState(since=clock("06:00")), stamped(motion, clock("11:00"), clock("11:00"))
    )
    state, raised = engine.tick(state, now=clock("16:00"))
    _, cleared = engine.evaluate(state, stamped(motion, moved, clock("16:10")), now=clock("16:10"))
    return [*raised, *cleared]


def test_movement_from_before_the_last_seen_does_not_clear_a_wellbeing_check(
    engine: Engine,
) -> None:
    actions = wellbeing_then_motion(engine, clock("10:50"))

    assert states(actions) == [("wellbeing", "pending"), ("wellbeing", "firing")]


def test_movement_since_the_last_seen_clears_a_wellbeing_check_however_late(
    engine: Engine,
) -> None:
    actions = wellbeing_then_motion(engine, clock("13:00"))

    assert ended(actions, "wellbeing")


def test_a_second_fall_is_not_ended_by_what_ended_the_first(engine: Engine) -> None:
    """A fall, her getting up, and a second fall later, all arriving together after the outage."""
    arrival = NIGHT + OUTAGE
    reports = [("fall.detected", 0), ("fall.detected", 200), ("fall.cleared", 100)]
    state, actions = EngineState(), []
    for kind, at_s in reports:
        report = signal("fall-1", kind)
        state, done = engine.evaluate(
            state, stamped(report, later(NIGHT, s=at_s), arrival), now=arrival
        )
        actions += done
    state, last = engine.tick(state, now=later(arrival, m=5))

    assert state.open["fall"].state == "firing"
    assert {n.text for n in notes(actions + last)} >= {
        "Mum may have fallen (living room, 02:03) and has not got up."
    }


def test_a_device_clock_never_set_is_judged_by_arrival(engine: Engine) -> None:
    """A detector that booted without time stamps 1970: its movement still drops a fall."""
    fell = clock("02:00")
    state, _ = feed(engine, EngineState(), stamped(FALL, fell, fell))
    unset = datetime(1970, 1, 1, tzinfo=UTC)
    moved = later(fell, s=5)

    state, actions = engine.evaluate(state, stamped(MOTION_SEEN, unset, moved), now=moved)

    assert ended(actions, "fall")
