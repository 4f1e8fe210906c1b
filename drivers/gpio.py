"""Driver for what is wired to the Pi's GPIO: the only module that touches gpiozero.

Buttons in: a pull-cord or big button (a press is a call for help; a long press cancels) and the
hub's cancel button. Out: a status light (a red/green LED: steady green all well, flashing red
an alarm is raised, amber help is coming) and a buzzer for reminders.

gpiozero calls back on its own threads; each edge crosses into the asyncio loop with
`loop.call_soon_threadsafe` and is debounced there: a button counts as pressed or released only
once its pin has stayed put for `bounce_s`.
"""

import asyncio
import logging
import time
import warnings
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from types import TracebackType
from typing import Any, Literal, Self

from drivers.decoding import Decoded, Rejected
from drivers.gpio_settings import GpioButtonConfig, GpioSettings
from wire.devices import DeviceRecord
from wire.event import EVENT_TYPES, DeviceEvent, EventType
from wire.schema import InboundMessage

log = logging.getLogger("telecare.gpio")
BLINK_S = 0.5
CHIME_S = 0.2
# Button events join the hub's inbox as messages on these local topics: they take the same path
# as everything else (registration check, store, rules) but never touch the broker.
GPIO_TOPIC_PREFIX = "gpio/"
Light = Literal["ok", "alarm", "acknowledged"]
Emit = Callable[[str, EventType], None]
"""Called on the loop with the device id and the event type of a button's press."""


class GpioUnavailableError(Exception):
    """This machine has no usable GPIO (or no pin library)."""


class _DebouncedButton:
    """One button, debounced on the loop; calls back on settled presses, releases and holds."""

    def __init__(
        self,
        button: Any,
        loop: asyncio.AbstractEventLoop,
        *,
        bounce_s: float,
        hold_s: float,
        on_change: Callable[[Literal["down", "up", "held"]], None],
    ) -> None:
        self._button = button
        self._loop = loop
        self._bounce_s = bounce_s
        self._hold_s = hold_s
        self._on_change = on_change
        self._down = False
        self._closed = False
        self._settle: asyncio.TimerHandle | None = None
        self._hold: asyncio.TimerHandle | None = None
        button.when_pressed = self._edge
        button.when_released = self._edge

    @property
    def down(self) -> bool:
        """Whether the button is, debounced, held down now."""
        return self._down

    @property
    def settling(self) -> bool:
        """Whether an edge is still inside its bounce window."""
        return self._settle is not None

    def _edge(self) -> None:  # on a gpiozero thread
        self._loop.call_soon_threadsafe(self._restart_settle)

    def _restart_settle(self) -> None:
        if self._closed:
            return  # an edge that crossed over while the panel was closing
        if self._settle is not None:
            self._settle.cancel()
        self._settle = self._loop.call_later(self._bounce_s, self._settled)

    def _settled(self) -> None:
        self._settle = None
        down = bool(self._button.is_pressed)
        if down == self._down:
            return  # a bounce that came back to where it was
        self._down = down
        if down:
            self._hold = self._loop.call_later(self._hold_s, self._held)
        elif self._hold is not None:
            self._hold.cancel()
            self._hold = None
        self._on_change("down" if down else "up")

    def _held(self) -> None:
        self._hold = None
        self._on_change("held")

    def close(self) -> None:
        self._closed = True
        for handle in (self._settle, self._hold):
            if handle is not None:
                handle.cancel()
        self._button.close()


