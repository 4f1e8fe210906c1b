"""`telecare occupancy`: someone else at home holds back door alarms, across a restart too."""

import asyncio
import subprocess
import sys
from pathlib import Path

from hub.config.file import HubConfig, config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.store.store import Store
from tests.support.hubs import config_data, device_client, eventually, running_hub, write_toml
from wire.schema import event_topic


def _occupancy(config_path: Path, where: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [
            sys.executable,
            "-m",
            "hub",
            "occupancy",
            where,
            "--by",
            "Alice",
            "--config",
            str(config_path),
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def _door_opened(broker: LocalBroker, config: HubConfig, incidents: int) -> list[str]:
    async with device_client(broker) as device:
        await device.publish(event_topic("door-1"), b'{"type": "door.opened"}', qos=1)
        await device.publish(event_topic("door-1"), b'{"type": "door.closed"}', qos=1)

    async def recorded() -> bool:
        async with Store.open(config.store.path, readonly=True) as store:
            return len(await store.incidents()) >= incidents

    await eventually(recorded)
    async with Store.open(config.store.path, readonly=True) as store:
        return [i.state for i in (await store.incidents())[incidents - 2 :]]


async def test_a_visitor_at_home_holds_back_door_alarms_until_she_goes(
    broker: LocalBroker, tmp_path: Path
) -> None:
    data = config_data(broker, tmp_path)
    config_path = write_toml(tmp_path / "hub.toml", data)
    config = config_from_dict(data)
    async with running_hub(config):
        result = await asyncio.to_thread(_occupancy, config_path, "home")
        assert result.returncode == 0, result.stderr
        assert "Alice is at home" in result.stdout
        assert await _door_opened(broker, config, 2) == ["suppressed", "suppressed"]

    async with running_hub(config):  # a restart keeps it
        assert await _door_opened(broker, config, 4) == ["suppressed", "suppressed"]
        result = await asyncio.to_thread(_occupancy, config_path, "away")
        assert result.returncode == 0, result.stderr
        states = await _door_opened(broker, config, 6)

    assert "suppressed" not in states
