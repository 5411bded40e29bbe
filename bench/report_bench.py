"""Month-end report benchmark: the four monthly reports over a million cases.

    python bench/report_bench.py [--cases 1000000] [--attempts 10000000] [--runs 3]
                                 [--explain] [--keep] [--reuse]

Recreates the database `callcase_bench_reports` on the server of CALLCASE_DATABASE_URL
(default 127.0.0.1:5432) and writes, with set-based SQL on the server
(INSERT ... SELECT over generate_series; the foreign-key triggers are off while it
loads, every row being consistent by construction), a month of work for three clients
(two in Shanghai on cn-bank, one in New York on us-regf):

- N cases (half BANKA's, 30% BANKB's, 20% BANKC's) in 4 monthly batches per client,
  balances 500-100,000, 95% assigned to one of 400 agents, 2% paid or closed before
  the month, 1.5% with a hold; one debtor and one phone each;
- A attempts spread over October 2026 (10 per case on average) across 8 campaigns
  per client (2% outside any campaign): 40% no answer, 8% busy, 5% rejected, 3%
  failed, 8% machine, 3% voicemail, 1.5% abandoned, 4.5% hung up, 27% connected, the
  connected ones with an agent (80% the case's own) and an action code (15% PTP, 25%
  RPC, 5% CB, 8% REF, 2% PAID, 1% DSP; 20% TPC, 8% WN, 16% HU; drawn from a hash of the
  call's time, so that each call carries its code's right-party and promise flags as
  wrap-up sets them), the cases each campaign called (`campaign_cases`) and the
  month's tally of calls (`call_tally`), which triggers keep as calls are placed, ended
  and coded (the triggers are off while loading: both are written from the calls);
- a promise per PTP (due 1-14 days later: kept, broken, pending, cancelled), two
  payments on 3.5% of cases (September to mid-November), a recording per connected
  call, a 15% QA sample, 80% of it reviewed (5% with an auto-fail; each recording
  carries its sampled and reviewed marks from the start, as the QA triggers set them),
  the QA compliance marks, complaints on 0.1% of cases;

prints how long each table took, VACUUM ANALYZEs, then times
`api.reports.monthly_report` by client, batch, campaign and agent over every client
(`--runs` each, median printed, with the load average: other jobs share the machine)
and `agent_figures` for BANKA, measures the CPU seconds of each report's queries run
one after the other by one backend (a figure other jobs do not skew), prints the plans
with --explain, and drops the database unless --keep. --reuse skips the load when the
database is already there (it must have been kept with the same sizes) and keeps it.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import platform
import statistics
import time
from collections.abc import Awaitable, Callable
from datetime import date
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.connection import LoggedQuery

from api import reports
from api.migrate import recreate_database
from api.report_queries import SETTINGS
from cases.store import Conn

BENCH_DB = "callcase_bench_reports"
OCTOBER = date(2026, 10, 1)
TARGET_S = 10.0
AGENTS = 400
GROUPS = ("client", "batch", "campaign", "agent")

# Client of case g: 0-4 BANKA, 5-7 BANKB, 8-9 BANKC (ids 1, 2, 3 in a fresh database).
CLIENT_OF = "(CASE WHEN {g} % 10 < 5 THEN 1 WHEN {g} % 10 < 8 THEN 2 ELSE 3 END)"
AGENT_OF = f"(1 + ({{g}} * 7919) % {AGENTS})"  # the case's agent (a user id)

SETUP = f"""
INSERT INTO clients (code, name, time_zone, rule_pack) VALUES
    ('BANKA', '甲银行信用卡中心', 'Asia/Shanghai', 'cn-bank'),
    ('BANKB', '乙银行个贷部', 'Asia/Shanghai', 'cn-bank'),
    ('BANKC', 'C Bank Card Services', 'America/New_York', 'us-regf');
