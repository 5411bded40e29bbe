"""The console in a real browser: the API with the console's routes on 127.0.0.1 and
a free port, on the migrated test database with the API tests' world (a user per
role), and Debian's Chromium driven by Playwright (no browser download)."""

from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import asyncpg
import pytest
import redis.asyncio as aioredis
from aiohttp import web
from playwright.async_api import Browser, Page, ViewportSize, async_playwright, expect

from api.app import create_app
from api.settings import RecordingSettings, Settings
from tests.api.floor import Floor, open_floor
from tests.api.world import NOW, PASSWORD, World, build_world
from tests.conftest import TEST_REDIS_URL

CHROMIUM = "/usr/bin/chromium"
VIEWPORT = ViewportSize(width=1366, height=768)
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "screenshots"
WAIT_MS = 5000


@dataclass(frozen=True)
class Site:
    base: str
    world: World

    def url(self, path: str = "/console/") -> str:
        return self.base + path


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


@pytest.fixture
async def floor(world: World) -> AsyncIterator[Floor]:
    client = aioredis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    try:
        yield await open_floor(world, client)
    finally:
        await client.aclose()


@pytest.fixture
def recordings_root(tmp_path: Path) -> Path:
    return tmp_path / "recordings"


@pytest.fixture
async def site(settings: Settings, world: World, recordings_root: Path) -> AsyncIterator[Site]:
    """The API and the console, served on 127.0.0.1 at a free port, on the world's
    clock (`NOW`)."""
    settings = dataclasses.replace(settings, recording=RecordingSettings(recordings_root))
    app = create_app(settings, clock=lambda: NOW)  # the console included
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0).start()
    host, port = runner.addresses[0][:2]
    try:
        yield Site(f"http://{host}:{port}", world)
    finally:
        await runner.cleanup()


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(executable_path=CHROMIUM)
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
async def page(browser: Browser, site: Site) -> AsyncIterator[Page]:
    """A 1366x768 tab, closed before the site stops (its sockets go first)."""
    async with open_page(browser) as opened:
        yield opened


@contextlib.asynccontextmanager
async def open_page(browser: Browser, *, service_workers: Literal["allow", "block"] = "allow"
                    ) -> AsyncIterator[Page]:
    """A tab in a context of its own; it fails the test on a script error or a CSP
    refusal in the page."""
    context = await browser.new_context(viewport=VIEWPORT, locale="en-GB",
                                        service_workers=service_workers)
    opened = await context.new_page()
    opened.set_default_timeout(WAIT_MS)
    problems: list[str] = []
    opened.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    opened.on("console", lambda message: problems.extend(
        [f"console: {message.text}"] if _is_problem(message.type, message.text) else []))
    try:
        yield opened
    finally:
        await context.close()
    assert not problems, problems


def _is_problem(kind: str, text: str) -> bool:
    """A console message that is a defect: an error that is not the browser noting
    an HTTP error status the page expected (a refused login, a 409)."""
    return kind == "error" and not text.startswith("Failed to load resource")


async def log_in(page: Page, site: Site, username: str, path: str = "/console/") -> None:
    """Open the console and log in through its form as `username`."""
    await page.goto(site.url(path))
    await page.get_by_label("User name").fill(username)
    await page.get_by_label("Password").fill(PASSWORD)
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("button", name="Log out", exact=True)).to_be_visible()


_UNLABELLED = """() => [...document.querySelectorAll('input, select, textarea, button, audio')]
  .filter((el) => el.offsetParent !== null || el.tagName === 'AUDIO')
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute('aria-label')
    && !el.getAttribute('aria-labelledby') && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120))"""
_OVERFLOW = "() => [document.documentElement.scrollWidth, window.innerWidth]"


async def check_usable(page: Page) -> None:
    """Every visible control has a name a screen reader can say, and the page fits
    the 1366 px width (no sideways scrolling)."""
    assert await page.evaluate(_UNLABELLED) == []
    width, viewport = await page.evaluate(_OVERFLOW)
    assert width <= viewport, (width, viewport)


async def screenshot(page: Page, name: str) -> Path:
    """A 1366x768 PNG of what the page shows, under docs/screenshots/, once the page
    passed `check_usable`."""
    await check_usable(page)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    await page.screenshot(path=str(path))
    return path
