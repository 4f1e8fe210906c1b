"""Composition root: builds the adapters, runs the hub, shuts it down in stages."""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from datetime import UTC, datetime
from functools import partial

import stamina

from hub.config.file import HubConfig
from hub.mqtt.session import MqttSession
from hub.panel.wiring import StatusPanel
from hub.pipeline.feed import IncidentFeed
from hub.pipeline.inbox import Inbox
from hub.pipeline.intake import Intake
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.service.clock import VirtualClock, WallClock
from hub.service.heartbeat import ping_forever
from hub.service.notify import Notifier
from hub.service.restore import open_store, restore, sent_before
from hub.service.systemd import SystemdNotifier
from hub.store.backlog import Backlog
from hub.store.errors import StoreWriteError
from hub.store.store import Store
from hub.uplink.link import centre_link
from hub.web.context import WebContext
from hub.web.gate import DashboardGate
from notifier.dispatcher import Dispatcher
from wire.control import CONTROL_TOPICS
from wire.schema import (
    CLOCK_TOPIC,
    HUB_STATUS_TOPIC,
    SENT_TOPIC,
    CommandPayload,
    HubStatusPayload,
    InboundMessage,
)

log = logging.getLogger("telecare.hub")
DRAIN_INGEST_S = 1.5
DRAIN_OUTBOX_S = 1.5
FINAL_WRITE_S = 1.0
GOODBYE_S = 0.5
STORE_RETRY_INITIAL_S = 0.5
STORE_RETRY_MAX_S = 15.0


def _now() -> datetime:
    return datetime.now(UTC)


async def serve(
    config: HubConfig,
    stop: asyncio.Event,
    *,
    on_ready: Callable[[], None] | None = None,
) -> RejectLog:
    """Run the hub until `stop` is set; returns what it rejected, by cause."""
    rejects = RejectLog()
    async with AsyncExitStack() as stack:
        store = await open_store(stack, config.store.path)
        sent = await sent_before(config.mqtt)
        backlog = Backlog(store, broker_window=config.mqtt.broker_max_inflight, sent=sent)
        restored = await restore(config, store, backlog, rejects)
        virtual = VirtualClock() if config.simulation.virtual_clock else None
        if virtual is not None:
            log.warning("virtual clock: time moves only on %s (simulation only)", CLOCK_TOPIC)
        wall = WallClock.from_environment()
        clock = virtual.now if virtual else wall.now
        inbox = Inbox(urgent=restored.intake.is_priority)
        mqtt = _session(config, restored.intake, inbox, virtual=virtual is not None)
        inbox.throttle(pause=mqtt.pause_reading, resume=mqtt.resume_reading, unread=mqtt.has_unread)
        sent.publish_to(partial(mqtt.publish, SENT_TOPIC, retain=True))
        panel = StatusPanel(config.gpio, inbox.put_nowait, restored.open_incidents)

        def publish(topic: str, body: bytes, retain: bool) -> None:
            mqtt.publish(topic, body, retain=retain)
            panel.observe(topic, body)

        notifier = Notifier(config, store, publish=publish, clock=clock, outbox=backlog)
        async with notifier, mqtt, panel, store.folding_log():
            feed = IncidentFeed()
            pipeline = Pipeline(
                engine=restored.engine,
                state=restored.state,
                store=store,
                intake=restored.intake,
                dispatcher=notifier.dispatcher,
                ack=mqtt.ack,
                publish=publish,
                clock=clock,
                virtual_clock=virtual,
                on_change=feed.publish,
                backlog=backlog,
                wall=None if virtual else wall,
            )
            notifier.bind(pipeline)
            web = _dashboard(
                _web_context(
                    config, store, pipeline, feed, notifier, rejects=rejects, mqtt=mqtt, inbox=inbox
                )
            )
            centre = centre_link(
                config, store, pipeline, feed=feed, rejects=rejects, publish=publish,
                clock=clock, relay=notifier.voice_relay,
            )  # fmt: skip
            async with centre:  # beside the event path: nothing there waits on it
                await _serve_until_stopped(
                    config,
                    pipeline,
                    inbox,
                    mqtt,
                    web=web,
                    stop=stop,
                    on_ready=on_ready,
                    fault_told=sent.fault_told,
                )
            await _shut_down(store, pipeline, notifier.dispatcher, mqtt)
    return rejects


