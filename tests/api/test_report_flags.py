"""What the reports read instead of the calls, codes and QA rows themselves: the
right-party and promise flags a filed code sets on its call, the cases each campaign
called in a month, the month's tally of calls and QA's marks on the recordings; kept as
codes are filed, calls placed and samples and reviews written, and computed by the
migrations for what is already there (dialer/migrations/0005_report_indexes.sql,
0006_call_tally.sql; recording/ and transcription/migrations/0003_qa_marks.sql)."""

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
REPORT_MIGRATIONS = [("dialer", "0005_report_indexes.sql"), ("dialer", "0006_call_tally.sql"),
                     ("recording", "0003_qa_marks.sql"), ("transcription", "0003_qa_marks.sql")]
MEMBERS = "SELECT month, campaign_id, case_id FROM campaign_cases ORDER BY 1, 2, 3"
TALLY = "SELECT * FROM call_tally WHERE calls > 0 ORDER BY 1, 2, 3, 4"
MARKS = "SELECT id, sampled, reviewed FROM recordings ORDER BY id"

_M = """
WITH m AS (SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::int[],
                                $5::interval[], $6::int[], $7::interval[])
             AS m(client_id, t0, t1, first_n, first_p, more_n, more_p))"""
# The reports' figures read from the calls, the cases and the QA rows themselves, as they
# were before the tally and the marks (a call's client is its case's).
CALLS_READ = _M + """
SELECT {key} AS key{calls}, count(*) FILTER (WHERE a.result = 'connected') AS connected,
       count(*) FILTER (WHERE a.result = 'connected' AND a.right_party) AS right_party_contacts,
       count(*) FILTER (WHERE a.result = 'connected' AND a.promise_to_pay) AS promises_to_pay,
       count(*) FILTER (WHERE a.result = 'abandoned') AS abandoned
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN m ON m.client_id = c.client_id
 WHERE a.placed_at >= m.t0 AND a.placed_at < m.t1 AND {counted} AND $8::date IS NOT NULL
 GROUP BY 1
"""
CALL_KEY = {GroupBy.CLIENT: "c.client_id", GroupBy.BATCH: "c.first_batch_id",
            GroupBy.CAMPAIGN: "coalesce(a.campaign_id, 0)",
            GroupBy.AGENT: "coalesce(a.agent_id, 0)"}
TRIED_READ = """,
tried AS (
    SELECT rc.key, sum(n.n) AS attempts
      FROM rc CROSS JOIN LATERAL (SELECT count(*) AS n FROM attempts a
                                   WHERE a.case_id = rc.case_id AND a.placed_at >= rc.t0
                                     AND a.placed_at < rc.t1) n
     GROUP BY rc.key)"""
QA_READ = _M + """
SELECT {key} AS key, count(*) AS recorded_calls, count(s.id) AS sampled_calls,
       count(*) FILTER (WHERE s.id IS NOT NULL AND EXISTS (
           SELECT 1 FROM qa_reviews v WHERE v.recording_id = r.id)) AS reviewed_calls
  FROM recordings r JOIN m ON m.client_id = r.client_id {join}
  LEFT JOIN qa_samples s ON s.recording_id = r.id
 WHERE r.started_at >= $8 AND r.started_at < $9
   AND r.started_at >= m.t0 AND r.started_at < m.t1
   AND r.agent_id IS NOT NULL AND r.state IN ('finished', 'recovered')
 GROUP BY 1
"""


def calls_read(scope: MonthScope, by: GroupBy) -> Query:
    batch = by is GroupBy.BATCH
    sql = CALLS_READ.format(
        key=CALL_KEY[by], calls="" if batch else ", count(*) AS calls",
        counted="a.result IN ('connected', 'abandoned')" if batch else "true")
    return sql, [*scope.clients(), scope.month]


def qa_read(scope: MonthScope, by: GroupBy) -> Query:
    join = "JOIN cases c ON c.id = r.case_id" if by is GroupBy.BATCH else ""
    sql = QA_READ.format(key=report_queries._QA_KEY[by], join=join)
    return sql, list(scope.args())


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


async def test_the_reports_count_what_the_calls_codes_and_qa_rows_say(
        month: Month, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    """The tally, the flags and the marks against the rows they stand for: every report
    read from the calls (the codes filed on them looked up), cases, samples, reviews."""
    kept = await every_report(pool)
    floor = report_queries.floor
    replaced: set[tuple[str, str]] = set()

    def replace(query: Query, kind: str) -> Query:
        replaced.update((kind, flag) for flag in LOOKUP if flag in query[0])
        return looked_up(query[0]), query[1]

    def floor_(scope: MonthScope, by: GroupBy) -> Query:
        return replace(floor(scope, by), "floor")

    def calls_(scope: MonthScope, by: GroupBy) -> Query:
        return replace(calls_read(scope, by), "calls")

    monkeypatch.setattr(report_queries, "floor", floor_)
    monkeypatch.setattr(report_queries, "calls", calls_)
    monkeypatch.setattr(report_queries, "qa", qa_read)
    monkeypatch.setattr(report_queries, "_TRIED", TRIED_READ)
    assert await every_report(pool) == kept
    # Both flags in the calls read, the right-party one in the floor.
    assert replaced == {("calls", flag) for flag in LOOKUP} | {("floor", "a.right_party")}
    contacts = {by: sum(r.counts.right_party_contacts for r in report.rows)
                for by, report in kept.items()}
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


def report_migration(m: migrate.Migration) -> bool:
    return (m.package, m.name) in REPORT_MIGRATIONS


@pytest.fixture
async def before_migration() -> AsyncIterator[asyncpg.Pool]:
    """A database of its own migrated up to, not including, what the reports read
    instead of the rows: the flags, the tally, the marks."""
    parts = urlsplit(TEST_DB_URL)
    url = urlunsplit(parts._replace(path=parts.path + "_flags"))
    every = migrate.discover()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(migrate, "discover",
                      lambda: [m for m in every if not report_migration(m)])
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


async def test_the_migrations_compute_them_for_what_is_already_there(
        month: Month, pool: asyncpg.Pool, before_migration: asyncpg.Pool) -> None:
    old = await build_month(before_migration, await build_world(before_migration),
                            mark_calls=False)
    assert old.calls == month.calls  # the same rows, ids and all
    async with before_migration.acquire() as conn:
        applied = await migrate.migrate(conn)
    assert [(m.package, m.name) for m in applied] == REPORT_MIGRATIONS
    for sql in (FLAGS, MEMBERS, TALLY, MARKS):
        assert await before_migration.fetch(sql) == await pool.fetch(sql)
    assert await every_report(before_migration) == await every_report(pool)
