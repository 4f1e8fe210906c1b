"""The broker goes away and comes back: the hub reconnects and loses nothing.

The everyday suite restarts the broker as soon as the hub has noticed; `TELECARE_CRASH_SCALE=full`
(set by bench/reliability.py) keeps it stopped for 60 s first, as the reliability report states.
"""

import asyncio
import json
import logging
import os
import time
from pathlib import Path

import pytest
from stamina.instrumentation import RetryDetails, get_on_retry_hooks, set_on_retry_hooks

from hub.config.sections import MqttSettings
from hub.mqtt.broker import LocalBroker, free_port
from hub.mqtt.client import BrokerUnavailableError
from hub.mqtt.session import MqttSession
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from tests.support.reliability import record
from wire.schema import event_topic

OUTAGE_S = 60.0 if os.environ.get("TELECARE_CRASH_SCALE") == "full" else 0.0
QUEUED = 1000  # published once the broker is back, before the hub may be


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
        await asyncio.sleep(OUTAGE_S)
        mosquitto.start()  # same port, same persistence: the hub's session is still there
        back_at = time.monotonic()
        async with device_client(mosquitto) as device:  # queued for the hub until it is back
            for seq in range(2, 2 + QUEUED):
                body = {"type": "door.closed" if seq % 2 else "door.opened", "seq": seq}
                await device.publish(event_topic("door-1"), json.dumps(body), qos=1)

        async def all_stored() -> bool:
            return await _stored_seqs(db) == list(range(1, 2 + QUEUED))

        await eventually(all_stored, timeout_s=40 + OUTAGE_S)
        caught_up_s = time.monotonic() - back_at
    messages = [r.getMessage() for r in caplog.records]
    assert any("connected to broker" in m and "again" in m for m in messages), messages
    stored = await _stored_seqs(db)
    record(
        "faults",
        f"broker stopped for {OUTAGE_S:.0f} s once noticed, restarted with its persistence",
        sent=1 + QUEUED,
        stored=len(stored),
        lost=1 + QUEUED - len(set(stored)),
        stored_twice=len(stored) - len(set(stored)),
        caught_up_s=round(caught_up_s, 2),
    )


async def test_carers_are_told_when_the_hub_loses_its_broker_and_when_it_is_back(
    mosquitto: LocalBroker, tmp_path: Path
) -> None:
    mqtt = {
        "host": mosquitto.host,
        "port": mosquitto.port,
        "client_id": "hub-under-test",
        "lost_grace_s": 1,
    }
    config = in_process_config(mosquitto, tmp_path, mqtt=mqtt)

    async def texts() -> list[str]:
        async with Store.open(config.store.path, readonly=True) as store:
            return [n.text for n in await store.notifications() if n.state == "delivered"]

    async with running_hub(config):
        mosquitto.stop()

        async def told_cut_off() -> bool:
            return any("cut off from its sensors" in t for t in await texts())

        await eventually(told_cut_off)
        mosquitto.start()

        async def told_back() -> bool:
            return any("in contact with its sensors again" in t for t in await texts())

        await eventually(told_back, timeout_s=40)
    cut_off = [t for t in await texts() if "cut off" in t]
    assert len(cut_off) == 1, "told once per outage, not at every check"
    back = [t for t in await texts() if "in contact with its sensors again" in t]
    record(
        "faults",
        "broker stopped: carers told after the grace period, and when it is back",
        lost_notices_sent=len(cut_off),
        back_notices_sent=len(back),
        grace_s=1,
    )


async def test_the_session_says_when_it_is_down_without_being_asked_again(
    mosquitto: LocalBroker,
) -> None:
    settings = MqttSettings(host=mosquitto.host, port=mosquitto.port, client_id="watched")
    session = MqttSession(settings, subscriptions=[], deliver=lambda _m: None, persistent=False)
    await asyncio.wait_for(session.wait_disconnected(), 1)  # not connected yet
    async with session:
        await asyncio.wait_for(session.wait_connected(), 10)
        down = asyncio.create_task(session.wait_disconnected())
        await asyncio.sleep(0.2)
        assert not down.done(), "connected: nothing to say"
        mosquitto.stop()
        try:
            await asyncio.wait_for(down, 30)
        finally:
            mosquitto.start()
        await asyncio.wait_for(session.wait_connected(), 30)


async def test_a_broker_away_for_long_is_tried_again_every_one_and_a_half_seconds_at_most() -> None:
    """However long the broker has been away, the hub finds it back within some 1.5 s.

    The hub is deaf until it reconnects, and every message queued for it waits that long: with
    waits doubling up to 30 s it found a broker back from a 60 s outage 24 s late.
    """
    waits: list[float] = []

    def note(details: RetryDetails) -> None:
        if isinstance(details.caused_by, BrokerUnavailableError):
            waits.append(details.wait_for)

    settings = MqttSettings(host="127.0.0.1", port=free_port(), client_id="nobody-listens")
    session = MqttSession(settings, subscriptions=[], deliver=lambda _m: None, persistent=False)
    hooks = get_on_retry_hooks()
    set_on_retry_hooks([note])
    try:
        async with session:

            async def ramp_done_or_too_long() -> bool:
                return len(waits) >= 7 or any(w > 1.5 for w in waits)

            await eventually(ramp_done_or_too_long, timeout_s=30)
    finally:
        set_on_retry_hooks(hooks)
    assert max(waits) <= 1.5, [round(w, 2) for w in waits]
