"""Shared fixtures: a real broker on a free port, hub configurations, waiting on conditions."""

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.broker import LocalBroker


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
