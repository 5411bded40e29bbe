"""The reports page in a browser, on the API tests' generated October 2026
(`tests.api.test_reports`): the figures charted and tabled are the API's, the CSV
downloaded is the API's CSV (header and rows), the bank's auditor sees their own
client only, and the month's agent tiers are drawn from the published evaluation
with the agents' names."""

from __future__ import annotations

import csv
import io
import json
from collections import Counter
from typing import Any

import aiohttp
from playwright.async_api import Page, expect

from cases.report_math import COLUMNS
from tests.api.test_reports import Month, month
from tests.console.conftest import Site, log_in, screenshot

__all__ = ["month"]  # a fixture, used by name
OCTOBER = "2026-10"
RATES = ("recovery_rate", "ptp_kept_rate", "compliance_rate")
SERIES = {"recovery_rate": "recovery", "ptp_kept_rate": "kept", "compliance_rate": "compliance"}


async def api_get(site: Site, who: str, path: str) -> tuple[int, bytes]:
    async with (aiohttp.ClientSession() as http,
                http.get(site.url(path), headers=site.world.headers(who)) as resp):
        return resp.status, await resp.read()


async def report(site: Site, who: str, query: str) -> dict[str, Any]:
    status, body = await api_get(site, who, f"/reports/monthly?{query}")
    assert status == 200, body
    found: dict[str, Any] = json.loads(body)
    return found


def percent(value: float | None) -> str:
    return "—" if value is None else f"{value:.1%}"


async def show(page: Page, month: str, by: str, client: str | None = None) -> None:
    await page.get_by_label("Month").fill(month)
    await page.get_by_label("Group by").select_option(by)
    if client is not None:
        await page.get_by_label("Client", exact=True).select_option(client)
    await page.get_by_role("button", name="Show").click()


async def test_the_managers_report_is_the_apis_and_downloads_as_its_csv(
    page: Page, site: Site, month: Month
) -> None:
    await log_in(page, site, "manager", "/console/#/reports")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Reports")
    await show(page, OCTOBER, "client", "")
    wanted = await report(site, "manager", f"month={OCTOBER}&by=client")
    rows = page.locator(".report-table tbody tr")
    await expect(rows).to_have_count(len(wanted["rows"]))
    for n, row in enumerate(wanted["rows"]):
        shown = rows.nth(n)
        await expect(shown.locator("th")).to_have_text(row["group_name"])
        for name in (*RATES, "right_party_contact_rate", "abandon_rate"):
            await expect(shown.locator(f"td.{name}")).to_have_text(percent(row[name]))
        await expect(shown.locator("td.accounts")).to_have_text(str(row["accounts"]))
    # BANKA's recovery: 3,250.50 of 48,000.00 (tests.api.test_reports)
    await expect(rows.first.locator("td.amount_recovered")).to_have_text("3,250.50")
    for name, series in SERIES.items():
        bars = await page.eval_on_selector_all(
            f'.report-chart rect[data-series="{series}"]', "bars => bars.map(b => b.dataset.value)")
        assert [float(v) if v else None for v in bars] == [r[name] for r in wanted["rows"]]

    async with page.expect_download() as started:
        await page.get_by_role("button", name="Download CSV").click()
    download = await started.value
    assert download.suggested_filename == "callcase-2026-10-client.csv"
    saved = await download.path()
    status, from_api = await api_get(site, "manager",
                                     f"/reports/monthly?month={OCTOBER}&by=client&format=csv")
    assert status == 200 and saved.read_bytes() == from_api
    table = list(csv.reader(io.StringIO(saved.read_bytes().decode("utf-8-sig"))))
    assert tuple(table[0]) == COLUMNS
    assert [(r[3], r[COLUMNS.index("recovery_rate")]) for r in table[1:]] == [
        ("BANKA card centre", "0.0677"), ("BANKB card centre", "0.1500")]

    await show(page, OCTOBER, "agent")
    by_agent = await report(site, "manager", f"month={OCTOBER}&by=agent")
    await expect(rows.locator("th")).to_have_text(
        [r["group_name"] if r["group_id"] else "(none)" for r in by_agent["rows"]])


