"""The hub at start: the store opened (a damaged one moved aside), devices, engine and state.

The configured devices are registered, the engine is built from the configuration and the
registry, and its state resumes the open incidents and the schedules where they stopped.
"""

import asyncio
import logging
from contextlib import AsyncExitStack
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

from drivers.decoding import Driver
from drivers.gpio import GpioDriver
from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.config.file import HubConfig
from hub.config.sections import MqttSettings
from hub.mqtt.client import BrokerUnavailableError
from hub.mqtt.oneshot import retained
from hub.pipeline.intake import Intake, engine_for
from hub.pipeline.rejections import RejectLog
from hub.pipeline.supervision import Supervisor
from hub.store.backlog import Backlog
from hub.store.errors import StoreCorruptError, StoreWriteError
from hub.store.sent import SentLedger
from hub.store.store import NewDevice, Store, quarantine
from rules.activity import ACTIVITY
from rules.engine import Engine, EngineState
from rules.incidents import Incident
from wire.devices import DeviceRecord
from wire.schema import SENT_TOPIC, SentPayload

log = logging.getLogger("telecare.hub")
SCHEDULE_CATCH_UP = timedelta(hours=12)
SENT_READ_S = 3.0  # the broker is on this machine: it answers in milliseconds


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class Restored:
    """What the hub knows at start: its devices, the engine and where the engine left off."""

    intake: Intake
    engine: Engine
    state: EngineState
    open_incidents: list[Incident]


async def restore(
    config: HubConfig, store: Store, backlog: Backlog, rejects: RejectLog
) -> Restored:
    """Register the configured devices, then build the engine and resume where it left off."""
    register = partial(_register_configured_devices, config, store)
    try:
        await register()
    except StoreWriteError as err:  # the registry as stored serves until the disk takes writes
        backlog.defer("the configured devices", register, err)
        await store.seed_stand_in(register)  # with no database yet: the configured devices
    devices = await store.devices()
    engine = engine_for(config.rules(), devices)
    open_incidents = await store.incidents(open_only=True)
    if open_incidents:
        log.info("resuming %d open incident(s)", len(open_incidents))
    state = await _resume(engine, store, open_incidents)
    return Restored(_intake(config, devices, rejects), engine, state, open_incidents)


async def sent_before(settings: MqttSettings) -> SentLedger:
    """What the broker keeps of alerts sent while the card kept no record (see `hub.store.sent`).

    Read before the hub's own session starts, so that the messages the broker delivers again
    find it known. A broker out of reach is a ledger unknown: those alerts would go out again.
    """
    try:
        body = await asyncio.to_thread(retained, settings, SENT_TOPIC, timeout_s=SENT_READ_S)
    except BrokerUnavailableError as err:
        log.warning("cannot read what was sent before the restart (%s): none is known", err)
        body = None
    loaded = None
    if body is not None:
        try:
            loaded = SentPayload.model_validate_json(body)
        except ValueError as err:
            log.error("%s holds no ledger the hub can read: %s", SENT_TOPIC, str(err)[:120])
    return SentLedger(loaded, now=_now())


async def open_store(stack: AsyncExitStack, path: Path) -> Store:
    """Open the store; a damaged one is moved aside, loudly, and the hub starts afresh.

    Alerting matters more than history: a hub that refused to start would protect nobody.
    """
    try:
        return await stack.enter_async_context(Store.open(path))
    except StoreCorruptError as err:
        moved = quarantine(path, stamp=_now().strftime("%Y%m%dT%H%M%SZ"))
        log.critical("%s; moved it to %s and started with an empty database", err, moved)
        return await stack.enter_async_context(Store.open(path))


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


def _intake(config: HubConfig, devices: list[DeviceRecord], rejects: RejectLog) -> Intake:
    """Every driver, each owning its topics, and the check-in deadlines."""
    drivers: list[Driver] = [
        NativeDriver(),
        Zigbee2MqttDriver(config.mqtt.zigbee2mqtt_base_topic),
        GpioDriver(),
    ]
    supervisor = Supervisor(config.supervision.check_in_h, started_at=_now())
    return Intake(devices, rejects, drivers, supervisor)