INSERT INTO users (username, display_name, role, password_hash)
    SELECT 'agent-' || lpad(g::text, 3, '0'), '坐席' || g, 'agent', '!'
    FROM generate_series(1, {AGENTS}) g;
INSERT INTO users (username, display_name, role, password_hash) VALUES ('qa-1', 'QA', 'qa', '!');
INSERT INTO batches (client_id, file_name, file_sha256, encoding, received_at, imported_at,
    rows_read, rows_accepted, rows_rejected, cases_created, cases_updated, total_balance)
    SELECT c, 'batch-' || c || '-' || k || '.csv', lpad(to_hex(c * 10 + k), 64, '0'), 'utf-8',
           '2026-07-05 02:00+00'::timestamptz + k * interval '1 month',
           '2026-07-05 02:00+00'::timestamptz + k * interval '1 month', 0, 0, 0, 0, 0, 0
    FROM generate_series(1, 3) c CROSS JOIN generate_series(0, 3) k ORDER BY c, k;
INSERT INTO campaigns (client_id, name, mode, rule_pack, work_lines, schedule, retry_policy,
    created_at, updated_at)
    SELECT c, '催收' || c || '-' || k, 'predictive', 'cn-bank', '{{line1}}', '{{}}', '{{}}',
           now(), now()
    FROM generate_series(1, 3) c CROSS JOIN generate_series(1, 8) k ORDER BY c, k;
INSERT INTO qa_scorecards (client_id, version, name, items, created_at)
    SELECT id, 1, 'card', '[]', now() FROM clients ORDER BY id;
"""
DEBTORS = f"""
INSERT INTO debtors (client_id, name, id_no)
SELECT {CLIENT_OF.format(g="g")}, '债务人' || g, 'ID' || lpad(g::text, 16, '0')
FROM generate_series(1::bigint, $1) g
"""
# Batch k (0-3) of the client; assigned within 3 days of the batch; 5% unassigned.
CASES = f"""
INSERT INTO cases (client_id, account_no, debtor_id, first_batch_id, last_batch_id, product,
    balance, days_past_due, status, assigned_agent_id, assigned_at, updated_at)
SELECT cl, 'ACC' || lpad(g::text, 10, '0'), g, (cl - 1) * 4 + k + 1, (cl - 1) * 4 + k + 1,
    CASE WHEN r1 < 0.7 THEN 'credit_card' ELSE 'personal_loan' END,
    round((500 + r2 * r2 * 99500)::numeric, 2), 1 + floor(r1 * 360)::int,
    CASE WHEN s < 0.01 THEN 'paid' WHEN s < 0.02 THEN 'closed' WHEN s < 0.035 THEN 'on_hold'
         WHEN s < 0.6 THEN 'open' WHEN s < 0.9 THEN 'in_progress' ELSE 'promised' END,
    CASE WHEN g % 20 <> 0 THEN {AGENT_OF.format(g="g")} END,
    CASE WHEN g % 20 <> 0 THEN '2026-07-05 02:00+00'::timestamptz + k * interval '1 month'
                               + (g % 72) * interval '1 hour' END,
    CASE WHEN s < 0.02 THEN timestamptz '2026-09-20 02:00+00'
         ELSE timestamptz '2026-11-20 02:00+00' END
FROM (SELECT g, {CLIENT_OF.format(g="g")} AS cl, (g * 7) % 4 AS k, random() AS r1,
             random() AS r2, random() AS s FROM generate_series(1::bigint, $1) g) x
"""
PHONES = """
INSERT INTO phones (case_id, e164, party, kind)
SELECT g, '+86138' || lpad(g::text, 8, '0'), 'debtor', 'mobile'
FROM generate_series(1::bigint, $1) g
"""
HOLDS = """
INSERT INTO case_holds (case_id, reason, placed_at, released_at)
SELECT id, 'dispute', timestamptz '2026-09-25 02:00+00' + random() * interval '35 days',
       CASE WHEN random() < 0.3 THEN timestamptz '2026-11-05 02:00+00' END
