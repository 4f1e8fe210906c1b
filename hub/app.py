"""Composition root: builds the adapters, runs the hub, shuts it down in stages."""

import asyncio
import logging
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

from hub.config import HubConfig
from hub.control import ACK_TOPIC, OCCUPANCY_CONTROL_TOPIC
from hub.intake import Intake
from hub.mqtt import MqttSession
from hub.pipeline import Pipeline
from hub.rejections import RejectLog
from hub.store import NewDevice, Store
from hub.wire import HUB_STATUS_TOPIC, NATIVE_SUBSCRIPTIONS, HubStatusPayload, InboundMessage
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.activity import ACTIVITY
from rules.engine import Engine, EngineState
from rules.incidents import Incident
from rules.policy import DeviceInfo

log = logging.getLogger("telecare.hub")
DRAIN_INGEST_S = 1.5
DRAIN_OUTBOX_S = 1.5
FINAL_WRITE_S = 1.0
GOODBYE_S = 0.5
SCHEDULE_CATCH_UP = timedelta(hours=12)


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
        engine = Engine(rules)
        open_incidents = await store.incidents(open_only=True)
        state = await _resume(engine, store, open_incidents)
        if open_incidents:
            log.info("resuming %d open incident(s)", len(open_incidents))
        inbox: asyncio.Queue[InboundMessage | None] = asyncio.Queue()
        dispatcher = Dispatcher(store, {"outbox": LocalOutbox()})
        mqtt = MqttSession(
            config.mqtt,
            subscriptions=(*NATIVE_SUBSCRIPTIONS, ACK_TOPIC, OCCUPANCY_CONTROL_TOPIC),
            deliver=inbox.put_nowait,
            will=(HUB_STATUS_TOPIC, HubStatusPayload(online=False).model_dump_json().encode()),
            birth=(
                HUB_STATUS_TOPIC,
                HubStatusPayload(online=True, since=_now()).model_dump_json().encode(),
            ),
        )
        async with dispatcher, mqtt:
            pipeline = Pipeline(
                engine=engine,
                state=state,
                store=store,
                intake=Intake(devices, rejects),
                dispatcher=dispatcher,
                ack=mqtt.ack,
                publish=lambda topic, body, retain: mqtt.publish(topic, body, retain=retain),
                clock=_now,
            )
            pipeline.announce_occupancy(_now())
            await _run_until_stopped(pipeline, inbox, mqtt, stop, on_ready)
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


async def _resume(engine: Engine, store: Store, open_incidents: list[Incident]) -> EngineState:
    """The engine's state at start: open incidents, and schedules resumed where they stopped.

    Schedules (medication doses, the wellbeing check) count from when the hub last recorded
    anything, up to 12 hours back, so a dose that fell due while it was down is still issued.
    """
    now = _now()
    stamps = [t for t in (await store.last_event_at(), await store.last_change_at()) if t]
    since = max([*stamps, now - SCHEDULE_CATCH_UP]) if stamps else now
    return engine.restore(
        open_incidents,
        opened=await store.incident_count(),
        since=min(since, now),
        last_activity=await store.last_event_at(ACTIVITY),
        occupied_by=await store.occupied_by(),
        memory=await store.engine_memory(),
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
