"""A supervisor sees a campaign's compliance refusals of the last 24 hours by reason
on the campaigns page: the counts the API gives, most first, each reason named in
the UI language next to its code, older refusals left out; the figures follow a run
command and a refresh."""

from __future__ import annotations

import json
import re
from collections import Counter
from datetime import datetime, timedelta
from typing import Any

import aiohttp
from playwright.async_api import Locator, Page, expect

from dialer.compliance import Consent, Decision, DialContext, Resources
from dialer.compliance.model import HoldReason
from dialer.gate import write_refusal
from tests.api.floor import Floor, phone_of
from tests.api.world import NOW
from tests.console.conftest import Site, log_in, screenshot
from tests.dialer.build import candidate, decide, dial
from tests.dialer.records import make_campaign


async def refuse(site: Site, campaign_id: int, case: str, when: datetime, *,
                 context: DialContext | None = None, **changes: Any) -> Decision:
    """The dialer's gate refusing the case's debtor phone at `when`: the compliance
    check's decision, stored as the gate stores it."""
    world = site.world
    case_id = world.cases[case]
    phone_id, number = await phone_of(world, case, "debtor")
    debtor_id = await world.pool.fetchval("SELECT debtor_id FROM cases WHERE id = $1", case_id)
    who = candidate(case_id=case_id, debtor_id=debtor_id, phone_id=phone_id, number=number,
                    **changes)
    decision = decide(who, when, context=context or dial(campaign_id=campaign_id))
    assert not decision.allowed, decision
    async with world.pool.acquire() as conn:
        await write_refusal(conn, campaign_id, who, decision, when)
    return decision


async def last_24h(site: Site, campaign_id: int) -> dict[str, Any]:
    """What `GET /campaigns/{id}` tells a supervisor about the last 24 hours."""
    async with (aiohttp.ClientSession() as http,
                http.get(site.url(f"/campaigns/{campaign_id}"),
                         headers=site.world.headers("supervisor")) as resp):
        assert resp.status == 200, await resp.text()
        stats: dict[str, Any] = (await resp.json())["last_24h"]
        return stats


async def expect_counts(table: Locator, counts: dict[str, int]) -> None:
    """The table shows exactly `counts`, one row per reason, most first."""
    rows = table.locator("tbody tr")
    await expect(rows).to_have_count(len(counts))
    for code, n in counts.items():
        row = table.locator(f'tr[data-reason="{code}"]')
        await expect(row.locator("code")).to_have_text(code)
        await expect(row.locator(".count")).to_have_text(str(n))
    shown = [await row.get_attribute("data-reason") for row in await rows.all()]
    assert shown == sorted(counts, key=lambda code: (-counts[code], code))


