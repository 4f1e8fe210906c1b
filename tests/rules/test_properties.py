"""Properties of the engine over random event sequences: replay, idempotency, emergencies."""

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import example, given, settings
from hypothesis import strategies as st

from rules.engine import Engine, EngineState
from rules.incidents import Action, IncidentChanged, Notify
from rules.policy import (
    Contact,
    DeviceInfo,
    EscalationPlan,
    EscalationStep,
    Home,
    Policies,
    RulesConfig,
    WaterPolicy,
)
from wire.event import DeviceEvent, EventType

T0 = datetime(2025, 3, 30, 0, 30, tzinfo=UTC)  # the night the UK clocks go forward
PROPERTY = settings(max_examples=100, deadline=None)
MAX_STEPS = 20  # more than any escalation plan below has

DEVICES = {
    "pendant-1": DeviceInfo(name="pendant", role="pendant", room="bedroom"),
    "cord-1": DeviceInfo(name="pull cord", role="pull_cord", room="bathroom"),
    "fall-1": DeviceInfo(name="fall detector", role="fall_detector", room="living room"),
    "water-1": DeviceInfo(name="flood sensor", role="water", room="kitchen"),
    "smoke-1": DeviceInfo(name="smoke alarm", role="smoke", room="hallway"),
    "door-1": DeviceInfo(name="front door", role="door", room="hall"),
    "temp-1": DeviceInfo(name="thermometer", role="temperature", room="lounge"),
}
SIGNALS: list[tuple[str, EventType]] = [
    ("pendant-1", "pendant.pressed"),
    ("cord-1", "pendant.pressed"),
    ("pendant-1", "pendant.cancelled"),
    ("fall-1", "fall.detected"),
    ("fall-1", "fall.cleared"),
    ("water-1", "water.leak"),
    ("water-1", "water.clear"),
    ("smoke-1", "smoke.detected"),
    ("smoke-1", "smoke.clear"),
    ("door-1", "door.opened"),
    ("door-1", "door.closed"),
    ("temp-1", "temperature.reading"),
    ("pendant-1", "device.heartbeat"),
    ("pendant-1", "device.battery_low"),
    ("unpaired-7", "pendant.pressed"),
]
CONTACTS = (Contact(name="Alice", phone="+447700900123"), Contact(name="Bob"), Contact(name="Cy"))


def _config(escalation: dict[str, EscalationPlan]) -> RulesConfig:
    return RulesConfig.model_validate(
        {
            "home": Home(person="Mum", timezone="Europe/London"),
            "contacts": CONTACTS,
            "devices": DEVICES,
            "policy": Policies(water=WaterPolicy(debounce_s=45)),
            "escalation": escalation,
        }
    )


CONFIGS = {
    "everyone at once": _config({}),
    "stepped": _config(
        {
            "emergency": EscalationPlan(
                steps=(
                    EscalationStep(contact="Alice", after_s=0),
                    EscalationStep(contact="Bob", after_s=0),
                    EscalationStep(contact="Cy", after_s=60),
                    EscalationStep(contact="Alice", after_s=300),
                )
            ),
            "urgent": EscalationPlan(steps=(EscalationStep(contact="Bob", after_s=30),)),
        }
    ),
}


@dataclass(frozen=True)
class Step:
    """One input `gap_ms` after the previous one: an event, or a timer tick if no `signal`."""

    gap_ms: int
    signal: tuple[str, EventType] | None


@dataclass(frozen=True)
class Outcome:
    now: datetime
    event: DeviceEvent | None
    actions: list[Action]


def steps(min_gap_ms: int) -> st.SearchStrategy[list[Step]]:
    # Gaps up to 200 s cross every confirm window and escalation delay configured above.
    gap = st.integers(min_value=min_gap_ms, max_value=200_000)
    signal = st.one_of(st.none(), st.sampled_from(SIGNALS))
    return st.lists(st.builds(Step, gap_ms=gap, signal=signal), max_size=40)


def timeline(sequence: list[Step]) -> list[tuple[datetime, Step]]:
    now, out = T0, []
    for step in sequence:
        now += timedelta(milliseconds=step.gap_ms)
        out.append((now, step))
    return out


