"""Medication reminders leave the hub as device commands, with the dose's incident stored."""

import json
from datetime import UTC, datetime
from pathlib import Path

from hub.pipeline.intake import Intake
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.store.store import NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine
from rules.policy import Contact, DeviceInfo, RulesConfig
from rules.routines import Medication
from wire.schema import command_topic

STARTED = datetime(2026, 11, 23, 7, 0, tzinfo=UTC)
DUE = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def test_a_due_dose_chimes_the_dispenser_and_waits_for_it_to_be_taken(
    tmp_path: Path,
) -> None:
    rules = RulesConfig(
        contacts=(Contact(name="Alice"),),
        devices={"pill-1": DeviceInfo(name="pill dispenser", role="medication")},
        medication=(Medication(name="heart", times=("08:00",)),),  # type: ignore[arg-type]
    )
    engine = Engine(rules)
    published: list[tuple[str, bytes, bool]] = []
    async with Store.open(tmp_path / "hub.db") as store:
        await store.register_devices(
            [
                NewDevice(
                    "pill-1", "pill dispenser", "medication", None, "native", None, None, "config"
                )
            ],
            at=STARTED,
        )
        async with Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher:
            pipeline = Pipeline(
                engine=engine,
                state=engine.restore([], opened=0, since=STARTED),
                store=store,
                intake=Intake(await store.devices(), RejectLog()),
                dispatcher=dispatcher,
                ack=lambda message: None,
                publish=lambda topic, body, retain: published.append((topic, body, retain)),
                clock=lambda: DUE,
            )
            await pipeline.tick()
        incidents = await store.incidents()

    commands = [(t, json.loads(b), r) for t, b, r in published if t == command_topic("pill-1")]
    assert commands == [
        (command_topic("pill-1"), {"command": "chime", "incident_id": "medication_heart-1"}, False)
    ]
    assert [(i.cause, i.state) for i in incidents] == [("medication_heart", "pending")]
    assert engine.next_due(pipeline.state) == datetime(2026, 11, 23, 9, 0, tzinfo=UTC)
