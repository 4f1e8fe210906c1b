"""The broker goes away and comes back: the hub reconnects and loses nothing."""

import json
import logging
from pathlib import Path

import pytest

from hub.broker import LocalBroker
from hub.store import Store
from hub.wire import event_topic
from tests.support.hubs import device_client, eventually, in_process_config, running_hub


async def _stored_seqs(db: Path) -> list[int]:
    async with Store.open(db, readonly=True) as store:
        return [e.event.seq for e in await store.events() if e.event.seq is not None]


async def test_hub_reconnects_after_a_broker_restart_and_keeps_its_session(
    mosquitto: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telecare.mqtt")
    config = in_process_config(mosquitto, tmp_path)
    db = config.store.path
    async with running_hub(config):
        async with device_client(mosquitto) as device:
            body = {"type": "door.opened", "seq": 1}
            await device.publish(event_topic("door-1"), json.dumps(body), qos=1)

        async def first_stored() -> bool:
            return await _stored_seqs(db) == [1]

        await eventually(first_stored)
        mosquitto.stop()

        async def noticed() -> bool:
            return any("connection lost" in r.getMessage() for r in caplog.records)

        await eventually(noticed)
        mosquitto.start()  # same port, same persistence: the hub's session is still there
        async with device_client(mosquitto) as device:
            for seq in (2, 3):
                body = {"type": "door.closed" if seq == 2 else "door.opened", "seq": seq}
                await device.publish(event_topic("door-1"), json.dumps(body), qos=1)

        async def all_stored() -> bool:
            return await _stored_seqs(db) == [1, 2, 3]

        await eventually(all_stored, timeout_s=40)
    messages = [r.getMessage() for r in caplog.records]
    assert any("connected to broker" in m and "again" in m for m in messages), messages
