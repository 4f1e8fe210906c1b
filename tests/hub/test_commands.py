"""The `telecare` command as a user runs it: real processes, real broker."""

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from tests.support.hubs import (
    HubProcess,
    config_data,
    device_client,
    eventually,
    stored_counts,
    write_toml,
)
from wire.schema import event_topic


def _telecare(*args: str, timeout_s: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "hub", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
    )


@pytest.mark.slow
def test_demo_ends_by_itself_with_a_summary() -> None:
    result = _telecare("demo", "--duration", "10", timeout_s=90)
    assert result.returncode == 0, result.stderr
    incidents = re.search(r"incidents:\s+(\d+)", result.stdout)
    notifications = re.search(r"notifications:\s+(\d+) \((\d+) delivered", result.stdout)
    assert incidents is not None
    assert notifications is not None
    assert int(incidents.group(1)) >= 1
    assert int(notifications.group(2)) >= 1
    assert "EMERGENCY -> Alice: Mum pressed the pull-cord (Bathroom) at 14:30" in result.stderr
    assert "Alice: Mum pressed the pendant" not in result.stderr, "the mistaken press is kept quiet"
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (None, "no such file"),
        ("[mqtt\nport = 1", "not valid TOML"),
        ('[mqtt]\nport = "x"\n[[contacts]]\nname = "A"\n', "mqtt.port"),
    ],
)
def test_run_with_a_bad_config_says_why_and_exits_2(
    tmp_path: Path, content: str | None, expected: str
) -> None:
    path = tmp_path / "hub.toml"
    if content is not None:
        path.write_text(content)
    result = _telecare("run", "--config", str(path))
    assert result.returncode == 2
    assert expected in result.stderr
    assert "Traceback" not in result.stderr


async def test_sigterm_stops_cleanly_and_lists_work(
    broker: LocalBroker, tmp_path: Path, hub_processes: list[HubProcess]
) -> None:
    data = config_data(broker, tmp_path)
    config_path = write_toml(tmp_path / "hub.toml", data)
    db = Path(data["store"]["path"])
    hub = HubProcess(config_path, tmp_path / "hub.log")
    hub_processes.append(hub)
    hub.start()
    async with device_client(broker) as device:
        await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)

        async def notified() -> bool:
            return db.exists() and (await stored_counts(db))[2] == 1

        await eventually(notified)
    assert hub.terminate() == 0
    log = (tmp_path / "hub.log").read_text()
    stages = ["stopping: no new messages are taken", "hub stopped"]
    assert all(stage in log for stage in stages), log
    assert log.index(stages[0]) < log.index(stages[1])

    events = _telecare("events", "--config", str(config_path), "--json")
    incidents = _telecare("incidents", "--db", str(db), "--json")
    assert events.returncode == 0, events.stderr
    rows = [json.loads(line) for line in events.stdout.splitlines()]
    assert [(r["device_id"], r["type"]) for r in rows] == [("pendant-1", "pendant.pressed")]
    opened = [json.loads(line) for line in incidents.stdout.splitlines()]
    assert [(i["cause"], i["state"]) for i in opened] == [("help_call", "firing")]


def test_listing_without_a_database_says_so(tmp_path: Path) -> None:
    result = _telecare("events", "--db", str(tmp_path / "none.db"))
    assert result.returncode == 1
    assert "no hub database" in result.stderr


@pytest.mark.slow
def test_ctrl_c_ends_the_demo_cleanly_with_its_summary(tmp_path: Path) -> None:
    log_path = tmp_path / "demo.log"
    with log_path.open("wb") as log:
        demo = subprocess.Popen(
            [sys.executable, "-m", "hub", "demo"],
            stdout=subprocess.PIPE,
            stderr=log,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        try:
            deadline = time.monotonic() + 60
            while "pendant.pressed" not in log_path.read_text():
                assert demo.poll() is None, log_path.read_text()
                assert time.monotonic() < deadline, "the demo never got to the pendant press"
                time.sleep(0.05)
            demo.send_signal(signal.SIGINT)
            out, _ = demo.communicate(timeout=30)
        finally:
            if demo.poll() is None:
                demo.kill()
    assert demo.returncode == 0
    assert "Summary" in out.decode()
    assert "hub stopped" in log_path.read_text()
    assert "Traceback" not in log_path.read_text()
