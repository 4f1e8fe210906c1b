"""The hub's SQLite store: opening and migrating the database, writing it, syncing its log.

WAL mode. A transaction is on disk when it returns (the write-ahead log is synced, as
`synchronous=FULL` would), unless the writer asks to flush later: the event path commits a batch,
hands its alarms to the notifier at once, and acknowledges the batch to the broker only after
`flush` has synced the log, in a thread of its own while the next batch is being committed.
A crash of the process loses nothing either way (the log is written before the transaction
returns); only a power cut between a commit and its flush could, and then the broker still
holds the messages. Writes go through one connection, one transaction at a time, under a lock;
reads for the CLI open their own read-only connection.
"""

import asyncio
import contextlib
import logging
import os
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import Any, Self, TypeVar

from hub.store.commit import AcceptedEvent, Batch, done_here, in_transaction, write_batch
from hub.store.connection import Connection
from hub.store.dashboard import DashboardRecords
from hub.store.deliveries import DeliveryRecords
from hub.store.devices import DeviceRecords, NewDevice
from hub.store.errors import StoreCorruptError, StoreError, StoreWriteError
from hub.store.files import (
    IN_USE,
    connect,
    migrations,
    quarantine,
    refused_by_disk,
    remove_empty,
    result_code,
    set_up,
)
from hub.store.folding import LogFolding
from hub.store.reads import EventPathRecords
from hub.store.uplink import UplinkRecords
from notifier.model import OutboxEntry

__all__ = [
    "AcceptedEvent",
    "Batch",
    "NewDevice",
    "Store",
    "quarantine",
]

log = logging.getLogger("telecare.store")
T = TypeVar("T")


