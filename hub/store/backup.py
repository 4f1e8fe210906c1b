"""Online backups of the hub database, with retention."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from hub.store.store import Store

PREFIX = "hub-"
SUFFIX = ".db"


def back_up(database: Path, folder: Path, *, keep: int, now: datetime | None = None) -> Path:
    """Copy `database` into `folder` while the hub runs; keep the newest `keep` copies.

    The copy is written under a temporary name and renamed, so a backup on disk is always whole.
    """
    folder.mkdir(parents=True, exist_ok=True)
    stamp = (now or datetime.now(UTC)).strftime("%Y%m%dT%H%M%SZ")
    target = folder / f"{PREFIX}{stamp}{SUFFIX}"
    partial = target.with_suffix(".partial")
    partial.unlink(missing_ok=True)
    asyncio.run(_copy(database, partial))
    partial.replace(target)
    backups = sorted(folder.glob(f"{PREFIX}*{SUFFIX}"))
    for old in backups[: max(0, len(backups) - keep)]:
        old.unlink()
    return target


async def _copy(database: Path, target: Path) -> None:
    async with Store.open(database, readonly=True) as store:
        await store.backup_to(target)