FROM cases WHERE random() < 0.015
"""
# The action code filed on a connected call: drawn from a hash of the time it was placed
# (unique per call), so that the call carries its code's flags from the start, as they
# are set at wrap-up.
CODE_OF = """(SELECT CASE WHEN r < 0.15 THEN 'PTP' WHEN r < 0.40 THEN 'RPC' WHEN r < 0.45 THEN 'CB'
    WHEN r < 0.53 THEN 'REF' WHEN r < 0.55 THEN 'PAID' WHEN r < 0.56 THEN 'DSP'
    WHEN r < 0.76 THEN 'TPC' WHEN r < 0.84 THEN 'WN' ELSE 'HU' END
    FROM (SELECT (hashint8((extract(epoch FROM {at}) * 1000000)::bigint) + 2147483648::bigint)
                 / 4294967296.0 AS r) h)"""
# Placed in time order through October (Shanghai), as a dialer appends them.
ATTEMPTS = f"""
INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party, agent_id,
    work_line, dialer, placed_at, answered_at, ended_at, result, right_party, promise_to_pay,
    decision, pack, pack_version)
SELECT CASE WHEN m < 0.02 THEN NULL ELSE ({CLIENT_OF.format(g="c")} - 1) * 8 + 1 + (c % 8) END,
       c, c, c, '+86138' || lpad(c::text, 8, '0'), 'debtor',
       CASE WHEN res = 'connected' THEN CASE WHEN x < 0.8 THEN {AGENT_OF.format(g="c")}
                                            ELSE 1 + floor(x * {AGENTS})::int END END,
       'line' || (g % 50), 'bench', at,
       CASE WHEN res IN ('connected', 'abandoned', 'hung_up', 'machine', 'voicemail')
            THEN at + interval '18 seconds' END,
       at + interval '95 seconds', res, k.right_party, k.creates_promise,
       '{{}}', 'cn-bank', '2026.1'
FROM (SELECT g, 1 + floor(random() * $2)::bigint AS c, random() AS x, random() AS m,
             timestamptz '2026-09-30 16:00+00' + (g::float8 / $1) * interval '31 days' AS at,
             random() AS u FROM generate_series(1::bigint, $1) g) r
CROSS JOIN LATERAL (SELECT CASE WHEN u < 0.40 THEN 'no_answer' WHEN u < 0.48 THEN 'busy'
    WHEN u < 0.53 THEN 'rejected' WHEN u < 0.56 THEN 'failed' WHEN u < 0.64 THEN 'machine'
    WHEN u < 0.67 THEN 'voicemail' WHEN u < 0.685 THEN 'abandoned' WHEN u < 0.73 THEN 'hung_up'
    ELSE 'connected' END AS res) o
LEFT JOIN action_codes k ON o.res = 'connected' AND k.code = {CODE_OF.format(at="r.at")}
"""
ACTIONS = f"""
INSERT INTO actions (case_id, code, user_id, attempt_id, idempotency_key, created_at)
SELECT case_id, {CODE_OF.format(at="placed_at")}, agent_id, id, 'call-' || id,
       ended_at + interval '40 seconds'
FROM attempts WHERE result = 'connected'
"""
# The cases each campaign called in the month, as the trigger on attempts keeps them
# (off while loading; the same statement as dialer/migrations/0005_report_indexes.sql).
CAMPAIGN_CASES = """
INSERT INTO campaign_cases (month, campaign_id, case_id)
SELECT DISTINCT date_trunc('month', a.placed_at AT TIME ZONE cl.time_zone)::date,
       coalesce(a.campaign_id, 0), a.case_id
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN clients cl ON cl.id = c.client_id
"""
# The month's tally of calls, as the trigger on attempts keeps it (off while loading;
# the same statement as dialer/migrations/0006_call_tally.sql).
CALL_TALLY = """
INSERT INTO call_tally (month, campaign_id, case_id, agent_id, client_id, batch_id, calls,
                        connected, right_party, promises, abandoned)
