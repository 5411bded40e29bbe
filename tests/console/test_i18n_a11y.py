"""Chinese and English UI text, and keyboard use: every key is in both languages,
the switch relabels the page in place and is remembered; the console is usable from
the keyboard with a visible focus."""

from __future__ import annotations

import contextlib
import re
from pathlib import Path

from playwright.async_api import Page, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.api.floor import Floor
from tests.api.world import PASSWORD
from tests.console.conftest import Site, log_in, screenshot

CONSOLE = Path(__file__).resolve().parents[2] / "api" / "console"
_KEY = re.compile(r"^\s*'([^']+)':", re.MULTILINE)
# Keys written literally in the modules: t: 'k', t: ['k', ...], tx(el, 'k'), ta(el, 'a', 'k'),
# t('k'), notify('k'), 'aria-label': 'k', data-i18n="k".
_USED = re.compile(r"""(?:\bt: \[?|\btx\([^,()]+, |\bta\([^,()]+, '[^']+', |\bt\(|notify\(|"""
                   r"""'aria-label': |data-i18n=")['"]([a-z_]+(?:\.[a-z_0-9]+)+)['"]""")


def keys(name: str) -> list[str]:
    return _KEY.findall((CONSOLE / "i18n" / name).read_text("utf-8"))


def test_both_languages_have_every_key_once() -> None:
    en, zh = keys("en.js"), keys("zh.js")
    assert len(en) == len(set(en)) and len(zh) == len(set(zh))
    assert set(en) == set(zh)


def test_every_key_the_modules_name_has_a_text() -> None:
    used = {key for path in [*CONSOLE.glob("*.js"), CONSOLE / "index.html"]
            for key in _USED.findall(path.read_text("utf-8"))}
    assert len(used) > 50  # the pattern still finds them
    assert used - set(keys("en.js")) == set()


async def test_the_language_switch_relabels_in_place_and_is_remembered(
    page: Page, site: Site, floor: Floor
) -> None:
    await page.goto(site.url())
    await page.get_by_label("Language").select_option("zh")
    await expect(page.get_by_role("heading", level=1)).to_have_text("登录 callcase")
    await page.get_by_label("用户名").fill("supervisor")
    await page.get_by_label("密码").fill(PASSWORD)
    await page.get_by_role("button", name="登录").click()
    nav = page.get_by_role("navigation", name="页面")
    await expect(nav.get_by_role("link")).to_have_text(
        ["监控大屏", "外呼任务", "质检复核", "质检覆盖率", "报表"])
    a = page.locator(f'tr[data-agent-id="{floor.id("agent_a")}"]')
    await expect(a.locator(".status")).to_have_text("已签出")
    assert await page.evaluate("() => document.documentElement.lang") == "zh-CN"
    await page.reload()
    await expect(page.get_by_role("heading", level=1)).to_have_text("监控大屏")
    await screenshot(page, "wallboard-zh")
    await page.get_by_label("语言").select_option("en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Wallboard")
    await expect(a.locator(".status")).to_have_text("Logged out")
    await expect(a.get_by_role("button", name="Listen in on the call of agent_a")).to_be_disabled()
    nav = page.get_by_role("navigation", name="Pages")
    current = nav.get_by_role("link", name="Wallboard")
    await expect(current).to_have_attribute("aria-current", "page")


async def test_the_console_works_from_the_keyboard(page: Page, site: Site, floor: Floor) -> None:
    await page.goto(site.url())
    await expect(page.get_by_label("User name")).to_be_focused()
    await screenshot(page, "login")
    await page.keyboard.type("manager")
    await page.keyboard.press("Tab")
    await page.keyboard.type(PASSWORD)
    await page.keyboard.press("Enter")
    heading = page.get_by_role("heading", level=1)
    await expect(heading).to_have_text("Campaigns")
    await expect(heading).to_be_focused()  # a screen reader starts at the page's title
    await page.reload()  # a fresh load leaves the focus at the top of the page
    await expect(heading).to_have_text("Campaigns")
    await page.keyboard.press("Tab")
    await expect(page.get_by_role("link", name="Skip to content")).to_be_focused()
    await page.keyboard.press("Enter")
    await expect(page.locator("main")).to_be_focused()
    start = page.get_by_role("button", name=re.compile(r"^Start "))
    await start.focus()
    outline = await start.evaluate("b => getComputedStyle(b).outlineStyle")
    assert outline == "solid"  # the focus is visible
    await page.keyboard.press("Enter")
    await expect(page.locator(".state")).to_have_text("Running")
    await expect(page.get_by_role("button", name=re.compile(r"^Pause "))).to_be_focused()


async def test_a_logged_in_user_goes_back_to_the_login_when_the_session_ends(
    page: Page, site: Site
) -> None:
    await log_in(page, site, "qa")
    await site.world.pool.execute("UPDATE api_sessions SET revoked_at = expires_at")
    # The page's next API call (its own refresh, or a click on a link that refresh may
    # already have taken away) fails: the login comes back with the reason.
    with contextlib.suppress(PlaywrightTimeout):
        await page.get_by_role("link", name="QA coverage").click(timeout=2_000)
    await expect(page.get_by_role("alert")).to_have_text(
        "Your session has ended. Please log in again.")
    await expect(page.get_by_label("User name")).to_be_visible()
