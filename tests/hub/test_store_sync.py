"""The store syncs its write-ahead log after each transaction, or once for many when asked."""

from datetime import UTC, datetime
from pathlib import Path

import pytest

import hub.store
from hub.store import AcceptedEvent, Batch, Store
from rules.events import DeviceEvent
from rules.incidents import Notify

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


async def test_a_batch_that_fails_part_way_keeps_none_of_itself(tmp_path: Path) -> None:
    # The whole transaction runs in one call on the store's thread: a statement that fails
    # after others have run takes the earlier ones with it.
    orphan = Notify(
        key="no-such-incident:0:Alice:ntfy",
        incident_id="no-such-incident",
        severity="emergency",
        contact="Alice",
        channel="ntfy",
        text="Mum pressed her pendant",
        at=NOW,
    )
    failing = _batch()
    failing.actions.append(orphan)
    async with Store.open(tmp_path / "hub.db") as store:
        await store.commit(_batch(), at=NOW)
        with pytest.raises(Exception, match="FOREIGN KEY"):
            await store.commit(failing, at=NOW)
        assert len(await store.events()) == 1, "the failed batch's event was not kept"
        assert await store.pending_notifications() == []
        await store.commit(_batch(), at=NOW)  # the store takes the next batch
        assert len(await store.events()) == 2
