"""Device health in the store: battery, signal and a falling signal, shown by `telecare devices`."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.store.records import DeviceHealth
from hub.store.store import Batch, NewDevice, Store

HOUR = timedelta(hours=1)


async def report(store: Store, device_id: str, qualities: list[int | None]) -> None:
    """One report an hour, the last one now."""
    now = datetime.now(UTC)
    for index, quality in enumerate(qualities):
        at = now - (len(qualities) - 1 - index) * HOUR
        health = DeviceHealth(device_id=device_id, at=at, battery=80, linkquality=quality)
        await store.commit(Batch(health=[health]), at=at)


async def test_a_sinking_signal_is_flagged_and_a_steady_one_is_not(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    async with Store.open(db) as store:
        await store.register_devices(
            [
                NewDevice("sos-1", "SOS", "pendant", "Hall", "zigbee2mqtt", "sos", None, "paired"),
                NewDevice("door-1", "Door", "door", "Hall", "zigbee2mqtt", "door", None, "paired"),
                NewDevice("new-1", "New", "water", "Hall", "zigbee2mqtt", "new", None, "paired"),
            ],
            at=datetime.now(UTC),
        )
        await report(store, "door-1", [150, 148, 152, None] * 48)
        await report(store, "sos-1", [150] * 168 + [90, 85, 80] + [70, 72] * 10)
        await report(store, "new-1", [150] * 5)  # too little history to judge
        steady = {d.id: d for d in await store.devices()}["door-1"]
    assert (steady.linkquality, steady.battery) == (152, 80)
    listing = await asyncio.to_thread(CliRunner().invoke, main, ["devices", "--db", str(db)])
    rows = {line.split()[0]: line for line in listing.output.splitlines()}
    assert "72/255 falling" in rows["sos-1"]
    assert "152/255 " in rows["door-1"] and "falling" not in rows["door-1"]
    assert "150/255 " in rows["new-1"] and "falling" not in rows["new-1"]
    as_json = await asyncio.to_thread(
        CliRunner().invoke, main, ["devices", "--db", str(db), "--json"]
    )
    judged = {d["id"]: d["signal_falling"] for d in map(json.loads, as_json.output.splitlines())}
    assert judged == {"door-1": False, "new-1": None, "sos-1": True}
