"""`telecare ack` against a running hub: the calls stop, the others hear who has it, it is kept."""

import asyncio
import json
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.store.store import Batch, Store
from rules.incidents import Incident, IncidentChanged
from tests.support.hubs import (
    config_data,
    device_client,
    eventually,
    running_hub,
    write_toml,
)
from wire.control import ACK_TOPIC
from wire.schema import event_topic

CONTACTS = [{"name": "Alice", "phone": "+447700900123"}, {"name": "Bob"}]


def _ack(config_path: Path, incident_id: str, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", "ack", incident_id, "--config", str(config_path), *extra],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_ack_from_the_command_line_stops_the_calls_and_tells_the_others(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path, contacts=CONTACTS)
    config_path = write_toml(tmp_path / "hub.toml", data)
    config = config_from_dict(data)
    async with running_hub(config), device_client(broker) as device:
        await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)

        async def firing() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return [i.state for i in await store.incidents()] == ["firing"]

        await eventually(firing)
        result = await asyncio.to_thread(_ack, config_path, "help_call-1", "--by", "Alice")
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("help_call-1: acknowledged by Alice - Mum pressed")

    async with Store.open(config.store.path, readonly=True) as store:
        (incident,) = await store.incidents()
        log = await store.incident_log(incident.id)
        notes = await store.notifications()
    assert (incident.state, incident.acknowledged_by) == ("acknowledged", "Alice")
    assert log[-1]["reason"] == "acknowledged by Alice"
    handled = [n for n in notes if "/ack/" in n.key]
    assert [(n.contact, n.text[:26]) for n in handled] == [("Bob", "Alice is handling it: Mum ")]


async def test_ack_of_an_incident_that_is_not_open_says_so(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    config_path = write_toml(tmp_path / "hub.toml", data)
    async with running_hub(config_from_dict(data)):
        result = await asyncio.to_thread(
            _ack, config_path, "help_call-7", "--by", "Alice", "--timeout", "1"
        )
    assert result.returncode == 1
    assert "did not confirm help_call-7" in result.stderr


async def test_a_malformed_or_retained_ack_is_refused_and_the_hub_carries_on(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = config_from_dict(config_data(broker, tmp_path))
    async with device_client(broker) as tool:  # retained: replayed to the hub at every connect
        ack = json.dumps({"incident_id": "help_call-1", "by": "Alice"})
        await tool.publish(ACK_TOPIC, ack, qos=1, retain=True)
    async with running_hub(config) as rejects, device_client(broker) as device:
        await device.publish(ACK_TOPIC, b"{not json", qos=1)
        await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)

        async def recorded() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return len(await store.incidents()) == 1

        await eventually(recorded)
    assert rejects.counts["bad_control"] == 2
    async with Store.open(config.store.path, readonly=True) as store:
        assert [i.state for i in await store.incidents()] == ["firing"]


async def test_an_acknowledged_incident_is_restored_as_it_was(tmp_path: Path) -> None:
    now = datetime(2026, 11, 23, 10, 0, tzinfo=UTC)
    incident = Incident(
        id="help_call-1",
        cause="help_call",
        severity="emergency",
        state="acknowledged",
        device_id="pendant-1",
        opened_at=now,
        fired_at=now,
        due_at=now + timedelta(minutes=30),
        steps_sent=2,
        text="Mum pressed the pendant.",
        round=1,
        acknowledged_by="Alice",
    )
    change = IncidentChanged(incident=incident, previous="firing", reason="acknowledged", at=now)
    async with Store.open(tmp_path / "hub.db") as store:
        await store.commit(Batch(actions=[change]), at=now)
        assert await store.incidents(open_only=True) == [incident]
