"""The dashboard of a real hub process: request latency, live-update latency, memory.

Run: .venv/bin/python -m bench.web [--requests N] [--listeners N]
Figures to watch on a Pi: /api/status well under 100 ms, a press shown on every open page
within a second, and the hub's memory with the dashboard in use.
"""

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

import aiomqtt
import httpx

from bench.hubproc import HubUnderTest
from hub.mqtt.broker import LocalBroker, free_port
from hub.web.passcodes import hash_passcode
from wire.schema import event_topic

PASSCODE = "bench-passcode"
CONFIG = """\
[mqtt]
port = {mqtt_port}
client_id = "bench-hub"
[store]
path = "{db}"
[web]
port = {web_port}
[[web.logins]]
name = "Alice"
role = "carer"
passcode_hash = "{hash}"
[[contacts]]
name = "Alice"
[[devices]]
id = "pendant-1"
name = "pendant"
role = "pendant"
"""


async def log_in(client: httpx.AsyncClient) -> None:
    page = await client.get("/login")
    token = page.text.split('name="csrf" value="', 1)[1].split('"', 1)[0]
    await client.post("/login", data={"passcode": PASSCODE, "csrf": token})


async def latencies(client: httpx.AsyncClient, path: str, count: int) -> list[float]:
    found = []
    for _ in range(count):
        started = time.perf_counter()
        (await client.get(path)).raise_for_status()
        found.append(time.perf_counter() - started)
    return found


async def live_update(client: httpx.AsyncClient, broker: LocalBroker, listeners: int) -> float:
    """Seconds from a press published over MQTT to its event on the slowest of the pages."""

    async def listen(ready: asyncio.Event, seen: list[float]) -> None:
        async with client.stream("GET", "/api/events") as stream:
            async for line in stream.aiter_lines():
                if line == "event: ready":
                    ready.set()
                elif line == "event: incident":
                    seen.append(time.perf_counter())
                    return

    readies = [asyncio.Event() for _ in range(listeners)]
    seen: list[float] = []
    tasks = [asyncio.create_task(listen(r, seen)) for r in readies]
    await asyncio.wait_for(asyncio.gather(*(r.wait() for r in readies)), 30)
    async with aiomqtt.Client(broker.host, broker.port, identifier="bench-pendant") as device:
        started = time.perf_counter()
        await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)
        await asyncio.wait_for(asyncio.gather(*tasks), 30)
    return max(seen) - started


async def measure(
    base: str, broker: LocalBroker, hub: HubUnderTest, args: argparse.Namespace
) -> None:
    limits = httpx.Limits(max_connections=args.listeners + 5)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        await log_in(client)
        before = hub.status_kib("VmRSS") / 1024
        for path in ("/api/status", "/healthz", "/"):
            values = await latencies(client, path, args.requests)
            p95 = statistics.quantiles(values, n=20)[-1]
            print(f"GET {path:<12} median {statistics.median(values) * 1000:6.1f} ms"
                  f"  p95 {p95 * 1000:6.1f} ms")  # fmt: skip
        delay = await live_update(client, broker, args.listeners)
        print(f"press to {args.listeners} live pages: {delay * 1000:.1f} ms")
        after = hub.status_kib("VmRSS") / 1024
        print(f"hub memory: {before:.1f} MiB after login, {after:.1f} MiB after the run")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--requests", type=int, default=200)
    parser.add_argument("--listeners", type=int, default=10)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp, LocalBroker(Path(tmp) / "broker") as broker:
        web_port, config = free_port(), Path(tmp) / "hub.toml"
        config.write_text(CONFIG.format(
            mqtt_port=broker.port, db=Path(tmp) / "hub.db", web_port=web_port,
            hash=hash_passcode(PASSCODE),
        ))  # fmt: skip
        hub = HubUnderTest(config)
        try:
            hub.start()
            print(f"broker: {broker.kind}; {args.requests} requests per page")
            asyncio.run(measure(f"http://127.0.0.1:{web_port}", broker, hub, args))
        finally:
            hub.stop()


if __name__ == "__main__":
    main()
