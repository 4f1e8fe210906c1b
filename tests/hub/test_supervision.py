"""Check-in deadlines: a silent device is reported offline once, by role, and back when heard."""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.pipeline.intake import Intake
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.pipeline.supervision import Supervisor
from hub.store.store import NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine, EngineState
from rules.policy import Contact, RulesConfig
from wire.devices import DeviceRecord
from wire.schema import InboundMessage

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


def record(device_id: str, role: str, source: str = "zigbee2mqtt") -> DeviceRecord:
    return DeviceRecord(
        id=device_id, name=device_id, role=role, room=None, source=source,
        friendly_name=device_id, model=None, origin="config", online=None, battery=None,
        last_seen=None, created_at=START,
    )  # fmt: skip


def test_each_role_has_its_own_deadline_from_hub_start() -> None:
    supervisor = Supervisor({}, started_at=START)
    supervisor.register([record("sos", "pendant"), record("door", "door")])
    assert supervisor.overdue(START + timedelta(hours=5, minutes=59)) == []
    assert supervisor.overdue(START + timedelta(hours=6)) == ["sos"]
    assert supervisor.overdue(START + timedelta(hours=25)) == [], "reported once per silence"
    assert supervisor.overdue(START + timedelta(hours=26)) == ["door"]


def test_a_check_in_restarts_the_deadline_and_rearms_it() -> None:
    supervisor = Supervisor({"pendant": 1.0}, started_at=START)
    supervisor.register([record("sos", "pendant")])
    supervisor.heard("sos", START + timedelta(minutes=50))
    assert supervisor.overdue(START + timedelta(minutes=100)) == []
    assert supervisor.overdue(START + timedelta(minutes=110)) == ["sos"]
    supervisor.heard("sos", START + timedelta(minutes=120))
    assert supervisor.next_due() == START + timedelta(minutes=180)


def test_reload_keeps_deadlines_and_wired_devices_are_not_supervised() -> None:
    supervisor = Supervisor({}, started_at=START)
    supervisor.register([record("sos", "pendant")])
    supervisor.heard("sos", START + timedelta(hours=3))
    supervisor.register([record("sos", "pendant"), record("cord", "pull_cord", "gpio")])
    assert supervisor.next_due() == START + timedelta(hours=9)
    assert supervisor.overdue(START + timedelta(days=7)) == ["sos"]


async def test_missed_check_in_is_stored_as_offline_then_online_when_heard(
    tmp_path: Path,
) -> None:
    clock = [START]
    async with Store.open(tmp_path / "hub.db") as store:
        await store.register_devices(
            [NewDevice("sos", "SOS", "pendant", "Hall", "zigbee2mqtt", "mum/sos", None, "paired")],
            at=START,
        )
        devices = await store.devices()
        dispatcher = Dispatcher(store, {"outbox": LocalOutbox()})
        async with dispatcher:
            pipeline = Pipeline(
                engine=Engine(RulesConfig(contacts=(Contact(name="Alice"),))),
                state=EngineState(),
                store=store,
                intake=Intake(
                    devices,
                    RejectLog(),
                    [NativeDriver(), Zigbee2MqttDriver("zigbee2mqtt")],
                    Supervisor({"pendant": 2.0}, started_at=START),
                ),
                dispatcher=dispatcher,
                ack=lambda message: None,
                publish=lambda topic, body, retain: None,
                clock=lambda: clock[0],
            )
            clock[0] = START + timedelta(hours=1)
            await pipeline.tick()
            clock[0] = START + timedelta(hours=2)
            await pipeline.tick()
            clock[0] = START + timedelta(hours=3)
            await pipeline.tick()
            report = json.dumps({"battery": 80, "linkquality": 99}).encode()
            await pipeline.handle([InboundMessage("zigbee2mqtt/mum/sos", report, qos=1)])
        events = [(e.event.type, e.event.received_at) for e in await store.events()]
        sources = {e.event.source for e in await store.events()}
        device = (await store.devices())[0]
    assert events == [
        ("device.offline", START + timedelta(hours=2)),
        ("device.online", START + timedelta(hours=3)),
    ]
    assert sources == {"zigbee2mqtt"}
    assert (device.online, device.battery, device.linkquality) == (True, 80, 99)


def test_a_clock_step_leaves_each_deadline_its_remaining_time() -> None:
    supervisor = Supervisor({}, started_at=START)
    supervisor.register([record("sos", "pendant"), record("door", "door")])
    assert supervisor.overdue(START + timedelta(hours=6)) == ["sos"]
    supervisor.shift(timedelta(hours=1))  # NTP: the clock was an hour slow
    assert supervisor.overdue(START + timedelta(hours=26, minutes=59)) == []
    assert supervisor.overdue(START + timedelta(hours=27)) == ["door"]
    assert supervisor.overdue(START + timedelta(days=30)) == [], "a reported silence stays so"
