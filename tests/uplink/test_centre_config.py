"""`[centre]` in hub.toml: optional, validated with errors that name the key, documented."""

import re
from pathlib import Path
from typing import Any

import pytest

from hub.config.file import ConfigError, config_from_dict, load_config
from hub.mqtt.broker import LocalBroker
from tests.support.hubs import config_data

EXAMPLE = Path(__file__).parents[2] / "deploy" / "raspberrypi" / "hub.example.toml"
KEY = "ab" * 32


def _centre(tmp_path: Path, **overrides: Any) -> dict[str, Any]:
    ca = tmp_path / "ca.pem"
    ca.write_text("a CA certificate\n")
    return {
        "servers": ["tls://127.0.0.1:4222"],
        "hub_id": "home-1",
        "password": "pw",
        "key": KEY,
        "ca_file": str(ca),
        **overrides,
    }


def _problems(broker: LocalBroker, tmp_path: Path, centre: dict[str, Any]) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        config_from_dict(config_data(broker, tmp_path, centre=centre))
    return caught.value.problems


def test_without_a_centre_section_there_is_no_centre(broker: LocalBroker, tmp_path: Path) -> None:
    assert config_from_dict(config_data(broker, tmp_path)).centre is None


def test_a_valid_section(broker: LocalBroker, tmp_path: Path) -> None:
    config = config_from_dict(config_data(broker, tmp_path, centre=_centre(tmp_path)))
    assert config.centre is not None
    assert config.centre.heartbeat_s == 60
    assert config.centre.key_bytes() == bytes.fromhex(KEY)
    assert config.centre.tls


@pytest.mark.parametrize(
    ("overrides", "named"),
    [
        ({"servers": ["centre.example.org"]}, "centre.servers"),
        ({"servers": []}, "centre.servers"),
        ({"hub_id": "Home 1"}, "centre.hub_id"),
        ({"key": "not hex"}, "centre.key"),
        ({"key": "abcd"}, "centre.key"),
        ({"ca_file": "/nonexistent/ca.pem"}, "centre.ca_file"),
        ({"heartbeat_s": 0}, "centre.heartbeat_s"),
        ({"password": None}, "centre: password"),
        ({"colour": "blue"}, "centre.colour"),
    ],
)
def test_bad_values_are_named(
    broker: LocalBroker, tmp_path: Path, overrides: dict[str, Any], named: str
) -> None:
    centre = {k: v for k, v in _centre(tmp_path, **overrides).items() if v is not None}
    problems = _problems(broker, tmp_path, centre)
    assert any(p.startswith(named) for p in problems), problems


def test_the_example_block_is_valid(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    text = EXAMPLE.read_text()
    block = re.search(r"^# \[centre\]\n((?:# .*\n?)+)", text, re.MULTILINE)
    assert block is not None, "the example documents [centre]"
    lines = ["[centre]", *(line.removeprefix("# ") for line in block.group(1).splitlines())]
    password, ca = tmp_path / "centre-password", tmp_path / "centre-ca.pem"
    password.write_text("pw\n")
    ca.write_text("a CA certificate\n")
    body = "\n".join(lines).replace("/etc/telecare/centre-password", str(password))
    body = body.replace("/etc/telecare/centre-ca.pem", str(ca))
    copy = tmp_path / "hub.toml"
    copy.write_text(text.replace(block.group(0), "") + "\n" + body + "\n")
    monkeypatch.setenv("TELECARE_TWILIO__AUTH_TOKEN", "from-the-environment")
    monkeypatch.setenv("TELECARE_CENTRE__KEY", KEY)

    config = load_config(copy)

    assert config.centre is not None
    assert config.centre.hub_id == "home-0042"
    assert config.centre.secret() == "pw"
    assert config.centre.relay_hook() == "https://centre.example.org/relay/twilio/home-0042/voice"


def test_a_secret_in_a_world_readable_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(f'[centre]\nkey = "{KEY}"\n')
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(p.startswith("centre.key: a secret") for p in caught.value.problems)