def _session(
    config: HubConfig,
    intake: Intake,
    inbox: asyncio.Queue[InboundMessage | None],
    *,
    virtual: bool,
) -> MqttSession:
    """The broker session: every driver's topics, the control topics, the hub's status."""
    return MqttSession(
        config.mqtt,
        subscriptions=(
            *intake.subscriptions,
            *sorted(CONTROL_TOPICS),
            *([CLOCK_TOPIC] if virtual else []),
        ),
        deliver=inbox.put_nowait,
        will=(HUB_STATUS_TOPIC, HubStatusPayload(online=False).model_dump_json().encode()),
        birth=(
            HUB_STATUS_TOPIC,
            HubStatusPayload(online=True, since=_now()).model_dump_json().encode(),
        ),
    )


async def _serve_until_stopped(
    config: HubConfig,
    pipeline: Pipeline,
    inbox: asyncio.Queue[InboundMessage | None],
    mqtt: MqttSession,
    *,
    web: AbstractAsyncContextManager[object],
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None,
    fault_told: bool = False,
) -> None:
    """Serve with the dashboard up; tell systemd, and the outside world, while all is well.

    `fault_told`: the carers were told, before this start, that the card refused writes.
    """
    systemd = SystemdNotifier()
    background: list[asyncio.Task[None]] = []

    def ready() -> None:
        systemd.notify("READY=1", _status(pipeline))
        background.append(asyncio.create_task(systemd.keep_alive(), name="watchdog"))
        heartbeat = ping_forever(config.heartbeat, lambda: mqtt.connected)
        background.append(asyncio.create_task(heartbeat, name="heartbeat"))
        if on_ready is not None:
            on_ready()

    pipeline.announce_occupancy(pipeline.now())
    watch = asyncio.create_task(_watch_broker(pipeline, mqtt, config.mqtt.lost_grace_s))
    background.append(watch)
    watch_storage = _watch_storage(pipeline, systemd, fault_told=fault_told)
    background.append(asyncio.create_task(watch_storage, name="storage-watch"))
    try:
        async with web:  # stops once ingest has drained, before the outbox drains
            await _run_until_stopped(pipeline, inbox, mqtt, stop, ready)
    finally:
        systemd.notify("STOPPING=1")
        for task in background:
            task.cancel()


async def _watch_broker(pipeline: Pipeline, mqtt: MqttSession, grace_s: float) -> None:
    """Tell the carers when the hub has lost its broker for `grace_s`, and when it is back.

    A hub that can hear no sensor must not fail silently. Measured on the monotonic clock, so a
    correction of the wall clock neither raises nor hides it. Woken by the session's own
    changes, not by polling: an idle hub does not wake for it.
    """
    while True:
        await mqtt.wait_disconnected()
        try:
            async with asyncio.timeout(grace_s):
                await mqtt.wait_connected()
            continue  # back within the grace: nobody is told
        except TimeoutError:
            log.error("cut off from the broker for %.0f s: telling the contacts", grace_s)
            await pipeline.hub_event("hub.broker_lost")
        await mqtt.wait_connected()
        await pipeline.hub_event("hub.broker_back")


def _status(pipeline: Pipeline) -> str:
    """The hub's line in `systemctl status`."""
    if pipeline.backlog.failing:
        return "STATUS=cannot save to its memory card: alarms still go out, records wait in memory"
    return "STATUS=connected to the broker; watching the home"


async def _watch_storage(
    pipeline: Pipeline, systemd: SystemdNotifier, *, fault_told: bool = False
) -> None:
    """Tell the carers once when the disk refuses writes, and again once it has caught up.

    Alerting goes on from memory meanwhile (see `hub.store.backlog`); the store is retried with
    backoff, so a disk that stays full costs little. systemd's status line says it meanwhile.
    With `fault_told` (the carers were told of a fault before a restart, see `hub.store.sent`)
    the hub is in that fault until the card takes a write: it is raised at once, its notice
    known as sent, and the carers are told when it is over, now if the card takes writes.
    """
    while True:
        if fault_told:
            log.warning("the contacts were told before the restart that the card refused writes")
            fault_told = False
        else:
            await pipeline.backlog.wait_failing()
            log.error("store writes failing: alerting continues from memory; telling the contacts")
        systemd.notify(_status(pipeline))
        await pipeline.hub_event("hub.storage_failing")
        async for attempt in stamina.retry_context(
            on=StoreWriteError,
            attempts=None,
            timeout=None,
            wait_initial=STORE_RETRY_INITIAL_S,
            wait_max=STORE_RETRY_MAX_S,
        ):
            with attempt:
                await pipeline.catch_up()
        await pipeline.reload_devices()  # devices configured while the disk refused are in now
        systemd.notify(_status(pipeline))
        await pipeline.hub_event("hub.storage_back")


