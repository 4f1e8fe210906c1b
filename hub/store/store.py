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
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from datetime import datetime
from functools import partial
from importlib import resources
from pathlib import Path
from typing import Any, Self, TypeVar

from hub.store.commit import AcceptedEvent, Batch, in_transaction, write_batch
from hub.store.connection import Connection
from hub.store.dashboard import DashboardRecords
from hub.store.deliveries import DeliveryRecords
from hub.store.devices import DeviceRecords, NewDevice
from hub.store.errors import StoreCorruptError, StoreError, StoreWriteError
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


# SQLite's primary result codes for a disk that will not take a write (extended codes carry
# the primary one in their low byte): SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
_DISK_REFUSED = frozenset({8, 10, 13, 14})
_IN_USE = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED


async def _connect(path: Path, *, readonly: bool) -> Connection:
    try:
        if readonly:
            return await Connection.open(f"file:{path}?mode=ro", uri=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return await Connection.open(path)
    except (OSError, sqlite3.Error) as err:
        raise StoreError(f"cannot open {path}: {err}") from err


def _code(err: sqlite3.Error) -> int | None:
    """SQLite's primary result code of an error, if it carries one."""
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def _refused_by_disk(err: sqlite3.Error) -> bool:
    return _code(err) in _DISK_REFUSED


def quarantine(path: Path, *, stamp: str) -> Path:
    """Move a damaged database (and its WAL files) aside; returns where it went."""
    moved = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(moved.with_name(moved.name + suffix))
    return moved


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


def _migrations() -> list[tuple[int, str]]:
    folder = resources.files("hub.store") / "migrations"
    found = [(int(f.name.split("_", 1)[0]), f.read_text()) for f in folder.iterdir()]
    return sorted(item for item in found if item[1])


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

    @classmethod
    @asynccontextmanager
    async def open(cls, path: Path, *, readonly: bool = False) -> AsyncIterator[Self]:
        """Open (and for writers, create and migrate) the database at `path`.

        A writer whose disk refuses even to open the database as usual (full: no room for the
        WAL index; read-only) opens it for itself alone: it reads, its writes are refused until
        the disk takes them, and other readers wait until it closes.

        Raises:
            StoreError: the file is corrupt, unreadable, or newer than this hub.
        """
        db = await _connect(path, readonly=readonly)
        try:
            store = cls(db, path)
            try:
                await store._prepare(path, readonly=readonly)
            except StoreWriteError as err:
                if readonly:
                    raise
                await db.close()
                db = await _connect(path, readonly=False)
                store = cls(db, path)
                await store._prepare(path, readonly=False, exclusive=True)
                log.error(
                    "%s: opened %s for the hub alone; command-line readers wait until it restarts",
                    err,
                    path,
                )
            yield store
        finally:
            await db.close()

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
            if _refused_by_disk(err):
                raise StoreWriteError(f"the disk refused {path}: {err}") from err
            if _code(err) in _IN_USE:  # held by another connection: not a damaged file
                raise StoreError(f"{path} is in use by another process: {err}") from err
            raise StoreCorruptError(f"{path} is not a usable hub database: {err}") from err

    async def _check_integrity(self, path: Path) -> None:
        verdict = await self.integrity()
        if verdict != ["ok"]:
            raise StoreCorruptError(f"{path} failed its integrity check: {'; '.join(verdict[:3])}")

    async def _migrate(self, path: Path, *, readonly: bool) -> None:
        rows = list(await self._db.execute_fetchall("PRAGMA user_version"))
        current = int(rows[0][0])
        migrations = _migrations()
        latest = migrations[-1][0]
        if current > latest:
            msg = f"{path} has schema version {current}, newer than this hub ({latest}): upgrade"
            raise StoreError(msg)
        if readonly:
            if current < latest:
                raise StoreError(f"{path} has not been set up by the hub yet (version {current})")
            return
        for version, sql in migrations:
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

        Returns:
            The notifications newly added to the outbox (a repeated key is not added twice).
        """
        return await self._write(partial(write_batch, batch=batch, at=at), flush=flush)

    async def _write(self, work: Callable[[sqlite3.Connection], T], *, flush: bool = True) -> T:
        """Run `work` as one write transaction under the lock, in one hop to the store's thread.

        Raises:
            StoreWriteError: the disk refused the write (nothing of it was kept).
        """
        async with self._lock:
            try:
                result = await self._db.run(partial(in_transaction, work))
            except sqlite3.Error as err:
                if not _refused_by_disk(err):
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
            try:
                await self._db.execute("BEGIN IMMEDIATE")
                try:
                    yield
                except BaseException:
                    await self._rollback()
                    raise
                await self._db.commit()
            except sqlite3.Error as err:
                if not _refused_by_disk(err):
                    raise
                await self._rollback()
                raise StoreWriteError(f"write refused: {err}") from err
            self._written += 1
        if flush:
            await self.flush()

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
