"""Configuration keys of the drivers: Zigbee2MQTT devices and check-in deadlines."""

from pathlib import Path

import pytest

from hub.config.file import ConfigError, load_config

EXAMPLE = Path(__file__).parents[2] / "deploy" / "raspberrypi" / "hub.example.toml"


def test_example_declares_a_zigbee_device_and_deadlines(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TELECARE_TWILIO__AUTH_TOKEN", "from-the-environment")  # as installed
    config = load_config(EXAMPLE)
    sos = {d.id: d for d in config.devices}["sos-bedroom"]
    assert (sos.source, sos.friendly_name, sos.model) == (
        "zigbee2mqtt",
        "mum/bedroom/sos",
        "TS0215A_sos",
    )
    assert config.supervision.check_in_h["pendant"] == 6
    assert config.mqtt.zigbee2mqtt_base_topic == "zigbee2mqtt"
    assert config.gpio.cord is not None and config.gpio.cord.device == "cord-hall"
    assert config.gpio.wanted


def test_a_wired_button_must_speak_for_a_gpio_device(tmp_path: Path) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(
        '[[contacts]]\nname = "Alice"\n\n[[devices]]\nid = "cord-1"\nname = "cord"\n'
        'role = "pull_cord"\n\n[gpio]\ncord = { pin = 17, device = "cord-1" }\n'
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems == [
        "gpio: cord.device: 'cord-1' is not a [[devices]] entry with source gpio"
    ]


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ("pendant = 0", "supervision.check_in_h: pendant: 0.0 h is not between 0.1 and 168 hours"),
        ("sofa = 3", "supervision.check_in_h.sofa"),
    ],
)
def test_bad_deadline_names_its_key(tmp_path: Path, table: str, problem: str) -> None:
    path = tmp_path / "hub.toml"
    path.write_text('[[contacts]]\nname = "Alice"\n\n[supervision.check_in_h]\n' + table + "\n")
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert any(p.startswith(problem) for p in caught.value.problems), caught.value.problems


@pytest.mark.parametrize(
    "base", ["zigbee2mqtt/#", "/z2m", "z2m/", "telecare/z2m", "gpio", "gpio/z2m"]
)
def test_base_topic_must_be_plain_and_not_the_hubs_own(tmp_path: Path, base: str) -> None:
    path = tmp_path / "hub.toml"
    path.write_text(f'[mqtt]\nzigbee2mqtt_base_topic = "{base}"\n\n[[contacts]]\nname = "Alice"\n')
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert caught.value.problems[0].startswith("mqtt.zigbee2mqtt_base_topic: ")
