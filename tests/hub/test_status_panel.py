"""The wired panel in the hub: a pulled cord raises the alarm, the light follows it."""

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from gpiozero import Device  # noqa: TID251  # tests reach the mock pins

from hub.mqtt.broker import LocalBroker
from hub.panel.light import IncidentLights
from hub.store.store import Store
from tests.support.hubs import DEVICES, device_client, eventually, in_process_config, running_hub
from wire.schema import event_topic

CORD, CANCEL, RED, GREEN = 17, 27, 5, 6
WIRED = [
    {"id": "cord-bathroom", "name": "pull-cord", "role": "pull_cord", "room": "Bathroom",
     "source": "gpio"},
    {"id": "hub-button", "name": "hub button", "role": "keyfob", "room": "Hall", "source": "gpio"},
]  # fmt: skip
GPIO = {
    "cord": {"pin": CORD, "device": "cord-bathroom"},
    "cancel": {"pin": CANCEL, "device": "hub-button"},
    "led_red_pin": RED,
    "led_green_pin": GREEN,
    "bounce_s": 0.02,
}


def test_light_is_green_red_or_amber_by_open_incidents() -> None:
    lights = IncidentLights()
    assert lights.light == "ok"
    lights.follow("help_call-1", "help_call", "firing")
    lights.follow("water_leak-2", "water_leak", "acknowledged")
    assert lights.light == "alarm"
    lights.follow("help_call-1", "help_call", "acknowledged")
    assert lights.light == "acknowledged"
    lights.follow("help_call-1", "help_call", "resolved")
    lights.follow("water_leak-2", "water_leak", "cancelled")
    assert lights.light == "ok"


def test_a_medication_reminder_chimes_once_when_it_fires() -> None:
    lights = IncidentLights()
    assert not lights.follow("medication-1", "medication", "pending")
    assert lights.follow("medication-1", "medication", "firing")
    assert not lights.follow("medication-1", "medication", "firing")
    assert not lights.follow("help_call-2", "help_call", "firing")


@pytest.fixture
def mock_gpio(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """gpiozero's MockFactory as the default pin factory, for a hub that finds its own."""
    monkeypatch.setenv("GPIOZERO_PIN_FACTORY", "mock")
    yield
    if Device.pin_factory is not None:
        Device.pin_factory.close()
    Device.pin_factory = None


def pin(number: int) -> Any:
    assert Device.pin_factory is not None
    return Device.pin_factory.pin(number)


async def test_pulled_cord_raises_the_alarm_and_the_cancel_button_ends_it(
    broker: LocalBroker, tmp_path: Path, mock_gpio: None, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="telecare.gpio")
    config = in_process_config(broker, tmp_path, devices=[*DEVICES, *WIRED], gpio=GPIO)
    async with running_hub(config):
        assert (pin(RED).state, pin(GREEN).state) == (False, True)
        pin(CORD).drive_low()

        async def cord_held() -> bool:
            return "cord-bathroom is pulled" in caplog.text

        await eventually(cord_held)
        pin(CORD).drive_high()

        async def red_flashing() -> bool:
            return pin(GREEN).state is False and [s.state for s in pin(RED).states].count(True) >= 2

        await eventually(red_flashing)
        pin(CANCEL).drive_low()

        async def green_again() -> bool:
            return (pin(RED).state, pin(GREEN).state) == (False, True)

        await eventually(green_again)
    async with Store.open(config.store.path, readonly=True) as store:
        events = [(e.event.device_id, e.event.type, e.event.source) for e in await store.events()]
        incidents = [(i.cause, i.state) for i in await store.incidents()]
    assert events == [
        ("cord-bathroom", "pendant.pressed", "gpio"),
        ("hub-button", "pendant.cancelled", "gpio"),
    ]
    assert incidents == [("help_call", "cancelled")]


async def test_without_gpio_the_hub_runs_and_says_so_once(
    broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="telecare.gpio")
    config = in_process_config(broker, tmp_path, devices=[*DEVICES, *WIRED], gpio=GPIO)
    async with running_hub(config), device_client(broker) as door:
        await door.publish(event_topic("door-1"), b'{"type": "door.opened"}', qos=1)

        async def stored() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                return len(await store.events()) == 1

        await eventually(stored)
    said = [r.getMessage() for r in caplog.records if r.name == "telecare.gpio"]
    assert len(said) == 1 and said[0].startswith("GPIO disabled")
