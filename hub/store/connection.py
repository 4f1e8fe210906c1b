"""The store's connection to SQLite: the standard library's sqlite3, on one thread of its own.

Every call of a connection runs on the same worker thread, one at a time and in the order it was
made, so the event loop never waits on the disk and SQLite never sees two threads at once. `run`
hands the thread a whole piece of work (a commit of the event path, say) in one hop. `run_here`
does a short piece on the caller's own thread instead, when the worker has nothing to do: an
alarm's commit, which would otherwise wait for that thread to wake, for the interpreter's lock
there, and for the event loop to wake again after it.
"""

import asyncio
import sqlite3
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from queue import SimpleQueue
from typing import Any, Self, TypeVar

T = TypeVar("T")
Error = sqlite3.Error


class WorkerBusyError(Exception):
    """`run_here` was refused: the connection's thread has work in hand or waiting."""


@dataclass(frozen=True, slots=True)
class Written:
    """What a write statement did: the rows it changed and the id of the last row it inserted."""

    rowcount: int
    lastrowid: int | None


class Connection:
    """One SQLite connection and the thread that owns it; use `Connection.open`."""

    def __init__(self, worker: "_Worker", db: sqlite3.Connection) -> None:
        self._worker = worker
        self._db = db

    @classmethod
    async def open(cls, target: Path | str, *, uri: bool = False) -> Self:
        """Connect to `target` (a path, or a `file:` URI with `uri=True`) in autocommit mode.

        Raises:
            sqlite3.Error: SQLite could not open it.
        """
        worker = _Worker()
        try:
            # Used by one thread at a time, the worker's or (see `run_here`) the caller's.
            connect = partial(sqlite3.connect, isolation_level=None, check_same_thread=False)
            db = await worker.call(partial(connect, target, uri=uri))
        except BaseException:
            worker.stop()
            raise
        return cls(worker, db)

    async def run(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on the connection's thread; returns what it returns."""
        return await self._worker.call(partial(work, self._db))

    def run_here(self, work: Callable[[sqlite3.Connection], T]) -> T:
        """`work(connection)` on the calling thread, now, if the connection's thread is idle.

        For short work only: the caller's thread (the event loop) waits for it.

        Raises:
            WorkerBusyError: the thread has a call in hand or waiting (use `run`).
        """
        return self._worker.here(partial(work, self._db))

    async def execute(self, sql: str, params: Sequence[object] = ()) -> Written:
        """Run one statement; what it changed."""
        return await self.run(partial(_execute, sql=sql, params=params))

    async def executemany(self, sql: str, rows: Iterable[Sequence[object]]) -> None:
        """Run one statement for each of `rows`."""
        await self.run(lambda db: db.executemany(sql, rows))

    async def executescript(self, script: str) -> None:
        """Run a script of statements (it manages its own transactions)."""
        await self.run(lambda db: db.executescript(script))

    async def execute_fetchall(self, sql: str, params: Sequence[object] = ()) -> list[Any]:
        """Run a query; all its rows, as tuples."""
        return await self.run(lambda db: db.execute(sql, params).fetchall())

    async def fetch_dicts(self, sql: str, params: Sequence[object] = ()) -> list[dict[str, Any]]:
        """Run a query; all its rows, as dictionaries keyed by column name."""
        return await self.run(partial(_fetch_dicts, sql=sql, params=params))

    async def commit(self) -> None:
        """Commit the open transaction."""
        await self.run(lambda db: db.commit())

    async def rollback(self) -> None:
        """Roll the open transaction back."""
        await self.run(lambda db: db.rollback())

    @property
    def in_transaction(self) -> bool:
        """Whether a transaction is open."""
        return self._db.in_transaction

    async def backup_to(self, target: Path) -> None:
        """Copy the database, consistently, into the file `target` (SQLite online backup)."""
        await self.run(partial(_backup, target=target))

    async def close(self) -> None:
        """Close the connection and end its thread."""
        try:
            await self.run(lambda db: db.close())
        finally:
            self._worker.stop()


class _Worker:
    """A thread that runs calls one at a time, in order, and answers each on its event loop.

    A plain queue and `call_soon_threadsafe` rather than an executor: a commit of one event
    costs some 20 us less per hop.
    """

    def __init__(self) -> None:
        self._calls: SimpleQueue[tuple[asyncio.Future[Any], Callable[[], Any]] | None]
        self._calls = SimpleQueue()
        self._running = threading.Lock()  # held by whichever thread uses the connection
        self._queued = 0  # calls made so far: written by the caller's thread only
        self._done = 0  # calls carried out so far: written by the worker only
        self._thread = threading.Thread(target=self._serve, name="store", daemon=True)
        self._thread.start()

    def call(self, work: Callable[[], T]) -> "asyncio.Future[T]":
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._queued += 1
        self._calls.put((future, work))
        return future

    def here(self, work: Callable[[], T]) -> T:
        """Run `work` on the calling thread if no call is in hand or waiting."""
        if self._done != self._queued or not self._running.acquire(blocking=False):
            raise WorkerBusyError("the store's thread is busy")
        try:
            return work()
        finally:
            self._running.release()

    def stop(self) -> None:
        self._calls.put(None)
        self._thread.join()

    def _serve(self) -> None:
        while (item := self._calls.get()) is not None:
            future, work = item
            try:
                with self._running:
                    try:
                        result = work()
                    finally:
                        self._done += 1
            except BaseException as err:  # handed to the caller, who raises it
                future.get_loop().call_soon_threadsafe(_fail, future, err)
            else:
                future.get_loop().call_soon_threadsafe(_succeed, future, result)


def _succeed(future: "asyncio.Future[T]", result: T) -> None:
    if not future.done():  # the caller may have been cancelled meanwhile
        future.set_result(result)


def _fail(future: "asyncio.Future[Any]", err: BaseException) -> None:
    if not future.done():
        future.set_exception(err)


def _execute(db: sqlite3.Connection, *, sql: str, params: Sequence[object]) -> Written:
    cursor = db.execute(sql, params)
    return Written(cursor.rowcount, cursor.lastrowid)


def _fetch_dicts(
    db: sqlite3.Connection, *, sql: str, params: Sequence[object]
) -> list[dict[str, Any]]:
    cursor = db.execute(sql, params)
    names = [d[0] for d in cursor.description]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _backup(db: sqlite3.Connection, *, target: Path) -> None:
    copy = sqlite3.connect(target)
    try:
        db.backup(copy)
    finally:
        copy.close()
