"""Properties over random days with every rule on: replay, unique keys, deadlines, acks."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Engine, EngineState
from rules.incidents import Action, IncidentChanged, Notify
from rules.policy import Contact, DeviceInfo, EscalationPlan, EscalationStep, Home, RulesConfig
from rules.routines import Medication
from wire.event import DeviceEvent, EventType

T0 = datetime(2025, 3, 29, 21, 0, tzinfo=UTC)  # the evening before the UK clocks go forward
PROPERTY = settings(max_examples=75, deadline=None)
DEVICES = {
    "pendant-1": DeviceInfo(name="pendant", role="pendant", room="bedroom"),
    "fall-1": DeviceInfo(name="fall detector", role="fall_detector", room="lounge"),
    "smoke-1": DeviceInfo(name="smoke alarm", role="smoke", room="hallway"),
    "door-1": DeviceInfo(name="front door", role="door", room="hall"),
    "water-1": DeviceInfo(name="flood sensor", role="water", room="kitchen"),
    "temp-1": DeviceInfo(name="thermometer", role="temperature", room="lounge"),
    "motion-1": DeviceInfo(name="motion sensor", role="motion", room="lounge"),
    "pill-1": DeviceInfo(name="pill dispenser", role="medication", room="kitchen"),
}
SIGNALS: list[tuple[str, EventType, float | None]] = [
    ("pendant-1", "pendant.pressed", None),
    ("pendant-1", "pendant.cancelled", None),
    ("fall-1", "fall.detected", None),
    ("fall-1", "fall.suspected", None),
    ("fall-1", "fall.cleared", None),
    ("smoke-1", "smoke.detected", None),
    ("smoke-1", "smoke.clear", None),
    ("door-1", "door.opened", None),
    ("door-1", "door.closed", None),
    ("water-1", "water.leak", None),
    ("water-1", "water.clear", None),
    ("temp-1", "temperature.reading", 6.0),
    ("temp-1", "temperature.reading", 19.0),
    ("motion-1", "motion.detected", None),
    ("pill-1", "medication.taken", None),
    ("pendant-1", "device.offline", None),
    ("pendant-1", "device.online", None),
    ("door-1", "device.battery_low", None),
    ("door-1", "device.tamper", None),
]
ACK = ("ack", "Bob")
HOME = ("home", "Carol")  # a visitor says she is at home
AWAY = ("away", "Carol")
CONFIG = RulesConfig(
    home=Home(person="Mum", timezone="Europe/London"),
    contacts=(
        Contact(name="Alice", work_hours=("Mon-Fri 09:00-17:30",), summary_at="20:00"),  # type: ignore[arg-type]
        Contact(name="Bob", work_hours=("Sat-Sun 08:00-12:00",), digest_at=("12:30",)),  # type: ignore[arg-type]
    ),
    devices=DEVICES,
    medication=(Medication(name="heart", times=("08:00", "20:00"), grace_min=30),),  # type: ignore[arg-type]
    escalation={
        "emergency": EscalationPlan(
            steps=(EscalationStep(contact="Alice"), EscalationStep(contact="Bob", after_s=90)),
            repeat=2,
            repeat_after_s=120,
            ack_timeout_s=600,
        ),
        "urgent": EscalationPlan(steps=(EscalationStep(contact="Bob", after_s=30),), repeat=1),
    },
)
# Events that legitimately end each emergency before it is raised.
DROPPED_BY: dict[str, set[EventType]] = {
    "smoke": {"smoke.clear"},
    "fall": {"fall.cleared", "pendant.cancelled", "motion.detected"},
    "help_call": {"pendant.cancelled"},
}
TRIGGERS: dict[str, tuple[str, EventType, float]] = {
    "smoke": ("smoke-1", "smoke.detected", 0.0),
    "fall": ("fall-1", "fall.detected", 20.0),
    "help_call": ("pendant-1", "pendant.pressed", 0.0),
}


@dataclass(frozen=True)
class Step:
    gap_ms: int
    signal: tuple[str, EventType, float | None] | tuple[str, str] | None


@dataclass(frozen=True)
class Outcome:
    now: datetime
    actions: list[Action]


def steps(*, without: frozenset[str] = frozenset()) -> st.SearchStrategy[list[Step]]:
    gap = st.integers(min_value=0, max_value=3_600_000)
    signals = [s for s in SIGNALS if s[1] not in without]
    signal = st.one_of(st.none(), st.sampled_from([ACK, HOME, AWAY]), st.sampled_from(signals))
    return st.lists(st.builds(Step, gap_ms=gap, signal=signal), max_size=40)


def drive(
    engine: Engine, state: EngineState, start: datetime, sequence: list[Step]
) -> tuple[EngineState, list[Outcome], datetime]:
    """Run the inputs with the hub's timer ticking on time; acks go to the oldest firing alarm."""
    now, outcomes = start, []
    for step in sequence:
        now += timedelta(milliseconds=step.gap_ms)
        while (due := engine.next_due(state)) is not None and due <= now:
            state, actions = engine.tick(state, now=due)
            outcomes.append(Outcome(due, actions))
        if step.signal is None:
            state, actions = engine.tick(state, now=now)
        elif step.signal == ACK:
            firing = sorted((i.opened_at, i.id) for i in state.open.values() if i.state == "firing")
            if not firing:
                continue
            state, actions = engine.acknowledge(state, firing[0][1], "Bob", now=now)
        elif step.signal in {HOME, AWAY}:
            home = step.signal == HOME
            state, actions = engine.set_occupancy(state, home=home, by="Carol", now=now)
        else:
            device_id, kind, value = step.signal  # type: ignore[misc]
            event = DeviceEvent(device_id=device_id, type=kind, received_at=now, value=value)
            state, actions = engine.evaluate(state, event, now=now)
        outcomes.append(Outcome(now, actions))
    return state, outcomes, now


