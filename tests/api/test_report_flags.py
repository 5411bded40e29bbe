"""What the reports read from the calls instead of the actions: the right-party and
promise flags a filed code sets on its call, and the cases each campaign called in a
month; kept as codes are filed and calls placed, and computed by the migration for
the calls already there (dialer/migrations/0005_report_indexes.sql)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from api import migrate, report_queries, reports
from api.report_queries import MonthScope, Query
from cases import actions, audit
from cases.report_math import Counts, GroupBy, MonthlyReport
from tests.api.report_month import CALLS, OCTOBER, Month, build_month, local
from tests.api.world import NOW, World, build_world
from tests.conftest import TEST_DB_URL

# A call's flag as the reports read it before the flags: a code of that kind filed on it.
LOOKUP = {
    "a.right_party": "EXISTS (SELECT 1 FROM actions x JOIN action_codes k ON k.code = x.code"
                     " WHERE x.attempt_id = a.id AND k.right_party)",
    "a.promise_to_pay": "EXISTS (SELECT 1 FROM actions x JOIN action_codes k ON k.code = x.code"
                        " WHERE x.attempt_id = a.id AND k.creates_promise)",
}
FLAGS = "SELECT id, right_party, promise_to_pay FROM attempts ORDER BY id"
THIS = "0005_report_indexes.sql"
MEMBERS = "SELECT month, campaign_id, case_id FROM campaign_cases ORDER BY 1, 2, 3"


@pytest.fixture
async def month(world: World, pool: asyncpg.Pool) -> Month:
    return await build_month(pool, world)


async def every_report(db: asyncpg.Pool) -> dict[GroupBy, MonthlyReport]:
    return {by: await reports.monthly_report(db, month=OCTOBER, by=str(by), client_id=None)
            for by in GroupBy}


def looked_up(sql: str) -> str:
    """A query counting from the actions filed instead of the calls' flags."""
    for flag, lookup in LOOKUP.items():
        sql = sql.replace(flag, lookup)
    return sql


