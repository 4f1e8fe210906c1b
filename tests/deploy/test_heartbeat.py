"""The dead-man ping: sent while the hub is healthy, silent when it is not."""

import asyncio
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar

import pytest

from hub.config.sections import HeartbeatSettings
from hub.mqtt.broker import LocalBroker
from hub.service.heartbeat import ping_forever
from tests.support.hubs import eventually, in_process_config, running_hub


class _Monitor(BaseHTTPRequestHandler):
    pings: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        type(self).pings.append(self.path)
        self.send_response(200)
        self.end_headers()

    def log_message(self, fmt: str, *args: object) -> None:  # quiet
        pass


@pytest.fixture
def monitor() -> Iterator[tuple[str, list[str]]]:
    """A healthchecks-style monitor on loopback; yields its URL and the paths pinged."""
    pings: ClassVar[list[str]] = []
    handler = type("Monitor", (_Monitor,), {"pings": pings})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/ping/home-42", pings
    finally:
        server.shutdown()
        server.server_close()


async def test_running_hub_pings_the_monitor(
    broker: LocalBroker, tmp_path: Path, monitor: tuple[str, list[str]]
) -> None:
    url, pings = monitor
    heartbeat = {"url": url, "interval_s": 1}
    async with running_hub(in_process_config(broker, tmp_path, heartbeat=heartbeat)):

        async def pinged_twice() -> bool:
            return len(pings) >= 2

        await eventually(pinged_twice)
    assert set(pings) == {"/ping/home-42"}


async def test_no_ping_while_the_hub_is_unhealthy(monitor: tuple[str, list[str]]) -> None:
    url, pings = monitor
    settings = HeartbeatSettings.model_validate({"url": url, "interval_s": 1})
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(1.5):
            await ping_forever(settings, lambda: False)
    assert pings == []
