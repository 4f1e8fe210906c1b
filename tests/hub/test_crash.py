"""Kill -9 at any point loses no acknowledged event and stores none twice.

By default a burst of 1,500 events and three kill points; `TELECARE_CRASH_SCALE=full` (set by
bench/reliability.py) makes it 5,000 events and 20 kill points drawn with a fixed seed.
"""

import asyncio
import json
import os
import random
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import HubProcess, config_data, device_client, eventually, write_toml
from tests.support.reliability import record
from wire.schema import event_topic

FULL = os.environ.get("TELECARE_CRASH_SCALE") == "full"
BURST = 5000 if FULL else 1500
PRESS_AT = BURST // 2
KILL_AFTER = (
    sorted(random.Random(8).sample(range(1, BURST), 20))
    if FULL
    else [1, BURST // 3, (BURST * 2) // 3]
)


async def _publish_burst(broker: LocalBroker) -> None:
    async with device_client(broker, "burst-device") as device:
        for seq in range(1, BURST + 1):
            if seq == PRESS_AT:
                body = {"type": "pendant.pressed", "seq": seq}
                await device.publish(event_topic("pendant-1"), json.dumps(body), qos=1)
                continue
            kind = "door.opened" if seq % 2 else "door.closed"
            await device.publish(
                event_topic("door-1"), json.dumps({"type": kind, "seq": seq}), qos=1
            )


async def _stored_seqs(db: Path) -> list[int]:
    if not db.exists():
        return []
    async with Store.open(db, readonly=True) as store:
        return [e.event.seq for e in await store.events() if e.event.seq is not None]


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", KILL_AFTER)
async def test_sigkill_during_a_burst_keeps_every_event_exactly_once(
    mosquitto: LocalBroker, tmp_path: Path, hub_processes: list[HubProcess], kill_after: int
) -> None:
    broker = mosquitto
    data = config_data(broker, tmp_path)
    db = Path(data["store"]["path"])
    hub = HubProcess(write_toml(tmp_path / "hub.toml", data), tmp_path / "hub.log")
    hub_processes.append(hub)
    hub.start()
    publisher = asyncio.create_task(_publish_burst(broker))

    async def enough_stored() -> bool:
        return len(await _stored_seqs(db)) >= kill_after

    await eventually(enough_stored, timeout_s=60)
    hub.kill()
    await asyncio.wait_for(publisher, 120)
    hub.start()  # the persistent session delivers what was queued or left unacknowledged

    async def all_stored() -> bool:
        return len(await _stored_seqs(db)) >= BURST

    await eventually(all_stored, timeout_s=120)
    assert hub.terminate() == 0
    seqs = await _stored_seqs(db)
    assert sorted(seqs) == list(range(1, BURST + 1)), "every event stored exactly once"
    async with Store.open(db, readonly=True) as store:
        notes = await store.notifications()
        [press] = [e.event for e in await store.events() if e.event.type == "pendant.pressed"]
    assert [(n.contact, n.state) for n in notes] == [("Alice", "delivered")]
    record(
        "faults",
        f"SIGKILL of the hub after {kill_after} of {BURST} QoS 1 events",
        sent=BURST,
        stored=len(seqs),
        lost=BURST - len(set(seqs)),
        stored_twice=len(seqs) - len(set(seqs)),
        duplicates_to_carer=len(notes) - 1,
        notify_s=round((notes[0].updated_at - press.received_at).total_seconds(), 3),
    )
