"""The console in real headless Chromium (Debian's package) driven by Playwright.

An operator logs in, a pendant press the family did not take appears in the queue without a
reload, the operator opens the home and accepts it with a note; a supervisor sees the action in
the audit, and the operator is refused the audit page. A note typed while the page is re-reading
its details is kept.
"""

import asyncio
import os
import shutil
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import asyncpg
import pytest
from playwright.async_api import Browser, Page, Route, expect

from centre.bus import CentreBus
from centre.console.actions import DownlinkActions
from centre.console.app import RunningConsole, serve_console
from centre.console.settings import ConsoleSettings
from centre.downlink import Downlink
from centre.family import FamilyMessenger
from centre.timers import Timers
from centre.worker import Worker
from tests.centre.conftest import HubFactory
from tests.centre.console.seed import OPERATOR, SUPERVISOR
from tests.centre.support import count, running, until
from tests.support.browser import chromium

DESK = {"width": 1280, "height": 800}


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with chromium("the console") as launched:
        yield launched


@pytest.fixture
async def console(db: asyncpg.Pool, centre_bus: CentreBus) -> AsyncIterator[RunningConsole]:
    settings = ConsoleSettings(port=0, poll_s=0.2)
    actions = DownlinkActions(db, Downlink(db, centre_bus))
    async with serve_console(db, settings, actions=actions) as running_console:
        yield running_console


async def _log_in(page: Page, who: tuple[str, str, str, str]) -> None:
    await page.goto("/login")
    await page.get_by_label("Username").fill(who[0])
    await page.get_by_label("Password").fill(who[3])
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("button", name=f"Log out {who[1]}")).to_be_visible()


async def test_an_operator_sees_a_press_arrive_live_and_accepts_it_from_the_home_page(
    browser: Browser,
    console: RunningConsole,
    db: asyncpg.Pool,
    centre_bus: CentreBus,
    make_hub: HubFactory,
    tmp_path: Path,
) -> None:
    base = f"http://127.0.0.1:{console.port}"
    hub = await make_hub("patel")
    timers = Timers(db, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    async with running([Worker(db, centre_bus)]):
        await hub.heartbeat()
        operator = await (await browser.new_context(viewport=DESK, base_url=base)).new_page()
        await _log_in(operator, OPERATOR)
        await expect(operator.locator("#queue-empty")).to_have_text("No alarms waiting.")
        await expect(operator.locator("body")).to_have_attribute("data-live", "connected")
        await operator.evaluate("window.notReloaded = true")

        await hub.incident("press-1", "firing", family_exhausted=True, room="Bedroom")
        await until(lambda: count(db, "SELECT count(*) FROM incidents"), "incident stored")
        await timers.tick(datetime.now(UTC))
        row = operator.locator("tr.alarm")
        await expect(row).to_contain_text("Home patel")
        await expect(row).to_contain_text("all tried, none took it")
        await expect(row).to_contain_text("nobody yet")
        assert await operator.evaluate("window.notReloaded === true"), "the page was reloaded"
        await _snap(operator, tmp_path, "queue")

        await row.get_by_role("link", name="Home patel").click()
        await expect(operator.locator("#hub-status")).to_contain_text("online")
        await operator.get_by_label("Note (optional)").fill("Calling Mrs Patel now")
        await operator.get_by_role("button", name="Accept").click()
        await expect(operator.locator(".taken")).to_contain_text("Taken by Sam Okafor")
        [action] = await hub.actions(timeout_s=5)
        assert (action.action, action.note) == ("accept", "Calling Mrs Patel now")

        await operator.goto("/audit")
        await expect(operator.locator("h1")).to_have_text("Not allowed")
        await expect(operator.locator(".error")).to_contain_text("for a supervisor only")

        supervisor = await (await browser.new_context(viewport=DESK, base_url=base)).new_page()
        await _log_in(supervisor, SUPERVISOR)
        await supervisor.goto("/audit")
        entry = supervisor.locator(f'tr[data-action="{action.action_id}"]')
        await expect(entry).to_contain_text("Sam Okafor")
        await expect(entry).to_contain_text("Calling Mrs Patel now")
        await expect(entry).to_contain_text("waiting for the hub")
        await hub.applied(action, "family told")
        await expect(entry).to_contain_text("applied")  # the audit page is live too


async def test_a_note_typed_while_the_home_page_refreshes_is_kept(
    browser: Browser,
    console: RunningConsole,
    db: asyncpg.Pool,
    centre_bus: CentreBus,
    make_hub: HubFactory,
) -> None:
    """The page's first refresh is answered only once the operator has typed: the note stays."""
    hub = await make_hub("patel")
    timers = Timers(db, centre_bus, FamilyMessenger(None, None), silent_after_s=180)
    async with running([Worker(db, centre_bus)]):
        await hub.heartbeat()
        await hub.incident("press-1", "firing", family_exhausted=True, room="Bedroom")
        await until(lambda: count(db, "SELECT count(*) FROM incidents"), "incident stored")
        await timers.tick(datetime.now(UTC))
        context = await browser.new_context(
            viewport=DESK, base_url=f"http://127.0.0.1:{console.port}"
        )
        operator = await context.new_page()
        await _log_in(operator, OPERATOR)
        typed = asyncio.Event()

        async def after_typing(route: Route) -> None:
            await typed.wait()
            await route.continue_()

        await operator.route("**/fragments/homes/**", after_typing)
        await operator.get_by_role("link", name="Home patel").click()
        await expect(operator.locator("body")).to_have_attribute("data-live", "connected")
        note = operator.get_by_label("Note (optional)")  # while the page's refresh is on its way
        async with operator.expect_response("**/fragments/homes/**"):
            await note.fill("Calling Mrs Patel now")
            typed.set()
        await expect(operator.locator("#live")).to_have_attribute("data-held", "true")
        await expect(note).to_have_value("Calling Mrs Patel now")
        await operator.get_by_role("button", name="Accept").click()
        [action] = await hub.actions(timeout_s=5)
        assert (action.action, action.note) == ("accept", "Calling Mrs Patel now")


async def _snap(page: Page, tmp_path: Path, name: str) -> None:
    shots = tmp_path / "screenshots"
    shots.mkdir(exist_ok=True)
    await page.screenshot(path=shots / f"{name}.png", full_page=True)
    if artifacts := os.environ.get("TELECARE_SCREENSHOTS"):
        Path(artifacts).mkdir(parents=True, exist_ok=True)
        shutil.copy(shots / f"{name}.png", Path(artifacts) / f"console-{name}.png")
