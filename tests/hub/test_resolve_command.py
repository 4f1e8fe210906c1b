"""`telecare resolve` against a running hub: the incident closes, the note is kept, others hear."""

import asyncio
import subprocess
from pathlib import Path

from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import (
    config_data,
    device_client,
    incidents_become,
    running_hub,
    telecare,
    write_toml,
)
from wire.schema import event_topic

CONTACTS = [{"name": "Alice", "phone": "+447700900123"}, {"name": "Bob"}]


def _resolve(config_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return telecare("resolve", *args, "--config", str(config_path))


async def test_resolve_from_the_command_line_closes_it_keeps_the_note_and_tells_the_others(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path, contacts=CONTACTS)
    config_path = write_toml(tmp_path / "hub.toml", data)
    config = config_from_dict(data)
    async with running_hub(config), device_client(broker) as device:
        await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)

        await incidents_become(config.store.path, "firing")
        note = ("--note", "Mum pressed by mistake")
        result = await asyncio.to_thread(
            _resolve, config_path, "help_call-1", "--by", "Alice", *note
        )
        assert result.returncode == 0, result.stderr
        assert result.stdout.startswith("help_call-1: resolved by Alice - Mum pressed")

    async with Store.open(config.store.path, readonly=True) as store:
        (incident,) = await store.incidents()
        log = await store.incident_log(incident.id)
        notes = await store.notes(incident.id)
        told = [n for n in await store.notifications() if "/resolved/" in n.key]
    assert incident.state == "resolved"
    assert log[-1]["reason"] == "resolved by Alice with telecare resolve after contacts were told"
    assert [(n.author, n.text) for n in notes] == [("Alice", "Mum pressed by mistake")]
    assert [(n.contact, n.text[:17]) for n in told] == [("Bob", "Resolved by Alice")]


def test_resolve_with_a_note_too_long_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    result = _resolve(tmp_path / "none.toml", "help_call-1", "--by", "Alice", "--note", "x" * 501)
    assert result.returncode == 2
    assert "note" in result.stderr
    assert "500" in result.stderr
