"""Fixtures of the hub's tests: real filesystems to fill up or turn read-only."""

from collections.abc import Iterator
from pathlib import Path

import pytest

from hub.config import mosquitto
from tests.support import disks


@pytest.fixture(autouse=True)
def _no_machine_broker(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`telecare config check` compares no Mosquitto configuration of the machine running tests."""
    monkeypatch.setattr(mosquitto, "MOSQUITTO_CONF", tmp_path / "no-mosquitto.conf")


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 2 MB tmpfs of its own (root only; skipped elsewhere, required on CI)."""
    with disks.small_disk(tmp_path) as disk:
        yield disk


@pytest.fixture
def ext4_disk(tmp_path: Path) -> Iterator[Path]:
    """An ext4 card image mounted `errors=remount-ro` (root only, like `small_disk`)."""
    with disks.ext4_card(tmp_path) as disk:
        yield disk
