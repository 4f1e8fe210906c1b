"""The store syncs its write-ahead log after each transaction, or once for many when asked."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

import hub.store
from hub.store import AcceptedEvent, Batch, Store
from rules.events import DeviceEvent

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


def _batch() -> Batch:
    event = DeviceEvent(device_id="pendant-1", type="pendant.pressed", received_at=NOW)
    return Batch(events=[AcceptedEvent(event)])


async def test_deferred_commits_share_one_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real_sync = hub.store._sync_file

    def counting_sync(path: Path) -> None:
        synced.append(path)
        real_sync(path)

    async with Store.open(tmp_path / "hub.db") as store:
        monkeypatch.setattr(hub.store, "_sync_file", counting_sync)
        await store.commit(_batch(), at=NOW, flush=False)
        await store.commit(_batch(), at=NOW, flush=False)
        assert synced == [], "committed, not yet synced"
        await store.flush()
        await store.flush()  # nothing new since
        assert synced == [tmp_path / "hub.db-wal"]
        await store.commit(_batch(), at=NOW)
        assert len(synced) == 2, "an ordinary commit is on disk when it returns"
        assert len(await store.events()) == 3