async def test_a_supervisor_sees_the_last_day_s_refusals_by_reason(
    page: Page, site: Site, floor: Floor
) -> None:
    campaign_id = floor.campaign_id
    quiet = await make_campaign(site.world.pool, site.world.clients["BANKA"])
    await floor.attempt("A1", "call-1", result="connected", placed_at=NOW - timedelta(hours=3))
    await floor.attempt("A2", "call-2", result="no_answer", placed_at=NOW - timedelta(hours=6))
    await floor.attempt("A2", "call-0", result="no_answer", placed_at=NOW - timedelta(days=2))
    recent = [
        await refuse(site, campaign_id, "A1", NOW - timedelta(hours=1),
                     holds=frozenset({HoldReason.DISPUTE})),
        await refuse(site, campaign_id, "A2", NOW - timedelta(hours=2), do_not_call=True),
        await refuse(site, campaign_id, "A2", NOW - timedelta(hours=5), do_not_call=True,
                     holds=frozenset({HoldReason.LEGAL})),
        await refuse(site, campaign_id, "A1", NOW - timedelta(hours=12)),  # 23:00 in Shanghai
        await refuse(site, campaign_id, "A1", NOW - timedelta(minutes=30),
                     context=dial(campaign_id=campaign_id,
                                  resources=Resources(work_line=False, recording=True))),
    ]
    for old in (timedelta(hours=25), timedelta(days=3)):
        await refuse(site, campaign_id, "A2", NOW - old, do_not_call=True)
    await refuse(site, campaign_id, "A1", NOW - timedelta(days=2), consent=Consent.REVOKED)
    expected = Counter(str(code) for decision in recent for code in decision.codes)
    assert expected["dnc.number"] == 2 and "consent.revoked" not in expected

    stats = await last_24h(site, campaign_id)
    assert stats["refusals_by_reason"] == expected  # the older refusals are not counted
    assert stats["attempts"] == 2
    assert stats["refusals"] == len(recent)  # one refusal may give several reasons

    await log_in(page, site, "supervisor")
    await page.get_by_role("navigation", name="Pages").get_by_role("link", name="Campaigns").click()
    row = page.locator(f'tr[data-campaign-id="{campaign_id}"]')
    name = await row.locator("th").text_content()
    figures = page.locator(f'tr[data-figures-of="{campaign_id}"]')
    summary = figures.locator("summary")
    await expect(summary).to_have_text(
        f"{name}: Last 24 hours · attempts: 2 · compliance refusals: {len(recent)}")
    await summary.focus()
    await page.keyboard.press("Enter")  # the disclosure opens from the keyboard
    await expect(figures.locator("details")).to_have_js_property("open", True)
    table = figures.locator("table")  # drawn again in the other language
    await expect(table).to_have_accessible_name(re.compile(
        rf"^Compliance refusals of {re.escape(name or '')} by reason, since "))
    await expect(table.get_by_role("columnheader", name="Refusals")).to_be_visible()
    await expect_counts(table, stats["refusals_by_reason"])
    await expect(table.locator('tr[data-reason="hold.dispute"] th')).to_have_text(
        "Case on hold: dispute")
    await expect(table.locator('tr[data-reason="consent.revoked"]')).to_have_count(0)

    empty = page.locator(f'tr[data-figures-of="{quiet.id}"]')
    await expect(empty.locator("summary")).to_contain_text("attempts: 0 · compliance refusals: 0")
    await empty.locator("summary").click()
    await expect(empty.locator(".empty")).to_contain_text("No compliance refusals since")
    await expect(empty.get_by_role("table")).to_have_count(0)
    await screenshot(page, "campaign-refusals")

    # A run command fetches the figures again: a refusal since the page opened shows.
    await refuse(site, campaign_id, "A2", NOW, do_not_call=True)
    await row.get_by_role("button", name=f"Start {name}").click()
    await expect(row.locator(".state")).to_have_text("Running")
    stats = await last_24h(site, campaign_id)
    assert stats["refusals_by_reason"]["dnc.number"] == 3
    await expect_counts(table, stats["refusals_by_reason"])

    # So does the refresh button; a code this console does not know shows as itself.
    decision = json.dumps({"allowed": False, "reasons": [
        {"code": "pack.withdrawn", "detail": "the rule pack was withdrawn", "retry_at": None}]})
    phone_id, _ = await phone_of(site.world, "A1", "debtor")
    await site.world.pool.execute(
        "INSERT INTO refusals (campaign_id, case_id, phone_id, at, reasons, decision)"
        " VALUES ($1, $2, $3, $4, '{pack.withdrawn}', $5)",
        campaign_id, site.world.cases["A1"], phone_id, NOW, decision)
    refresh = figures.get_by_role("button", name=f"Refresh the figures of {name}")
    await refresh.focus()
    await page.keyboard.press("Enter")
    await expect(table.locator('tr[data-reason="pack.withdrawn"] th')).to_have_text(
        "pack.withdrawn")
    await expect(refresh).to_be_focused()
    await expect(page.locator("#status")).to_have_text(f"Figures of {name} refreshed.")
    await expect_counts(table, (await last_24h(site, campaign_id))["refusals_by_reason"])

    await page.get_by_label("Language").select_option("zh")
    await expect(table.locator('tr[data-reason="hold.dispute"] th')).to_have_text("案件暂停：争议")
    await expect(table.locator('tr[data-reason="hold.dispute"] code')).to_have_text(
        "hold.dispute")
    await expect(table.get_by_role("columnheader", name="拒呼次数")).to_be_visible()
    await expect(table.locator("caption")).to_contain_text(f"{name} 的合规拒呼（按原因）")
    await expect(summary).to_contain_text("近 24 小时 · 呼叫：2 · 合规拒呼：")
    await screenshot(page, "campaign-refusals-zh")
