"""Properties of a broker outage: its backlog, arriving late and in any order, loses no emergency.

The same events are replayed twice: on time (each received as it happened), and with every event
from the outage held back and delivered at its end, shuffled, each still bearing the device's own
stamp. Whatever the order, every emergency the carer was told of on time is told again, and one
still open at the end on time is still open after the backlog.
"""

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from rules.engine import Engine, EngineState
from rules.incidents import Action, Notify
from tests.support.rules import DEVICES, MOTION, home
from wire.event import DeviceEvent, EventType

T0 = datetime(2025, 3, 29, 21, 30, tzinfo=UTC)  # the night begins at 22:00 (GMT)
PROPERTY = settings(max_examples=300, deadline=None)
SETTLE = timedelta(hours=2)  # long enough for every window and step to run out
SIGNALS: list[tuple[str, EventType]] = [
    ("pendant-1", "pendant.pressed"),
    ("pendant-1", "pendant.cancelled"),
    ("fall-1", "fall.detected"),
    ("fall-1", "fall.suspected"),
    ("fall-1", "fall.cleared"),
    ("smoke-1", "smoke.detected"),
    ("smoke-1", "smoke.clear"),
    ("door-1", "door.opened"),
    ("door-1", "door.closed"),
    ("motion-1", "motion.detected"),
    ("motion-1", "device.heartbeat"),
]
CONFIG = home(devices={**DEVICES, **MOTION})


@dataclass(frozen=True)
class Happening:
    """One report, `at_s` seconds after T0 by the device's own clock."""

    at_s: float
    device_id: str
    kind: EventType

    def received(self, at: datetime) -> DeviceEvent:
        ts = T0 + timedelta(seconds=self.at_s)
        return DeviceEvent(device_id=self.device_id, type=self.kind, ts=ts, received_at=at)


def happenings() -> st.SearchStrategy[list[Happening]]:
    """A realistic stretch of the evening: bursts of reports seconds apart, minutes between."""
    gap = st.one_of(
        st.floats(min_value=0.5, max_value=30.0), st.floats(min_value=30, max_value=900)
    )
    one = st.tuples(gap, st.sampled_from(SIGNALS))
    return st.lists(one, min_size=1, max_size=30).map(_laid_out)


def _laid_out(gaps: list[tuple[float, tuple[str, EventType]]]) -> list[Happening]:
    at_s, found = 0.0, []
    for gap_s, (device_id, kind) in gaps:
        at_s += round(gap_s, 3)
        found.append(Happening(at_s, device_id, kind))
    return found


def deliver(
    engine: Engine, state: EngineState, arrivals: list[tuple[datetime, DeviceEvent]], end: datetime
) -> tuple[EngineState, list[Action]]:
    """Deliver each event at its time, the hub's timer ticking on time in between."""
    actions: list[Action] = []
    for at, event in [*arrivals, (end, None)]:
        while (due := engine.next_due(state)) is not None and due <= at:
            state, done = engine.tick(state, now=due)
            actions.extend(done)
        if event is not None:
            state, done = engine.evaluate(state, event, now=at)
            actions.extend(done)
    return state, actions


def emergencies(state: EngineState, actions: list[Action]) -> tuple[Counter[str], set[str]]:
    """The causes of emergencies the carer was told of, and those still open at the end."""
    told = {
        (a.incident_id, a.incident_id.rsplit("-", 1)[0])
        for a in actions
        if isinstance(a, Notify) and a.severity == "emergency"
    }
    still = {i.cause for i in state.open.values() if i.severity == "emergency"}
    return Counter(cause for _, cause in told), {c for c in still if c in dict(told).values()}


@PROPERTY
@given(
    day=happenings(),
    outage=st.tuples(
        st.floats(min_value=0, max_value=3600), st.floats(min_value=60, max_value=3600)
    ),
    data=st.data(),
)
def test_a_backlog_in_any_order_still_raises_every_emergency(
    day: list[Happening], outage: tuple[float, float], data: st.DataObject
) -> None:
    start_s, length_s = outage
    end = T0 + timedelta(seconds=day[-1].at_s) + SETTLE
    on_time = [(T0 + timedelta(seconds=h.at_s), h) for h in day]
    state, actions = deliver(
        Engine(CONFIG), EngineState(), [(at, h.received(at)) for at, h in on_time], end
    )
    told, still = emergencies(state, actions)

    held = [h for h in day if start_s <= h.at_s < start_s + length_s]
    back = T0 + timedelta(seconds=start_s + length_s)
    backlog = data.draw(st.permutations(held))
    arrivals = [(at, h.received(at)) for at, h in on_time if h not in held and at < back]
    flushed = [(back + timedelta(milliseconds=n), h) for n, h in enumerate(backlog)]
    arrivals += [(at, h.received(at)) for at, h in flushed]
    arrivals += [(at, h.received(at)) for at, h in on_time if h not in held and at >= back]
    state, actions = deliver(Engine(CONFIG), EngineState(), arrivals, max(end, back + SETTLE))
    told_late, still_late = emergencies(state, actions)

    assert set(told) <= set(told_late), "an emergency told on time was not told after the outage"
    assert still <= still_late, "an emergency open on time was closed by evidence from before it"
