"""Composition root: builds the adapters, runs the hub, shuts it down in stages."""

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime

from hub.config import HubConfig
from hub.feed import IncidentFeed
from hub.heartbeat import ping_forever
from hub.intake import Intake
from hub.mqtt import MqttSession
from hub.pipeline import Pipeline
from hub.rejections import RejectLog
from hub.store import NewDevice, Store
from hub.systemd import SystemdNotifier
from hub.web.context import WebContext
from hub.wire import (
    HUB_STATUS_TOPIC,
    NATIVE_SUBSCRIPTIONS,
    CommandPayload,
    HubStatusPayload,
    InboundMessage,
    command_topic,
)
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine, EngineState
from rules.policy import DeviceInfo

log = logging.getLogger("telecare.hub")
DRAIN_INGEST_S = 1.5
DRAIN_OUTBOX_S = 1.5
FINAL_WRITE_S = 1.0
GOODBYE_S = 0.5


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
    systemd = SystemdNotifier()
    background: list[asyncio.Task[None]] = []

    def ready() -> None:
        systemd.notify("READY=1", "STATUS=connected to the broker; watching the home")
        background.append(asyncio.create_task(systemd.keep_alive(), name="watchdog"))
        heartbeat = ping_forever(config.heartbeat, lambda: mqtt.connected)
        background.append(asyncio.create_task(heartbeat, name="heartbeat"))
        if on_ready is not None:
            on_ready()

    async with Store.open(config.store.path) as store:
        await _register_configured_devices(config, store)
        devices = await store.devices()
        rules = config.rules().model_copy(
            update={
                "devices": {
                    d.id: DeviceInfo.model_validate(
                        {"name": d.name, "role": d.role, "room": d.room}
                    )
                    for d in devices
                }
            }
        )
        open_incidents = await store.incidents(open_only=True)
        state = EngineState(
            open={i.cause: i for i in open_incidents}, opened=await store.incident_count()
        )
        if open_incidents:
            log.info("resuming %d open incident(s)", len(open_incidents))
        inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        dispatcher = Dispatcher(store, {"outbox": LocalOutbox()})
        mqtt = MqttSession(
            config.mqtt,
            subscriptions=NATIVE_SUBSCRIPTIONS,
            deliver=inbox.put_nowait,
            will=(HUB_STATUS_TOPIC, HubStatusPayload(online=False).model_dump_json().encode()),
            birth=(
                HUB_STATUS_TOPIC,
                HubStatusPayload(online=True, since=_now()).model_dump_json().encode(),
            ),
        )
        async with dispatcher, mqtt:
            feed = IncidentFeed()
            pipeline = Pipeline(
                engine=Engine(rules),
                state=state,
                store=store,
                intake=Intake(devices, rejects),
                dispatcher=dispatcher,
                ack=mqtt.ack,
                publish=lambda topic, body, retain: mqtt.publish(topic, body, retain=retain),
                clock=_now,
                on_change=feed.publish,
            )
            web = _dashboard(
                _web_context(config, store, pipeline, feed, rejects=rejects, mqtt=mqtt)
            )
            try:
                async with web:  # stops once ingest has drained, before the outbox drains
                    await _run_until_stopped(pipeline, inbox, mqtt, stop, ready)
            finally:
                systemd.notify("STOPPING=1")
                for task in background:
                    task.cancel()
            await _shut_down(store, dispatcher, mqtt)
    return rejects


async def _run_until_stopped(
    pipeline: Pipeline,
    inbox: asyncio.Queue[InboundMessage | None],
    mqtt: MqttSession,
    stop: asyncio.Event,
    on_ready: Callable[[], None] | None,
) -> None:
    ingest = asyncio.create_task(pipeline.consume(inbox), name="ingest")
    timers = asyncio.create_task(pipeline.run_timers(), name="timers")
    await pipeline.tick()  # confirm windows and steps that fell due while the hub was down
    try:
        waiting = asyncio.create_task(mqtt.wait_connected(), name="wait-connected")
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
        for task in (ingest, timers):
            task.cancel()
        await asyncio.gather(ingest, timers, return_exceptions=True)


async def _shut_down(store: Store, dispatcher: Dispatcher, mqtt: MqttSession) -> None:
    """Drain the outbox, write the last changes, then say goodbye to the broker."""
    try:
        async with asyncio.timeout(DRAIN_OUTBOX_S):
            await dispatcher.drain()
    except TimeoutError:
        log.warning("outbox not drained in time; pending notifications resume at next start")
    async with asyncio.timeout(FINAL_WRITE_S):
        await store.checkpoint()
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
    # The web stack costs some 25 MB of memory on a Pi: load it only when the dashboard is on.
    from hub.web.app import WebServer  # noqa: PLC0415

    return WebServer(ctx)


def _web_context(
    config: HubConfig,
    store: Store,
    pipeline: Pipeline,
    feed: IncidentFeed,
    *,
    rejects: RejectLog,
    mqtt: MqttSession,
) -> WebContext:
    def identify(device_id: str) -> None:
        body = CommandPayload(command="identify").model_dump_json(exclude_none=True).encode()
        mqtt.publish(command_topic(device_id), body)

    return WebContext(
        settings=config.web,
        store=store,
        control=pipeline,
        feed=feed,
        rejects=rejects,
        broker_connected=lambda: mqtt.connected,
        identify=identify,
        person=config.home.person,
        labels={name: cause.label for name, cause in pipeline.engine.causes.items()},
        timezone=config.home.timezone,
        clock=_now,
    )


async def _register_configured_devices(config: HubConfig, store: Store) -> None:
    await store.register_devices(
        (
            NewDevice(
                id=d.id,
                name=d.name,
                role=d.role,
                room=d.room,
                source=d.source,
                friendly_name=d.friendly_name,
                model=d.model,
                origin="config",
            )
            for d in config.devices
        ),
        at=_now(),
    )
