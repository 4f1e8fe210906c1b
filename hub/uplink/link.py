"""The hub's link to its monitoring centre: one NATS connection, the uplink and the downlink.

Entered by the composition root only when `[centre]` is configured (`centre_link`). Every task
here runs beside the event path and reads or writes only the store: an alarm is decided,
committed and sent to the family whatever the link does, and reaches the centre once the link
is up. The client reconnects by itself, for ever, every `RECONNECT_WAIT_S`; the publisher goes
on from the last message the engine confirmed. The link logs its changes of state ("centre
unreachable", "reachable again, N to send"), not each failure.
"""

import asyncio
import contextlib
import logging
import ssl
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import datetime
from types import TracebackType
from typing import TYPE_CHECKING, Protocol, Self
from zoneinfo import ZoneInfo

import nats
import nats.errors
from nats.aio.client import Client

from hub.config.file import HubConfig
from hub.pipeline.desk import CarerControl, HubDesk, Publish
from hub.pipeline.feed import IncidentFeed
from hub.pipeline.rejections import RejectLog
from hub.store.store import Store
from hub.uplink.downlink import Control, Downlink
from hub.uplink.publisher import LinkDownError, Publisher
from hub.uplink.settings import CentreSettings
from hub.uplink.summary import heartbeat, hub_version
from rules.policy import RulesConfig, Severity
from wire.uplink import DOWNLINK_STREAM, downlink_consumer, inbox_prefix

if TYPE_CHECKING:
    from notifier.voice_relay import VoiceRelay

log = logging.getLogger("telecare.uplink")
RECONNECT_WAIT_S = 5
CONNECT_TIMEOUT_S = 5
POLL_S = 2.0  # ladder steps change no state, so the feed does not say them: looked for
RETRY_INITIAL_S = 1.0
RETRY_MAX_S = 60.0
FETCH_WAIT_S = 30.0
FETCH_BATCH = 16
CLOSE_S = 1.0


class CentreControl(CarerControl, Control, Protocol):
    """What the link needs of the event path: a carer's acknowledgement, and resolution."""


def ladder_steps(rules: RulesConfig) -> dict[str, int]:
    """How many steps each severity's ladder takes in all, its repeated runs included."""
    severities: tuple[Severity, ...] = ("emergency", "urgent", "info")
    plans = {s: rules.plan_for(s) for s in severities}
    return {s: len(p.steps) * (p.repeat + 1) for s, p in plans.items() if p is not None}


