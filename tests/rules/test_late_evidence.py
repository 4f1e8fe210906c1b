"""Evidence that arrives late, after a broker outage: only what happened after an alarm ends it.

Each rule is tested both ways with the same clearing event: stamped before the alarm it would
end, it does nothing; stamped after it, it ends the alarm as it always did.
"""

from datetime import UTC, datetime, timedelta

from rules.engine import Engine, EngineState
from rules.events import DeviceEvent, EventType
from rules.incidents import Action, IncidentChanged, Notify
from rules.policy import Contact, DeviceInfo, Home, RulesConfig

# A Monday in January, mid-morning: Europe/London is on GMT.
T0 = datetime(2025, 1, 6, 9, 30, tzinfo=UTC)
OUTAGE = timedelta(minutes=10)  # how late the backlog arrives after the fall
DEVICES = {
    "pendant-1": DeviceInfo(name="pendant", role="pendant", room="bedroom"),
    "fall-1": DeviceInfo(name="fall detector", role="fall_detector", room="living room"),
    "motion-1": DeviceInfo(name="motion sensor", role="motion", room="kitchen"),
}
CONFIG = RulesConfig(
    home=Home(person="Mum", timezone="Europe/London"),
    contacts=(Contact(name="Alice"),),
    devices=DEVICES,
)


def stamped(device_id: str, kind: EventType, ts: datetime, received: datetime) -> DeviceEvent:
    return DeviceEvent(device_id=device_id, type=kind, ts=ts, received_at=received)


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def told(actions: list[Action]) -> list[Notify]:
    return [a for a in actions if isinstance(a, Notify)]


def closed(actions: list[Action]) -> list[str]:
    return [
        a.incident.cause
        for a in actions
        if isinstance(a, IncidentChanged) and a.incident.state in {"cancelled", "resolved"}
    ]


def fall_then_motion(motion_offset_s: float) -> list[Action]:
    """A fall at T0 and motion `motion_offset_s` from it, both delivered after the outage."""
    engine = Engine(CONFIG)
    arrival = T0 + OUTAGE
    fall = stamped("fall-1", "fall.detected", T0, arrival)
    motion = stamped("motion-1", "motion.detected", at(motion_offset_s), arrival)
    state, actions = engine.evaluate(EngineState(), fall, now=arrival)
    state, more = engine.evaluate(state, motion, now=arrival)
    _, last = engine.tick(state, now=arrival + timedelta(minutes=5))
    return [*actions, *more, *last]


def test_motion_from_before_a_fall_does_not_cancel_it() -> None:
    actions = fall_then_motion(-60)

    assert closed(actions) == []
    assert [n.contact for n in told(actions)] == ["Alice"]


def test_motion_after_a_fall_within_its_window_still_drops_it() -> None:
    actions = fall_then_motion(+10)

    assert closed(actions) == ["fall"]
    assert told(actions) == []
