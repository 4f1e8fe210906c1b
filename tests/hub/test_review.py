"""`telecare report`: the review report from a real store, as one self-contained HTML file.

Signal trends: median link quality per day, falling devices marked.
"""

import asyncio
import json
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from click.testing import CliRunner

from hub.cli import main
from hub.review.charts import MARK_COLOUR, trend_chart
from hub.review.report import ReviewData, battery_trends, signal_trends
from hub.store.records import DeviceHealth, HealthHour
from hub.store.store import Batch, NewDevice, Store
from notifier.channels.outbox import LocalOutbox
from notifier.dispatcher import Dispatcher
from rules.engine import Engine
from rules.policy import Contact, DeviceInfo, RulesConfig
from tests.support.pipeline import bare_pipeline
from wire.schema import InboundMessage, event_topic

LONDON = ZoneInfo("Europe/London")
DEVICES = [
    ("pendant-1", "pendant", "pendant", "Bedroom"),
    ("fall-1", "fall detector", "fall_detector", "Bathroom"),
    ("door-1", "front door", "door", "Hall"),
]
CONFIG = """\
[home]
person = "Mum"
timezone = "Europe/London"

[[contacts]]
name = "Alice"
"""


def _night_two_days_ago() -> datetime:
    local = datetime.now(LONDON) - timedelta(days=2)
    return local.replace(hour=23, minute=30, second=0, microsecond=0).astimezone(UTC)


async def _seed(db: Path, start: datetime) -> None:
    """A night: the front door opens, Mum presses, Alice acknowledges 3 minutes later; a fall
    detector then raises an alarm that clears within its confirm window (a false alarm)."""
    moment = [start]
    devices = {d[0]: DeviceInfo(name=d[1], role=d[2], room=d[3]) for d in DEVICES}  # type: ignore[arg-type]
    async with Store.open(db) as store:
        await store.register_devices(
            [NewDevice(i, n, r, room, "native", None, None, "config") for i, n, r, room in DEVICES],
            at=start,
        )
        async with Dispatcher(store, {"outbox": LocalOutbox()}) as dispatcher:
            engine = Engine(RulesConfig(contacts=(Contact(name="Alice"),), devices=devices))
            pipeline = await bare_pipeline(engine, store, dispatcher, lambda: moment[0])

            async def send(device: str, kind: str, minutes: float, battery: int = 90) -> None:
                moment[0] = start + timedelta(minutes=minutes)
                body = json.dumps({"type": kind, "battery": battery}).encode()
                await pipeline.handle([InboundMessage(event_topic(device), body, 1, 1)])

            await send("door-1", "door.opened", 0, battery=15)
            await send("door-1", "door.closed", 0.5, battery=17)
            await send("pendant-1", "pendant.pressed", 1)
            moment[0] = start + timedelta(minutes=4)
            call = next(i.id for i in pipeline.state.open.values() if i.cause == "help_call")
            assert await pipeline.acknowledge(call, "Alice")
            await send("fall-1", "fall.detected", 10)
            await send("fall-1", "fall.cleared", 10.1)
            await dispatcher.drain()


def _report(tmp_path: Path, *args: str) -> tuple[int, str, str]:
    config = tmp_path / "hub.toml"
    config.write_text(CONFIG)
    out = tmp_path / "report.html"
    result = CliRunner().invoke(
        main,
        [
            "report",
            "--config",
            str(config),
            "--db",
            str(tmp_path / "hub.db"),
            "--out",
            str(out),
            *args,
        ],
    )
    return result.exit_code, result.output, out.read_text() if out.exists() else ""


def test_report_draws_the_week_in_one_self_contained_file(tmp_path: Path) -> None:
    start = _night_two_days_ago()
    asyncio.run(_seed(tmp_path / "hub.db", start))
    code, output, html = _report(tmp_path, "--since", "7d")
    assert code == 0, output
    assert "written to" in output
    assert "<strong>3</strong> incidents" in html  # the night exit, the press, the fall
    assert html.count("<svg") == 6
    kinds = re.search(r'aria-label="Incidents by kind".*?</svg>', html, re.S)
    assert kinds is not None
    assert ">pendant alarm<" in kinds.group(0)
    assert ">fall alarm<" in kinds.group(0)
    false_alarms = re.search(r'aria-label="False alarms per device".*?</svg>', html, re.S)
    assert false_alarms is not None
    assert ">fall detector (Bathroom)<" in false_alarms.group(0)
    assert "pendant (Bedroom)" not in false_alarms.group(0)
    assert re.search(
        r"<td>fall detector \(Bathroom\)</td><td[^>]*>1</td>\s*<td[^>]*>0</td><td[^>]*>0</td>", html
    )
    battery = re.search(r'aria-label="Lowest battery per device".*?</svg>', html, re.S)
    assert battery is not None
    assert ">front door (Hall)<" in battery.group(0)
    assert ">15%<" in battery.group(0)
    nights = re.search(r'aria-label="Door openings at night".*?</svg>', html, re.S)
    assert nights is not None
    assert f">{start.astimezone(LONDON):%a %d %b}<" in nights.group(0)
    trend = re.search(r'aria-label="Battery per device, lowest each day".*?</svg>', html, re.S)
    assert trend is not None
    assert ">front door (Hall)<" in trend.group(0)
    assert ">15% to 15%<" in trend.group(0)
    assert "<strong>3.0 min</strong>" in html
    assert re.search(r"<td>Alice</td><td[^>]*>1</td>\s*<td[^>]*>3.0</td>", html)
    assert "acknowledged by Alice" in html
    assert "<td>Alice</td><td>outbox</td><td>delivered</td>" in html
    assert not re.search(r"<script|<link|src=|url\(", html)  # nothing to fetch: it prints offline


