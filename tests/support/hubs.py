"""Helpers to run the hub in-process or as a real process, and to talk to it over MQTT."""

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt

from hub.config.file import HubConfig, config_from_dict
from hub.config.sections import MqttSettings
from hub.mqtt.broker import LocalBroker
from hub.mqtt.oneshot import retained
from hub.pipeline.rejections import RejectLog
from hub.service.app import serve
from hub.store.store import Store
from wire.schema import SENT_TOPIC, SentPayload

DEVICES = [
    {"id": "pendant-1", "name": "pendant", "role": "pendant", "room": "Bedroom"},
    {"id": "door-1", "name": "front door", "role": "door", "room": "Hall"},
    {"id": "leak-1", "name": "leak sensor", "role": "water", "room": "Kitchen"},
]


def config_data(broker: LocalBroker, workdir: Path, **overrides: Any) -> dict[str, Any]:
    """A small home: Mum, Alice as the contact, a pendant, a door and a leak sensor."""
    data: dict[str, Any] = {
        "home": {"person": "Mum", "timezone": "Europe/London"},
        "mqtt": {"host": broker.host, "port": broker.port, "client_id": "hub-under-test"},
        "store": {"path": str(workdir / "hub.db")},
        "web": {"port": 0},
        "contacts": [{"name": "Alice", "phone": "+447700900123"}],
        "devices": DEVICES,
    }
    data.update(overrides)
    return data


def write_toml(path: Path, data: dict[str, Any]) -> Path:
    """Write a configuration mapping as the TOML file an installer would write."""
    lines: list[str] = []
    for key in ("home", "mqtt", "store", "web"):
        if key not in data:
            continue
        lines.append(f"[{key}]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in data[key].items())
    for key in ("contacts", "devices"):
        for item in data[key]:
            lines.append(f"[[{key}]]")
            lines.extend(f"{k} = {_toml(v)}" for k, v in item.items())
    for name, section in data.get("policy", {}).items():
        lines.append(f"[policy.{name}]")
        lines.extend(f"{k} = {_toml(v)}" for k, v in section.items())
    path.write_text("\n".join(lines) + "\n")
    path.chmod(0o640)  # as the installer leaves it: secrets may be added to it
    return path


def _toml(value: Any) -> str:
    if isinstance(value, str):
        return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


async def eventually(check: Callable[[], Awaitable[bool]], *, timeout_s: float = 20.0) -> None:
    """Wait until `check` holds, polling; fail with the condition's name at the deadline."""
    deadline = time.monotonic() + timeout_s
    while not await check():
        if time.monotonic() > deadline:
            raise AssertionError(f"condition {check.__name__} not met in {timeout_s}s")
        await asyncio.sleep(0.05)


@asynccontextmanager
async def running_hub(config: HubConfig) -> AsyncIterator[RejectLog]:
    """The hub in this process, ready (connected and subscribed) on entry, stopped on exit."""
    stop = asyncio.Event()
    ready = asyncio.Event()
    result: list[RejectLog] = []

    async def run() -> None:
        result.append(await serve(config, stop, on_ready=ready.set))

    task = asyncio.create_task(run())
    ready_wait = asyncio.create_task(ready.wait())
    await asyncio.wait({task, ready_wait}, timeout=20, return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    assert ready.is_set(), "hub did not become ready"
    rejects = RejectLog()
    try:
        yield rejects
    finally:
        stop.set()
        await asyncio.wait_for(task, 20)
        rejects.counts.update(result[0].counts)


def in_process_config(broker: LocalBroker, workdir: Path, **overrides: Any) -> HubConfig:
    """A validated configuration for an in-process hub."""
    return config_from_dict(config_data(broker, workdir, **overrides))


@asynccontextmanager
async def device_client(
    broker: LocalBroker, name: str = "test-device"
) -> AsyncIterator[aiomqtt.Client]:
    """A plain MQTT client, as a device or an attacker would use."""
    async with aiomqtt.Client(broker.host, broker.port, identifier=name) as client:
        yield client


async def stored_counts(db: Path) -> tuple[int, int, int]:
    """(events, incidents, notifications) in the store."""
    async with Store.open(db, readonly=True) as store:
        return (
            len(await store.events()),
            len(await store.incidents()),
            len(await store.notifications()),
        )


class HubProcess:
    """`python -m hub run` as a real process, with its log in a file."""

    def __init__(self, config_path: Path, log_path: Path) -> None:
        self.config_path = config_path
        self.log_path = log_path
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        """Start the hub and wait until it says it is ready."""
        offset = self.log_path.stat().st_size if self.log_path.exists() else 0
        with self.log_path.open("ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "hub", "run", "--config", str(self.config_path)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env={**os.environ, "PYTHONUNBUFFERED": "1"},
            )
        deadline = time.monotonic() + 30
        while "hub ready" not in self.log_path.read_text()[offset:]:
            if self.process.poll() is not None:
                raise AssertionError(f"hub exited at start:\n{self.log_path.read_text()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"hub not ready in time:\n{self.log_path.read_text()}")
            time.sleep(0.05)

    def kill(self) -> None:
        """SIGKILL: no chance to clean up."""
        assert self.process is not None
        self.process.kill()
        self.process.wait()

    def terminate(self) -> int:
        """SIGTERM and wait; returns the exit code."""
        assert self.process is not None
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(30)


def telecare(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the `telecare` command line as a user would, in a child process."""
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def incidents_become(db: Path, *wanted: str) -> None:
    """Wait until the store's incidents are in the `wanted` states, oldest first."""

    async def reached() -> bool:
        async with Store.open(db, readonly=True) as store:
            return [i.state for i in await store.incidents()] == list(wanted)

    await eventually(reached)


async def sent_ledger(broker: LocalBroker) -> SentPayload | None:
    """What the broker keeps of the alerts the hub sent with no record on its card."""
    settings = MqttSettings(host=broker.host, port=broker.port, client_id="ledger-reader")
    body = await asyncio.to_thread(retained, settings, SENT_TOPIC, timeout_s=5)
    return None if body is None else SentPayload.model_validate_json(body)
