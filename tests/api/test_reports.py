"""Month-end reports on a generated October 2026 (tests/api/report_month.py) with
hand-computed answers, as CSV, per role."""

from __future__ import annotations

import csv
import io
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from api import report_queries, reports
from cases.report_math import COLUMNS, AgentFigures
from tests.api.conftest import ApiClient
from tests.api.report_month import OCTOBER, api, month
from tests.api.report_month import Month as Month  # tests.console.test_reports uses it
from tests.api.world import World

__all__ = ["api", "month"]  # fixtures, used by name


FIGURES = ("accounts", "amount_assigned", "amount_recovered", "recovery_rate", "attempts",
           "attempts_per_case", "calls", "connected", "right_party_contacts",
           "right_party_contact_rate", "promises_to_pay", "ptp_rate", "promises_due",
           "promises_kept", "promises_broken", "ptp_kept_rate", "floor_due", "floor_met",
           "floor_adherence", "abandoned", "abandon_rate", "qa_failed_accounts",
           "complaint_accounts", "compliant_accounts", "compliance_rate", "recorded_calls",
           "sampled_calls", "reviewed_calls", "qa_sampled_rate", "qa_reviewed_rate")


def row(*values: object) -> dict[str, object]:
    assert len(values) == len(FIGURES)
    return dict(zip(FIGURES, values, strict=True))


# BANKA: accounts a01-a10 (a11 closed in September). Assigned 10,000 + 5,000 + 2,000 +
# 8,000 + 1,000 + 4,000 + 6,000 + 3,000 + 7,000 + 2,000 = 48,000. Recovered: a01 1,000
# (its 500 came on 1 Nov 00:30 local: November), a02 250.50 (1 Oct 00:30 local, still
# 30 Sep in UTC), a06 2,000 = 3,250.50; 3,250.50 / 48,000 = 0.06771875 -> 0.0677.
# Calls in October: 5 + 2 + 3 + 1 + 1 + 2 + 2 + 1 + 1 + 1 = 19 (a03's three September
# calls and a08's #19 on 1 Nov local are not); 19 / 10 = 1.90 per case. Connected: #3,
# 4, 10, 12, 13, 15, 16, 18, 20 = 9; right party: all but #10 (TPC) and #16 (WN) = 7;
# 7 / 9 = 0.7778. PTP: #4, 12, 15 = 3; 3 / 7 = 0.4286. Promises due in October: a01
# kept, a03 broken, a06 kept, a02 broken (taken in September) = 4; 2 / (2 + 2) = 0.5.
# Floor (3 calls by assignment + 7 days, 5 by + 22 days): a01 due 8 and 23 Oct, met
# (#1-3, #1-5); a02 due 9 and 24 Oct with 2 calls, not met (its hold was released on
# 5 Oct); a03 due 12 Oct, met by 3 September calls and #10, #11; a04 due 27 Oct, met by
# the right-party contact #13; a05-a09 were due in August; 3 / 4 = 0.75. Abandoned: #7,
# #17; 2 / (2 + 9) = 0.1818. Non-compliant: a03 (QA auto-fail and a complaint); a07's
# complaint came on 1 Nov local; 9 / 10 = 0.9. Recorded calls of agents: #3, 4, 10, 12,
# 15, 18, 20 = 7 (#19 is November's, #16's recording failed); sampled #3, 10, 12, 15 = 4,
# 4 / 7 = 0.5714; reviewed #3, 10, 15: 3 / 4 = 0.75.
BANK_A = row(10, "48000.00", "3250.50", 0.0677, 19, 1.9, 19, 9, 7, 0.7778, 3, 0.4286, 4,
             2, 2, 0.5, 4, 3, 0.75, 2, 0.1818, 1, 1, 9, 0.9, 7, 4, 3, 0.5714, 0.75)
