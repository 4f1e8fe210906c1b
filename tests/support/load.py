"""Load for the real hub process: paced publishing, its memory from /proc, its /metrics."""

import asyncio
import re
import time
from collections.abc import Iterable
from pathlib import Path

import aiomqtt
import httpx  # noqa: TID251  # reads the hub's /metrics as a monitor would

DASHBOARD_LINE = re.compile(r"dashboard on (https?://[^/\s]+)/")
SAMPLE = re.compile(r"^([a-z_]+)(\{[^}]*\})? (\S+)$")
Message = tuple[str, bytes, int]
"""Topic, payload and QoS of one message a device publishes."""


def memory_mib(pid: int) -> dict[str, float]:
    """A process's resident memory now (`VmRSS`) and at its highest so far (`VmHWM`), in MiB."""
    found = {}
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in {"VmRSS", "VmHWM"}:
            found[key] = int(value.split()[0]) / 1024
    return found


def dashboard_url(log_text: str) -> str:
    """Where the hub's dashboard listens, read from its log."""
    found = DASHBOARD_LINE.search(log_text)
    assert found is not None, "the hub did not say where its dashboard is"
    return found.group(1)


async def read_metrics(client: httpx.AsyncClient) -> dict[str, float]:
    """`/metrics` as a flat mapping: `name` or `name{labels}` to its value."""
    response = await client.get("/metrics")
    response.raise_for_status()
    samples = {}
    for line in response.text.splitlines():
        if (found := SAMPLE.match(line)) is not None:
            samples[found.group(1) + (found.group(2) or "")] = float(found.group(3))
    return samples


async def publish_paced(
    client: aiomqtt.Client, messages: Iterable[Message], *, per_s: float, tick_s: float = 0.05
) -> float:
    """Publish at `per_s` messages a second (`inf`: flat out); returns the seconds it took."""
    started = time.monotonic()
    per_tick = max(1, round(min(per_s, 1e6) * tick_s))
    for sent, (topic, payload, qos) in enumerate(messages, start=1):
        await client.publish(topic, payload, qos=qos)
        if sent % per_tick == 0:
            ahead = started + sent / per_s - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)
    return time.monotonic() - started
