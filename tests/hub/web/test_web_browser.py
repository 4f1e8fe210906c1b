"""The dashboard in real headless Chromium (Debian's package) driven by Playwright.

A carer logs in on a phone-sized screen, sees "All is well", a pendant press over the real broker
appears without a reload, one tap acknowledges it, and the timeline shows who did.
"""

import os
import shutil
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import aiomqtt
import pytest
from playwright.async_api import Browser, BrowserContext, Page, expect

from hub.config.file import config_from_dict
from hub.mqtt.broker import LocalBroker, free_port
from tests.support.browser import chromium
from tests.support.hubs import config_data, device_client, running_hub
from tests.support.web import CARER_PASSCODE, logins
from wire.schema import event_topic

PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}
MIN_TARGET_PX = 44
MIN_CONTRAST = 7.0  # WCAG AAA for the one sentence that matters most

# Interactive elements without a name, and those smaller than a thumb.
_AUDIT = """() => {
  const visible = (el) => el.getClientRects().length > 0;
  const named = (el) => (el.labels && el.labels.length > 0) || el.getAttribute("aria-label")
    || (el.innerText || "").trim().length > 0;
  const controls = [...document.querySelectorAll("a[href], button, input, select, textarea")]
    .filter((el) => el.type !== "hidden" && visible(el));
  return {
    count: controls.length,
    unnamed: controls.filter((el) => !named(el)).map((el) => el.outerHTML.slice(0, 80)),
    small: controls.filter((el) => {
      const box = el.getBoundingClientRect();
      return box.width < 44 || box.height < 44;
    }).map((el) => {
      const box = el.getBoundingClientRect();
      return `${el.outerHTML.slice(0, 60)} ${Math.round(box.width)}x${Math.round(box.height)}`;
    }),
  };
}"""
_COLOURS = """() => {
  const verdict = document.querySelector(".verdict");
  return [getComputedStyle(verdict.querySelector("h1")).color,
          getComputedStyle(verdict).backgroundColor];
}"""


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium("the dashboard") as launched:
        yield launched


@asynccontextmanager
async def _dashboard(
    broker: LocalBroker, tmp_path: Path, browser: Browser
) -> AsyncIterator[tuple[BrowserContext, Page, aiomqtt.Client, str]]:
    """A running hub with the dashboard, a device to press with, and a phone-sized page.

    Screenshots go to `tmp_path/screenshots`, and are kept where TELECARE_SCREENSHOTS says.
    """
    shots = tmp_path / "screenshots"
    shots.mkdir()
    port = free_port()
    config = config_from_dict(config_data(broker, tmp_path, web={"port": port, "logins": logins()}))
    base = f"http://127.0.0.1:{port}"
    async with running_hub(config), device_client(broker) as device:
        context = await browser.new_context(viewport=PHONE, base_url=base)
        try:
            yield context, await context.new_page(), device, base
        finally:
            await context.close()
    if artifacts := os.environ.get("TELECARE_SCREENSHOTS"):
        shutil.copytree(shots, Path(artifacts), dirs_exist_ok=True)


async def test_carer_sees_a_press_live_and_acknowledges_it_with_one_tap(
    broker: LocalBroker, tmp_path: Path, browser: Browser
) -> None:
    async with _dashboard(broker, tmp_path, browser) as (context, phone, device, base):
        await phone.goto("/")
        await expect(phone).to_have_url(f"{base}/login")
        await _audit(phone)
        await _snap(phone, tmp_path, "login-phone")
        await phone.get_by_label("Passcode").fill(CARER_PASSCODE)
        await phone.get_by_role("button", name="Log in").click()
        verdict = phone.locator("#verdict")
        await expect(verdict).to_have_text("All is well")
        await expect(phone.locator("body")).to_have_attribute("data-live", "connected")
        await _audit(phone)
        _assert_contrast(await phone.evaluate(_COLOURS))
        await _snap(phone, tmp_path, "status-phone")
        await phone.evaluate("window.notReloaded = true")

        await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)
        await expect(verdict).to_contain_text("Help needed: pendant alarm")
        assert await phone.evaluate("window.notReloaded === true"), "the page was reloaded"
        await _audit(phone)
        _assert_contrast(await phone.evaluate(_COLOURS))
        await _snap(phone, tmp_path, "alarm-phone")

        # A second screen (another tab, or Ben's phone) watches the incident itself.
        details = await phone.locator("a", has_text="Details").get_attribute("href")
        assert details is not None
        watcher = await context.new_page()
        await watcher.goto(details)
        await expect(watcher.locator("body")).to_have_attribute("data-live", "connected")
        await watcher.evaluate("window.notReloaded = true")

        await phone.get_by_role("button", name="I'm on it").click()
        timeline = phone.locator(".timeline")
        await expect(timeline).to_contain_text("acknowledged by Alice on the dashboard")
        acknowledged = watcher.locator(".timeline")
        await expect(acknowledged).to_contain_text("acknowledged by Alice on the dashboard")
        assert await watcher.evaluate("window.notReloaded === true"), "the page was reloaded"
        await watcher.close()
        await _audit(phone)
        await _snap(phone, tmp_path, "incident-phone")

        await phone.set_viewport_size(DESKTOP)
        await phone.goto("/")
        await expect(verdict).to_contain_text("Being dealt with: pendant alarm")
        await _audit(phone)
        await _snap(phone, tmp_path, "status-desktop")
    assert sorted(p.name for p in (tmp_path / "screenshots").iterdir()) == [
        "alarm-phone.png",
        "incident-phone.png",
        "login-phone.png",
        "status-desktop.png",
        "status-phone.png",
    ]


