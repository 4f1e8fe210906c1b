"""The store syncs its write-ahead log after each transaction, or once for many when asked."""

import asyncio
import logging
from datetime import UTC, datetime
from pathlib import Path

import pytest

import hub.store.folding
import hub.store.store
from hub.store.store import AcceptedEvent, Batch, Store
from rules.incidents import Notify
from wire.event import DeviceEvent

NOW = datetime(2026, 11, 23, 10, 42, tzinfo=UTC)


def _batch() -> Batch:
    event = DeviceEvent(device_id="pendant-1", type="pendant.pressed", received_at=NOW)
    return Batch(events=[AcceptedEvent(event)])


async def test_deferred_commits_share_one_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real_sync = hub.store.store._sync_file

    def counting_sync(path: Path) -> None:
        synced.append(path)
        real_sync(path)

    async with Store.open(tmp_path / "hub.db") as store:
        monkeypatch.setattr(hub.store.store, "_sync_file", counting_sync)
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


async def test_the_log_is_folded_beside_the_writer_not_by_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(hub.store.folding, "FOLD_EVERY_S", 0.05)
    folds: list[Path] = []
    real_fold = hub.store.folding._fold_log

    def counting_fold(path: Path) -> int:
        folds.append(path)
        return real_fold(path)

    monkeypatch.setattr(hub.store.folding, "_fold_log", counting_fold)
    db = tmp_path / "hub.db"
    async with Store.open(db) as store:
        async with store.folding_log():
            [[mode]] = await store._db.execute_fetchall("PRAGMA wal_autocheckpoint")
            assert mode == 0, "the writer never folds the log inside a commit"
            file_before = db.read_bytes()
            for _ in range(20):
                await store.commit(_batch(), at=NOW)
            await asyncio.sleep(0.3)
            assert folds, "committed writes are folded meanwhile"
            assert db.read_bytes() != file_before, "the database file has them"
            folded = len(folds)
            await asyncio.sleep(0.3)
            assert len(folds) == folded, "with nothing new written, nothing is done"
        [[mode]] = await store._db.execute_fetchall("PRAGMA wal_autocheckpoint")
        assert mode == 1000, "SQLite's own folding is back once the hub stops"


async def test_a_steady_stream_of_commits_does_not_grow_the_log_without_end(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # A fold beside the writer folds what was committed when it began; the writer restarts the
    # log only at a write that finds all of it folded. With commits back to back that never
    # happens unless writes are held once the log is long.
    monkeypatch.setattr(hub.store.folding, "FOLD_EVERY_S", 0.02)
    monkeypatch.setattr(hub.store.folding, "LOG_LIMIT_BYTES", 256 * 1024)
    caplog.set_level(logging.INFO, logger="telecare.store")
    db = tmp_path / "hub.db"
    wal = tmp_path / "hub.db-wal"
    commits = 3000
    async with Store.open(db) as store:
        async with store.folding_log():
            for n in range(commits):
                event = DeviceEvent(
                    device_id=f"d-{n % 50}", type="motion.detected", received_at=NOW
                )
                await store.commit(Batch(events=[AcceptedEvent(event)]), at=NOW, flush=False)
            longest = wal.stat().st_size
            written = await store._db.execute_fetchall("SELECT count(*) FROM events")
        assert written == [(commits,)]
    # Unbounded, these commits leave a log of about 40 MiB; held, about 2 MiB on an idle machine
    # and up to 14 MiB on a busy one, where each fold takes longer.
    assert longest < 20 * 2**20, f"the log is {longest >> 20} MiB after {commits} commits"
    assert "folded with writes held" in caplog.text
