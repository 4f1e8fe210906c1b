"""The database's files: opening a connection, what the disk refused, a damaged file moved aside.

Part of the SQLite store (`hub.store.store.Store` opens the database with these).
"""

import contextlib
import errno
import sqlite3
from importlib import resources
from pathlib import Path

from hub.store.connection import Connection
from hub.store.errors import StoreError, StoreWriteError

# SQLite's primary result codes for a disk that will not take a write (extended codes carry
# the primary one in their low byte): SQLITE_READONLY, SQLITE_IOERR, SQLITE_FULL, SQLITE_CANTOPEN.
DISK_REFUSED = frozenset({8, 10, 13, 14})
IN_USE = frozenset({5, 6})  # SQLITE_BUSY, SQLITE_LOCKED
# What the system says of a disk with no room for a new file, or one that turned read-only.
NO_ROOM = frozenset({errno.ENOSPC, errno.EROFS, errno.EIO, errno.EDQUOT})


async def connect(path: Path, *, readonly: bool) -> Connection:
    """A connection to the database at `path` (created if missing, unless `readonly`).

    Raises:
        StoreWriteError: the disk has no room for it, or is read-only.
        StoreError: it cannot be opened for another reason.
    """
    try:
        if readonly:
            return await Connection.open(f"file:{path}?mode=ro", uri=True)
        path.parent.mkdir(parents=True, exist_ok=True)
        return await Connection.open(path)
    except OSError as err:
        if err.errno in NO_ROOM:
            raise StoreWriteError(f"the disk refused {path}: {err}") from err
        raise StoreError(f"cannot open {path}: {err}") from err
    except sqlite3.Error as err:
        if not readonly and refused_by_disk(err):
            raise StoreWriteError(f"the disk refused {path}: {err}") from err
        raise StoreError(f"cannot open {path}: {err}") from err


def set_up(path: Path) -> bool:
    """Whether the database at `path` holds anything (in its file, or in its log not folded)."""
    wal = path.with_name(f"{path.name}-wal")
    return any(part.exists() and part.stat().st_size > 0 for part in (path, wal))


def remove_empty(path: Path) -> None:
    """Remove the empty file a refused first open left, so that nothing mistakes it for one."""
    with contextlib.suppress(OSError):
        if not set_up(path):
            path.unlink(missing_ok=True)


def result_code(err: sqlite3.Error) -> int | None:
    """SQLite's primary result code of an error, if it carries one."""
    code = getattr(err, "sqlite_errorcode", None)
    return code & 0xFF if isinstance(code, int) else None


def refused_by_disk(err: sqlite3.Error) -> bool:
    """Whether SQLite's error says the disk would not take a write (it may later)."""
    return result_code(err) in DISK_REFUSED


def quarantine(path: Path, *, stamp: str) -> Path:
    """Move a damaged database (and its WAL files) aside; returns where it went."""
    moved = path.with_name(f"{path.name}.corrupt-{stamp}")
    for suffix in ("", "-wal", "-shm"):
        part = path.with_name(path.name + suffix)
        if part.exists():
            part.replace(moved.with_name(moved.name + suffix))
    return moved


def migrations() -> list[tuple[int, str]]:
    """The schema's migrations, (version, SQL), oldest first."""
    folder = resources.files("hub.store") / "migrations"
    found = [(int(f.name.split("_", 1)[0]), f.read_text()) for f in folder.iterdir()]
    return sorted(item for item in found if item[1])
