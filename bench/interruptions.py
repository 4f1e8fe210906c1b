"""Interruptions benchmark: the real hub over each labelled scenario, in simulated time.

Run: .venv/bin/python -m bench.interruptions [--scenario NAME ...] [--json]

For each scenario: a real Mosquitto (or the embedded broker), the hub with a fresh store and a
virtual clock, and the simulated household. Prints emergencies told before their deadline,
time to first notification, interruptions of the carer at work against a naive baseline that
forwards every alarm-type message as an SMS, and duplicates. Targets on `working-week`: 100% of
emergencies on time, at most 1 unnecessary interruption at work, >= 80% fewer interruptions at
work than the baseline, 0 duplicates.
"""

import argparse
import asyncio
import json
import logging
import statistics
import tempfile
from pathlib import Path
from typing import Any

from firmware_sim.player import play_virtual, schedule
from firmware_sim.scenario import load_scenario, shipped_names
from firmware_sim.scoring import Score, score
from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker
from hub.service.app import serve
from hub.store.store import Store


async def run_one(name: str, broker: LocalBroker, workdir: Path) -> Score:
    scenario = load_scenario(name)
    config = config_from_dict(scenario.hub_config(broker.host, broker.port, workdir / f"{name}.db"))
    stop, ready = asyncio.Event(), asyncio.Event()
    hub = asyncio.create_task(serve(config, stop, on_ready=ready.set))
    await asyncio.wait_for(ready.wait(), 30)
    try:
        await play_virtual(scenario, broker.host, broker.port)
    finally:
        stop.set()
        await hub
    async with Store.open(config.store.path, readonly=True) as store:
        incidents = await store.incidents()
        notifications = await store.notifications()
    return score(scenario, schedule(scenario), incidents, notifications)


def row(result: Score) -> dict[str, Any]:
    delays = [o.delay_s for o in result.outcomes if o.delay_s is not None]
    fewer = (
        1 - result.interruptions_at_work / result.baseline_at_work
        if result.baseline_at_work
        else 0.0
    )
    return {
        "scenario": result.scenario,
        "needs_carer_on_time": f"{result.on_time}/{len(result.outcomes)}",
        "notify_p50_s": round(statistics.median(delays), 1) if delays else None,
        "notify_max_s": round(max(delays), 1) if delays else None,
        "at_work": result.interruptions_at_work,
        "unnecessary_at_work": result.unnecessary_at_work,
        "follow_ups_at_work": result.follow_ups_at_work,
        "baseline_at_work": result.baseline_at_work,
        "fewer_than_baseline": f"{fewer:.0%}",
        "notifications": result.notifications,
        "duplicates": result.duplicates,
        "cancelled_before_sent": result.cancelled_before_sent,
        "missed": [o.step.note or o.step.do for o in result.outcomes if not o.on_time],
    }


async def main_async(names: list[str], as_json: bool) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        with LocalBroker(workdir / "broker") as broker:
            rows = [row(await run_one(name, broker, workdir)) for name in names]
    if as_json:
        for item in rows:
            print(json.dumps(item))
        return
    columns = [k for k in rows[0] if k != "missed"]
    widths = {c: max(len(c), *(len(str(item[c])) for item in rows)) for c in columns}
    for line in [dict(zip(columns, columns, strict=True)), *rows]:
        print("  ".join(f"{line[c]!s:>{widths[c]}}" for c in columns))
    for item in rows:
        for missed in item["missed"]:
            print(f"  {item['scenario']}: not told in time: {missed}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--scenario", action="append", choices=shipped_names())
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")
    args = parser.parse_args()
    logging.getLogger("telecare").setLevel(logging.ERROR)  # the table is the output
    asyncio.run(main_async(args.scenario or shipped_names(), args.json))


if __name__ == "__main__":
    main()