def notes(outcomes: list[Outcome]) -> list[Notify]:
    return [a for o in outcomes for a in o.actions if isinstance(a, Notify)]


@PROPERTY
@given(sequence=steps())
def test_the_same_day_replayed_gives_the_same_decisions(sequence: list[Step]) -> None:
    first = drive(Engine(CONFIG), EngineState(since=T0), T0, sequence)
    second = drive(Engine(CONFIG), EngineState(since=T0), T0, sequence)

    assert first[0] == second[0]
    assert [(o.now, [a.model_dump() for a in o.actions]) for o in first[1]] == [
        (o.now, [a.model_dump() for a in o.actions]) for o in second[1]
    ]


@PROPERTY
@given(sequence=steps())
def test_no_notification_key_is_used_twice_in_a_day(sequence: list[Step]) -> None:
    _, outcomes, _ = drive(Engine(CONFIG), EngineState(since=T0), T0, sequence)
    keys = [n.key for n in notes(outcomes)]

    assert len(keys) == len(set(keys))


@PROPERTY
@given(
    before=steps(),
    cause=st.sampled_from(sorted(TRIGGERS)),
    pause_ms=st.integers(min_value=0, max_value=600_000),
    data=st.data(),
)
def test_every_emergency_is_notified_by_its_deadline_whatever_the_noise(
    before: list[Step], cause: str, pause_ms: int, data: st.DataObject
) -> None:
    engine = Engine(CONFIG)
    state, _, now = drive(engine, EngineState(since=T0), T0, before)
    now += timedelta(milliseconds=pause_ms)
    earlier: list[Outcome] = []
    while (due := engine.next_due(state)) is not None and due <= now:  # the hub's timer
        state, done = engine.tick(state, now=due)
        earlier.append(Outcome(due, done))
    already = state.open.get(cause)
    device_id, kind, window_s = TRIGGERS[cause]
    state, actions = engine.evaluate(
        state, DeviceEvent(device_id=device_id, type=kind, received_at=now), now=now
    )
    after = data.draw(steps(without=frozenset(DROPPED_BY[cause]) | {"ack"}))

    deadline = now + timedelta(seconds=window_s)
    if already is not None and already.due_at is not None:
        deadline = min(deadline, already.due_at)
    _, outcomes, _ = drive(engine, state, now, [*after, Step(int(window_s * 1000) + 1, None)])

    if already is not None and already.state != "pending":
        return  # it was raised (and told) before this trigger
    incident = state.open.get(cause) if already is None else already
    assert incident is not None
    told = [
        n
        for n in [*notes(earlier), *notes([Outcome(now, actions)]), *notes(outcomes)]
        if n.incident_id == incident.id and n.at <= deadline
    ]
    assert told, f"{cause} not notified by {deadline}"


@PROPERTY
@given(before=steps(), after=steps())
def test_an_acknowledgement_stops_further_steps_until_the_timeout(
    before: list[Step], after: list[Step]
) -> None:
    engine = Engine(CONFIG)
    state, _, now = drive(engine, EngineState(since=T0), T0, before)
    state, _ = engine.evaluate(
        state, DeviceEvent(device_id="smoke-1", type="smoke.detected", received_at=now), now=now
    )
    incident = state.open["smoke"]
    state, acked = engine.acknowledge(state, incident.id, "Alice", now=now)
    if not any(isinstance(a, IncidentChanged) for a in acked):
        return  # it was already acknowledged

    _, outcomes, _ = drive(engine, state, now, after)

    resumed = now + timedelta(seconds=600)
    for note in notes(outcomes):
        if note.incident_id == incident.id and "step" in note.key.split("/")[1]:
            assert note.at >= resumed
            assert note.key.split("/")[1].startswith("r")  # a later round: it fired again


@PROPERTY
@given(before=steps(), pause_ms=st.integers(min_value=1, max_value=600_000))
def test_nothing_in_progress_hides_a_pendant_press(before: list[Step], pause_ms: int) -> None:
    engine = Engine(CONFIG)
    state, _, now = drive(engine, EngineState(since=T0), T0, before)
    was = state.open.get("help_call")
    now += timedelta(milliseconds=pause_ms)

    state, actions = engine.evaluate(
        state, DeviceEvent(device_id="pendant-1", type="pendant.pressed", received_at=now), now=now
    )

    incident = state.open["help_call"]
    if was is None:
        told = [n for n in notes([Outcome(now, actions)]) if n.incident_id == incident.id]
        assert [(n.contact, n.at) for n in told] == [("Alice", now)]
    else:
        assert incident.id == was.id
        assert incident.state in {"firing", "acknowledged"}
