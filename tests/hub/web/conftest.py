"""Fixtures for dashboard tests: the web app over a real store and pipeline, no network."""

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.web import Hub, open_hub


@pytest.fixture
async def hub(tmp_path: Path) -> AsyncIterator[Hub]:
    async with open_hub(tmp_path) as opened:
        yield opened
