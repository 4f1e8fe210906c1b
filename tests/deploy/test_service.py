"""The hub as systemd runs it: readiness and watchdog; `telecare doctor` and `telecare backup`."""

import asyncio
import os
import signal
import socket
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.mqtt.broker import LocalBroker, free_port
from hub.store.backup import back_up
from hub.store.store import Store
from tests.support.hubs import config_data, write_toml

DEPLOY = Path(__file__).parents[2] / "deploy" / "raspberrypi"


def _unit_watchdog_s() -> int:
    unit = (DEPLOY / "systemd" / "telecare-hub.service").read_text()
    return int(unit.split("WatchdogSec=")[1].split()[0])


def test_hub_sends_ready_then_watchdog_pings_then_stopping(
    broker: LocalBroker, tmp_path: Path
) -> None:
    assert _unit_watchdog_s() > 0  # the unit asks for a watchdog; the hub must feed it
    notify_path = tmp_path / "notify.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(str(notify_path))
    listener.settimeout(20)
    config = write_toml(tmp_path / "hub.toml", config_data(broker, tmp_path))
    env = {**os.environ, "NOTIFY_SOCKET": str(notify_path), "WATCHDOG_USEC": "200000"}
    hub = subprocess.Popen(
        [sys.executable, "-m", "hub", "run", "--config", str(config)],
        env=env,
        stderr=subprocess.DEVNULL,
    )
    messages: list[str] = []
    try:
        while messages.count("WATCHDOG=1") < 3:
            messages.append(listener.recv(4096).decode())
        hub.send_signal(signal.SIGTERM)
        while not messages[-1].startswith("STOPPING=1"):
            messages.append(listener.recv(4096).decode())
        assert hub.wait(30) == 0
    finally:
        if hub.poll() is None:
            hub.kill()
        listener.close()
    assert messages[0].startswith("READY=1")
    assert "STATUS=" in messages[0]


def _doctor(config_path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(main, ["doctor", "--config", str(config_path)])
    return result.exit_code, result.output


def test_doctor_passes_a_healthy_setup(broker: LocalBroker, tmp_path: Path) -> None:
    config = write_toml(tmp_path / "hub.toml", config_data(broker, tmp_path))
    code, output = _doctor(config)
    assert code == 0, output
    assert "PROBLEM" not in output
    assert "accepts the hub" in output


def test_doctor_reports_exactly_the_planted_problems(tmp_path: Path) -> None:
    data = config_data(LocalBroker(tmp_path / "none", port=free_port()), tmp_path)
    data["devices"] = [
        *data["devices"],
        {"id": "cord", "name": "cord", "role": "pull_cord", "source": "gpio"},
    ]
    db = Path(data["store"]["path"])
    db.write_bytes(b"this is not a database" * 100)
    code, output = _doctor(write_toml(tmp_path / "hub.toml", data))
    problems = [line.split()[1] for line in output.splitlines() if line.startswith("PROBLEM")]
    assert code == 1
    expected = ["broker", "store"] + ([] if Path("/dev/gpiochip0").exists() else ["gpio"])
    assert problems == expected, output
    assert output.count("fix:") == len(expected)


def test_backup_copies_a_live_database_and_keeps_the_newest(tmp_path: Path) -> None:
    async def open_and_read_copy(path: Path) -> list[str]:
        async with Store.open(path, readonly=True) as copy:
            return await copy.integrity()

    async def create() -> None:
        async with Store.open(tmp_path / "hub.db"):
            pass

    asyncio.run(create())
    out = tmp_path / "backups"
    for day in (1, 2, 3):
        back_up(tmp_path / "hub.db", out, keep=2, now=datetime(2026, 11, day, 3, 15, tzinfo=UTC))
    config = write_toml(
        tmp_path / "hub.toml", config_data(LocalBroker(tmp_path / "b", port=1), tmp_path)
    )
    result = CliRunner().invoke(
        main, ["backup", "--config", str(config), "--out", str(out), "--keep", "2"]
    )
    assert result.exit_code == 0, result.output
    copies = sorted(p.name for p in out.glob("hub-*.db"))
    assert copies[0] == "hub-20261103T031500Z.db"
    assert len(copies) == 2
    assert asyncio.run(open_and_read_copy(out / copies[-1])) == ["ok"]
