"""Debian's Chromium, driven by Playwright (which never downloads a browser here)."""

import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
from playwright.async_api import Browser, async_playwright

CHROMIUM = "/usr/bin/chromium"


@asynccontextmanager
async def chromium(pages: str) -> AsyncIterator[Browser]:
    """Headless Chromium for testing `pages`; CI fails without it, elsewhere the test skips."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI must test {pages} in Chromium, and {CHROMIUM} is missing")
        pytest.skip("needs Debian's chromium (apt-get install chromium)")
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-background-networking"],
        )
        try:
            yield launched
        finally:
            await launched.close()