# BANKB: 3,000 + 2,000 + 5,000 + 6,000 + 4,000 = 20,000; recovered b01's 3,000 (b04's 400
# was paid in September): 0.15. Calls 1 + 1 + 2 + 1 + 3 = 8, 8 / 5 = 1.60. Connected #23,
# 27, 30, all right party (CB is): 3 / 3 = 1. PTP #23: 1 / 3 = 0.3333. Due promises: b01
# kept, b03 pending, b05 cancelled: 1 / (1 + 0) = 1. Floor: b01 due 17 Oct, met by the
# contact #23; b02 held on its deadline (19 Oct): not due; b03 due 18 Oct with 2 calls:
# not met; b04 due 1 Nov; b05 due 17 Oct, met (#28-30): 2 / 3 = 0.6667. Abandoned #29:
# 1 / (1 + 3) = 0.25. Non-compliant: b04 (QA), b05 (complaint on 1 Oct 00:30 local):
# 3 / 5 = 0.6. Recorded #27, #30; sampled #27 (1 / 2 = 0.5), reviewed (1 / 1).
BANK_B = row(5, "20000.00", "3000.00", 0.15, 8, 1.6, 8, 3, 3, 1.0, 1, 0.3333, 3, 1, 0, 1.0,
             3, 2, 0.6667, 1, 0.25, 1, 1, 3, 0.6, 2, 1, 1, 0.5, 1.0)
# By agent, the cases by their assigned agent, the calls by the agent on them.
# agent_a: a01-a05, 26,000; recovered 1,000 + 250.50 = 1,250.50 -> 0.0481; calls on
# them 5 + 2 + 3 + 1 + 1 = 12 -> 2.40; agent_a's calls #3, 4, 10, 13: 4 connected, 3 right
# party (0.75), 1 PTP (0.3333); promises a01 kept, a03 and a02 broken: 1 / 3; floor 3 of
# 4; no abandons of 4 live: 0; a03 non-compliant: 4 / 5; recorded #3, 4, 10, sampled #3,
# 10 (2 / 3), both reviewed.
AGENT_A = row(5, "26000.00", "1250.50", 0.0481, 12, 2.4, 4, 4, 3, 0.75, 1, 0.3333, 3, 1, 2,
              0.3333, 4, 3, 0.75, 0, 0.0, 1, 1, 4, 0.8, 3, 2, 2, 0.6667, 1.0)
# agent_b: a06, a07, a08, b01, b02, b03: 4,000 + 6,000 + 3,000 + 3,000 + 2,000 + 5,000 =
# 23,000; recovered 2,000 + 3,000 = 5,000 -> 0.2174; calls on them 2 + 2 + 1 + 1 + 1 + 2 =
# 9 -> 1.50; agent_b's calls #12, 15, 16, 18, 23: 5 connected, 4 right party (0.8), 3 PTP
# (0.75); promises a06, b01 kept, b03 pending: 2 / 2; floor b01 met, b03 not: 1 / 2; all 6
# compliant; recorded #12, 15, 18, sampled #12, 15 (2 / 3), reviewed #15 (1 / 2).
AGENT_B = row(6, "23000.00", "5000.00", 0.2174, 9, 1.5, 5, 5, 4, 0.8, 3, 0.75, 3, 2, 0, 1.0,
              2, 1, 0.5, 0, 0.0, 0, 0, 6, 1.0, 3, 2, 1, 0.6667, 0.5)
# agent_c: a09, b04, b05: 17,000, nothing recovered; calls 1 + 1 + 3 = 5 -> 5 / 3 = 1.67;
# agent_c's calls #20, 27, 30: all right party, no PTP (0 / 3); b05's promise was
# cancelled: no rate; floor b05 met; b04 (QA) and b05 (complaint) non-compliant: 1 / 3;
# recorded #20, 27, 30, sampled #27 (1 / 3), reviewed.
AGENT_C = row(3, "17000.00", "0.00", 0.0, 5, 1.67, 3, 3, 3, 1.0, 0, 0.0, 1, 0, 0, None,
              1, 1, 1.0, 0, 0.0, 1, 1, 1, 0.3333, 3, 1, 1, 0.3333, 1.0)
# No agent: the case a10 (2,000, its one call #21) and the calls no agent took: 10 of
# BANKA's (#1, 2, 5, 6, 7, 11, 14, 17, 21, 22) and 5 of BANKB's (#24-26, 28, 29), none
# connected; abandoned #7, 17, 29: 3 / (3 + 0) = 1.
NO_AGENT = row(1, "2000.00", "0.00", 0.0, 1, 1.0, 15, 0, 0, None, 0, None, 0, 0, 0, None, 0,
               0, None, 3, 1.0, 0, 0, 1, 1.0, 0, 0, 0, None, None)