async def evaluate_october(site: Site, month: Month) -> dict[str, Any]:
    """BANKA's October evaluation on agreed figures, published: agent_a excellent,
    agent_b qualified (68.67), 赵磊 below standard (38.00)."""
    figures = [(month.agents["agent_a"], "100000", "30000", 40, 40),
               (month.agents["agent_b"], "100000", "15000", 30, 29),
               (month.agents["agent_c"], "100000", "3000", 25, 20)]
    results = [{"agent_id": a, "amount_assigned": s, "amount_recovered": r, "accounts": n,
                "compliant_accounts": c} for a, s, r, n, c in figures]
    client = site.world.clients["BANKA"]
    headers = site.world.headers("admin")
    async with aiohttp.ClientSession() as http:
        async with http.post(site.url(f"/clients/{client}/evaluations/{OCTOBER}"),
                             json={"results": results}, headers=headers) as resp:
            assert resp.status == 201, await resp.text()
        async with http.post(site.url(f"/clients/{client}/evaluations/{OCTOBER}/publish"),
                             headers=headers) as resp:
            assert resp.status == 200, await resp.text()
            published: dict[str, Any] = await resp.json()
    return published


async def test_the_banks_auditor_sees_their_client_and_the_agents_tiers(
    page: Page, site: Site, month: Month
) -> None:
    evaluation = await evaluate_october(site, month)
    await log_in(page, site, "auditor-a", "/console/#/reports")
    client = page.get_by_label("Client", exact=True)
    await expect(client.locator("option")).to_have_text(["BANKA · BANKA card centre"])
    await show(page, OCTOBER, "client")
    rows = page.locator(".report-table tbody tr")
    await expect(rows).to_have_count(1)
    await expect(rows.first.locator("th")).to_have_text("BANKA card centre")
    await expect(rows.first.locator("td.compliance_rate")).to_have_text("90.0%")

    tiers = page.get_by_role("region", name="Agent tiers")
    await expect(tiers.locator(".evaluation-status")).to_have_text(
        "Evaluation of 2026-10: published")
    by_tier = Counter(r["tier"] or "not_rated" for r in evaluation["rows"])
    assert by_tier == {"excellent": 1, "qualified": 1, "below": 1}
    counts = await page.eval_on_selector_all(
        '.tiers rect[data-series="tier"]', "bars => bars.map(b => Number(b.dataset.value))")
    assert counts == [by_tier[t] for t in ("excellent", "good", "qualified", "below",
                                           "not_rated")]
    table = tiers.locator(".tier-table tbody tr")
    await expect(table.locator("th")).to_have_text(["agent_a", "agent_b", "赵磊"])
    await expect(table.locator(".tier-name")).to_have_text(
        ["Excellent", "Qualified", "Below standard"])
    await expect(table.locator(".score")).to_have_text(
        [r["score"] for r in evaluation["rows"]])
    await screenshot(page, "reports")

    await page.get_by_label("Language").select_option("zh")  # relabelled, charts redrawn
    await expect(page.get_by_role("heading", level=1)).to_have_text("报表")
    tiers = page.get_by_role("region", name="坐席评级")
    await expect(tiers.locator(".tier-name")).to_have_text(["优秀", "合格", "不合格"])
    await expect(tiers.locator("svg text").first).to_have_text("优秀")
    await expect(page.locator(".report-chart .chart-legend li")).to_have_text(
        ["回收率", "承诺兑现率", "合规率"])
    await page.get_by_label("语言").select_option("en")

    await show(page, "2026-09", "client")
    await expect(page.get_by_role("region", name="Agent tiers")).to_contain_text(
        "No evaluation of 2026-09 to show.")
    status, _ = await api_get(site, "auditor_a",
                              f"/reports/monthly?month={OCTOBER}&client_id="
                              f"{site.world.clients['BANKB']}")
    assert status == 404  # the page offers no other client, and the API refuses one