SELECT date_trunc('month', a.placed_at AT TIME ZONE cl.time_zone)::date,
       coalesce(a.campaign_id, 0), a.case_id, coalesce(a.agent_id, 0), c.client_id,
       c.first_batch_id, count(*),
       count(*) FILTER (WHERE a.result = 'connected'),
       count(*) FILTER (WHERE a.result = 'connected' AND a.right_party),
       count(*) FILTER (WHERE a.result = 'connected' AND a.promise_to_pay),
       count(*) FILTER (WHERE a.result = 'abandoned')
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN clients cl ON cl.id = c.client_id
 GROUP BY 1, 2, 3, 4, 5, 6
"""
PROMISES = """
INSERT INTO promises (case_id, action_id, amount, due_date, status, created_at)
SELECT case_id, id, 500 + floor(random() * 5000), due,
    CASE WHEN due >= date '2026-11-29' THEN 'pending' WHEN s < 0.45 THEN 'kept'
         WHEN s < 0.9 THEN 'broken' WHEN s < 0.95 THEN 'cancelled' ELSE 'pending' END,
    created_at
FROM (SELECT x.*, (x.created_at AT TIME ZONE 'Asia/Shanghai')::date + 1
                  + floor(random() * 14)::int AS due, random() AS s
      FROM actions x WHERE x.code = 'PTP') p
"""
PAYMENTS = """
INSERT INTO payments (client_id, case_id, amount, paid_at, reference, created_at)
SELECT client_id, id, round((balance * (0.02 + random() * 0.5))::numeric, 2) + 0.01,
       timestamptz '2026-09-15 00:00+00' + random() * interval '60 days',
       'P' || id || '-' || k, now()
FROM cases CROSS JOIN generate_series(1, 2) k WHERE random() < 0.035
"""
# A recording per connected call, drawn into the QA sample (15%) and reviewed (80% of
# the sample) here: the samples and reviews below are those of the recordings marked so,
# as the triggers on them would have marked them (off while loading).
RECORDINGS = f"""
INSERT INTO recordings (call_id, attempt_id, case_id, client_id, agent_id, campaign_id,
    started_at, duration_ms, size_bytes, channels, sample_rate, sha256, storage_uri, state,
    retention_until, prev_hash, row_hash, created_at, sampled, reviewed)
SELECT 'call-' || id, id, case_id, {CLIENT_OF.format(g="case_id")}, agent_id, campaign_id,
       answered_at, 77000, 1232044, 2, 8000, md5(id::text) || md5(id::text),
       'bench/' || id || '.wav', 'finished', timestamptz '2031-10-01 00:00+00', repeat('0', 64),
       lpad(to_hex(id), 64, '0'), ended_at, u < 0.15, u < 0.15 * 0.8
FROM (SELECT a.*, random() AS u FROM attempts a WHERE a.result = 'connected') a
"""
SAMPLES = """
INSERT INTO qa_samples (month, recording_id, agent_id, client_id, reason, stratum, seed,
    sampled_at)
SELECT date '2026-10-01', id, agent_id, client_id, 'random', 's', 'bench', now()
FROM recordings WHERE sampled
"""
REVIEWS = """
INSERT INTO qa_reviews (recording_id, case_id, client_id, agent_id, scorecard_id, reviewer_id,
    answers, score, auto_failed, month, created_at)
SELECT s.recording_id, r.case_id, r.client_id, r.agent_id, r.client_id, $1, '{}', 90,
       CASE WHEN random() < 0.05 THEN '{no_threats}'::text[] ELSE '{}' END, s.month, now()