# 催收一组: every BANKA call but #20, 18, on a01-a08 and a10 (9 cases, 2.00 per case);
# 41,000 assigned (48,000 less a09's 7,000), 3,250.50 recovered -> 0.0793; connected #3,
# 4, 10, 12, 13, 15, 16, 18: 8, right party 6 (0.75), PTP 3 (0.5); abandoned 2 / (2 + 8)
# = 0.2; promises and floor as BANKA's; a03 non-compliant: 8 / 9 = 0.8889; recorded #3,
# 4, 10, 12, 15, 18, sampled 4 (0.6667), reviewed 3 (0.75).
CAMPAIGN_A = row(9, "41000.00", "3250.50", 0.0793, 18, 2.0, 18, 8, 6, 0.75, 3, 0.5, 4, 2, 2,
                 0.5, 4, 3, 0.75, 2, 0.2, 1, 1, 8, 0.8889, 6, 4, 3, 0.6667, 0.75)
# No campaign: the manual call #20 on a09 (7,000): connected, right party, recorded.
NO_CAMPAIGN = row(1, "7000.00", "0.00", 0.0, 1, 1.0, 1, 1, 1, 1.0, 0, 0.0, 0, 0, 0, None, 0,
                  0, None, 0, 0.0, 0, 0, 1, 1.0, 1, 0, 0, 0.0, None)


def figures_of(body: dict[str, Any]) -> list[tuple[object, dict[str, object]]]:
    rows = body["rows"]
    return [(r["group_name"], {k: r[k] for k in FIGURES}) for r in rows]


async def report(api: ApiClient, who: World, user: str, query: str) -> dict[str, Any]:
    resp = await api.get(f"/reports/monthly?{query}", headers=who.headers(user))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_by_client_every_figure_is_the_hand_computed_one(
        api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "admin", "month=2026-10&by=client")
    assert body["month"] == "2026-10" and body["by"] == "client" and body["client_id"] is None
    assert figures_of(body) == [("BANKA card centre", BANK_A), ("BANKB card centre", BANK_B)]
    assert [r["client_id"] for r in body["rows"]] == [month.client("A"), month.client("B")]
    assert "no override" in body["definitions"]["compliance_rate"]


async def test_by_batch_the_placements_of_october(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "supervisor", "month=2026-10&by=batch")
    # The world's own batches (placed on 29 Nov) have no account in October.
    assert figures_of(body) == [("BA1.csv", BANK_A), ("BB1.csv", BANK_B)]


async def test_by_agent_cases_by_their_agent_calls_by_the_agent_on_them(
        api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "manager", "month=2026-10&by=agent")
    assert figures_of(body) == [("agent_a", AGENT_A), ("agent_b", AGENT_B), ("赵磊", AGENT_C),
                                ("(none)", NO_AGENT)]


async def test_by_campaign_the_cases_each_campaign_called(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "admin", "month=2026-10&by=campaign")
    assert figures_of(body) == [("催收一组", CAMPAIGN_A), ("=Recall", BANK_B),
                                ("(none)", NO_CAMPAIGN)]


async def test_one_client_and_another_month(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "admin",
                        f"month=2026-10&by=agent&client_id={month.client('B')}")
    # BANKB's cases are agent_b's (b01-b03) and agent_c's (b04, b05).
    assert [(r["group_name"], r["accounts"], r["calls"], r["client_id"])
            for r in body["rows"]] == [
        ("agent_b", 3, 1, month.client("B")), ("赵磊", 2, 2, month.client("B")),
        ("(none)", 0, 5, month.client("B"))]
    # November: the world's cases (placed 29 Nov) join, b01 (paid in October) and a11
    # leave; the call and the payment of 1 Nov 00:30 local count.
    body = await report(api, month.world, "admin", "month=2026-11&by=client")
    assert [(r["accounts"], r["attempts"], r["amount_recovered"])
            for r in body["rows"]] == [(12, 1, "500.00"), (5, 0, "0.00")]


async def test_agent_figures_for_the_evaluation(month: Month, pool: asyncpg.Pool) -> None:
    found = await reports.agent_figures(pool, client_id=month.client("A"), month=OCTOBER)
    # a01-a05, a06-a08, a09 (a10 has no agent): 4 of 5, 3 of 3, 1 of 1 compliant.
    assert found == [
        AgentFigures(month.agents["agent_a"], Decimal("26000.00"), Decimal("1250.50"), 5, 4),
        AgentFigures(month.agents["agent_b"], Decimal("13000.00"), Decimal("2000.00"), 3, 3),
        AgentFigures(month.agents["agent_c"], Decimal("7000.00"), Decimal("0"), 1, 1)]


