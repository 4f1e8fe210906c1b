"""The shipped example configuration stays valid."""

from pathlib import Path

import pytest

from hub.config.file import load_config

EXAMPLE = Path(__file__).parents[2] / "deploy" / "raspberrypi" / "hub.example.toml"


@pytest.fixture(autouse=True)
def _twilio_token_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    # The example keeps secrets out of the file, as the installer does (secrets.env).
    monkeypatch.setenv("TELECARE_TWILIO__AUTH_TOKEN", "from-the-environment")


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert [c.name for c in config.contacts] == ["Alice", "Ben"]
    assert config.escalation["emergency"].steps[1].after_s == 120
    assert config.rules().devices["cord-bathroom"].room == "Bathroom"


def test_example_channels_and_secrets_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("TELECARE_TWILIO__AUTH_TOKEN", "from-the-environment")
    monkeypatch.setenv("TELECARE_NTFY__TOKEN", "tk_env")
    monkeypatch.setenv("TELECARE_APPRISE__URLS", '{"Ben": ["tgram://123:abc/456"]}')

    config = load_config(EXAMPLE)

    assert config.twilio is not None
    assert config.twilio.auth_token.get_secret_value() == "from-the-environment"
    assert config.twilio.from_number == "+447700900999"
    assert config.ntfy is not None
    assert config.ntfy.token is not None
    assert config.ntfy.token.get_secret_value() == "tk_env"
    assert [u.get_secret_value() for u in config.apprise.urls["Ben"]] == ["tgram://123:abc/456"]
    assert config.contacts[0].ntfy_topic == "alice-3f9c2b7d"
    assert [s.channel for s in config.escalation["emergency"].steps] == ["ntfy", "sms"]
