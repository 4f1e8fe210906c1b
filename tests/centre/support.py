"""Helpers of the centre's tests: waiting on a condition, running workers, a centre.toml."""

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import asyncpg

from centre.bus import CentreBus
from centre.servers.nats import NatsCluster
from centre.worker import Worker

DEADLINE_S = 30.0


async def until(
    check: Callable[[], Awaitable[bool]], what: str, timeout_s: float = DEADLINE_S
) -> None:
    """Wait until `check()` is true; fail naming `what` after `timeout_s`."""
    try:
        async with asyncio.timeout(timeout_s):
            while not await check():  # noqa: ASYNC110 - the condition is a database query
                await asyncio.sleep(0.05)
    except TimeoutError:
        raise AssertionError(f"not within {timeout_s} s: {what}") from None


async def count(pool: asyncpg.Pool, sql: str, *args: object) -> int:
    """The single number `sql` returns."""
    async with pool.acquire() as conn:
        value = await conn.fetchval(sql, *args)
    return int(value or 0)


@asynccontextmanager
async def running(workers: list[Worker]) -> AsyncIterator[list[Worker]]:
    """Run workers in the background for the block."""
    tasks = [asyncio.create_task(w.run(), name=f"test-worker-{i}") for i, w in enumerate(workers)]
    try:
        yield workers
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)


def workers_on(pool: asyncpg.Pool, buses: list[CentreBus]) -> list[Worker]:
    """One worker per bus connection."""
    return [Worker(pool, bus, batch=16) for bus in buses]


def centre_toml(folder: Path, cluster: NatsCluster, dsn: str, extra: str = "") -> Path:
    """A `centre.toml` (0600) for the test cluster and database, with `extra` TOML after."""
    path = folder / "centre.toml"
    path.write_text(f'{cluster.nats_section()}[postgres]\ndsn = "{dsn}"\n{extra}')
    path.chmod(0o600)
    return path


async def ends_when_cancelled(
    run: Callable[[], Coroutine[Any, Any, None]], owner: object, method: str
) -> bool:
    """Whether `run()` ends when cancelled while `owner.method` swallows the cancellation.

    nats-py catches a CancelledError that arrives while it queues a flush, and goes on: the
    method is made to do the same (then do its work) while the task is cancelled.
    """
    real = getattr(owner, method)
    called = asyncio.Event()

    async def swallowing(*args: object, **kwargs: object) -> object:
        called.set()
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(1)
        return await real(*args, **kwargs)

    setattr(owner, method, swallowing)
    task = asyncio.create_task(run())
    try:
        await called.wait()
        task.cancel()
        await asyncio.wait([task], timeout=5)
        return task.cancelled()
    finally:
        setattr(owner, method, real)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
