"""What the web layer needs from the rest of the hub, free of any web framework."""

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime, time
from typing import TYPE_CHECKING, Protocol

from hub.config.sections import WebSettings
from hub.pipeline.feed import IncidentFeed
from hub.pipeline.inbox import Inbox
from hub.pipeline.rejections import RejectLog
from hub.pipeline.stages import StageTimings
from hub.store.store import Store
from rules.engine import Engine, EngineState

if TYPE_CHECKING:  # the Twilio SDK is loaded only where Twilio is configured
    from notifier.twilio_hooks import TwilioHooks


class IncidentControl(Protocol):
    """Changes a person may make from the dashboard, and the engine they are made through."""

    engine: Engine
    state: EngineState

    async def acknowledge(self, incident_id: str, by: str) -> bool:
        """Record that `by` is dealing with a firing incident; False if it is not firing."""
        ...

    async def resolve(self, incident_id: str, by: str, *, note: str | None = None) -> bool:
        """Record that `by` says an open incident is over; False if it is not open."""
        ...

    async def silence(self, device_id: str, *, until: datetime | None, by: str) -> None:
        """Silence a non-emergency device until `until` (None lifts it); see `rules.settings`."""
        ...

    async def set_digest_times(
        self, contact: str, times: tuple[time, ...] | None, *, by: str
    ) -> None:
        """Give a contact's digest new times (None: as configured)."""
        ...

    async def set_occupancy(self, *, home: bool, by: str) -> None:
        """Someone besides the cared-for person is at home (or nobody is any more)."""
        ...


@dataclass(frozen=True, slots=True)
class WebContext:
    """The hub's parts the dashboard reads and acts through.

    Attributes:
        settings: The `[web]` section.
        store: The hub's store (reads, health and counts).
        control: Acknowledges incidents through the pipeline, so the engine knows.
        feed: Incident changes as they happen, for live pages.
        rejects: Dropped inputs by cause, for `/metrics`.
        inbox: Messages waiting for the event path, for `/metrics`.
        broker_connected: Whether the MQTT session is up now.
        identify: Asks a device to show itself (blink, beep): the installer's test. A native
            device gets the command; a Zigbee2MQTT one the `/set` its model exposes. Returns
            None once asked, or why the device cannot be asked.
        person: How the cared-for person is named ("Mum").
        labels: Words for each incident cause ("pendant alarm").
        timezone: The home's IANA time zone, for times on pages.
        clock: The hub's clock.
        twilio_hooks: What Twilio's web hooks do; None unless `[twilio] public_url` is set.
        stages: How long messages spend in each stage of the event path, for `/metrics`.
    """

    settings: WebSettings
    store: Store
    control: IncidentControl
    feed: IncidentFeed
    rejects: RejectLog
    inbox: Inbox
    broker_connected: Callable[[], bool]
    identify: Callable[[str], str | None]
    person: str
    labels: Mapping[str, str]
    timezone: str
    clock: Callable[[], datetime]
    twilio_hooks: "TwilioHooks | None" = None
    stages: StageTimings | None = None
