"""The centre's composition root: database, bus, registry, workers and timers in one process.

`Centre` is an async context manager: entering it migrates the database, makes sure the streams
and every hub's consumer and NATS user exist; `run()` then carries the workers and timers until
cancelled. Extra worker processes (`telecare centre run --workers N`) run `run_worker` only.
"""

import asyncio
import logging
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

import asyncpg

from centre.bus import CentreBus
from centre.config import CentreConfig
from centre.db import homes
from centre.db.pool import open_pool
from centre.downlink import Downlink
from centre.family import FamilyMessenger
from centre.partitions import share
from centre.registry import AccountsFile, Registry, UsersChanged
from centre.relay import CallRelay
from centre.timers import Timers
from centre.worker import Worker

log = logging.getLogger("telecare.centre")


async def connect_bus(config: CentreConfig, name: str) -> CentreBus:
    """The centre's connection to the cluster, as `[nats]` says."""
    nats = config.nats
    return await CentreBus.connect(
        nats.servers,
        user=nats.user,
        password=nats.password.get_secret_value(),
        ca_file=nats.ca_file,
        name=name,
    )


def users_changed_for(config: CentreConfig) -> UsersChanged | None:
    """How the brokers learn of new hubs: the accounts file, if `[nats]` names one."""
    nats = config.nats
    if nats.accounts_file is None:
        return None
    return AccountsFile(
        nats.accounts_file, nats.user, nats.password.get_secret_value(), nats.pid_files
    )


class Centre:
    """One running centre process.

    Attributes:
        pool: The database pool.
        bus: The process's NATS connection.
        registry: Adds homes (database, consumer, NATS user).
        downlink: What the console calls to accept or resolve an alarm.
        relay: What the console calls to pass a key press on an alert call to its hub.
        timers: Silence, escalation and family messages.
    """

    def __init__(
        self, pool: asyncpg.Pool, bus: CentreBus, config: CentreConfig, users: UsersChanged | None
    ) -> None:
        self.pool = pool
        self.bus = bus
        self.config = config
        self.registry = Registry(pool, bus, users or _users_unmanaged)
        self.downlink = Downlink(pool, bus)
        self.relay = CallRelay(pool, bus, wait_s=config.console.relay_wait_s)
        self.family = FamilyMessenger(config.notify.ntfy, config.notify.twilio)
        self.timers = Timers(pool, bus, self.family, silent_after_s=config.silence.silent_after_s)
        self.worker = Worker(pool, bus, partitions=share(0, config.workers))

    async def prepare(self) -> None:
        """Streams, the workers' consumer, each hub's consumer, and the brokers' user list."""
        await self.bus.ensure_streams(replicas=self.config.nats.replicas)
        async with self.pool.acquire() as conn:
            hubs = await homes.hub_password_hashes(conn)
        for hub_id in hubs:
            await self.bus.ensure_hub_consumer(hub_id)
        await self.registry.sync_users()

    async def run(self) -> None:
        """Workers and timers until cancelled."""
        async with asyncio.TaskGroup() as group:
            group.create_task(self.worker.run(), name="centre-worker")
            group.create_task(self.timers.run(self.config.silence.tick_s), name="centre-timers")


async def _users_unmanaged(hashes: dict[str, str]) -> None:
    log.info(
        "%d hub users; [nats] accounts_file is not set: deploy them to the brokers", len(hashes)
    )


@asynccontextmanager
async def open_centre(
    config: CentreConfig, *, users: UsersChanged | None = None, name: str = "centre"
) -> AsyncIterator[Centre]:
    """Open the database and the bus, prepare the streams and users; close both on exit."""
    async with AsyncExitStack() as stack:
        pool = await stack.enter_async_context(
            open_pool(config.postgres.dsn.get_secret_value(), max_size=10)
        )
        bus = await connect_bus(config, name)
        stack.push_async_callback(bus.close)
        centre = Centre(pool, bus, config, users or users_changed_for(config))
        stack.push_async_callback(centre.family.close)
        await centre.prepare()
        yield centre


async def run_worker(config: CentreConfig, name: str, slot: int) -> None:
    """A worker process only: writes its share of the uplink messages until cancelled.

    It is worker `slot` of `config.workers`; the centre's own process is slot 0.
    """
    partitions = share(slot, config.workers)
    async with open_pool(config.postgres.dsn.get_secret_value(), max_size=4) as pool:
        bus = await connect_bus(config, name)
        try:
            await Worker(pool, bus, partitions=partitions).run()
        finally:
            await bus.close()
