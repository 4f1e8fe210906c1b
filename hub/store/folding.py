"""Folding the write-ahead log into the database beside the writer, never inside a commit.

Part of the SQLite store (mixed into `hub.store.store.Store`).
"""

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from hub.store.connection import Connection

log = logging.getLogger("telecare.store")
FOLD_EVERY_S = 5.0  # the write-ahead log holds at most some seconds of writes
# A log longer than this was not restarted since the last fold: writes came too close together
# for a fold beside them ever to finish. The next fold finishes with writes held.
LOG_LIMIT_BYTES = 32 * 2**20


def _fold_log(path: Path) -> int:
    """A passive checkpoint from a connection of its own: fold what is committed, wait for none.

    Returns:
        How long the log was, in bytes: it only grows until the writer restarts it, which it
        does at a write that finds everything folded.
    """
    db = sqlite3.connect(path, timeout=0)
    try:
        [(_busy, logged, _folded)] = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        [(page_size,)] = db.execute("PRAGMA page_size").fetchall()
    finally:
        db.close()
    return max(0, int(logged)) * int(page_size)


class LogFolding:
    """The store's log folder: a second connection folds what the writer committed."""

    _db: Connection
    _lock: asyncio.Lock
    _path: Path | None
    _shared: bool
    _written: int

    @asynccontextmanager
    async def folding_log(self) -> AsyncIterator[None]:
        """Fold the write-ahead log into the database from a connection of its own, meanwhile.

        SQLite folds the log inside whichever commit takes it past 1000 pages, and that commit
        (an alarm's, perhaps) then waits for the database file to be written and synced: tens
        of milliseconds on an SD card. Here the writer never folds; a second connection, on a
        thread of its own, folds what is committed (a passive checkpoint: it waits for no
        writer and no writer waits for it), and the writer reuses the log from its start.
        """
        if self._path is None or not self._shared:
            yield
            return
        await self._db.execute("PRAGMA wal_autocheckpoint = 0")
        folder = asyncio.create_task(self._fold_now_and_then(self._path), name="store-fold-log")
        try:
            yield
        finally:
            folder.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await folder
            with contextlib.suppress(sqlite3.Error):
                await self._db.execute("PRAGMA wal_autocheckpoint = 1000")

    async def _fold_now_and_then(self, path: Path) -> None:
        """Every `FOLD_EVERY_S`, if anything was committed since the last fold, fold it."""
        folded_at = self._written
        while True:
            await asyncio.sleep(FOLD_EVERY_S)
            if self._written == folded_at:
                continue  # nothing new: an idle hub does no work here
            written = self._written
            try:
                if await asyncio.to_thread(_fold_log, path) > LOG_LIMIT_BYTES:
                    await self._fold_with_writes_held(path)
            except (sqlite3.Error, OSError) as err:
                log.warning("could not fold the write-ahead log of %s: %s", path, err)
                continue
            folded_at = written

    async def _fold_with_writes_held(self, path: Path) -> None:
        """Fold what the last fold left, with no write meanwhile: the next write restarts the log.

        A fold beside the writer folds what was committed when it began; the writer restarts
        the log only at a write that finds all of it folded. Under a steady stream of commits,
        each fold ends behind a newer one, and the log grows without end (1.4 GB in 5 minutes
        at 500 messages a second), and the index of it in memory with it. A fold at once after
        the last one copies what was written while that one ran; the fold with commits waiting
        copies only what was written while that second one ran.
        """
        length = await asyncio.to_thread(_fold_log, path)
        if length <= LOG_LIMIT_BYTES:
            return  # a write found it all folded, and restarted the log
        async with self._lock:
            held = time.monotonic()
            await asyncio.to_thread(_fold_log, path)
            held = time.monotonic() - held
        log.info(
            "write-ahead log of %s (%d MiB) folded with writes held for %.0f ms",
            path,
            length >> 20,
            held * 1000,
        )
