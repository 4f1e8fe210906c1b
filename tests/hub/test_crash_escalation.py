"""Kill -9 while an escalation is under way: each step reaches its contact once, never early.

The ladder's first step goes at once, its second after `STEP_S`. The hub is killed at a point
chosen per run (before the first step is sent, between the steps, as the second falls due), and
started again: the engine's memory and the durable outbox resume the ladder where it was.
`TELECARE_CRASH_SCALE=full` (set by bench/reliability.py) repeats it at 20 points.
"""

import asyncio
import json
import os
import random
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from notifier.model import OutboxEntry
from tests.support.hubs import HubProcess, config_data, device_client, eventually, write_toml
from tests.support.reliability import record
from wire.schema import event_topic

STEP_S = 4.0
FULL = os.environ.get("TELECARE_CRASH_SCALE") == "full"
_DRAW = random.Random(5)
KILL_AFTER_S = (
    sorted(round(_DRAW.uniform(0.0, STEP_S + 1.0), 2) for _ in range(20))
    if FULL
    else [0.0, STEP_S / 2]
)
LADDER = f"""
[escalation.emergency]
steps = [
  {{ contact = "Alice", channel = "outbox", after_s = 0 }},
  {{ contact = "Bob", channel = "outbox", after_s = {STEP_S} }},
]
"""


def _hub(broker: LocalBroker, workdir: Path) -> HubProcess:
    contacts = [{"name": "Alice", "phone": "+447700900123"}, {"name": "Bob"}]
    path = write_toml(workdir / "hub.toml", config_data(broker, workdir, contacts=contacts))
    path.write_text(path.read_text() + LADDER)
    return HubProcess(path, workdir / "hub.log")


async def _alarm_notes(db: Path) -> list[OutboxEntry]:
    if not db.exists():
        return []
    async with Store.open(db, readonly=True) as store:
        return [n for n in await store.notifications() if n.severity == "emergency"]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after_s", KILL_AFTER_S)
async def test_sigkill_during_an_escalation_sends_each_step_once_and_on_time(
    mosquitto: LocalBroker, tmp_path: Path, hub_processes: list[HubProcess], kill_after_s: float
) -> None:
    db = tmp_path / "hub.db"
    hub = _hub(mosquitto, tmp_path)
    hub_processes.append(hub)
    hub.start()
    async with device_client(mosquitto, "pendant") as device:
        body = json.dumps({"type": "pendant.pressed", "seq": 1})
        await device.publish(event_topic("pendant-1"), body, qos=1)

    async def press_stored() -> bool:
        if not db.exists():
            return False
        async with Store.open(db, readonly=True) as store:
            return any(e.event.type == "pendant.pressed" for e in await store.events())

    await eventually(press_stored)
    if kill_after_s:
        await asyncio.sleep(kill_after_s)  # the kill point: the hub runs on meanwhile
    hub.kill()
    hub.start()

    async def both_told() -> bool:
        return {n.contact for n in await _alarm_notes(db) if n.state == "delivered"} >= {
            "Alice",
            "Bob",
        }

    await eventually(both_told, timeout_s=60)
    assert hub.terminate() == 0
    notes = await _alarm_notes(db)
    async with Store.open(db, readonly=True) as store:
        [press] = [e.event for e in await store.events() if e.event.type == "pendant.pressed"]
    assert sorted(n.contact for n in notes) == ["Alice", "Bob"], "each step once, nothing more"
    [bob] = [n for n in notes if n.contact == "Bob"]
    waited_s = (bob.created_at - press.received_at).total_seconds()
    assert waited_s >= STEP_S, f"the second step came {waited_s:.2f} s after the press: early"
    record(
        "faults",
        f"SIGKILL {kill_after_s:.2f} s into a two-step escalation (second step at {STEP_S:.0f} s)",
        sent=1,
        stored=1,
        lost=0,
        duplicates_to_carer=len(notes) - 2,
        second_step_s=round(waited_s, 3),
    )
