"""A small home for engine tests: Mum, her contacts Alice and Bob, one device per role."""

from datetime import UTC, datetime, timedelta

from rules.engine import Engine, EngineState
from rules.incidents import Action, DeviceCommand, IncidentChanged, Notify
from rules.policy import Contact, DeviceInfo, Home, RulesConfig
from wire.event import DeviceEvent, EventType

# A Monday in January: Europe/London is on GMT, so local times read as UTC.
MONDAY = datetime(2025, 1, 6, tzinfo=UTC)
CONTACTS = (Contact(name="Alice", phone="+447700900123"), Contact(name="Bob"))
DEVICES = {
    "pendant-1": DeviceInfo(name="pendant", role="pendant", room="bedroom"),
    "fall-1": DeviceInfo(name="fall detector", role="fall_detector", room="living room"),
    "water-1": DeviceInfo(name="flood sensor", role="water", room="kitchen"),
    "smoke-1": DeviceInfo(name="smoke alarm", role="smoke", room="hallway"),
    "door-1": DeviceInfo(name="front door", role="door", room="hall"),
    "temp-1": DeviceInfo(name="thermometer", role="temperature", room="lounge"),
    "pill-1": DeviceInfo(name="pill dispenser", role="medication", room="kitchen"),
}
MOTION = {"motion-1": DeviceInfo(name="motion sensor", role="motion", room="lounge")}


def home(**overrides: object) -> RulesConfig:
    """The test home's rules, with any field replaced."""
    values: dict[str, object] = {
        "home": Home(person="Mum", timezone="Europe/London"),
        "contacts": CONTACTS,
        "devices": DEVICES,
    }
    values.update(overrides)
    return RulesConfig.model_validate(values)


def clock(hhmm: str, *, days: int = 0) -> datetime:
    """That time on the Monday (or `days` later)."""
    hours, minutes = hhmm.split(":")
    return MONDAY + timedelta(days=days, hours=int(hours), minutes=int(minutes))


def later(when: datetime, *, s: float = 0, m: float = 0) -> datetime:
    """`s` seconds and `m` minutes after `when`."""
    return when + timedelta(seconds=s, minutes=m)


def event(
    device_id: str,
    type_: EventType,
    when: datetime,
    *,
    value: float | None = None,
    battery: int | None = None,
) -> DeviceEvent:
    """An event as the hub would stamp it."""
    return DeviceEvent(
        device_id=device_id, type=type_, received_at=when, value=value, battery=battery
    )


def feed(
    engine: Engine, state: EngineState, *events: DeviceEvent
) -> tuple[EngineState, list[Action]]:
    """Evaluate events in order at their own times; all the actions together."""
    actions: list[Action] = []
    for item in events:
        state, done = engine.evaluate(state, item, now=item.received_at)
        actions.extend(done)
    return state, actions


def notes(actions: list[Action]) -> list[Notify]:
    """The notifications among the actions."""
    return [a for a in actions if isinstance(a, Notify)]


def changes(actions: list[Action]) -> list[IncidentChanged]:
    """The incident changes among the actions."""
    return [a for a in actions if isinstance(a, IncidentChanged)]


def commands(actions: list[Action]) -> list[DeviceCommand]:
    """The device commands among the actions."""
    return [a for a in actions if isinstance(a, DeviceCommand)]


def states(actions: list[Action]) -> list[tuple[str, str]]:
    """(cause, new state) of each incident change, in order."""
    return [(c.incident.cause, c.incident.state) for c in changes(actions)]
