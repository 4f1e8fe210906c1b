"""Secrets stay secret: refused in a world-readable file, never printed."""

from pathlib import Path

import pytest
from click.testing import CliRunner

from hub.cli import main
from hub.config.file import ConfigError, load_config

WITH_SECRET = (
    '[mqtt]\nusername = "telecare-hub"\npassword = "hunter2-secret"\n[[contacts]]\nname = "A"\n'
)


@pytest.fixture(autouse=True)
def _no_env_secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TELECARE_MQTT__PASSWORD", raising=False)


def test_world_readable_file_with_a_secret_is_refused_naming_the_key(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(WITH_SECRET)
    path.chmod(0o644)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert len(caught.value.problems) == 1
    assert caught.value.problems[0].startswith("mqtt.password: a secret in a file everyone")
    assert "TELECARE_MQTT__PASSWORD" in caught.value.problems[0]


def test_private_file_with_a_secret_loads(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(WITH_SECRET)
    path.chmod(0o640)
    config = load_config(path)
    assert config.mqtt.password is not None
    assert config.mqtt.password.get_secret_value() == "hunter2-secret"


def test_world_readable_file_without_secrets_is_fine(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('[[contacts]]\nname = "A"\n')
    path.chmod(0o644)
    assert load_config(path).contacts[0].name == "A"


def test_secrets_never_appear_in_output_or_reprs(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(WITH_SECRET)
    path.chmod(0o600)
    result = CliRunner().invoke(main, ["config", "check", str(path)])
    assert result.exit_code == 0
    config = load_config(path)
    for text in (result.output, repr(config), str(config), config.model_dump_json()):
        assert "hunter2-secret" not in text