def _sync_file(path: Path) -> None:
    """Fsync `path`: its data, and the data any descriptor of it wrote, reach the disk."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return  # no log: everything is in the database file, synced by the checkpoint
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


async def _carry_secrets(stand_in: Connection, real: Connection) -> None:
    """The keys the hub made in its stand-in (tokens already sent carry them), to the disk."""
    rows = await stand_in.execute_fetchall("SELECT name, value FROM hub_secrets")
    await real.executemany(
        "INSERT INTO hub_secrets (name, value) VALUES (?, ?) ON CONFLICT (name) DO NOTHING", rows
    )


class Store(
    LogFolding, EventPathRecords, DeliveryRecords, DashboardRecords, DeviceRecords, UplinkRecords
):
    """Async access to the hub database; use `Store.open`."""

    def __init__(self, db: Connection, path: Path | None = None) -> None:
        self._db = db
        self._lock = asyncio.Lock()
        self._wal = None if path is None else path.with_name(f"{path.name}-wal")
        self._written = 0  # transactions committed
        self._synced = 0  # transactions known to be on disk
        self._flushing = asyncio.Lock()
        self._path = path
        self._shared = True  # other connections may open the database (not locked exclusively)
        self._stand_in = False  # in memory, while the disk has no room to create the database
        self._seeding = False  # writes go to the stand-in (see `seed_stand_in`)

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, readonly: bool = False) -> AsyncIterator[Self]:
        """Open (and for writers, create and migrate) the database at `path`.

        A writer whose disk refuses even to open the database as usual (full: no room for the
        WAL index; read-only) opens it for itself alone: it reads, its writes are refused until
        the disk takes them, and other readers wait until it closes. A writer whose disk has no
        room to create the database at all gets a stand-in (see `_standing_in`).

        Raises:
            StoreError: the file is corrupt, unreadable, or newer than this hub.
        """
        if readonly:
            store = cls(await connect(path, readonly=True), path)
            await store._prepared(path, readonly=True)
        else:
            store = await cls._writer(path)
        try:
            yield store
        finally:
            await store._db.close()

    @classmethod
    async def _writer(cls, path: Path) -> Self:
        new = not set_up(path)
        try:
            return await cls._opened_for_writing(path)
        except StoreWriteError as err:
            if not new:
                raise
            return await cls._standing_in(path, err)

    @classmethod
    async def _opened_for_writing(cls, path: Path) -> Self:
        store = cls(await connect(path, readonly=False), path)
        try:
            await store._prepared(path, readonly=False)
        except StoreWriteError as err:
            store = cls(await connect(path, readonly=False), path)
            await store._prepared(path, readonly=False, exclusive=True)
            log.error(
                "%s: opened %s for the hub alone; command-line readers wait until it restarts",
                err,
                path,
            )
        return store

    @classmethod
    async def _standing_in(cls, path: Path, err: StoreWriteError) -> Self:
        """A new hub's empty database, in memory, while the disk has no room to create `path`.

        It reads as a new hub's would; every write is refused (`StoreWriteError`) until the
        database can be created on the disk, which each write tries first (`_attach`). So the
        hub starts, its alarms go out from memory, and it stores from the first write the disk
        takes (the backlog holds the rest meanwhile).
        """
        remove_empty(path)
        store = cls(await Connection.open(":memory:"), path)
        await store._prepared(path.with_name(f"{path.name} (stand-in in memory)"), readonly=False)
        await store._db.execute("PRAGMA query_only = ON")
        store._stand_in, store._shared = True, False
        log.critical(
            "%s: cannot create %s, the disk is full or read-only; alarms go out from memory and"
            " nothing is stored until the database can be created",
            err,
            path,
        )
        return store

    async def _attach(self) -> None:
        """Create the database on the disk, in place of the stand-in in memory.

        Raises:
            StoreWriteError: the disk still refuses (the stand-in stays).
        """
        assert self._path is not None
        try:
            real = await self._opened_for_writing(self._path)
        except StoreWriteError:
            remove_empty(self._path)
            raise
        try:
            await _carry_secrets(self._db, real._db)
        except sqlite3.Error as err:
            await real._db.close()
            raise StoreWriteError(f"the disk refused {self._path}: {err}") from err
        stand_in, self._db = self._db, real._db
        self._stand_in, self._shared = False, real._shared
        await stand_in.close()
        log.warning("created %s: the hub stores its records again", self._path)

    async def seed_stand_in(self, write: Callable[[], Awaitable[None]]) -> None:
        """Make `write` in the stand-in, if the store is one, so that reads see it meanwhile.

        For what the hub must know to hear an alarm at all (its configured devices); whatever
        is seeded is written to the disk again by its writer once the database is created.
        """
        if not self._stand_in:
            return
        self._seeding = True
        await self._db.execute("PRAGMA query_only = OFF")
        try:
            await write()
        finally:
            await self._db.execute("PRAGMA query_only = ON")
            self._seeding = False

    async def _prepared(self, path: Path, *, readonly: bool, exclusive: bool = False) -> None:
        """`_prepare`, closing the connection if it fails."""
        try:
            await self._prepare(path, readonly=readonly, exclusive=exclusive)
        except BaseException:
            await self._db.close()
            raise

    async def _prepare(self, path: Path, *, readonly: bool, exclusive: bool = False) -> None:
        try:
            await self._db.execute("PRAGMA foreign_keys = ON")
            if exclusive:  # no shared WAL index: nothing to create before the first read
                self._shared = False
                await self._db.execute("PRAGMA locking_mode = EXCLUSIVE")
            if not readonly:
                await self._db.execute("PRAGMA journal_mode = WAL")
                # The log is synced by `flush`, after every transaction or later when asked.
                await self._db.execute("PRAGMA synchronous = NORMAL")
                await self._check_integrity(path)
            await self._migrate(path, readonly=readonly)
        except sqlite3.Error as err:
            if refused_by_disk(err):
                raise StoreWriteError(f"the disk refused {path}: {err}") from err
            if result_code(err) in IN_USE:  # held by another connection: not a damaged file
                raise StoreError(f"{path} is in use by another process: {err}") from err
            raise StoreCorruptError(f"{path} is not a usable hub database: {err}") from err

    async def _check_integrity(self, path: Path) -> None:
        verdict = await self.integrity()
        if verdict != ["ok"]:
            raise StoreCorruptError(f"{path} failed its integrity check: {'; '.join(verdict[:3])}")

    async def _migrate(self, path: Path, *, readonly: bool) -> None:
        rows = list(await self._db.execute_fetchall("PRAGMA user_version"))
        current = int(rows[0][0])
        steps = migrations()
        latest = steps[-1][0]
        if current > latest:
            msg = f"{path} has schema version {current}, newer than this hub ({latest}): upgrade"
            raise StoreError(msg)
        if readonly:
            if current < latest:
                raise StoreError(f"{path} has not been set up by the hub yet (version {current})")
            return
        for version, sql in steps:
            if version <= current:
                continue
            try:
                await self._db.executescript(
                    f"BEGIN;\n{sql}\nPRAGMA user_version = {version};\nCOMMIT;"
                )
            except sqlite3.Error:
                await self._db.rollback()
                raise
            log.info("store %s migrated to schema version %d", path, version)

    async def checkpoint(self) -> None:
        """Fold the write-ahead log into the database file (on shutdown).

        Raises:
            StoreWriteError: the disk would not take it (the log stays, and is used at next start).
        """
        async with self._lock:
            try:
                await self._db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            except sqlite3.Error as err:
                raise StoreWriteError(f"checkpoint failed: {err}") from err

    # -- writes ------------------------------------------------------------------------------

    async def commit(self, batch: Batch, *, at: datetime, flush: bool = True) -> list[OutboxEntry]:
        """Write a batch in one transaction; on disk on return unless `flush` is False.

        With `flush=False` the batch is committed (a crash of the process keeps it) but only on
        disk once `flush()` has returned: acknowledge nothing to the broker before then.

        A batch of alarms is committed on the calling thread when the store's thread is idle
        and no other connection holds the write lock, so that its notifications go a hop or
        two sooner; otherwise, as every other write, on the store's thread.

        Returns:
            The notifications newly added to the outbox (a repeated key is not added twice).
        """
        work = partial(write_batch, batch=batch, at=at)
        return await self._write(work, flush=flush, here=batch.alarms)

    async def _write(
        self, work: Callable[[sqlite3.Connection], T], *, flush: bool = True, here: bool = False
    ) -> T:
        """Run `work` as one write transaction under the lock, in one hop to the store's thread.

        With `here`, on the calling thread instead if it can be done at once (`done_here`).

        Raises:
            StoreWriteError: the disk refused the write (nothing of it was kept).
        """
        async with self._lock:
            await self._on_disk()
            try:
                done = done_here(self._db, work) if here else None
                result = done[0] if done else await self._db.run(partial(in_transaction, work))
            except sqlite3.Error as err:
                if not refused_by_disk(err):
                    raise
                raise StoreWriteError(f"write refused: {err}") from err
            self._written += 1
        if flush:
            await self.flush()
        return result

    @asynccontextmanager
    async def _transaction(self, *, flush: bool = True) -> AsyncIterator[None]:
        """One write transaction under the lock.

        Raises:
            StoreWriteError: the disk refused the write (nothing of it was kept).
        """
        async with self._lock:
            await self._on_disk()
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    await self._rollback()
                    raise
                await self._db.commit()
            except sqlite3.Error as err:
                if not refused_by_disk(err):
                    raise
                await self._rollback()
                raise StoreWriteError(f"write refused: {err}") from err
            self._written += 1
        if flush:
            await self.flush()

    async def _on_disk(self) -> None:
        """Before a write: the database is on the disk (created now, if it stood in until now).

        Raises:
            StoreWriteError: it is not, and cannot be yet.
        """
        if self._stand_in and not self._seeding:
            await self._attach()

    async def _rollback(self) -> None:
        if self._db.in_transaction:
            with contextlib.suppress(sqlite3.Error):  # a failing disk may refuse this too
                await self._db.rollback()

    async def flush(self) -> None:
        """Return once every transaction committed so far is on disk.

        One sync of the write-ahead log covers every transaction before it, so writers that
        flush together share one.

        Raises:
            StoreWriteError: the disk refused the sync.
        """
        wanted = self._written
        async with self._flushing:
            if self._synced >= wanted or self._wal is None:
                return
            covered = self._written
            try:
                await asyncio.to_thread(_sync_file, self._wal)
            except OSError as err:
                raise StoreWriteError(f"sync refused: {err}") from err
            self._synced = max(self._synced, covered)

    async def backup_to(self, target: Path) -> None:
        """Copy the database, consistently, while the hub keeps writing (SQLite online backup)."""
        try:
            await self._db.backup_to(target)
        except sqlite3.Error as err:
            raise StoreError(f"backup to {target} failed: {err}") from err

    async def integrity(self) -> list[str]:
        """SQLite's integrity check: ["ok"] for a healthy database."""
        rows = await self._db.execute_fetchall("PRAGMA integrity_check")
        return [str(row[0]) for row in rows]

    async def _fetch(self, sql: str, params: Sequence[object]) -> list[dict[str, Any]]:
        return await self._db.fetch_dicts(sql, params)
