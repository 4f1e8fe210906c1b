"""The GPIO driver on gpiozero's MockFactory: presses, bounce, long-press cancel, light, buzzer."""

import asyncio
from typing import Any

import pytest
from gpiozero.pins.mock import MockFactory  # noqa: TID251  # tests drive the mock pins

from drivers.gpio import GpioPanel, GpioUnavailableError
from drivers.gpio_settings import GpioButtonConfig, GpioSettings
from tests.support.hubs import eventually

CORD_PIN, CANCEL_PIN, RED_PIN, GREEN_PIN, BUZZER_PIN = 17, 27, 5, 6, 22
SETTINGS = GpioSettings(
    cord=GpioButtonConfig(pin=CORD_PIN, device="cord-bathroom"),
    cancel=GpioButtonConfig(pin=CANCEL_PIN, device="hub-button"),
    led_red_pin=RED_PIN,
    led_green_pin=GREEN_PIN,
    buzzer_pin=BUZZER_PIN,
    bounce_s=0.05,
    hold_s=0.5,
)


class Wired:
    def __init__(self) -> None:
        self.factory = MockFactory()
        self.events: list[tuple[str, str]] = []

    def pin(self, number: int) -> Any:
        return self.factory.pin(number)

    def emit(self, device_id: str, event: str) -> None:
        self.events.append((device_id, event))


@pytest.fixture
def wired() -> Wired:
    return Wired()


async def settle(wired: Wired, count: int) -> None:
    async def arrived() -> bool:
        return len(wired.events) >= count

    await eventually(arrived, timeout_s=5)


async def cord_down(panel: GpioPanel, *, down: bool = True) -> None:
    """Wait until the debounced cord is held down (or, with `down=False`, released)."""

    async def reached() -> bool:
        return panel.settled and panel.is_down("cord-bathroom") == down

    await eventually(reached, timeout_s=5)


async def test_a_pull_is_a_call_for_help(wired: Wired) -> None:
    async with GpioPanel(SETTINGS, wired.emit, pin_factory=wired.factory) as panel:
        cord = wired.pin(CORD_PIN)
        cord.drive_low()
        await cord_down(panel)
        assert wired.events == [], "told on release, so a long pull can cancel instead"
        cord.drive_high()
        await settle(wired, 1)
    assert wired.events == [("cord-bathroom", "pendant.pressed")]


async def test_contact_bounce_is_one_press(wired: Wired) -> None:
    async with GpioPanel(SETTINGS, wired.emit, pin_factory=wired.factory) as panel:
        cord = wired.pin(CORD_PIN)
        for _ in range(5):  # a chattering contact
            cord.drive_low()
            cord.drive_high()
        cord.drive_low()
        await cord_down(panel)
        for _ in range(3):
            cord.drive_high()
            cord.drive_low()
        cord.drive_high()
        await cord_down(panel, down=False)
    assert wired.events == [("cord-bathroom", "pendant.pressed")]


async def test_a_blip_shorter_than_the_bounce_window_is_nothing(wired: Wired) -> None:
    async with GpioPanel(SETTINGS, wired.emit, pin_factory=wired.factory) as panel:
        cord = wired.pin(CORD_PIN)
        cord.drive_low()
        cord.drive_high()
        cancel = wired.pin(CANCEL_PIN)
        cancel.drive_low()
        await settle(wired, 1)
        await cord_down(panel, down=False)
    assert wired.events == [("hub-button", "pendant.cancelled")]


async def test_a_long_pull_cancels_and_raises_nothing(wired: Wired) -> None:
    async with GpioPanel(SETTINGS, wired.emit, pin_factory=wired.factory) as panel:
        cord = wired.pin(CORD_PIN)
        cord.drive_low()
        await settle(wired, 1)
        cord.drive_high()
        await cord_down(panel, down=False)
    assert wired.events == [("cord-bathroom", "pendant.cancelled")]


async def test_status_light_follows_the_incident_state(wired: Wired) -> None:
    red, green = wired.pin(RED_PIN), wired.pin(GREEN_PIN)
    async with GpioPanel(SETTINGS, wired.emit, pin_factory=wired.factory) as panel:
        assert (red.state, green.state) == (False, True), "steady green: all well"
        panel.show("alarm")

        async def red_flashing() -> bool:
            return [s.state for s in red.states[-3:]] in ([True, False, True], [False, True, False])

        await eventually(red_flashing, timeout_s=5)
        assert green.state is False
        panel.show("acknowledged")
        assert (red.state, green.state) == (True, True), "amber: red and green together"
        panel.show("ok")
        assert (red.state, green.state) == (False, True)


async def test_buzzer_chimes_a_reminder(wired: Wired) -> None:
    buzzer = wired.pin(BUZZER_PIN)
    async with GpioPanel(SETTINGS, wired.emit, pin_factory=wired.factory) as panel:
        panel.chime(times=2)

        async def beeped_twice() -> bool:
            return [s.state for s in buzzer.states].count(True) >= 2 and not buzzer.state

        await eventually(beeped_twice, timeout_s=5)


async def test_without_gpio_the_panel_says_it_is_unavailable() -> None:
    with pytest.raises(GpioUnavailableError):
        async with GpioPanel(SETTINGS, lambda device, event: None):
            pass


async def test_an_edge_arriving_while_closing_is_ignored(
    wired: Wired, caplog: pytest.LogCaptureFixture
) -> None:
    async with GpioPanel(SETTINGS, wired.emit, pin_factory=wired.factory):
        wired.pin(CORD_PIN).drive_low()  # crosses into the loop after the panel has closed
    await settle_none(wired)
    assert wired.events == []
    assert not [r for r in caplog.records if r.name == "asyncio"], "no callback failed"


async def settle_none(wired: Wired) -> None:
    """Let the loop run the callbacks that crossed over; none may raise or emit."""
    loop = asyncio.get_running_loop()
    done = loop.create_future()
    loop.call_later(SETTINGS.bounce_s * 2, done.set_result, None)
    await done
