"""Shared fixtures: a real broker on a free port, hub configurations, waiting on conditions."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.mqtt.broker import LocalBroker
from tests.support.hubs import HubProcess


def _broker_kind() -> str:
    if shutil.which("mosquitto"):
        return "mosquitto"
    if os.environ.get("CI") == "true":
        pytest.fail("CI must test against a real Mosquitto, and mosquitto is not on PATH")
    return "embedded"


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[LocalBroker]:
    """A Mosquitto (or, outside CI without Mosquitto, the embedded broker) on a free port."""
    with LocalBroker(tmp_path / "broker", kind=_broker_kind()) as running:  # type: ignore[arg-type]
        yield running


@pytest.fixture
def mosquitto(broker: LocalBroker) -> LocalBroker:
    """The broker, when the test needs Mosquitto's own behaviour.

    The embedded broker does not queue messages for a disconnected persistent session (a hub
    that crashed would never receive what was published meanwhile), and it replays retained
    messages a client did not subscribe to.
    """
    if broker.kind != "mosquitto":
        pytest.skip("needs Mosquitto itself (apt-get install mosquitto), not the embedded broker")
    return broker


@pytest.fixture
def hub_processes() -> Iterator[list[HubProcess]]:
    """Hub processes a test starts; any still running at the end are killed."""
    started: list[HubProcess] = []
    yield started
    for hub in started:
        if hub.process is not None and hub.process.poll() is None:
            hub.kill()