class GpioPanel:
    """The hub's wired buttons, status light and buzzer.

    Args:
        settings: Pins and timings (`[gpio]`).
        emit: Receives each button event on the loop.
        pin_factory: A gpiozero pin factory (tests pass `MockFactory()`); the default finds
            the Pi's own.
    """

    def __init__(self, settings: GpioSettings, emit: Emit, *, pin_factory: Any = None) -> None:
        self._settings = settings
        self._emit = emit
        self._factory = pin_factory
        self._buttons: dict[str, _DebouncedButton] = {}
        self._outputs: list[Any] = []
        self._red: Any = None
        self._green: Any = None
        self._buzzer: Any = None
        self._light: Light | None = None
        self._cord_long = False

    async def __aenter__(self) -> Self:
        """Claim the pins.

        Raises:
            GpioUnavailableError: no GPIO here (not a Pi, or no pin library installed).
        """
        try:
            # gpiozero (some 10 MB) is loaded only by a hub that has something wired to its pins.
            import gpiozero  # noqa: PLC0415
            from gpiozero.exc import GPIOZeroError, PinFactoryFallback  # noqa: PLC0415
        except ImportError as err:
            raise GpioUnavailableError(str(err)) from err
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", PinFactoryFallback)
                self._claim(gpiozero, asyncio.get_running_loop())
        except (GPIOZeroError, ImportError, OSError, RuntimeError) as err:
            self._release()
            raise GpioUnavailableError(str(err) or type(err).__name__) from err
        self.show("ok")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._release()

    def _claim(self, gpiozero: Any, loop: asyncio.AbstractEventLoop) -> None:
        s = self._settings
        if s.cord is not None:
            button = self._button(gpiozero, s.cord, loop, self._on_cord)
            self._buttons[s.cord.device] = button
        if s.cancel is not None:
            button = self._button(gpiozero, s.cancel, loop, self._on_cancel)
            self._buttons[s.cancel.device] = button
        if s.led_red_pin is not None:
            self._red = self._output(gpiozero.LED, s.led_red_pin)
        if s.led_green_pin is not None:
            self._green = self._output(gpiozero.LED, s.led_green_pin)
        if s.buzzer_pin is not None:
            self._buzzer = self._output(gpiozero.Buzzer, s.buzzer_pin)

    def _button(
        self,
        gpiozero: Any,
        wired: GpioButtonConfig,
        loop: asyncio.AbstractEventLoop,
        react: Callable[[str, Literal["down", "up", "held"]], None],
    ) -> _DebouncedButton:
        button = gpiozero.Button(wired.pin, pull_up=True, pin_factory=self._factory)
        return _DebouncedButton(
            button,
            loop,
            bounce_s=self._settings.bounce_s,
            hold_s=self._settings.hold_s,
            on_change=lambda change: react(wired.device, change),
        )

    def _output(self, kind: Any, pin: int) -> Any:
        device = kind(pin, pin_factory=self._factory)
        self._outputs.append(device)
        return device

    def _on_cord(self, device_id: str, change: Literal["down", "up", "held"]) -> None:
        # A pull is told on release, so that a long pull (a cancel) never raises an alarm first.
        if change == "down":
            log.debug("%s is pulled; told on release", device_id)
            self._cord_long = False
        elif change == "held":
            self._cord_long = True
            self._emit(device_id, "pendant.cancelled")
        elif not self._cord_long:
            self._emit(device_id, "pendant.pressed")

    def _on_cancel(self, device_id: str, change: Literal["down", "up", "held"]) -> None:
        if change == "down":
            self._emit(device_id, "pendant.cancelled")

    def is_down(self, device_id: str) -> bool:
        """Whether the button wired for `device_id` is held down (debounced)."""
        return self._buttons[device_id].down

    @property
    def settled(self) -> bool:
        """Whether no button has an edge still inside its bounce window."""
        return not any(b.settling for b in self._buttons.values())

    def show(self, light: Light) -> None:
        """Steady green: all well. Flashing red: alarm raised. Amber: help is coming."""
        if light == self._light:
            return
        self._light = light
        red = {"ok": "off", "alarm": "blink", "acknowledged": "on"}[light]
        green = {"ok": "on", "alarm": "off", "acknowledged": "on"}[light]
        for led, how in ((self._red, red), (self._green, green)):
            if led is None:
                continue
            if how == "blink":
                led.blink(on_time=BLINK_S, off_time=BLINK_S)
            elif how == "on":
                led.on()
            else:
                led.off()

    def chime(self, times: int = 3) -> None:
        """Beep the buzzer `times` times (a reminder), without blocking."""
        if self._buzzer is not None:
            self._buzzer.beep(on_time=CHIME_S, off_time=CHIME_S, n=times)

    def _release(self) -> None:
        for button in self._buttons.values():
            button.close()
        for output in self._outputs:
            output.close()
        self._buttons, self._outputs = {}, []
        self._red = self._green = self._buzzer = None


def gpio_message(device_id: str, event: EventType) -> InboundMessage:
    """A button event as a message for the hub's inbox (QoS 0: nothing to acknowledge)."""
    return InboundMessage(
        topic=f"{GPIO_TOPIC_PREFIX}{device_id}",
        payload=event.encode(),
        received_ns=time.perf_counter_ns(),
    )


class GpioDriver:
    """Decodes the local `gpio/<device_id>` messages that `GpioPanel` events become."""

    def __init__(self, devices: Iterable[DeviceRecord] = ()) -> None:
        self._ids: frozenset[str] = frozenset()
        self.register(devices)

    @property
    def subscriptions(self) -> Sequence[str]:
        """None: these messages never come from the broker."""
        return ()

    def owns(self, topic: str) -> bool:
        """The local GPIO topics."""
        return topic.startswith(GPIO_TOPIC_PREFIX)

    def register(self, devices: Iterable[DeviceRecord]) -> None:
        """Remember which wired devices are registered."""
        self._ids = frozenset(d.id for d in devices if d.source == "gpio")

    def decode(self, message: InboundMessage, *, received_at: datetime) -> list[Decoded]:
        """The button event, stamped with the hub's time."""
        device_id = message.topic.removeprefix(GPIO_TOPIC_PREFIX)
        event = message.payload.decode("ascii", errors="replace")
        if device_id not in self._ids:
            return [Rejected("unregistered_device", f"{device_id} is not a wired device")]
        if event not in EVENT_TYPES:
            return [Rejected("unknown_event_type", event[:64])]
        return [
            DeviceEvent.model_validate(
                {
                    "device_id": device_id,
                    "type": event,
                    "received_at": received_at,
                    "source": "gpio",
                }
            )
        ]
