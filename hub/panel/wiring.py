"""The hub's wired panel: GPIO buttons into the inbox, incidents onto the status light.

Optional by nature: with no pins configured nothing is claimed, and on a machine without GPIO
the hub runs on without it and says so once.
"""

import logging
from collections.abc import Callable, Iterable
from types import TracebackType
from typing import Any, Self

from drivers.gpio import GpioPanel, GpioUnavailableError, gpio_message
from drivers.gpio_settings import GpioSettings
from hub.panel.light import IncidentLights
from rules.incidents import Incident
from wire.event import EventType
from wire.schema import InboundMessage

log = logging.getLogger("telecare.gpio")


class StatusPanel:
    """Owns the GPIO panel for the hub's lifetime, if there is one.

    Args:
        settings: `[gpio]`.
        deliver: Puts a button event into the hub's inbox.
        open_incidents: Incidents open at start, so the light is right from the first moment.
        pin_factory: A gpiozero pin factory for tests; the Pi's own by default.
    """

    def __init__(
        self,
        settings: GpioSettings,
        deliver: Callable[[InboundMessage], None],
        open_incidents: Iterable[Incident] = (),
        *,
        pin_factory: Any = None,
    ) -> None:
        self._settings = settings
        self._deliver = deliver
        self._factory = pin_factory
        self._panel: GpioPanel | None = None
        self._lights = IncidentLights()
        for incident in open_incidents:
            self._lights.follow(incident.id, incident.cause, incident.state)

    @property
    def active(self) -> bool:
        """Whether GPIO is in use."""
        return self._panel is not None

    async def __aenter__(self) -> Self:
        if not self._settings.wanted:
            return self
        panel = GpioPanel(self._settings, self._emit, pin_factory=self._factory)
        try:
            self._panel = await panel.__aenter__()
        except GpioUnavailableError as err:
            log.warning("GPIO disabled: %s; wired buttons, light and buzzer are off", err)
            return self
        self._panel.show(self._lights.light)
        log.info("GPIO panel ready")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._panel is not None:
            await self._panel.__aexit__(exc_type, exc, tb)
            self._panel = None

    def observe(self, topic: str, body: bytes) -> None:
        """See what the hub publishes; incident changes move the light (and chime reminders)."""
        chime = self._lights.follow_announcement(topic, body)
        if self._panel is not None:
            self._panel.show(self._lights.light)
            if chime:
                self._panel.chime()

    def _emit(self, device_id: str, event: EventType) -> None:
        log.info("wired %s: %s", device_id, event)
        self._deliver(gpio_message(device_id, event))
