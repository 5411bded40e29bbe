"""The wallboard's chart of a campaign's day in a browser: the answer and abandon rates
drawn are the API's (GET /campaigns/{id}/today), the interval can be changed, a new
call redraws it (the floor socket pushes the campaigns' figures), and the campaigns
table shows the day's right-party contacts and answer rate."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import aiohttp
import pytest
from playwright.async_api import Page, expect

from api import routes_supervisor
from tests.api.floor import Floor
from tests.console.conftest import Site, log_in, screenshot

SH = ZoneInfo("Asia/Shanghai")
# (local time today, result, right-party code filed): NOW is 11:00 in Shanghai.
CALLS = [("08:10", "connected", False), ("08:20", "connected", True),
         ("08:40", "abandoned", False), ("08:45", "no_answer", False),
         ("09:05", "no_answer", False), ("09:15", "connected", True),
         ("09:50", "busy", False), ("10:20", "connected", False),
         ("10:30", "abandoned", False), ("10:45", "no_answer", False), ("10:55", None, False)]


def today(hhmm: str) -> datetime:
    hour, minute = (int(part) for part in hhmm.split(":"))
    return datetime(2026, 11, 29, hour, minute, tzinfo=SH).astimezone(UTC)


async def seed_day(site: Site, floor: Floor) -> None:
    world = site.world
    for n, (at, result, rpc) in enumerate(CALLS):
        attempt_id = await floor.attempt("A2", f"day-{n}", result=result, placed_at=today(at))
        if rpc:
            await world.pool.execute(
                "INSERT INTO actions (case_id, code, user_id, attempt_id, idempotency_key,"
                " created_at) VALUES ($1, 'RPC', $2, $3, $4, $5)", world.cases["A2"],
                world.users["agent_b"].id, attempt_id, f"rpc-{n}", today(at))


async def api_day(site: Site, floor: Floor, step: int) -> dict[str, Any]:
    url = site.url(f"/campaigns/{floor.campaign_id}/today?step={step}")
    async with (aiohttp.ClientSession() as http,
                http.get(url, headers=site.world.headers("supervisor")) as resp):
        assert resp.status == 200
        day: dict[str, Any] = await resp.json()
        return day


async def drawn(page: Page, series: str) -> list[float]:
    """The values of the dots the chart drew for `series`, left to right."""
    values: list[str] = await page.eval_on_selector_all(
        f'.day-chart g[data-series="{series}"] circle', "dots => dots.map(d => d.dataset.value)")
    return [float(v) for v in values]


def known(points: list[dict[str, Any]], name: str) -> list[float]:
    return [p[name] for p in points if p[name] is not None]


async def test_the_days_chart_draws_the_apis_figures_and_follows_new_calls(
    page: Page, site: Site, floor: Floor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_supervisor, "FIGURES_EVERY_S", 0.2)
    await seed_day(site, floor)
    await log_in(page, site, "supervisor")
    campaign = page.locator(f'tr[data-campaign-id="{floor.campaign_id}"]')
    await expect(campaign.locator(".attempts")).to_have_text("11")
    await expect(campaign.locator(".rpc")).to_have_text("2")
    await expect(campaign.locator(".answer-rate")).to_have_text("60.0%")  # 6 of 10 finished

    chart = page.get_by_role("region", name="The campaign’s day")
    await expect(chart.get_by_label("Campaign", exact=True)).to_have_value(str(floor.campaign_id))
    day = await api_day(site, floor, 30)
    labels = [p["from"][11:16] for p in day["points"]]
    assert labels == ["08:00", "08:30", "09:00", "09:30", "10:00", "10:30", "11:00"]
    answer = chart.get_by_role("figure").filter(has_text="answer rate per interval")
    await expect(answer.locator("tbody th")).to_have_text(labels)
    assert await drawn(page, "answer") == known(day["points"], "answer_rate")
    assert await drawn(page, "abandon") == known(day["points"], "abandon_rate_to_date")
    assert await drawn(page, "abandon-interval") == known(day["points"], "abandon_rate")
    abandon = chart.get_by_role("figure").filter(has_text="abandon rate against the cap")
    await expect(abandon.locator(".cap-label")).to_have_text("cap 3.0%")
    # 08:00-08:30: 2 connected, no abandon; 08:30: +1 abandoned: 1 / 3 of the day so far
    await expect(abandon.locator('tbody td[data-series="abandon"]').nth(1)).to_have_text("33.3%")
    await screenshot(page, "wallboard-chart")

    await chart.get_by_label("Interval", exact=True).select_option("60")
    hourly = await api_day(site, floor, 60)
    await expect(answer.locator("tbody th")).to_have_text(
        [p["from"][11:16] for p in hourly["points"]])
    assert await drawn(page, "answer") == known(hourly["points"], "answer_rate")

    # a new call redraws the chart: at once here (on a floor, at most every 30 s)
    await page.evaluate("() => import('./daychart.js').then((m) => { m.timing.redrawMs = 0; })")
    await floor.attempt("A2", "late", result="abandoned", placed_at=today("10:58"))
    later = await api_day(site, floor, 60)
    rate_now = later["points"][-2]["abandon_rate_to_date"]  # the 10:00 hour
    assert rate_now != hourly["points"][-2]["abandon_rate_to_date"]
    last = abandon.locator('tbody td[data-series="abandon"]').nth(len(later["points"]) - 2)
    await expect(last).to_have_text(f"{rate_now:.1%}")
    assert await drawn(page, "abandon") == known(later["points"], "abandon_rate_to_date")
    await expect(campaign.locator(".attempts")).to_have_text("12")