async def _run_until_stopped(
    pipeline: Pipeline,
    inbox: asyncio.Queue[InboundMessage | None],
    mqtt: MqttSession,
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None,
) -> None:
    ingest = asyncio.create_task(pipeline.consume(inbox), name="ingest")
    tasks = [ingest]
    if not pipeline.virtual:  # under a virtual clock, timers run when the clock moves
        tasks.append(asyncio.create_task(pipeline.run_timers(), name="timers"))
    await pipeline.tick()  # confirm windows and steps that fell due while the hub was down
    try:
        waiting = asyncio.create_task(mqtt.wait_subscribed(), name="wait-subscribed")
        stopping = asyncio.create_task(stop.wait(), name="wait-stop")
        await asyncio.wait({waiting, stopping, ingest}, return_when=asyncio.FIRST_COMPLETED)
        waiting.cancel()
        if mqtt.connected:
            log.info("hub ready")
            if on_ready is not None:
                on_ready()
        await asyncio.wait({stopping, ingest}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if ingest.done():
            ingest.result()  # an ingest failure is fatal: surface it
        log.info("stopping: no new messages are taken")
        inbox.put_nowait(None)
        try:
            async with asyncio.timeout(DRAIN_INGEST_S):
                await ingest
        except TimeoutError:
            log.warning(
                "ingest did not finish in time; unacknowledged messages will be redelivered"
            )
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


async def _shut_down(
    store: Store, pipeline: Pipeline, dispatcher: Dispatcher, mqtt: MqttSession
) -> None:
    """Drain the outbox, write the last changes, then say goodbye to the broker."""
    try:
        async with asyncio.timeout(DRAIN_OUTBOX_S):
            await dispatcher.drain()
    except TimeoutError:
        log.warning("outbox not drained in time; pending notifications resume at next start")
    try:
        async with asyncio.timeout(FINAL_WRITE_S):
            if pipeline.backlog.failing:
                await pipeline.catch_up()
            await store.checkpoint()
    except (StoreWriteError, TimeoutError) as err:
        log.error(
            "final write failed (%s): %d event(s) held in memory are lost unless the broker"
            " redelivers them (it does for those not acknowledged)",
            err or "timed out",
            pipeline.backlog.held_events,
        )
    offline = HubStatusPayload(online=False).model_dump_json().encode()
    try:
        async with asyncio.timeout(GOODBYE_S):
            await mqtt.publish_and_wait(HUB_STATUS_TOPIC, offline, retain=True)
    except TimeoutError:
        log.warning("could not publish hub offline; the broker's last will says it instead")
    log.info("hub stopped")


def _dashboard(ctx: WebContext) -> AbstractAsyncContextManager[object]:
    if not ctx.settings.enabled:
        return contextlib.nullcontext()
    return DashboardGate(ctx)  # the web stack is loaded at the first visit


def _web_context(
    config: HubConfig,
    store: Store,
    pipeline: Pipeline,
    feed: IncidentFeed,
    notifier: Notifier,
    *,
    rejects: RejectLog,
    mqtt: MqttSession,
    inbox: Inbox,
) -> WebContext:
    def identify(device_id: str) -> str | None:
        return pipeline.send(device_id, CommandPayload(command="identify"))

    return WebContext(
        settings=config.web,
        store=store,
        control=pipeline,
        feed=feed,
        rejects=rejects,
        inbox=inbox,
        broker_connected=lambda: mqtt.connected,
        identify=identify,
        person=config.home.person,
        labels={name: cause.label for name, cause in pipeline.engine.causes.items()},
        timezone=config.home.timezone,
        clock=pipeline.now,
        twilio_hooks=notifier.twilio_hooks,
        stages=pipeline.stages,
    )