async def test_csv_opens_in_excel_with_chinese_names_and_no_formulas(
        api: ApiClient, month: Month) -> None:
    resp = await api.get("/reports/monthly?month=2026-10&by=campaign&format=csv",
                         headers=month.world.headers("admin"))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="callcase-2026-10-campaign.csv"')
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(table[0]) == list(COLUMNS)
    assert [(r["group_name"], r["accounts"], r["amount_recovered"], r["recovery_rate"],
             r["ptp_kept_rate"]) for r in table] == [
        ("催收一组", "9", "3250.50", "0.0793", "0.5000"),
        ("'=Recall", "5", "3000.00", "0.1500", "1.0000"),  # shown as text, never run
        ("(none)", "1", "0.00", "0.0000", "")]
    assert {r["month"] for r in table} == {"2026-10"}


async def test_the_bank_sees_only_its_own_client(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "auditor_a", "month=2026-10&by=client")
    assert body["client_id"] == month.client("A")
    assert figures_of(body) == [("BANKA card centre", BANK_A)]
    body = await report(api, month.world, "auditor_a",
                        f"month=2026-10&by=agent&client_id={month.client('A')}")
    assert [r["group_name"] for r in body["rows"]] == [
        "agent_a", "agent_b", "赵磊", "(none)"]
    resp = await api.get(f"/reports/monthly?month=2026-10&client_id={month.client('A')}",
                         headers=month.world.headers("auditor_b"))
    assert resp.status == 404 and (await resp.json())["error_id"] == "client.not_found"


@pytest.mark.parametrize("who", ["agent_a", "qa"])
async def test_agents_and_qa_may_not_read_reports(api: ApiClient, month: Month,
                                                  who: str) -> None:
    resp = await api.get("/reports/monthly?month=2026-10", headers=month.world.headers(who))
    assert resp.status == 403 and (await resp.json())["error_id"] == "auth.role"
    resp = await api.get("/reports/monthly?month=2026-10")
    assert resp.status == 401


@pytest.mark.parametrize(("query", "status", "error_id"), [
    ("by=client", 400, "report.bad_month"), ("month=2026-13", 400, "report.bad_month"),
    ("month=10-2026", 400, "report.bad_month"), ("month=2026-10&by=team", 400,
                                                 "report.bad_group"),
    ("month=2026-10&format=xlsx", 400, "report.bad_format"),
    ("month=2026-10&client_id=abc", 400, "request.bad_param"),
    ("month=2026-10&client_id=999", 404, "client.not_found"),
])
async def test_a_bad_request_says_what_is_wrong_and_reads_nothing(
        api: ApiClient, world: World, pool: asyncpg.Pool, query: str, status: int,
        error_id: str) -> None:
    resp = await api.get(f"/reports/monthly?{query}", headers=world.headers("admin"))
    assert resp.status == status
    assert (await resp.json())["error_id"] == error_id
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'report.view'") == 0


async def test_every_report_read_is_audited(api: ApiClient, month: Month,
                                            pool: asyncpg.Pool) -> None:
    await report(api, month.world, "manager", "month=2026-10&by=batch")
    await api.get("/reports/monthly?month=2026-10&format=csv",
                  headers=month.world.headers("auditor_b"))
    rows = await pool.fetch("SELECT username, client_id, record_type, details FROM audit_log"
                            " WHERE action = 'report.view' ORDER BY id")
    assert [(r["username"], r["client_id"], r["record_type"]) for r in rows] == [
        ("manager", None, "report"), ("auditor-b", month.client("B"), "report")]
    assert [r["details"] for r in rows] == [
        '{"by": "batch", "rows": 2, "month": "2026-10", "format": "json"}',
        '{"by": "client", "rows": 1, "month": "2026-10", "format": "csv"}']



async def test_one_connection_and_three_sharing_a_snapshot_agree(
        month: Month, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        alone = await reports.monthly_report(conn, month=OCTOBER, by="agent", client_id=None)
    async with reports.snapshot(pool) as reader:
        assert reader.pool is pool  # the pool has room: the queries run side by side
        shared = await reports.monthly_report(reader, month=OCTOBER, by="agent",
                                              client_id=None)
    assert shared == alone and len(alone.rows) == 4


async def test_a_query_that_fails_is_reported_as_itself(
        month: Month, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The queries read side by side: one failing while the others still run fails the
    report with its own error, not with the snapshot's connection found busy."""
    monkeypatch.setattr(report_queries, "qa", lambda scope, by: ("SELECT 1 / 0", []))
    with pytest.raises(asyncpg.DivisionByZeroError):
        await reports.monthly_report(pool, month=OCTOBER, by="agent", client_id=None)
