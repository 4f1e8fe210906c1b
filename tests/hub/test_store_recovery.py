"""A damaged database never keeps the hub from alerting; a newer one is never thrown away."""

import asyncio
import logging
from pathlib import Path

import pytest

from hub.cli.doctor import check_store
from hub.mqtt.broker import LocalBroker
from hub.service.app import serve
from hub.store.errors import StoreCorruptError, StoreError, StoreWriteError
from hub.store.store import NewDevice, Store
from tests.support.disks import fill
from tests.support.hubs import in_process_config, running_hub
from tests.support.reliability import record
from tests.support.rules import clock

NOW = clock("10:00")
_PENDANT = NewDevice(
    id="pendant-1", name="pendant", role="pendant", room="Bedroom", source="native",
    friendly_name=None, model=None, origin="config",
)  # fmt: skip


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


async def test_a_database_the_full_disk_has_no_room_for_stands_in_until_it_has(
    small_disk: Path,
) -> None:
    """No database yet, and no room to create one: the hub reads an empty one, writes nothing.

    Once there is room, the first write creates it on the disk, with the key the hub made.
    """
    path = small_disk / "hub.db"
    filler = fill(small_disk)
    async with Store.open(path) as store:
        assert not path.exists(), "no empty file left to be taken for a database"
        assert await store.devices() == []
        key = await store.ack_key()
        assert not await store.writable()
        with pytest.raises(StoreWriteError):
            await store.register_devices([_PENDANT], at=NOW)
        assert not path.exists()
        filler.unlink()
        await store.register_devices([_PENDANT], at=NOW)
        assert await store.writable()
        assert [d.id for d in await store.devices()] == ["pendant-1"]
    async with Store.open(path, readonly=True) as reader:
        assert [d.id for d in await reader.devices()] == ["pendant-1"]
        kept = await reader._fetch("SELECT value FROM hub_secrets WHERE name = 'ack_key'", ())
        assert [row["value"] for row in kept] == [key], "tokens sent meanwhile still work"


def test_doctor_says_a_new_hub_on_a_full_disk_stores_nothing(
    broker: LocalBroker, tmp_path: Path, small_disk: Path
) -> None:
    config = in_process_config(broker, tmp_path, store={"path": str(small_disk / "hub.db")})
    assert check_store(config).ok, "room for it: the hub creates it at first start"
    filler = fill(small_disk)
    finding = check_store(config)
    assert not finding.ok
    assert "cannot be created: the disk under" in finding.detail
    assert "stores nothing" in finding.detail
    assert finding.fix is not None
    filler.unlink()
    assert check_store(config).ok