def drive(
    engine: Engine,
    timed: list[tuple[datetime, Step]],
    *,
    on_time: bool,
    end: datetime | None = None,
) -> list[Outcome]:
    """Feed the inputs in, then tick at `end` and at each timer after it until none is left.

    With `on_time`, the hub also ticks at the moment each timer falls due, as the hub's timer
    task does; otherwise only the ticks among the inputs happen.
    """
    state, outcomes = EngineState(), []

    def tick(now: datetime) -> None:
        nonlocal state
        state, actions = engine.tick(state, now=now)
        outcomes.append(Outcome(now, None, actions))

    def catch_up(until: datetime) -> None:
        while (due := engine.next_due(state)) is not None and due <= until:
            tick(due)

    for now, step in timed:
        if on_time:
            catch_up(now)
        if step.signal is None:
            tick(now)
            continue
        device_id, type_ = step.signal
        event = DeviceEvent(device_id=device_id, type=type_, received_at=now)
        state, actions = engine.evaluate(state, event, now=now)
        outcomes.append(Outcome(now, event, actions))
    end = end or (timed[-1][0] if timed else T0) + timedelta(days=1)
    if on_time:
        catch_up(end)
    tick(end)
    for _ in range(MAX_STEPS):
        if (due := engine.next_due(state)) is None:
            break
        tick(due)
    assert engine.next_due(state) is None
    return outcomes


def all_notes(outcomes: list[Outcome]) -> list[Notify]:
    return [a for o in outcomes for a in o.actions if isinstance(a, Notify)]


def dumped(outcomes: list[Outcome]) -> list[tuple[datetime, list[dict[str, object]]]]:
    return [(o.now, [a.model_dump() for a in o.actions]) for o in outcomes]


config_names = st.sampled_from(sorted(CONFIGS))


@PROPERTY
@given(name=config_names, sequence=steps(min_gap_ms=0), on_time=st.booleans())
def test_replaying_the_same_inputs_gives_the_same_outputs(
    name: str, sequence: list[Step], on_time: bool
) -> None:
    timed = timeline(sequence)

    first = drive(Engine(CONFIGS[name]), timed, on_time=on_time)
    second = drive(Engine(CONFIGS[name]), timed, on_time=on_time)

    assert dumped(first) == dumped(second)


@PROPERTY
@given(name=config_names, sequence=steps(min_gap_ms=1))
def test_extra_ticks_change_nothing_when_timers_run_on_time(
    name: str, sequence: list[Step]
) -> None:
    timed = timeline(sequence)
    events_only = [(now, step) for now, step in timed if step.signal is not None]
    end = (timed[-1][0] if timed else T0) + timedelta(days=1)

    ticked = drive(Engine(CONFIGS[name]), timed, on_time=True, end=end)
    plain = drive(Engine(CONFIGS[name]), events_only, on_time=True, end=end)

    def busy(outcomes: list[Outcome]) -> list[tuple[datetime, list[dict[str, object]]]]:
        return [entry for entry in dumped(outcomes) if entry[1]]

    assert busy(ticked) == busy(plain)


def sent(notes: list[Notify]) -> set[tuple[str, str, str]]:
    return {(n.key, n.contact, n.text) for n in notes}


FALL_CLEARED_AFTER_A_MISSED_STEP = [
    Step(1, ("fall-1", "fall.detected")),
    Step(100_000, ("fall-1", "fall.cleared")),  # Cy's step fell due at 80 s
]


@PROPERTY
@example(name="stepped", sequence=FALL_CLEARED_AFTER_A_MISSED_STEP)
@given(name=config_names, sequence=steps(min_gap_ms=1))
def test_late_ticks_send_what_ticks_on_time_send(name: str, sequence: list[Step]) -> None:
    events_only = [(now, step) for now, step in timeline(sequence) if step.signal is not None]

    on_time = all_notes(drive(Engine(CONFIGS[name]), events_only, on_time=True))
    late = all_notes(drive(Engine(CONFIGS[name]), events_only, on_time=False))

    assert sent(late) == sent(on_time)


