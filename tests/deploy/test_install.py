"""The Raspberry Pi install: scripts lint clean, a staged install yields a locked-down broker."""

import contextlib
import getpass
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import aiomqtt
import pytest

from hub.mqtt.broker import free_port
from tests.support.reliability import record
from wire.schema import command_topic, event_topic

DEPLOY = Path(__file__).parents[2] / "deploy" / "raspberrypi"
SCRIPTS = [DEPLOY / "install.sh", DEPLOY / "add-device.sh", DEPLOY.parents[1] / ".ci" / "run"]


def _tool(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must have {name} (installed by .ci/run)")
        pytest.skip(f"{name} is not installed")
    return path


def test_every_script_passes_shellcheck() -> None:
    result = subprocess.run(
        [_tool("shellcheck"), *map(str, SCRIPTS)], capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout


def test_units_pass_systemd_analyze_verify(tmp_path: Path) -> None:
    analyze = shutil.which("systemd-analyze")
    if analyze is None:
        pytest.skip("systemd-analyze is not available here")
    telecare = shutil.which("telecare") or str(Path(os.sys.executable).parent / "telecare")
    for unit in (DEPLOY / "systemd").iterdir():
        text = unit.read_text().replace("/opt/telecare/venv/bin/telecare", telecare)
        (tmp_path / unit.name).write_text(text)
    result = subprocess.run(
        [analyze, "verify", *map(str, sorted(tmp_path.glob("*.service")))],
        capture_output=True,
        text=True,
        check=False,
    )
    problems = [
        line
        for line in (result.stdout + result.stderr).splitlines()
        if "telecare" in line and "User" not in line and "Unknown group" not in line
    ]
    assert problems == [], result.stderr


def test_hub_unit_is_supervised_and_hardened() -> None:
    unit = (DEPLOY / "systemd" / "telecare-hub.service").read_text()
    for line in (
        "Type=notify",
        "WatchdogSec=30",
        "Restart=always",
        "ProtectSystem=strict",
        "ReadWritePaths=/var/lib/telecare",
        "NoNewPrivileges=yes",
        "PrivateTmp=yes",
        "ProtectHome=yes",
        "CapabilityBoundingSet=",
        "SupplementaryGroups=gpio",
        "After=network-online.target mosquitto.service",
    ):
        assert line in unit.splitlines(), line


def _install(prefix: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", str(DEPLOY / "install.sh"), "--prefix", str(prefix), "--skip-python", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def test_dry_run_changes_nothing(tmp_path: Path) -> None:
    result = _install(tmp_path / "root", "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "+ write" in result.stdout
    assert not (tmp_path / "root").exists()


def test_install_is_idempotent_and_keeps_what_exists(tmp_path: Path) -> None:
    assert _install(tmp_path).returncode == 0
    config = tmp_path / "etc" / "telecare" / "hub.toml"
    secrets = tmp_path / "etc" / "telecare" / "secrets.env"
    config.write_text(config.read_text().replace('person = "Mum"', 'person = "Margaret"'))
    first_secret = secrets.read_text()
    second = _install(tmp_path)
    assert second.returncode == 0, second.stderr
    assert 'person = "Margaret"' in config.read_text()
    assert secrets.read_text() == first_secret
    assert oct(secrets.stat().st_mode & 0o777) == "0o600"
    assert oct(config.stat().st_mode & 0o777) == "0o640"


@pytest.fixture
def staged_broker(tmp_path: Path) -> Iterator[tuple[int, dict[str, str]]]:
    """Mosquitto running the staged install's configuration; yields (port, passwords)."""
    port = free_port()
    result = _install(tmp_path, "--mqtt-port", str(port), "--mqtt-bind", "127.0.0.1")
    assert result.returncode == 0, result.stderr
    added = subprocess.run(
        ["bash", str(DEPLOY / "add-device.sh"), "pendant-1", "--prefix", str(tmp_path)],
        capture_output=True,
        text=True,
        check=True,
    )
    secrets = (tmp_path / "etc" / "telecare" / "secrets.env").read_text()
    passwords = {
        "telecare-hub": secrets.split("TELECARE_MQTT__PASSWORD=")[1].split()[0],
        "pendant-1": added.stdout.split("password ")[1].split()[0],
    }
    wrapper = tmp_path / "broker.conf"
    # Running as root, Mosquitto would drop to its own user and could not read the staged files.
    wrapper.write_text(
        f"user {getpass.getuser()}\ninclude_dir {tmp_path / 'etc' / 'mosquitto' / 'conf.d'}\n"
    )
    broker = subprocess.Popen([_tool("mosquitto"), "-c", str(wrapper)], stderr=subprocess.PIPE)
    try:
        _wait_listening(port, broker)
        yield port, passwords
    finally:
        broker.terminate()
        broker.wait(10)
        assert broker.stderr is not None
        broker.stderr.close()


def _wait_listening(port: int, broker: subprocess.Popen[bytes]) -> None:
    import socket
    import time

    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        assert broker.poll() is None, "mosquitto exited with the staged configuration"
        try:
            socket.create_connection(("127.0.0.1", port), 0.2).close()
            return
        except OSError:
            time.sleep(0.05)
    raise AssertionError("staged mosquitto did not listen")


async def test_staged_broker_refuses_strangers_and_confines_devices(
    staged_broker: tuple[int, dict[str, str]],
) -> None:
    port, passwords = staged_broker
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client("127.0.0.1", port, identifier="anonymous"):
            pass
    with pytest.raises(aiomqtt.MqttError):
        async with aiomqtt.Client(
            "127.0.0.1", port, identifier="liar", username="pendant-1", password="wrong"
        ):
            pass

    def login(name: str, user: str) -> aiomqtt.Client:
        return aiomqtt.Client(
            "127.0.0.1", port, identifier=name, username=user, password=passwords[user]
        )

    async with login("hub", "telecare-hub") as hub:
        await hub.subscribe("#", qos=1)
        async with login("pendant", "pendant-1") as pendant:
            await pendant.subscribe(command_topic("door-1"), qos=1)
            await pendant.subscribe(command_topic("pendant-1"), qos=1)
            await hub.publish(command_topic("door-1"), b'{"command": "identify"}', qos=1)
            await hub.publish(command_topic("pendant-1"), b'{"command": "reassure"}', qos=1)
            heard_by_pendant = [str(m.topic) async for m in _take(pendant, 1)]
        async with login("spoofer", "pendant-1") as spoofer:
            # Mosquitto drops the connection of a client that publishes where it may not.
            with contextlib.suppress(aiomqtt.MqttError):
                await spoofer.publish(event_topic("door-1"), b'{"type": "door.opened"}', qos=1)
        async with login("pendant-again", "pendant-1") as pendant:
            await pendant.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)
        heard_by_hub: list[str] = []
        async for message in hub.messages:
            heard_by_hub.append(str(message.topic))
            if str(message.topic) == event_topic("pendant-1"):
                break

    assert heard_by_pendant == [command_topic("pendant-1")], "reads only its own commands"
    assert event_topic("door-1") not in heard_by_hub, "a device must not speak for another"
    assert heard_by_hub[-1] == event_topic("pendant-1"), "the hub hears every device"
    record(
        "abuse",
        "Mosquitto with the shipped configuration and ACL",
        anonymous_connected=0,
        wrong_password_connected=0,
        foreign_commands_read=0,
        spoofed_events_delivered=0,
    )


async def _take(client: aiomqtt.Client, count: int) -> "aiomqtt.client.MessagesIterator":
    taken = 0
    async for message in client.messages:
        yield message
        taken += 1
        if taken == count:
            return
