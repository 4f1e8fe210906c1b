"""Scenario files validate, say what they mean, and their devices speak what the hub decodes."""

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from drivers.native import decode
from firmware_sim.behaviours import BEHAVIOURS
from firmware_sim.devices import NativeDevice
from firmware_sim.player import schedule
from firmware_sim.scenario import ScenarioError, load_scenario, shipped_names
from firmware_sim.zigbee import MODELS, ZigbeeState, bridge_device
from wire.event import DeviceEvent
from wire.schema import InboundMessage

REQUIRED = {
    "typical-day",
    "working-week",
    "dementia-night-wandering",
    "flood-while-at-work",
    "multi-occupancy",
}


def test_every_required_scenario_is_shipped_and_valid() -> None:
    assert set(shipped_names()) >= REQUIRED
    for name in shipped_names():
        scenario = load_scenario(name)
        assert scenario.name == name
        assert any(s.label in ("emergency", "needs_carer") for s in scenario.timeline)


def test_working_week_has_the_realistic_noise_and_emergencies_it_promises() -> None:
    week = load_scenario("working-week")
    doing = [s.do for s in week.timeline]
    days = {week.moment(s).date() for s in week.timeline}
    emergencies = [s for s in week.timeline if s.label in ("emergency", "needs_carer")]
    assert len(days) == 7
    assert 8 <= doing.count("accidental_press") + doing.count("phantom_press") <= 12
    assert doing.count("fall_false_positive") >= 3
    assert doing.count("splash") >= 3
    assert 6 <= len([s for s in emergencies if s.label == "emergency"]) <= 10
    assert len({s.do for s in emergencies}) >= 4, "emergencies of different kinds"
    assert {"duplicate", "malformed", "out_of_order"} <= {s.misbehave for s in week.timeline}


def _write(tmp_path: Path, timeline: str, devices: str | None = None) -> Path:
    path = tmp_path / "bad.toml"
    path.write_text(
        'name = "bad"\ndescription = "x"\nstart = 2026-11-23T00:00:00\n'
        '[[contacts]]\nname = "Alice"\n'
        + (devices or '[[devices]]\nid = "door"\nname = "door"\nrole = "door"\nroom = "Hall"\n')
        + timeline
    )
    return path


@pytest.mark.parametrize(
    ("timeline", "expected"),
    [
        (
            '[[timeline]]\nat = "07:00"\ndevice = "ghost"\ndo = "door_open"\n',
            "'ghost' is not a device",
        ),
        ('[[timeline]]\nat = "07:00"\ndevice = "door"\ndo = "press"\n', "timeline[0].do"),
        ('[[timeline]]\nat = "7 o\'clock"\ndevice = "door"\ndo = "door_open"\n', "timeline.0.at"),
        ('[[timeline]]\nat = "07:00"\ndevice = "door"\ndo = "dance"\n', "is not a behaviour"),
        (
            '[[timeline]]\nat = "07:00"\ndevice = "door"\ndo = "door_open"\nlabel = "emergency"\n',
            "deadline_s is required",
        ),
    ],
)
def test_a_bad_scenario_names_its_problem(tmp_path: Path, timeline: str, expected: str) -> None:
    with pytest.raises(ScenarioError) as caught:
        load_scenario(_write(tmp_path, timeline))
    assert any(expected in problem for problem in caught.value.problems), caught.value.problems


def test_unknown_scenario_lists_the_shipped_ones() -> None:
    with pytest.raises(ScenarioError, match="typical-day"):
        load_scenario("no-such-day")


def test_schedule_is_in_time_order_and_expands_behaviours() -> None:
    day = load_scenario("typical-day")
    plan = schedule(day)
    assert [e.at for e in plan] == sorted(e.at for e in plan)
    splash = [e.event for e in plan if e.step.do == "splash"]
    assert splash == ["water.leak", "water.clear"]
    assert plan[0].at.tzinfo is not None


def test_out_of_order_steps_deliver_the_later_event_first() -> None:
    week = load_scenario("working-week")
    mixed = [e for e in schedule(week) if e.step.misbehave == "out_of_order"]
    assert [e.event for e in mixed] == ["door.closed", "door.opened"]


@pytest.mark.parametrize("name", sorted(BEHAVIOURS))
async def test_every_behaviour_speaks_native_that_the_hub_decodes(name: str) -> None:
    device = NativeDevice("dev-1", "127.0.0.1", 1)
    for _, event in BEHAVIOURS[name].events:
        topic, payload, retain = device.encode(event, value=21.0, ts=datetime.now(UTC))
        decoded = decode(
            InboundMessage(topic, payload, qos=1, retain=retain), received_at=datetime.now(UTC)
        )
        if event in ("device.online", "device.offline"):
            assert getattr(decoded, "online", None) is (event == "device.online")
        else:
            assert isinstance(decoded, DeviceEvent)
            assert decoded.type == event


@pytest.mark.parametrize("model", sorted(MODELS))
def test_zigbee_models_repeat_the_cache_and_clear_actions(model: str) -> None:
    state = ZigbeeState(model)
    for event in MODELS[model].changes:
        messages = state.messages(event, value=25.0)  # type: ignore[arg-type]
        assert set(MODELS[model].initial) <= set(messages[0]), "every attribute repeated"
        if "action" in messages[0]:
            assert messages[-1]["action"] == ""
    listed = bridge_device("hall/pendant", "0x01", model)
    assert listed["definition"]["model"] == model
    json.dumps(listed)