class CentreLink:
    """Heartbeats, the publisher and the downlink, for as long as it is entered."""

    def __init__(  # the seams it works through
        self,
        settings: CentreSettings,
        store: Store,
        downlink: Downlink,
        *,
        feed: IncidentFeed,
        ladders: dict[str, int],
        clock: Callable[[], datetime],
    ) -> None:
        self._settings = settings
        self._store = store
        self._downlink = downlink
        self._feed = feed
        self._ladders = ladders
        self._clock = clock
        self._started_at = clock()
        self._version = hub_version()
        self.publisher = Publisher(
            store,
            hub_id=settings.hub_id,
            key=settings.key_bytes(),
            ack_timeout_s=settings.ack_timeout_s,
            clock=clock,
        )
        self._more = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        self._nc: Client | None = None
        self.reachable: bool | None = None  # None: not tried yet
        self._closing = False

    async def __aenter__(self) -> Self:
        hub = self._settings.hub_id
        await self._store.link_uplink(hub, self._ladders, at=self._clock())
        self._tasks = [
            asyncio.create_task(self._beat_forever(), name="centre-heartbeat"),
            asyncio.create_task(self._listen(), name="centre-changes"),
            asyncio.create_task(self._run(), name="centre-link"),
        ]
        log.info("reporting to the monitoring centre as %s", hub)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._closing = True
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._nc is not None:
            with contextlib.suppress(TimeoutError, nats.errors.Error):
                async with asyncio.timeout(CLOSE_S):
                    await self._nc.close()

    async def beat(self) -> int:
        """Queue a heartbeat now (any older one not yet sent is dropped); returns its number."""
        at = self._clock()
        body = heartbeat(
            await self._store.devices(),
            at=at,
            started_at=self._started_at,
            version=self._version,
        )
        seq = await self._store.add_uplink_heartbeat(body.model_dump_json(), at=at)
        self._more.set()
        return seq

    def wake(self) -> None:
        """Something new is in the outbox: send it now."""
        self._more.set()

    async def _beat_forever(self) -> None:
        while True:
            await self.beat()
            await asyncio.sleep(self._settings.heartbeat_s)

    async def _listen(self) -> None:
        async with self._feed.listen() as changes:
            async for _ in changes:
                self._more.set()

    async def _run(self) -> None:
        try:
            password = self._settings.secret()
        except OSError as err:
            log.error("centre: cannot read password_file: %s; not reporting to it", err)
            return
        self._nc = await self._connect(password)
        js = self._nc.jetstream(timeout=self._settings.ack_timeout_s)
        async with asyncio.TaskGroup() as tasks:
            tasks.create_task(self._publish_forever(js), name="centre-publish")
            tasks.create_task(self._downlink_forever(js), name="centre-downlink")

    async def _connect(self, password: str) -> Client:
        """Connect, retrying for ever: TLS, this hub's user and inbox prefix."""
        settings = self._settings
        tls = None
        if settings.tls:
            cafile = None if settings.ca_file is None else str(settings.ca_file)
            tls = ssl.create_default_context(cafile=cafile)
        return await nats.connect(
            list(settings.servers),
            user=settings.hub_id,
            password=password,
            tls=tls,
            inbox_prefix=inbox_prefix(settings.hub_id),
            name=f"hub {settings.hub_id}",
            allow_reconnect=True,
            max_reconnect_attempts=-1,  # the first connection included
            reconnect_time_wait=RECONNECT_WAIT_S,
            connect_timeout=CONNECT_TIMEOUT_S,
            error_cb=self._on_error,
            disconnected_cb=self._on_disconnected,
            reconnected_cb=self._on_connected,
        )

    async def _on_error(self, err: Exception) -> None:
        await self._down(str(err) or type(err).__name__)

    async def _on_disconnected(self) -> None:
        await self._down("disconnected")

    async def _on_connected(self) -> None:
        self._more.set()

    async def _down(self, why: str) -> None:
        if self.reachable is not False and not self._closing:
            self.reachable = False
            waiting = await self._store.uplink_waiting()
            log.warning(
                "centre unreachable (%s): the home's alerting goes on; %d message(s) wait",
                why,
                waiting,
            )

    async def _up(self) -> None:
        if self.reachable is not True:
            was = self.reachable
            self.reachable = True
            waiting = await self._store.uplink_waiting()
            if was is None:
                log.info("centre reachable, %d to send", waiting)
            else:
                log.info("centre reachable again, %d to send", waiting)

    async def _publish_forever(self, js: nats.js.JetStreamContext) -> None:
        retry_s = RETRY_INITIAL_S
        while True:
            try:
                if self._nc is None or not self._nc.is_connected:
                    raise LinkDownError("not connected")
                if self.reachable is not True and await self._store.uplink_waiting() == 0:
                    await self._up()  # nothing to send: reachable is all there is to know
                await self.publisher.drain(js)
                await self._up()
                retry_s = RETRY_INITIAL_S
            except LinkDownError as err:
                await self._down(str(err))
                await self._wait_more(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            await self._wait_more(POLL_S)

    async def _wait_more(self, timeout_s: float) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._more.wait()
        self._more.clear()

    async def _downlink_forever(self, js: nats.js.JetStreamContext) -> None:
        consumer = downlink_consumer(self._settings.hub_id)
        retry_s = RETRY_INITIAL_S
        failing: str | None = None
        sub = await js.pull_subscribe_bind(consumer=consumer, stream=DOWNLINK_STREAM)
        while True:
            try:
                messages = await sub.fetch(batch=FETCH_BATCH, timeout=FETCH_WAIT_S)
            except TimeoutError:  # nats-py's own or asyncio's plain one (a subclass of OSError)
                continue  # nothing for this hub meanwhile
            except (nats.errors.Error, OSError) as err:
                if failing is None:
                    log.warning("centre's downlink %s not readable: %r", consumer, err)
                failing = str(err)
                await asyncio.sleep(retry_s)
                retry_s = min(retry_s * 2, RETRY_MAX_S)
                continue
            if failing is not None:
                log.info("centre's downlink %s readable again", consumer)
                failing, retry_s = None, RETRY_INITIAL_S
            for message in messages:
                await self._downlink.take(message)


@asynccontextmanager
async def centre_link(  # the composition root's parts it is built from
    config: HubConfig,
    store: Store,
    control: CentreControl,
    *,
    feed: IncidentFeed,
    rejects: RejectLog,
    publish: Publish,
    clock: Callable[[], datetime],
    relay: "VoiceRelay | None" = None,
) -> AsyncIterator[CentreLink | None]:
    """The link to the centre if `[centre]` is configured; else None, and the outbox emptied.

    `relay` checks and acts on the key presses the centre relays from alert calls.
    """
    settings = config.centre
    if settings is None:
        if await store.unlink_uplink():
            log.info("no [centre] configured any more: nothing more is kept for it")
        yield None
        return
    desk = HubDesk(store, publish, zone=ZoneInfo(config.home.timezone), clock=clock)
    desk.bind(control)
    running: list[CentreLink] = []

    def reported() -> None:
        for link in running:
            link.wake()

    downlink = Downlink(
        store,
        desk,
        control,
        hub_id=settings.hub_id,
        key=settings.key_bytes(),
        rejects=rejects,
        clock=clock,
        reported=reported,
        relay=relay,
    )
    ladders = ladder_steps(config.rules())
    async with CentreLink(
        settings, store, downlink, feed=feed, ladders=ladders, clock=clock
    ) as link:
        running.append(link)
        yield link