async def test_carer_silences_a_leak_sensor_and_resolves_a_press_with_a_note(
    broker: LocalBroker, tmp_path: Path, browser: Browser
) -> None:
    async with _dashboard(broker, tmp_path, browser) as (_, phone, device, _):
        await phone.goto("/login")
        await phone.get_by_label("Passcode").fill(CARER_PASSCODE)
        await phone.get_by_role("button", name="Log in").click()
        await expect(phone.locator("#verdict")).to_have_text("All is well")

        await phone.goto("/devices")
        assert await phone.get_by_label("Silence the pendant").count() == 0  # an emergency device
        await phone.get_by_label("Silence the leak sensor").select_option("4h")
        await _audit(phone)
        await phone.get_by_role("button", name="Silence the leak sensor").click()
        await expect(phone.locator(".devices")).to_contain_text("Silenced by Alice until")
        await expect(
            phone.get_by_role("button", name="Lift the silence of the leak sensor")
        ).to_be_visible()
        await _audit(phone)
        await _snap(phone, tmp_path, "devices-silenced-phone")
        await phone.goto("/settings")
        await expect(phone.locator(".changes")).to_contain_text("Alice: silence of leak-1")
        await _audit(phone)

        await phone.goto("/")
        await device.publish(event_topic("pendant-1"), b'{"type": "pendant.pressed"}', qos=1)
        await expect(phone.locator("#verdict")).to_contain_text("Help needed: pendant alarm")
        await phone.locator("a", has_text="Details").click()
        await phone.get_by_label("Why it is over (optional)").fill("Mum pressed by mistake")
        await _audit(phone)
        await phone.get_by_role("button", name="Resolve").click()
        await expect(phone.locator(".timeline")).to_contain_text(
            "resolved by Alice on the dashboard"
        )
        await expect(phone.locator("blockquote")).to_contain_text("Mum pressed by mistake")
        assert await phone.get_by_role("button", name="Resolve").count() == 0
        await _audit(phone)
        await _snap(phone, tmp_path, "incident-resolved-phone")
        await phone.goto("/")
        await expect(phone.locator("#verdict")).to_have_text("All is well")


async def _snap(page: Page, tmp_path: Path, name: str) -> None:
    await page.screenshot(path=tmp_path / "screenshots" / f"{name}.png", full_page=True)


async def _audit(page: Page) -> None:
    await page.wait_for_load_state("load")  # the stylesheet decides the sizes
    found: dict[str, Any] = await page.evaluate(_AUDIT)
    assert found["count"] > 0
    assert found["unnamed"] == [], f"controls without a label on {page.url}"
    assert found["small"] == [], f"tap targets under {MIN_TARGET_PX} px on {page.url}"


def _assert_contrast(colours: list[str]) -> None:
    ratio = _contrast(_rgb(colours[0]), _rgb(colours[1]))
    assert ratio >= MIN_CONTRAST, f"verdict contrast {ratio:.1f}:1 ({colours})"


def _rgb(css: str) -> tuple[float, float, float]:
    parts = css[css.index("(") + 1 : css.index(")")].split(",")
    red, green, blue = (float(p) for p in parts[:3])
    return red, green, blue


def _contrast(first: tuple[float, float, float], second: tuple[float, float, float]) -> float:
    def luminance(rgb: tuple[float, float, float]) -> float:
        linear = [
            c / 255 / 12.92 if c <= 10.31 else ((c / 255 + 0.055) / 1.055) ** 2.4 for c in rgb
        ]
        return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]

    light, dark = sorted((luminance(first), luminance(second)), reverse=True)
    return (light + 0.05) / (dark + 0.05)
