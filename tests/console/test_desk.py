"""The agent desk in a browser: logging in to the queue, the screen-pop of an
answered call with the script for the party called (in either language), an
action code filed from the form landing on the case (once, under the form's
Idempotency-Key), and the agent's callbacks: listed as the API has them, called back
from the list, gone once the callback call is coded."""

from __future__ import annotations

import json
import re
from datetime import date

import aiohttp
from playwright.async_api import Page, expect

from tests.api.floor import Floor, phone_of
from tests.console.conftest import Site, log_in, screenshot


async def test_an_action_code_filed_from_the_desk_lands_on_the_case(
    page: Page, site: Site, floor: Floor
) -> None:
    await log_in(page, site, "agent-a")
    status = page.get_by_role("region", name="My status")
    await expect(status.locator(".status-now")).to_have_text("Logged out · Idle")
    await expect(status.get_by_role("button", name="Go on break")).to_be_disabled()
    await status.get_by_role("button", name="Log in to the queue").click()
    await expect(status.locator(".status-now")).to_have_text("Available · Idle")

    attempt_id = await floor.attempt("A1", "call-1")
    await floor.talk("agent_a", "call-1")
    call = page.get_by_role("region", name="Current call · account A1")
    await expect(call.locator(".balance")).to_have_text("CN¥12,000.50")
    await expect(call.get_by_role("region", name="Script: collection")).to_contain_text(
        "Verify you are speaking to the debtor before naming the debt.")
    await expect(status.locator(".status-now")).to_have_text("Available · Talking")

    form = page.get_by_role("region", name="Action code")
    await form.get_by_label("Code", exact=True).select_option("PTP")
    await expect(form.get_by_label("Amount")).to_be_visible()
    await form.get_by_label("Amount").fill("500.00")
    await form.get_by_label("Due date").fill("2026-11-01")  # in the past: the API refuses
    await form.get_by_role("button", name="File the action").click()
    await expect(form.locator("#action-due_date-error")).to_have_text("is in the past")
    await expect(form.get_by_label("Due date")).to_be_focused()
    await form.get_by_label("Due date").fill("2026-12-05")
    await form.get_by_label("Note (optional)").fill("will pay from salary")
    await screenshot(page, "agent-desk")
    await form.get_by_role("button", name="File the action").click()
    await expect(form.get_by_role("status")).to_have_text("Filed PTP on account A1.")

    pool, case_id = site.world.pool, site.world.cases["A1"]
    actions = await pool.fetch("SELECT code, attempt_id, fields, user_id, idempotency_key"
                               " FROM actions WHERE case_id = $1", case_id)
    assert [(a["code"], a["attempt_id"], a["user_id"]) for a in actions] == [
        ("PTP", attempt_id, site.world.users["agent_a"].id)]
    assert json.loads(actions[0]["fields"]) == {"amount": "500.00", "due_date": "2026-12-05",
                                                "note": "will pay from salary"}
    assert len(actions[0]["idempotency_key"]) == 36  # one key, made by the form
    case = await pool.fetchrow("SELECT status FROM cases WHERE id = $1", case_id)
    promise = await pool.fetchrow("SELECT amount, due_date FROM promises WHERE case_id = $1",
                                  case_id)
    assert case is not None and case["status"] == "promised"
    assert promise is not None and (str(promise["amount"]), promise["due_date"]) == (
        "500.00", date(2026, 12, 5))


async def test_the_next_call_to_a_third_party_pops_the_locate_only_script(
    page: Page, site: Site, floor: Floor
) -> None:
    await log_in(page, site, "agent-a")
    await page.get_by_role("button", name="Log in to the queue").click()
    await expect(page.locator(".status-now")).to_have_text("Available · Idle")
    await floor.attempt("A1", "call-2", party="relative")
    await floor.talk("agent_a", "call-2")
    call = page.get_by_role("region", name="Current call · account A1")
    script = call.get_by_role("region", name="Script: locate only — never mention the debt")
    await expect(script).to_contain_text("You are speaking to a relative")
    await expect(call.locator(".facts")).to_contain_text("relative (brother)")
    await page.get_by_label("Language").select_option("zh")
    call = page.get_by_role("region", name="当前通话 · 账号 A1")  # relabelled in place
    await expect(call.get_by_role("region", name="话术：仅寻人——不得提及欠款")).to_contain_text(
        "对方是亲属")
    form = page.get_by_role("region", name="处理结果")
    await expect(form.get_by_label("代码", exact=True).locator("option[value=TPC]")).to_have_text(
        "TPC · 第三方接听")


async def test_the_desk_lists_the_agents_callbacks_and_calls_one_back(
    page: Page, site: Site, floor: Floor
) -> None:
    world, case_id = site.world, site.world.cases["A1"]
    phone_id, _ = await phone_of(world, "A1", "debtor")
    async with aiohttp.ClientSession() as http:
        resp = await http.post(site.url(f"/cases/{case_id}/actions"), json={
            "code": "CB", "callback_at": "2026-11-30T15:00", "phone_id": phone_id,
            "note": "after work"}, headers=world.headers("agent_a") | {"Idempotency-Key": "cb-1"})
        assert resp.status == 201, await resp.text()
        resp = await http.get(site.url("/agent/callbacks"), headers=world.headers("agent_a"))
        [listed] = (await resp.json())["items"]
    await log_in(page, site, "agent-a")
    callbacks = page.get_by_role("region", name=re.compile("^My callbacks"))
    await expect(callbacks.get_by_role("heading")).to_have_text("My callbacks (1, 0 due)")
    item = callbacks.locator(f'li[data-case-id="{listed["case_id"]}"]')
    await expect(item.locator("time")).to_have_text("30 Nov 2026, 15:00")  # Shanghai time
    assert await item.locator("time").get_attribute("datetime") == listed["callback_at"]
    await expect(item.locator(".who")).to_have_text("A1 · 王伟 · CN¥12,000.50")
    await expect(item.locator(".phone")).to_have_text(f"{listed['phone']['number']} · debtor")
    await expect(item.locator(".note")).to_have_text("after work")
    await screenshot(page, "desk-callbacks")

    await item.get_by_role("button", name="Call back account A1").click()
    await expect(page.get_by_role("status").filter(has_text="softphone")).to_have_text(
        "No call path holds your softphone (is it registered?): nothing was dialled.")
    dials = await world.pool.fetch("SELECT record_id, details FROM audit_log"
                                   " WHERE action = 'call.agent_dial'")
    assert [(d["record_id"], json.loads(d["details"])["phone_id"]) for d in dials] == [
        (str(case_id), phone_id)]

    await page.get_by_role("button", name="Log in to the queue").click()
    await expect(page.locator(".status-now")).to_have_text("Available · Idle")
    await floor.attempt("A1", "call-back")
    await floor.talk("agent_a", "call-back")
    form = page.get_by_role("region", name="Action code")
    await form.get_by_label("Code", exact=True).select_option("RPC")
    await form.get_by_role("button", name="File the action").click()
    await expect(form.get_by_role("status")).to_have_text("Filed RPC on account A1.")
    await expect(callbacks.get_by_role("listitem")).to_have_text(
        ["No callback agreed on your cases."])