async def test_the_flags_count_what_the_actions_filed_on_the_calls_say(
        month: Month, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    flagged = await every_report(pool)
    portfolio, calls = report_queries.portfolio, report_queries.calls
    replaced: set[tuple[str, str]] = set()

    def replace(query: Query, kind: str) -> Query:
        replaced.update((kind, flag) for flag in LOOKUP if flag in query[0])
        return looked_up(query[0]), query[1]

    def portfolio_(scope: MonthScope, by: GroupBy, *, attempts: bool = True) -> Query:
        return replace(portfolio(scope, by, attempts=attempts), "portfolio")

    def calls_(scope: MonthScope, by: GroupBy) -> Query:
        return replace(calls(scope, by), "calls")

    monkeypatch.setattr(report_queries, "portfolio", portfolio_)
    monkeypatch.setattr(report_queries, "calls", calls_)
    assert await every_report(pool) == flagged
    # Both flags in the calls' query, the right-party one in the portfolio's floor.
    assert replaced == {("calls", flag) for flag in LOOKUP} | {("portfolio", "a.right_party")}
    contacts = {by: sum(r.counts.right_party_contacts for r in report.rows)
                for by, report in flagged.items()}
    assert contacts == dict.fromkeys(GroupBy, 7 + 3)  # BANKA's and BANKB's (test_reports)


def bank_a(report: MonthlyReport, month: Month) -> Counts:
    [counts] = [r.counts for r in report.rows if r.group_id == month.client("A")]
    return counts


async def test_a_code_filed_after_the_call_counts_for_the_call(
        month: Month, pool: asyncpg.Pool) -> None:
    case, agent = month.cases["a05"], month.world.users["agent_a"]
    call = await pool.fetchval(
        "INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party,"
        " agent_id, work_line, dialer, placed_at, answered_at, ended_at, result, decision,"
        " pack, pack_version) SELECT $1, c.id, c.debtor_id, p.id, p.e164, 'debtor', $2,"
        " 'line1', 'test', $3::timestamptz, $3, $3 + interval '2 minutes', 'connected', '{}',"
        " 'cn-bank', '2026.1' FROM cases c JOIN phones p ON p.case_id = c.id WHERE c.id = $4"
        " RETURNING id",
        month.campaigns["A"], agent.id, local(10, 30), case)
    before = bank_a(await reports.monthly_report(pool, month=OCTOBER, by="client",
                                                 client_id=None), month)
    assert (before.connected, before.right_party_contacts, before.promises_to_pay) == (10, 7, 3)
    filed = []
    promise: dict[str, object] = {"amount": "800", "due_date": "2026-12-10"}
    for code, day in (("RPC", 20), ("PTP", 25), ("HU", 28)):  # weeks after the call
        fields = promise if code == "PTP" else {}
        req = actions.ActionRequest(case, code, f"late-{code}", fields, attempt_id=call)
        await actions.file_action(pool, audit.Actor(agent), req,
                                  datetime(2026, 11, day, 3, tzinfo=NOW.tzinfo), on_call=True)
        report = await reports.monthly_report(pool, month=OCTOBER, by="client", client_id=None)
        counts = bank_a(report, month)
        flags = await pool.fetchrow("SELECT right_party, promise_to_pay FROM attempts"
                                    " WHERE id = $1", call)
        assert flags is not None
        filed.append((code, counts.right_party_contacts, counts.promises_to_pay, tuple(flags)))
    # A later code that is neither never takes back what an earlier one was.
    assert filed == [("RPC", 8, 3, (True, False)), ("PTP", 8, 4, (True, True)),
                     ("HU", 8, 4, (True, True))]


async def test_a_call_without_a_code_has_no_flags(month: Month, pool: asyncpg.Pool) -> None:
    uncoded = {number for number, (_, _, _, _, code) in CALLS.items() if code is None}
    flags = {r["id"]: (r["right_party"], r["promise_to_pay"]) for r in await pool.fetch(FLAGS)}
    assert {flags[month.calls[n]] for n in uncoded} == {(None, None)}
    assert flags[month.calls["16"]] == (False, False)  # WN: a code, not the right party
    assert flags[month.calls["4"]] == (True, True)  # PTP


async def test_the_cases_each_campaign_called_in_each_month_of_the_banks_zone(
        month: Month, pool: asyncpg.Pool) -> None:
    members = {(r["month"], r["campaign_id"], r["case_id"]) for r in await pool.fetch(MEMBERS)}
    a, b = month.campaigns["A"], month.campaigns["B"]
    sep, octo, nov = date(2026, 9, 1), OCTOBER, date(2026, 11, 1)
    names = {v: k for k, v in month.cases.items()}
    assert {(m, c, names[k]) for m, c, k in members} == {
        (sep, a, "a03"),  # #8, 9, 9b
        *((octo, a, n) for n in ("a01", "a02", "a03", "a04", "a05", "a06", "a07", "a08",
                                 "a10")),
        (octo, 0, "a09"),  # the manual call #20
        (nov, a, "a08"),  # #19 on 1 Nov 00:30 in Shanghai, still 31 Oct in UTC
        *((octo, b, n) for n in ("b01", "b02", "b03", "b04", "b05")),
    }


async def test_filing_waits_for_the_call_as_the_dialer_ending_it_locks_it_first(
        month: Month, pool: asyncpg.Pool) -> None:
    """The dialer ends a call by updating its attempt, then its case (dialer.store.
    end_attempt): a code filed on the call meanwhile takes them in the same order."""
    call, case = month.calls["22"], month.cases["a07"]  # a07's call still in progress
    req = actions.ActionRequest(case, "RPC", "on-the-call", {}, attempt_id=call)
    async with pool.acquire() as dialer, dialer.transaction():
        await dialer.execute("UPDATE attempts SET ended_at = $2, result = 'connected'"
                             " WHERE id = $1", call, NOW)
        filing = asyncio.create_task(actions.file_action(
            pool, audit.Actor(month.world.users["agent_b"]), req, NOW, on_call=True))
        async with asyncio.timeout(10):
            await blocked_on_a_lock(pool)
        await dialer.execute("UPDATE cases SET next_action_at = $2 WHERE id = $1", case,
                             NOW + timedelta(hours=4))
    async with asyncio.timeout(10):
        filed = await filing
    assert not filed.replayed
    ended = await pool.fetchrow("SELECT result, right_party FROM attempts WHERE id = $1", call)
    assert ended is not None and tuple(ended) == ("connected", True)


async def blocked_on_a_lock(pool: asyncpg.Pool) -> None:
    while True:
        waiting = await pool.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
            " AND wait_event_type = 'Lock'")
        if waiting:
            return
        await asyncio.sleep(0.01)


@pytest.fixture
async def before_migration() -> AsyncIterator[asyncpg.Pool]:
    """A database of its own migrated up to, not including, the reports' flags."""
    parts = urlsplit(TEST_DB_URL)
    url = urlunsplit(parts._replace(path=parts.path + "_flags"))
    every = migrate.discover()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(migrate, "discover", lambda: [m for m in every if m.name != THIS])
        await migrate.recreate_database(url)
    db = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        yield db
    finally:
        await db.close()
        admin = await asyncpg.connect(urlunsplit(parts._replace(path="/postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{urlsplit(url).path[1:]}" WITH (FORCE)')
        finally:
            await admin.close()


async def test_the_migration_computes_both_for_the_calls_already_there(
        month: Month, pool: asyncpg.Pool, before_migration: asyncpg.Pool) -> None:
    old = await build_month(before_migration, await build_world(before_migration),
                            mark_calls=False)
    assert old.calls == month.calls  # the same rows, ids and all
    async with before_migration.acquire() as conn:
        assert [m.name for m in await migrate.migrate(conn)] == [THIS]
    assert await before_migration.fetch(FLAGS) == await pool.fetch(FLAGS)
    assert await before_migration.fetch(MEMBERS) == await pool.fetch(MEMBERS)
    assert await every_report(before_migration) == await every_report(pool)


