"""The event path's stage timings: fed by every message through a running hub, on `/metrics`."""

import asyncio
import json
import urllib.request
from pathlib import Path

from bench import stages as bench_stages
from hub.mqtt.broker import LocalBroker, free_port
from hub.pipeline.inbox import Inbox
from hub.pipeline.stages import BOUNDS_NS, MESSAGE_STAGES, StageTimings
from hub.store.records import StoreTallies
from hub.store.store import Store
from hub.web.metrics import render_metrics
from tests.support.hubs import device_client, eventually, in_process_config, running_hub
from wire.schema import event_topic


def fetch(url: str) -> str:
    """The body at `url` (the first visit loads the dashboard: it may take a while)."""
    with urllib.request.urlopen(url, timeout=30) as reply:
        return str(reply.read().decode())


def counts(text: str) -> dict[tuple[str, str], int]:
    """`telecare_stage_seconds_count` of each (path, stage)."""
    found: dict[tuple[str, str], int] = {}
    for line in text.splitlines():
        if line.startswith("telecare_stage_seconds_count{"):
            labels, value = line.removeprefix("telecare_stage_seconds_count").split(" ")
            path = labels.split('path="')[1].split('"')[0]
            stage = labels.split('stage="')[1].split('"')[0]
            found[path, stage] = int(value)
    return found


async def test_a_press_and_a_door_through_the_running_hub_feed_every_stage(
    broker: LocalBroker, tmp_path: Path
) -> None:
    port = free_port()
    config = in_process_config(broker, tmp_path, web={"port": port})
    url = f"http://127.0.0.1:{port}/metrics"
    async with running_hub(config), device_client(broker) as device:
        before = counts(await asyncio.to_thread(fetch, url))
        press = {"type": "pendant.pressed", "seq": 1}
        await device.publish(event_topic("pendant-1"), json.dumps(press), qos=1)
        await device.publish(event_topic("door-1"), b'{"type": "door.opened", "seq": 1}', qos=1)

        async def stored_and_sent() -> bool:
            async with Store.open(config.store.path, readonly=True) as store:
                sent = any(n.state == "delivered" for n in await store.notifications())
                return sent and len(await store.events()) == 2

        await eventually(stored_and_sent)
        after = await asyncio.to_thread(fetch, url)

    grown = {key: n - before.get(key, 0) for key, n in counts(after).items()}
    for path in ("alarm", "telemetry"):
        for stage in MESSAGE_STAGES:
            assert grown.get((path, stage), 0) >= 1, (path, stage, grown)
    assert grown.get(("notification", "dispatch"), 0) >= 1, grown
    budget = bench_stages.budget(bench_stages.parse(after))
    read_to_commit = next(r for r in budget["alarm"] if r["stage"] == "read to commit")
    assert read_to_commit["mean_s"] > 0


async def test_the_histograms_render_cumulative_buckets_a_sum_and_a_count() -> None:
    timings = StageTimings()
    decode = timings.paths["alarm"].decode
    decode.observe(BOUNDS_NS[0])  # on a bound: in that bound's bucket (le)
    decode.observe(BOUNDS_NS[0] + 1, times=2)
    decode.observe(10 * BOUNDS_NS[-1])  # beyond the last bound: +Inf only
    tallies = StoreTallies(events=0, incidents={}, notifications={})
    text = render_metrics(tallies, {}, Inbox(), broker_connected=True, stages=timings)
    lines = set(text.splitlines())
    labels = 'path="alarm",stage="decode"'
    assert {
        "# TYPE telecare_stage_seconds histogram",
        f'telecare_stage_seconds_bucket{{{labels},le="1e-06"}} 1',
        f'telecare_stage_seconds_bucket{{{labels},le="2e-06"}} 3',
        f'telecare_stage_seconds_bucket{{{labels},le="7"}} 3',
        f'telecare_stage_seconds_bucket{{{labels},le="+Inf"}} 4',
        f"telecare_stage_seconds_count{{{labels}}} 4",
        f"telecare_stage_seconds_sum{{{labels}}} 70.000003002",
        'telecare_stage_seconds_count{path="telemetry",stage="read"} 0',
        'telecare_stage_seconds_count{path="notification",stage="dispatch"} 0',
    } <= lines
