"""A day without the centre: the home goes on, and afterwards everything arrives once, in order.

The engine is stopped; the hub meanwhile raises and cancels alarms and is restarted three times,
its clock moved on eight hours each time (the test clock), heartbeats every second. Once the
engine is back, every incident change arrives once and in order; of the heartbeats written
meanwhile at most the newest arrives: the only gaps in the numbering are those dropped.
"""

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from hub.config.file import HubConfig
from hub.mqtt.broker import LocalBroker
from hub.service.clock import OFFSET_FILE_ENV
from hub.store.store import Store
from tests.support.hubs import device_client, eventually, running_hub
from tests.support.standins import ACCOUNT_SID, AUTH_TOKEN, FROM_NUMBER, TwilioStandIn, serving
from tests.uplink.engine import Engine, wait_until_up
from tests.uplink.hubs import reporting_hub
from wire.schema import event_topic
from wire.uplink import Heartbeat, IncidentUpdate

HOURS_PER_RESTART = 8


async def _all_confirmed(config: HubConfig) -> None:
    async def confirmed() -> bool:
        async with Store.open(config.store.path, readonly=True) as store:
            return await store.uplink_waiting() == 0

    await eventually(confirmed, timeout_s=60)


async def _press(broker: LocalBroker, event: str) -> None:
    async with device_client(broker) as device:
        await device.publish(event_topic("pendant-1"), json.dumps({"type": event}), qos=1)


async def _pendant_incidents_become(db: Path, *states: str) -> None:
    """Until the pendant's incidents are in `states`, oldest first (others may open: the clock
    jumps past devices' check-in deadlines)."""

    async def reached() -> bool:
        async with Store.open(db, readonly=True) as store:
            found = [i.state for i in await store.incidents() if i.cause == "help_call"]
        return found == list(states)

    await eventually(reached)


async def _heartbeat_written(config: HubConfig, after: datetime) -> None:
    async def written() -> bool:
        async with Store.open(config.store.path, readonly=True) as store:
            rows = await store.uplink_pending(limit=1000)
        return any(r.kind == "heartbeat" and r.created_at >= after for r in rows)

    await eventually(written)


async def test_a_day_without_the_centre_loses_nothing_and_sends_nothing_twice(
    broker: LocalBroker, tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    offset = tmp_path / "clock-offset"
    offset.write_text("0")
    monkeypatch.setenv(OFFSET_FILE_ENV, str(offset))
    config = reporting_hub(broker, tmp_path, engine, centre={"heartbeat_s": 1})
    async with running_hub(config):
        await _all_confirmed(config)
    before = len(await engine.envelopes())
    engine.stop()

    db = config.store.path
    runs = [("pendant.pressed", ("firing",)), ("pendant.cancelled", ("cancelled",))]
    runs.append(("pendant.pressed", ("cancelled", "firing")))
    outage_from = datetime.now(UTC)
    for run, (event, states) in enumerate(runs, 1):
        shift = timedelta(hours=HOURS_PER_RESTART * run)
        offset.write_text(str(shift.total_seconds()))
        async with running_hub(config):
            started = datetime.now(UTC) + shift
            await _press(broker, event)
            await _pendant_incidents_become(db, *states)
            await _heartbeat_written(config, started + timedelta(seconds=2))
    recovered_from = datetime.now(UTC) + timedelta(hours=HOURS_PER_RESTART * len(runs))

    engine.start()
    await wait_until_up(engine)
    async with running_hub(config):
        await _all_confirmed(config)
        async with Store.open(db, readonly=True) as store:
            trail = [
                (i.id, t["state"], t["reason"])
                for i in await store.incidents()
                for t in await store.incident_log(i.id)
            ]

    envelopes = await engine.envelopes()
    seqs = [e.seq for e in envelopes]
    assert seqs == sorted(set(seqs)), "in order, each once"
    updates = [e.body for e in envelopes if isinstance(e.body, IncidentUpdate)]
    changes = [(u.incident_id, u.state, u.reason) for u in updates if not u.family_exhausted]
    assert sorted(changes) == sorted(trail), "every change, once"
    for incident_id in {c[0] for c in trail}:  # each incident's changes in their order
        assert [c for c in changes if c[0] == incident_id] == [
            c for c in trail if c[0] == incident_id
        ]
    beats = [e.body for e in envelopes[before:] if isinstance(e.body, Heartbeat)]
    during = [b for b in beats if b.started_at < recovered_from - timedelta(minutes=1)]
    assert len(during) <= 1, "only the newest heartbeat of the outage is sent"
    assert all(b.started_at > outage_from for b in during)
    assert any(b.started_at >= recovered_from - timedelta(minutes=1) for b in beats)


async def test_the_family_is_alerted_while_the_centre_is_down(
    broker: LocalBroker, tmp_path: Path, engine: Engine
) -> None:
    twilio = TwilioStandIn()
    engine.stop()
    async with serving(twilio) as twilio_url:
        config = reporting_hub(
            broker,
            tmp_path,
            engine,
            twilio={
                "account_sid": ACCOUNT_SID,
                "auth_token": AUTH_TOKEN,
                "from_number": FROM_NUMBER,
                "api_base": twilio_url,
            },
            escalation={"emergency": {"steps": [{"contact": "Alice", "channel": "sms"}]}},
        )
        async with running_hub(config):
            await _press(broker, "pendant.pressed")

            async def alice_texted() -> bool:
                return bool(twilio.outbound(to="+447700900123"))

            await eventually(alice_texted)
            async with Store.open(config.store.path, readonly=True) as store:
                waiting = await store.uplink_pending(limit=100)
    assert "pressed the pendant" in twilio.outbound()[0]["body"]
    assert [r.kind for r in waiting if r.kind == "incident"], "kept for the centre"