@PROPERTY
@given(name=config_names, sequence=steps(min_gap_ms=1), on_time=st.booleans())
def test_no_notification_key_is_ever_used_twice(
    name: str, sequence: list[Step], on_time: bool
) -> None:
    outcomes = drive(Engine(CONFIGS[name]), timeline(sequence), on_time=on_time)
    keys = [n.key for n in all_notes(outcomes)]

    assert len(set(keys)) == len(keys)


PRESS_CANCEL_PRESS_IN_ONE_BATCH = [
    Step(0, ("pendant-1", "pendant.pressed")),
    Step(0, ("pendant-1", "pendant.cancelled")),
    Step(0, ("pendant-1", "pendant.pressed")),
]


@PROPERTY
@example(name="everyone at once", sequence=PRESS_CANCEL_PRESS_IN_ONE_BATCH)
@given(name=config_names, sequence=steps(min_gap_ms=0))
def test_no_notification_key_is_used_twice_within_a_batch(name: str, sequence: list[Step]) -> None:
    outcomes = drive(Engine(CONFIGS[name]), timeline(sequence), on_time=True)
    keys = [n.key for n in all_notes(outcomes)]

    assert len(set(keys)) == len(keys)


def _immediate_steps(config: RulesConfig) -> list[EscalationStep]:
    plan = config.plan_for("emergency")
    assert plan is not None
    return [s for s in plan.steps if s.after_s == 0]


def _immediate_contacts(config: RulesConfig) -> set[str]:
    return {s.contact for s in _immediate_steps(config)}


@PROPERTY
@given(name=config_names, sequence=steps(min_gap_ms=1), on_time=st.booleans())
def test_every_press_that_opens_an_alarm_is_notified_at_once(
    name: str, sequence: list[Step], on_time: bool
) -> None:
    config = CONFIGS[name]
    assert config.policy.pendant.delay_s == 0
    for outcome in drive(Engine(config), timeline(sequence), on_time=on_time):
        if outcome.event is None or outcome.event.type != "pendant.pressed":
            continue
        opened = [
            a.incident
            for a in outcome.actions
            if isinstance(a, IncidentChanged)
            and a.previous is None
            and a.incident.cause == "help_call"
        ]
        if not opened:
            continue
        (incident,) = opened
        told = {
            a.contact
            for a in outcome.actions
            if isinstance(a, Notify) and a.incident_id == incident.id and a.at == outcome.now
        }
        assert told == _immediate_contacts(config)


@PROPERTY
@given(
    name=config_names,
    noise=steps(min_gap_ms=1),
    pause_ms=st.integers(min_value=1, max_value=600_000),
    device_id=st.sampled_from(["pendant-1", "cord-1", "unpaired-7"]),
)
def test_a_press_amid_noise_is_notified_or_already_was(
    name: str, noise: list[Step], pause_ms: int, device_id: str
) -> None:
    config = CONFIGS[name]
    engine = Engine(config)
    timed = timeline(noise)
    state = EngineState()
    for now, step in timed:
        if step.signal is None:
            state, _ = engine.tick(state, now=now)
        else:
            event = DeviceEvent(device_id=step.signal[0], type=step.signal[1], received_at=now)
            state, _ = engine.evaluate(state, event, now=now)
    was_open = state.open.get("help_call")
    now = (timed[-1][0] if timed else T0) + timedelta(milliseconds=pause_ms)

    state, actions = engine.evaluate(
        state, DeviceEvent(device_id=device_id, type="pendant.pressed", received_at=now), now=now
    )

    incident = state.open["help_call"]
    assert incident.state == "firing"
    if was_open is None:
        told = {
            n.contact for n in actions if isinstance(n, Notify) and n.incident_id == incident.id
        }
        assert told == _immediate_contacts(config)
        assert incident.opened_at == incident.fired_at == now
    else:
        # A repeat press adds nothing: the alarm it repeats has already told the first contacts.
        assert incident.id == was_open.id
        assert incident.steps_sent >= len(_immediate_steps(config))
        assert not [
            a
            for a in actions
            if isinstance(a, IncidentChanged)
            and a.previous is None
            and a.incident.cause == "help_call"
        ]
