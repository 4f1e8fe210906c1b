"""A damaged database never keeps the hub from alerting; a newer one is never thrown away."""

import asyncio
import logging
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from hub.service.app import serve
from hub.store.errors import StoreCorruptError, StoreError
from hub.store.store import Store
from tests.support.disks import fill
from tests.support.hubs import in_process_config, running_hub
from tests.support.reliability import record


async def test_corrupt_database_is_moved_aside_and_the_hub_starts_afresh(
    broker: LocalBroker, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    config = in_process_config(broker, tmp_path)
    garbage = b"SQLite format 3\x00" + b"\x13" * 8192
    config.store.path.write_bytes(garbage)
    async with running_hub(config):
        pass
    moved = list(tmp_path.glob("hub.db.corrupt-*"))
    assert len(moved) == 1
    assert moved[0].read_bytes() == garbage, "the damaged file is kept for inspection"
    async with Store.open(config.store.path, readonly=True) as store:
        assert await store.integrity() == ["ok"]
    loud = [r for r in caplog.records if r.levelno == logging.CRITICAL]
    assert len(loud) == 1
    assert "started with an empty database" in loud[0].getMessage()
    record("faults", "corrupt database at start", moved_aside=len(moved), loud_log_lines=len(loud))


async def test_database_from_a_newer_hub_is_refused_not_discarded(
    broker: LocalBroker, tmp_path: Path
) -> None:
    config = in_process_config(broker, tmp_path)
    async with Store.open(config.store.path) as store:
        await store._db.execute("PRAGMA user_version = 99")  # a newer hub's file
    with pytest.raises(StoreError, match="newer than this hub"):
        await serve(config, asyncio.Event())
    assert not list(tmp_path.glob("hub.db.corrupt-*"))


async def test_a_store_opened_alone_on_a_full_disk_is_in_use_never_corrupt(
    tmp_path: Path, small_disk: Path
) -> None:
    """A hub whose disk was full at start holds its database alone until it stops."""
    path = small_disk / "hub.db"
    async with Store.open(path):
        pass
    filler = fill(small_disk)
    async with Store.open(path) as alone:
        assert await alone.events() == []
        with pytest.raises(StoreError, match="in use by another process") as refused:
            async with Store.open(path, readonly=True):
                pass
        assert not isinstance(refused.value, StoreCorruptError)
    filler.unlink()
    async with Store.open(path, readonly=True) as reader:
        assert await reader.integrity() == ["ok"]
    assert not list(small_disk.glob("hub.db.corrupt-*"))