def test_report_period_leaves_out_older_incidents(tmp_path: Path) -> None:
    asyncio.run(_seed(tmp_path / "hub.db", _night_two_days_ago()))
    code, output, html = _report(tmp_path, "--since", "24h")
    assert code == 0, output
    assert "<strong>0</strong> incidents" in html
    assert "No alarm was acknowledged in this period." in html


def test_report_refuses_a_period_it_cannot_read(tmp_path: Path) -> None:
    asyncio.run(_seed(tmp_path / "hub.db", _night_two_days_ago()))
    code, output, html = _report(tmp_path, "--since", "a week")
    assert code == 2
    assert "such as 7d or 24h" in output
    assert html == ""


def _quiet_period(since: datetime, until: datetime, **history: Any) -> ReviewData:
    """A period without incidents, notifications or door openings: only device history."""
    return ReviewData(
        since=since,
        until=until,
        incidents=(),
        trail=(),
        notifications=(),
        devices=(),
        door_openings=(),
        lowest_battery={},
        **history,
    )


def test_battery_trend_is_the_lowest_level_of_each_local_day() -> None:
    evening = datetime(2026, 6, 1, 22, 30, tzinfo=UTC)  # 23:30 in London (summer time)
    hours = (
        ("door-1", evening, 80),
        ("door-1", evening + timedelta(minutes=45), 70),  # 00:15 the next day in London
        ("door-1", evening + timedelta(hours=2), 75),
        ("door-1", evening + timedelta(days=2), 60),
        ("fall-1", evening, 95),
    )
    data = _quiet_period(evening, evening + timedelta(days=2), battery_hours=hours)
    assert battery_trends(data, LONDON) == [("door-1", [80.0, 70.0, 60.0]), ("fall-1", [95.0])]
    chart = trend_chart("Battery", battery_trends(data, LONDON), unit="%")
    assert chart.count("<polyline") == 2
    assert ">80% to 60%<" in chart


HOUR = timedelta(hours=1)
SIGNAL_DEVICES = [
    NewDevice("sos-hall", "Hall pendant", "pendant", "Hall", "native", None, None, "config"),
    NewDevice("door-1", "front door", "door", "Hall", "native", None, None, "config"),
    NewDevice("leak-1", "leak sensor", "water", "Kitchen", "native", None, None, "config"),
]


def _week_then_a_day(end: datetime, usual: float, lately: float) -> tuple[HealthHour, ...]:
    """Hourly medians: `usual` for a week, then `lately` for the last day and a half."""
    start = end - 203 * HOUR
    return tuple(
        HealthHour(hour=start + n * HOUR, linkquality=usual if n < 168 else lately, battery=None,
                   samples=1)
        for n in range(204)
    )  # fmt: skip


def test_each_day_is_its_median_and_the_sinking_pendant_is_falling() -> None:
    until = datetime(2026, 11, 23, 11, 0, tzinfo=UTC)
    data = _quiet_period(
        until - timedelta(days=7),
        until,
        signal_hours={
            "door-1": _week_then_a_day(until, 150, 148),
            "sos-hall": _week_then_a_day(until, 142, 61),
            "leak-1": (HealthHour(hour=until, linkquality=None, battery=90, samples=1),),
        },
    )
    door, pendant = sorted(signal_trends(data, LONDON), key=lambda s: s.device)
    assert pendant.falling and not door.falling
    assert pendant.trend is not None and (pendant.trend.before, pendant.trend.recent) == (142, 61)
    # Seven days and an hour of the period, in London's days: 12:00 to 23:00 of the first one.
    assert len(pendant.daily) == 8
    assert pendant.daily[:6] == [142.0] * 6
    assert pendant.daily[-1] == 61.0
    assert door.daily[0] == 150.0 and door.daily[-1] == 148.0
    assert [s.device for s in signal_trends(data, LONDON)] == [
        "sos-hall",
        "door-1",
    ]  # falling first


async def _seed_signals(db: Path, end: datetime) -> None:
    """A week of reports at 142 (pendant) and 150 (door), then the pendant at 61 for a day and a
    half; the leak sensor only ever reports its battery."""
    async with Store.open(db) as store:
        await store.register_devices(SIGNAL_DEVICES, at=end - 204 * HOUR)
        for hour in reversed(range(204)):
            at = end - hour * HOUR
            health = [
                DeviceHealth(device_id="sos-hall", at=at, linkquality=142 if hour >= 36 else 61),
                DeviceHealth(device_id="door-1", at=at, linkquality=150),
                DeviceHealth(device_id="leak-1", at=at, battery=90),
            ]
            await store.commit(Batch(health=health), at=at)


def test_report_marks_the_device_whose_signal_is_falling(tmp_path: Path) -> None:
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    asyncio.run(_seed_signals(tmp_path / "hub.db", end))
    code, output, html = _report(tmp_path, "--since", "3d")
    assert code == 0, output
    assert "<strong>Hall pendant (Hall)</strong>: signal falling,\n      142 -> 61/255" in html
    chart = re.search(r'aria-label="Signal per device[^"]*".*?</svg>', html, re.S)
    assert chart is not None
    rows = chart.group(0).split("<polyline")
    assert "Hall pendant (Hall): falling</text>" in rows[0]
    assert f'stroke="{MARK_COLOUR}"' in rows[1]  # the falling pendant's line, drawn first
    assert ">142 to 61<" in rows[1]
    assert f'stroke="{MARK_COLOUR}"' not in rows[2]  # the steady front door
    assert ">front door (Hall)</text>" in rows[1]
    assert ">150 to 150<" in rows[2]
    assert "leak sensor" not in chart.group(0)  # no link quality reported
