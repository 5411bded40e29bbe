"""Logging in to the console as each role shows that role's pages and no other; the
console's files are public and carry a strict Content-Security-Policy, the API
still wants a token."""

from __future__ import annotations

import aiohttp
import pytest
from playwright.async_api import Page, expect
from yarl import URL

from tests.console.conftest import Site, log_in

ALL_PAGES = ("Wallboard", "Campaigns", "QA review", "QA coverage", "Reports", "Agent desk")
ROLE_PAGES = {
    "admin": ("Wallboard", "Campaigns", "QA review", "QA coverage", "Reports"),
    "manager": ("Campaigns", "Reports"),
    "supervisor": ("Wallboard", "Campaigns", "QA review", "QA coverage", "Reports"),
    "agent-a": ("Agent desk",),
    "qa": ("QA review", "QA coverage"),
    "auditor-a": ("QA coverage", "Reports"),
}
FORBIDDEN_HASH = {"manager": "#/wallboard", "agent-a": "#/reports", "qa": "#/reports",
                  "auditor-a": "#/campaigns", "supervisor": "#/desk", "admin": "#/desk"}


@pytest.mark.parametrize("username", sorted(ROLE_PAGES))
async def test_each_role_sees_only_its_pages(page: Page, site: Site, username: str) -> None:
    await log_in(page, site, username)
    nav = page.get_by_role("navigation", name="Pages")
    allowed = ROLE_PAGES[username]
    await expect(nav.get_by_role("link")).to_have_text(list(allowed))
    await expect(page.get_by_role("heading", level=1)).to_have_text(allowed[0])
    await page.goto(site.url("/console/" + FORBIDDEN_HASH[username]))
    await expect(page.get_by_role("alert")).to_contain_text("not available to your role")
    await expect(page.get_by_role("heading", level=1)).to_have_text(allowed[0])
    assert page.url.endswith("#/" + _slug(allowed[0]))


def _slug(label: str) -> str:
    return {"Wallboard": "wallboard", "Campaigns": "campaigns", "QA review": "qa",
            "QA coverage": "coverage", "Reports": "reports", "Agent desk": "desk"}[label]


async def test_wrong_password_and_logout(page: Page, site: Site) -> None:
    await page.goto(site.url())
    await page.get_by_label("User name").fill("qa")
    await page.get_by_label("Password").fill("not the password")
    await page.get_by_role("button", name="Log in").click()
    await expect(page.get_by_role("alert")).to_have_text("Wrong user name or password.")
    await log_in(page, site, "qa")
    await page.reload()  # the session survives a reload of the tab
    await expect(page.get_by_role("heading", level=1)).to_have_text("QA review")
    await page.get_by_role("button", name="Log out", exact=True).click()
    await expect(page.get_by_role("alert")).to_have_text("You have logged out.")
    await expect(page.get_by_role("navigation", name="Pages").get_by_role("link")).to_have_count(0)


async def test_console_files_are_public_with_a_strict_policy(site: Site) -> None:
    async with aiohttp.ClientSession() as http:
        async with http.get(site.url("/console")) as resp:
            assert (resp.status, resp.url.path) == (200, "/console/")
            policy = resp.headers["Content-Security-Policy"]
            assert "default-src 'self'" in policy and "script-src 'self'" in policy
            assert "unsafe-inline" not in policy
            assert resp.headers["X-Content-Type-Options"] == "nosniff"
            html = await resp.text()
        assert '<script type="module" src="app.js"></script>' in html
        async with http.get(site.url("/console/app.js")) as resp:
            assert resp.content_type == "text/javascript"
            etag = resp.headers["ETag"]
        async with http.get(site.url("/console/app.js"), headers={"If-None-Match": etag}) as resp:
            assert resp.status == 304
        for missing in ("/console/nope.js", "/console/%2e%2e/routes_console.py",
                        "/console/..%2froutes_console.py", "/console/.hidden.js"):
            async with http.get(URL(site.url(missing), encoded=True)) as resp:
                assert resp.status == 404, missing
        async with http.get(site.url("/me")) as resp:
            assert resp.status == 401  # the API behind the console still wants a token