FROM qa_samples s JOIN recordings r ON r.id = s.recording_id WHERE r.reviewed
"""
COMPLIANCE = """
INSERT INTO qa_compliance (case_id, month, client_id, compliant, failed_items, review_ids,
    updated_at)
SELECT case_id, month, min(client_id), bool_and(cardinality(auto_failed) = 0), '{}',
       array_agg(id), now()
FROM qa_reviews GROUP BY case_id, month
"""
COMPLAINTS = """
INSERT INTO complaints (case_id, client_id, received_at, channel, summary, recorded_by,
    recorded_at)
SELECT id, client_id, timestamptz '2026-09-25 00:00+00' + random() * interval '40 days',
       'phone', '投诉催收员态度', $1, now()
FROM cases WHERE random() < 0.001
"""


def bench_url(base: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{BENCH_DB}"))


async def load(conn: asyncpg.Connection, cases: int, attempts: int) -> None:
    """The month's data, each table timed (module docstring)."""
    await conn.execute("SET session_replication_role = replica; SELECT setseed(0.2026)")
    qa_user = AGENTS + 1
    steps: tuple[tuple[str, str, tuple[object, ...]], ...] = (
        ("debtors", DEBTORS, (cases,)), ("cases", CASES, (cases,)),
        ("phones", PHONES, (cases,)), ("case_holds", HOLDS, ()),
        ("attempts", ATTEMPTS, (attempts, cases)), ("campaign_cases", CAMPAIGN_CASES, ()),
        ("call_tally", CALL_TALLY, ()), ("actions", ACTIONS, ()),
        ("promises", PROMISES, ()), ("payments", PAYMENTS, ()),
        ("recordings", RECORDINGS, ()), ("qa_samples", SAMPLES, ()),
        ("qa_reviews", REVIEWS, (qa_user,)), ("qa_compliance", COMPLIANCE, ()),
        ("complaints", COMPLAINTS, (qa_user,)),
    )
    started_all = time.perf_counter()
    await conn.execute(SETUP)
    for table, sql, args in steps:
        started = time.perf_counter()
        status = await conn.execute(sql, *args)
        print(f"  {table:14} {int(status.split()[-1]):>11,} rows in "
              f"{time.perf_counter() - started:6.1f} s", flush=True)
    await conn.execute("RESET session_replication_role")
    started = time.perf_counter()
    await conn.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s; generation in all "
          f"{time.perf_counter() - started_all:.0f} s", flush=True)


async def timed(runs: int, work: Callable[[], Awaitable[object]]) -> list[float]:
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        await work()
        times.append(time.perf_counter() - started)
    return times


def report_of(pool: asyncpg.Pool, by: str) -> Callable[[], Awaitable[object]]:
    async def report() -> object:
        return await reports.monthly_report(pool, month=OCTOBER, by=by, client_id=None)
    return report


async def explain(conn: Conn, by: str) -> None:
    """EXPLAIN (ANALYZE, BUFFERS) of every aggregate query the report sends."""
    sent: list[LoggedQuery] = []
    with conn.query_logger(sent.append):
        await reports.monthly_report(conn, month=OCTOBER, by=by, client_id=None)
    for query in (q for q in sent if "unnest(" in q.query):
        async with conn.transaction():
            await conn.execute(SETTINGS)
            plan = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + query.query, *query.args)
        print(f"\n-- by {by}: {query.query.split('AS', 1)[0].strip()[:60]} ...")
        print("\n".join(row[0] for row in plan))


