"""Signal history in the store, the hourly trend check, and a falling signal in the digest."""

import asyncio
import json
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from statistics import median

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from drivers.native import NativeDriver
from drivers.zigbee2mqtt import Zigbee2MqttDriver
from hub.cli import main
from hub.pipeline.intake import Intake, device_infos
from hub.pipeline.pipeline import Pipeline
from hub.pipeline.rejections import RejectLog
from hub.store.devices import HISTORY_DAYS
from hub.store.records import DeviceHealth, HealthHour
from hub.store.store import Batch, NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine, EngineState
from rules.policy import Contact, Home, RulesConfig
from wire.devices import DeviceRecord
from wire.schema import InboundMessage

START = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)
HOUR = timedelta(hours=1)
PENDANT = NewDevice("sos-hall", "Hall pendant", "pendant", "Hall", "zigbee2mqtt", "mum/hall/sos",
                    "TS0215A_sos", "paired")  # fmt: skip


async def report(store: Store, at: datetime, quality: int | None, battery: int | None) -> None:
    health = DeviceHealth(device_id="sos-hall", at=at, battery=battery, linkquality=quality)
    await store.commit(Batch(health=[health]), at=at)


async def test_reports_are_kept_as_hourly_medians_for_thirty_days(tmp_path: Path) -> None:
    async with Store.open(tmp_path / "hub.db") as store:
        await store.register_devices([PENDANT], at=START)
        for minute, quality, battery in [(0, 140, 90), (20, 100, None), (40, 150, 88)]:
            await report(store, START + timedelta(minutes=minute), quality, battery)
        await report(store, START + HOUR, 61, None)  # the next hour, still in progress
        await report(store, START + HOUR + timedelta(minutes=5), None, None)  # no health to keep
        kept = await store.signal_history("sos-hall", START)
        assert kept == [
            HealthHour(hour=START, linkquality=140.0, battery=89.0, samples=3),
            HealthHour(hour=START + HOUR, linkquality=61.0, battery=None, samples=1),
        ]
        assert await store.signal_history("sos-hall", START + HOUR) == kept[1:]
        assert await store.signal_history("someone-else", START) == []
        later = START + timedelta(days=HISTORY_DAYS, hours=1)
        await report(store, later, 70, 80)  # thirty days on: the first hour is pruned
        pruned = [h.hour for h in await store.signal_history("sos-hall", START)]
        await report(store, later + HOUR, 72, 80)  # and now the second
        kept = await store.signal_history("sos-hall", START)
    assert pruned == [START + HOUR, later]
    assert [(h.hour, h.linkquality) for h in kept] == [(later, 70.0), (later + HOUR, 72.0)]


def pipeline_for(
    store: Store, devices: list[DeviceRecord], clock: list[datetime], *, digest_hour: int
) -> Pipeline:
    """The hub's event path for Mum's home: Alice reads a digest, and a summary an hour later."""
    at = f"{digest_hour:02d}:00"
    alice = Contact(name="Alice", digest_at=(at,), summary_at=f"{(digest_hour + 1) % 24:02d}:00")
    rules = RulesConfig(
        home=Home(person="Mum", timezone="UTC"), contacts=(alice,), devices=device_infos(devices)
    )
    drivers = [NativeDriver(), Zigbee2MqttDriver("zigbee2mqtt")]
    return Pipeline(
        engine=Engine(rules),
        state=EngineState(since=clock[0]),
        store=store,
        intake=Intake(devices, RejectLog(), drivers),
        dispatcher=Dispatcher(store, {"outbox": LocalOutbox()}),
        ack=lambda message: None,
        publish=lambda topic, body, retain: None,
        clock=lambda: clock[0],
    )


async def test_a_sinking_pendant_signal_reaches_the_digest_the_summary_and_devices_show(
    tmp_path: Path,
) -> None:
    # A week at 142, then a day and a half at 61, ending now (so `devices show` sees it too).
    # Alice's digest comes two hours before the end, whatever the time of day the test runs:
    # 33 hours into the fall (the one the day before, 9 hours in, is too soon to tell).
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(hours=203)
    clock = [start]
    db = tmp_path / "hub.db"
    async with Store.open(db) as store:
        await store.register_devices([PENDANT], at=start)
        digest_hour = (end - 2 * HOUR).hour
        pipeline = pipeline_for(store, await store.devices(), clock, digest_hour=digest_hour)
        for hour in range(7 * 24 + 36):
            clock[0] = start + hour * HOUR
            usual = hour < 7 * 24
            state = {"battery": 95 if usual else 80, "linkquality": 142 if usual else 61}
            body = json.dumps(state).encode()
            await pipeline.handle([InboundMessage("zigbee2mqtt/mum/hall/sos", body, qos=1)])
            await pipeline.tick()
        events = [e.event for e in await store.events()]
        texts = [n.text for n in await store.notifications()]
    trend_events = [(e.type, e.value) for e in events if e.type.startswith("device.signal")]
    assert trend_events == [("device.signal_steady", 142.0), ("device.signal_falling", 61.0)]
    digests = [t for t in texts if t.startswith("Digest for Alice")]
    falling = "The Hall pendant (Hall) signal is falling: 142 -> 61/255 over 7 days"
    assert sum(falling in t for t in digests) == 1
    summaries = [t for t in texts if t.startswith("Daily summary")]
    assert "Devices needing attention: Hall pendant (signal falling)." in summaries[-1]
    assert "Devices: all reporting." in summaries[0]
    args = ["devices", "--db", str(db), "show", "sos-hall"]
    shown = await asyncio.to_thread(CliRunner().invoke, main, args)
    assert "signal trend   142 -> 61/255 over 7 days: falling" in shown.output
    assert "battery trend  95 -> 80% over 7 days\n" in shown.output
    as_json = await asyncio.to_thread(CliRunner().invoke, main, [*args, "--json"])
    trend = json.loads(as_json.output)["signal_trend"]
    assert trend == {"before": 142.0, "recent": 61.0, "days": 7, "falling": True}


REPORTS = st.lists(
    st.tuples(st.integers(0, 6 * 60 - 1), st.none() | st.integers(0, 255),
              st.none() | st.integers(0, 100)),
    min_size=1,
    max_size=40,
)  # fmt: skip


@settings(max_examples=25, deadline=None)
@given(REPORTS)
def test_history_is_the_median_of_each_hour_whatever_the_reports(
    reports: list[tuple[int, int | None, int | None]],
) -> None:
    reports = sorted(reports, key=lambda r: r[0])  # the hub's clock moves forward
    expected: dict[datetime, list[tuple[int | None, int | None]]] = {}
    for minute, quality, battery in reports:
        if quality is not None or battery is not None:
            expected.setdefault(START + minute // 60 * HOUR, []).append((quality, battery))

    async def kept() -> list[HealthHour]:
        with tempfile.TemporaryDirectory() as folder:
            async with Store.open(Path(folder) / "hub.db") as store:
                await store.register_devices([PENDANT], at=START)
                for minute, quality, battery in reports:
                    await report(store, START + timedelta(minutes=minute), quality, battery)
                return await store.signal_history("sos-hall", START)

    def middle(values: list[int | None]) -> float | None:
        known = [v for v in values if v is not None]
        return float(median(known)) if known else None

    assert asyncio.run(kept()) == [
        HealthHour(
            hour=hour,
            linkquality=middle([q for q, _ in values]),
            battery=middle([b for _, b in values]),
            samples=len(values),
        )
        for hour, values in sorted(expected.items())
    ]
