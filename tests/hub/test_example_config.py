"""The shipped example configuration stays valid."""

from pathlib import Path

from hub.config import load_config

EXAMPLE = Path(__file__).parents[2] / "deploy" / "raspberrypi" / "hub.example.toml"


def test_example_config_is_valid() -> None:
    config = load_config(EXAMPLE)
    assert [c.name for c in config.contacts] == ["Alice", "Ben"]
    assert config.escalation["emergency"].steps[1].after_s == 120
    assert config.rules().devices["cord-bathroom"].room == "Bathroom"