def backend_cpu(pid: int) -> float:
    """CPU seconds a local PostgreSQL backend has used (/proc; loopback servers only)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def cpu_seconds(url: str, by: str) -> list[float]:
    """CPU seconds of each aggregate query of a report, run one after the other by one
    backend without parallel workers: a measure other jobs on the machine do not skew."""
    conn = await asyncpg.connect(url)
    try:
        pid = await conn.fetchval("SELECT pg_backend_pid()")
        await conn.execute("SET max_parallel_workers_per_gather = 0")
        sent: list[LoggedQuery] = []
        with conn.query_logger(sent.append):
            await reports.monthly_report(conn, month=OCTOBER, by=by, client_id=None)
        seconds = []
        for query in (q for q in sent if "unnest(" in q.query):
            async with conn.transaction():
                await conn.execute(SETTINGS)
                before = backend_cpu(pid)
                await conn.fetch(query.query, *query.args)
                seconds.append(backend_cpu(pid) - before)
        return seconds
    finally:
        await conn.close()


async def describe(conn: Conn) -> str:
    version = await conn.fetchval("SHOW server_version")
    size = await conn.fetchval("SELECT pg_size_pretty(pg_database_size(current_database()))")
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    return (f"{os.cpu_count()} cores, {memory:.0f} GiB RAM, Python {platform.python_version()},"
            f" PostgreSQL {version}, database {size}")


async def run(args: argparse.Namespace) -> None:
    url = bench_url(os.environ.get("CALLCASE_DATABASE_URL",
                                   "postgresql://postgres@127.0.0.1:5432/callcase"))
    if not args.reuse:
        print(f"recreating {BENCH_DB}; {args.cases:,} cases, {args.attempts:,} attempts")
        await recreate_database(url)
        conn = await asyncpg.connect(url)
        try:
            await load(conn, args.cases, args.attempts)
        finally:
            await conn.close()
    pool = await asyncpg.create_pool(url, min_size=1, max_size=4)
    try:
        async with pool.acquire() as pooled:
            print(await describe(pooled))
        results = {}
        for by in GROUPS:
            before = os.getloadavg()[0]
            runs = await timed(args.runs, report_of(pool, by))
            results[by] = runs
            print(f"  by {by:8}: median {statistics.median(runs):6.2f} s  runs "
                  + ", ".join(f"{t:.2f}" for t in runs)
                  + f"  (load average {before:.1f} before, {os.getloadavg()[0]:.1f} after)",
                  flush=True)
        for by in GROUPS:
            parts = await cpu_seconds(url, by)
            print(f"  by {by:8}: CPU s per query (portfolio, floor, calls, QA; one backend) "
                  + ", ".join(f"{p:.1f}" for p in parts) + f"; total {sum(parts):.1f},"
                  f" on 2 idle cores about {max(max(parts), sum(parts) / 2):.1f} s",
                  flush=True)
        runs = await timed(args.runs, lambda: reports.agent_figures(
            pool, client_id=1, month=OCTOBER))
        results["agent_figures"] = runs
        print(f"  agent_figures BANKA: median {statistics.median(runs):6.2f} s  runs "
              + ", ".join(f"{t:.2f}" for t in runs))
        if args.explain:
            async with pool.acquire() as pooled:
                for by in GROUPS:
                    await explain(pooled, by)
        print_table(results)
    finally:
        await pool.close()
    if not (args.keep or args.reuse):  # a database reused is kept: it took long to load
        admin = await asyncpg.connect(urlunsplit(urlsplit(url)._replace(path="/postgres")))
        try:
            await admin.execute(f'DROP DATABASE IF EXISTS "{BENCH_DB}" WITH (FORCE)')
        finally:
            await admin.close()
        print(f"dropped {BENCH_DB}")


def print_table(results: dict[str, list[float]]) -> None:
    print("\n| report (October 2026, every client) | median | runs | target |")
    print("|---|---:|---|---:|")
    for name, runs in results.items():
        label = name if name == "agent_figures" else f"by {name}"
        print(f"| {label} | {statistics.median(runs):.1f} s | "
              + ", ".join(f"{t:.1f}" for t in runs) + f" | < {TARGET_S:.0f} s |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=1_000_000)
    parser.add_argument("--attempts", type=int, default=10_000_000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--explain", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the bench database")
    parser.add_argument("--reuse", action="store_true", help="time a kept database (kept again)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
