"""Complaints about how a case was worked: recorded (by whom), counted in the month's
compliance, listed per client and month; on the October of tests/api/report_month.py."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest

from tests.api.conftest import ApiClient
from tests.api.report_month import Month, api, month
from tests.api.world import World

__all__ = ["api", "month"]  # fixtures, used by name


async def report(api: ApiClient, who: World, user: str, query: str) -> dict[str, Any]:
    resp = await api.get(f"/reports/monthly?{query}", headers=who.headers(user))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


COMPLAINT = {"received_at": "2026-10-20T09:30:00+08:00", "channel": "phone",
             "summary": "  催收员态度恶劣 (the agent was rude)  "}


async def test_a_complaint_recorded_by_the_bank_makes_the_account_non_compliant(
        api: ApiClient, month: Month, pool: asyncpg.Pool) -> None:
    case = month.cases["a09"]
    resp = await api.post(f"/cases/{case}/complaints", json=COMPLAINT,
                          headers=month.world.headers("auditor_a"))
    assert resp.status == 201
    body = await resp.json()
    assert body["summary"] == "催收员态度恶劣 (the agent was rude)"
    assert (body["case_id"], body["client_id"], body["channel"]) == (
        case, month.client("A"), "phone")
    assert body["received_at"] == "2026-10-20T01:30:00+00:00"
    assert body["recorded_by"] == month.world.users["auditor_a"].id
    audited = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'complaint.record'")
    assert audited is not None
    assert (audited["username"], audited["record_id"], audited["client_id"]) == (
        "auditor-a", str(case), month.client("A"))
    report_ = await report(api, month.world, "admin",
                           f"month=2026-10&client_id={month.client('A')}")
    [figures] = report_["rows"]
    # a03 and now a09 are non-compliant: 8 / 10.
    assert (figures["complaint_accounts"], figures["compliant_accounts"],
            figures["compliance_rate"]) == (2, 8, 0.8)


@pytest.mark.parametrize(("who", "account", "status"), [
    ("auditor_b", "a09", 404), ("agent_a", "a01", 403),
    ("qa", "a01", 403), ("manager", "a01", 403), ("supervisor", "b01", 201),
    ("admin", "a01", 201),
])
async def test_who_may_record_a_complaint(api: ApiClient, month: Month, pool: asyncpg.Pool,
                                          who: str, account: str, status: int) -> None:
    resp = await api.post(f"/cases/{month.cases[account]}/complaints", json=COMPLAINT,
                          headers=month.world.headers(who))
    assert resp.status == status
    stored = await pool.fetchval("SELECT count(*) FROM complaints WHERE summary LIKE '催收%'")
    assert stored == (1 if status == 201 else 0)


async def test_a_bad_complaint_lists_every_problem_and_stores_nothing(
        api: ApiClient, month: Month, pool: asyncpg.Pool) -> None:
    resp = await api.post(f"/cases/{month.cases['a01']}/complaints",
                          json={"received_at": "2026-12-01T00:00:00+08:00", "channel": "fax",
                                "summary": "   "}, headers=month.world.headers("admin"))
    assert resp.status == 400
    body = await resp.json()
    assert body["error_id"] == "complaint.invalid"
    assert set(body["details"]) == {"received_at", "channel", "summary"}
    resp = await api.post(f"/cases/{month.cases['a01']}/complaints",
                          json={**COMPLAINT, "received_at": "2026-10-20 09:30"},
                          headers=month.world.headers("admin"))
    assert (await resp.json())["details"] == {
        "received_at": "an ISO 8601 time with its UTC offset"}
    resp = await api.post("/cases/999999/complaints", json=COMPLAINT,
                          headers=month.world.headers("admin"))
    assert resp.status == 404
    assert await pool.fetchval("SELECT count(*) FROM complaints") == 3  # the world's own
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'complaint.record'") == 0


async def test_complaints_of_a_month_in_each_clients_zone(api: ApiClient, month: Month,
                                                          pool: asyncpg.Pool) -> None:
    resp = await api.get("/complaints?month=2026-10", headers=month.world.headers("supervisor"))
    assert resp.status == 200
    # a03's (9 Oct) and b05's (1 Oct 00:30 local); a07's came on 1 Nov 00:30 local.
    assert [c["case_id"] for c in (await resp.json())["items"]] == [
        month.cases["a03"], month.cases["b05"]]
    resp = await api.get("/complaints", headers=month.world.headers("auditor_a"))
    assert [c["case_id"] for c in (await resp.json())["items"]] == [
        month.cases["a03"], month.cases["a07"]]
    resp = await api.get(f"/complaints?client_id={month.client('B')}",
                         headers=month.world.headers("auditor_a"))
    assert resp.status == 404
    for who in ("agent_a", "manager"):
        resp = await api.get("/complaints", headers=month.world.headers(who))
        assert resp.status == 403
    resp = await api.get("/complaints?month=October", headers=month.world.headers("qa"))
    assert (await resp.json())["error_id"] == "report.bad_month"
    rows = await pool.fetch("SELECT username, client_id, details FROM audit_log"
                            " WHERE action = 'complaint.list' ORDER BY id")
    assert [(r["username"], r["client_id"]) for r in rows] == [
        ("supervisor", None), ("auditor-a", month.client("A"))]

