"""A short scenario played end to end through the real broker and hub gives the labelled outcome."""

from pathlib import Path

from firmware_sim.player import play_live
from firmware_sim.scenario import load_scenario
from hub.broker import LocalBroker
from hub.store import Store
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
