"""A short scenario played end to end through the real broker and hub gives the labelled outcome."""

from datetime import timedelta
from pathlib import Path

from firmware_sim.player import play_live, play_virtual
from firmware_sim.scenario import load_scenario
from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import eventually, in_process_config, running_hub

SCENARIO = """
name = "short-afternoon"
description = "a splash the carer must not hear about, then a press she must"
start = 2026-11-23T00:00:00
[home]
person = "Mum"
[[contacts]]
name = "Alice"
[[devices]]
id = "pendant-1"
name = "pendant"
role = "pendant"
room = "Bedroom"
[[devices]]
id = "leak-1"
name = "leak sensor"
role = "water"
room = "Kitchen"
[[timeline]]
at = "14:00"
device = "leak-1"
do = "splash"
misbehave = "duplicate"
note = "a splash"
[[timeline]]
at = "14:10"
device = "pendant-1"
do = "press"
label = "emergency"
deadline_s = 30
note = "a press for help"
"""


async def test_labelled_outcome_of_a_short_scenario(broker: LocalBroker, tmp_path: Path) -> None:
    path = tmp_path / "short.toml"
    path.write_text(SCENARIO)
    scenario = load_scenario(path)
    config = in_process_config(broker, tmp_path)
    async with running_hub(config):
        played = await play_live(scenario, broker.host, broker.port, speed=6000)

        async def emergency_notified() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return len(await store.notifications()) >= 1

        await eventually(emergency_notified)
    async with Store.open(config.store.path, readonly=True) as store:
        events = [
            e.event.type for e in await store.events() if not e.event.type.startswith("device")
        ]
        incidents = {i.cause: i.state for i in await store.incidents()}
        notes = await store.notifications()
    assert played == 3
    assert events == ["water.leak", "water.clear", "pendant.pressed"], "duplicates stored once"
    assert incidents == {"water_leak": "cancelled", "help_call": "firing"}
    assert [(n.contact, n.severity) for n in notes] == [("Alice", "emergency")]


WEEK_OF_WINDOWS = """
name = "windows"
description = "confirm windows measured in simulated time"
start = 2026-11-23T00:00:00
[home]
person = "Mum"
timezone = "UTC"
[[contacts]]
name = "Alice"
[[devices]]
id = "leak-1"
name = "leak sensor"
role = "water"
room = "Kitchen"
[[devices]]
id = "pendant-1"
name = "pendant"
role = "pendant"
room = "Bedroom"
[[timeline]]
at = "10:00"
device = "leak-1"
do = "leak"
label = "needs_carer"
deadline_s = 600
[[timeline]]
at = "d3 22:15"
device = "pendant-1"
do = "press"
label = "emergency"
deadline_s = 30
"""


async def test_virtual_clock_plays_days_at_once_with_exact_simulated_times(
    broker: LocalBroker, tmp_path: Path
) -> None:
    path = tmp_path / "windows.toml"
    path.write_text(WEEK_OF_WINDOWS)
    scenario = load_scenario(path)
    config = config_from_dict(scenario.hub_config(broker.host, broker.port, tmp_path / "hub.db"))
    async with running_hub(config):
        played = await play_virtual(scenario, broker.host, broker.port)
    async with Store.open(config.store.path, readonly=True) as store:
        notes = await store.notifications()
        events = {e.event.type: e.event.received_at for e in await store.events()}
    leak_at = scenario.moment(scenario.timeline[0])
    press_at = scenario.moment(scenario.timeline[1])
    assert played >= 2
    assert events["water.leak"] == leak_at
    assert events["pendant.pressed"] == press_at
    debounce = timedelta(seconds=config.policy.water.debounce_s)
    assert [(n.severity, n.created_at) for n in notes] == [
        ("urgent", leak_at + debounce),
        ("emergency", press_at),
    ]
