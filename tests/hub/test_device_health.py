"""Device health in the store: battery, signal and a falling signal, shown by `telecare devices`."""

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from hub.cli import main
from hub.records import DeviceHealth
from hub.store import Batch, NewDevice, Store

START = datetime(2026, 11, 23, 8, 0, tzinfo=UTC)


async def report(store: Store, qualities: list[int | None], start: int = 0) -> None:
    for index, quality in enumerate(qualities, start=start):
        at = START + timedelta(minutes=index)
        health = DeviceHealth(device_id="sos-1", at=at, battery=80, linkquality=quality)
        await store.commit(Batch(health=[health]), at=at)


async def test_a_sinking_signal_is_flagged_and_a_steady_one_is_not(tmp_path: Path) -> None:
    db = tmp_path / "hub.db"
    async with Store.open(db) as store:
        await store.register_devices(
            [NewDevice("sos-1", "SOS", "pendant", "Hall", "zigbee2mqtt", "sos", None, "paired")],
            at=START,
        )
        await report(store, [150, 148, 152, None] * 10)
        steady = (await store.devices())[0]
        await report(store, [90, 85, 80, 70, 72], start=40)
        sinking = (await store.devices())[0]
    assert (steady.linkquality, steady.battery, steady.signal_falling) == (152, 80, False)
    assert steady.last_seen == START + timedelta(minutes=39)
    assert sinking.linkquality == 72
    assert sinking.signal_falling
    listing = await asyncio.to_thread(CliRunner().invoke, main, ["devices", "--db", str(db)])
    assert "72/255 falling" in listing.output
    as_json = await asyncio.to_thread(
        CliRunner().invoke, main, ["devices", "--db", str(db), "--json"]
    )
    assert json.loads(as_json.output)["signal_falling"] is True
