"""Fixtures of the uplink's tests: the centre's engine (one nats-server, JetStream, TLS)."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.uplink.engine import Certificates, Engine, make_certificates, wait_until_up

HUB_ID = "home-1"
HUB_PASSWORD = "hub-password-3f9a"
HUB_KEY = "6b1f" * 16
OTHER_HUB, OTHER_PASSWORD = "home-2", "other-password-71c2"


@pytest.fixture(scope="session")
def certificates(tmp_path_factory: pytest.TempPathFactory) -> Certificates:
    """One CA and server certificate for the whole session."""
    return make_certificates(tmp_path_factory.mktemp("certs"))


@pytest.fixture
async def engine(tmp_path: Path, certificates: Certificates) -> AsyncIterator[Engine]:
    """The engine, running, with the centre's streams and this hub's consumer."""
    running = Engine(
        tmp_path / "engine", certificates, {HUB_ID: HUB_PASSWORD, OTHER_HUB: OTHER_PASSWORD}
    )
    running.start()
    try:
        await wait_until_up(running)
        await running.create_streams()
        yield running
    finally:
        running.stop()
