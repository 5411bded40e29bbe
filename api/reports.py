"""Month-end reports for the bank, and complaints, over PostgreSQL.

A report is three set-based aggregate queries (never one per case) and two small
ones, all on one REPEATABLE READ snapshot so its figures agree with each other:

1. the clients in scope, each with its month in its own zone and its rule pack's
   contact floor (:func:`month_scope`); the group names at the end;
2. the portfolio (:data:`_PORTFOLIO`): the month's cases of each group (a materialised
   CTE), their balances, payments, QA marks, complaints, promises due, contact floor
   and, by batch and agent, the calls on them (read from the (case, time) index);
3. the calls (:data:`_CALLS`): grouped by campaign first and given their client after
   (a campaign's client, else the case's), bucketed by the clients' month bounds, so
   the month's 10 million calls are never joined with their cases one by one;
4. QA coverage (:data:`_QA`): the month's recorded calls of agents, sampled, reviewed.

Queries 2-4 run at the same time on three connections of the pool when it has them:
the first exports its snapshot and the others import it (:class:`Reader`).
What each figure counts and how it is attributed is
:data:`cases.report_math.DEFINITIONS` (the JSON report carries it); the rates are
computed there. The SQL only ever takes fixed fragments chosen by the group; every
value is a parameter. Complaints (cases/migrations/0008_reporting.sql) are recorded
and listed here too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import asyncpg

from cases.errors import InvalidInput, NotFound
from cases.report_math import (
    AgentFigures,
    Complaint,
    ComplaintChannel,
    Counts,
    GroupBy,
    MonthlyReport,
    NewComplaint,
    merge,
    month_bounds,
    next_month,
    report_rows,
)
from cases.store import Conn, Db
from dialer.compliance import pack_named

# Memory for the report's hash joins and aggregates, for this transaction only; no JIT:
# compiling costs these queries more (0.5-2 s each, in every worker) than it saves.
WORK_MEM = "128MB"

_M = """
m AS (SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::int[],
                           $5::interval[], $6::int[], $7::interval[])
        AS m(client_id, t0, t1, first_n, first_p, more_n, more_p))"""

# A call's right-party / promise flag: an action with such a code filed on it (in its
# wrap-up: the month's actions and a day's margin, hashed once per process).
_FLAG = """a.result = 'connected' AND a.id IN (
    SELECT x.attempt_id FROM actions x JOIN action_codes k ON k.code = x.code AND k.{flag}
     WHERE x.attempt_id IS NOT NULL AND x.created_at >= $8
       AND x.created_at < $9::timestamptz + interval '1 day')"""
_COUNTS = f"""
    count(*) FILTER (WHERE a.result = 'connected') AS connected,
    count(*) FILTER (WHERE {_FLAG.format(flag="right_party")}) AS right_party_contacts,
    count(*) FILTER (WHERE {_FLAG.format(flag="creates_promise")}) AS promises_to_pay,
    count(*) FILTER (WHERE a.result = 'abandoned') AS abandoned"""
_SUMS = ", ".join(f"sum({n}) AS {n}" for n in (
    "calls", "connected", "right_party_contacts", "promises_to_pay", "abandoned"))
# The month's calls bucketed by the clients' month bounds ($10, sorted): a bucket is in
# a client's month when both its ends are. A call's client is its campaign's (a
# campaign calls its client's cases only), else its case's. The calls are grouped
# first and only then given their client: no join of every call with its case.
_CALLS = f"""
WITH {_M},
g AS (
    SELECT a.campaign_id, CASE WHEN a.campaign_id IS NULL THEN a.case_id END AS lone,
           width_bucket(a.placed_at, $10::timestamptz[]) AS bucket, {{key}} AS key,
           count(*) AS calls, {_COUNTS}
      FROM attempts a
     WHERE a.placed_at >= $8 AND a.placed_at < $9
     GROUP BY 1, 2, 3, 4)
SELECT {{outer}} AS key, {_SUMS}
  FROM g LEFT JOIN campaigns cp ON cp.id = g.campaign_id LEFT JOIN cases c ON c.id = g.lone
  JOIN m ON m.client_id = coalesce(cp.client_id, c.client_id)
   AND ($10::timestamptz[])[g.bucket] >= m.t0 AND ($10::timestamptz[])[g.bucket + 1] <= m.t1
 GROUP BY 1
"""
# By batch the connected and abandoned calls only are read with their case (the
# calls are counted on the cases, :data:`_TRIED`).
_CALLS_BY_BATCH = f"""
WITH {_M}
SELECT c.first_batch_id AS key, {_COUNTS}
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN m ON m.client_id = c.client_id
 WHERE a.result IN ('connected', 'abandoned') AND a.placed_at >= $8 AND a.placed_at < $9
   AND a.placed_at >= m.t0 AND a.placed_at < m.t1
 GROUP BY 1
"""

_CASE_KEY = {GroupBy.CLIENT: "c.client_id", GroupBy.BATCH: "c.first_batch_id",
             GroupBy.AGENT: "coalesce(c.assigned_agent_id, 0)"}
# The calls' groups: (key in the grouped calls, key of the row).
_CALL_KEY = {GroupBy.CLIENT: ("0", "m.client_id"),
             GroupBy.CAMPAIGN: ("0", "coalesce(g.campaign_id, 0)"),
             GroupBy.AGENT: ("coalesce(a.agent_id, 0)", "g.key")}
_QA_KEY = {GroupBy.CLIENT: "r.client_id", GroupBy.BATCH: "c.first_batch_id",
           GroupBy.CAMPAIGN: "coalesce(r.campaign_id, 0)", GroupBy.AGENT: "r.agent_id"}

# The month's cases of each group: placed before the month ended, not finished before
# it began; by campaign, the cases the campaign called in the month: a call in the
# months' common core ($13-$14, in every client's month), or at the edges, in the
# case's client's month.
_PLACED = """
rc AS MATERIALIZED (
    SELECT c.id AS case_id, {key} AS key, c.balance, c.assigned_at, m.*
      FROM cases c JOIN m ON m.client_id = c.client_id
      JOIN batches b ON b.id = c.first_batch_id
     WHERE b.received_at < m.t1
       AND NOT (c.status IN ('paid', 'closed') AND c.updated_at < m.t0))"""
_CALLED = """
g AS (
    SELECT coalesce(a.campaign_id, 0) AS key, a.case_id,
           count(*) FILTER (WHERE a.placed_at >= $13 AND a.placed_at < $14) AS core,
           max(a.placed_at) FILTER (WHERE a.placed_at < $13) AS last_early,
           min(a.placed_at) FILTER (WHERE a.placed_at >= $14) AS first_late
      FROM attempts a WHERE a.placed_at >= $8 AND a.placed_at < $9
     GROUP BY 1, 2),
rc AS MATERIALIZED (
    SELECT g.key, c.id AS case_id, c.balance, c.assigned_at, m.*
      FROM g JOIN cases c ON c.id = g.case_id JOIN m ON m.client_id = c.client_id
     WHERE g.core > 0 OR g.last_early >= m.t0 OR g.first_late < m.t1)"""
# Calls on each case of the group, read from the index on attempts (case, time).
_TRIED = """,
tried AS (
    SELECT rc.key, sum(n.n) AS attempts
      FROM rc CROSS JOIN LATERAL (SELECT count(*) AS n FROM attempts a
                                   WHERE a.case_id = rc.case_id AND a.placed_at >= rc.t0
                                     AND a.placed_at < rc.t1) n
     GROUP BY rc.key)"""

_PORTFOLIO = """
WITH {m}, {rc}{tried},
accts AS (
    SELECT rc.key, count(*) AS accounts, sum(rc.balance) AS amount_assigned,
           count(q.case_id) AS qa_failed_accounts, count(k.case_id) AS complaint_accounts,
           count(*) FILTER (WHERE q.case_id IS NULL AND k.case_id IS NULL)
               AS compliant_accounts
      FROM rc
      LEFT JOIN qa_compliance q ON q.case_id = rc.case_id AND q.month = $10 AND NOT q.compliant
      LEFT JOIN (SELECT DISTINCT x.case_id FROM complaints x JOIN m ON m.client_id = x.client_id
                  WHERE x.received_at >= m.t0 AND x.received_at < m.t1) k
             ON k.case_id = rc.case_id
     GROUP BY rc.key),
paid AS (
    SELECT rc.key, sum(p.amount) AS amount_recovered
      FROM payments p JOIN rc ON rc.case_id = p.case_id
     WHERE p.paid_at >= $8 AND p.paid_at < $9 AND p.paid_at >= rc.t0 AND p.paid_at < rc.t1
     GROUP BY rc.key),
prom AS (
    SELECT rc.key, count(*) AS promises_due,
           count(*) FILTER (WHERE p.status = 'kept') AS promises_kept,
           count(*) FILTER (WHERE p.status = 'broken') AS promises_broken
      FROM promises p JOIN rc ON rc.case_id = p.case_id
     WHERE p.due_date >= $10 AND p.due_date < $11
     GROUP BY rc.key),
due AS MATERIALIZED (
    SELECT rc.case_id, rc.key, rc.assigned_at, rc.first_n, rc.first_n + rc.more_n AS total_n,
           d.d1, d.d2, d.d1 >= rc.t0 AND d.d1 < rc.t1 AS at1, d.d2 >= rc.t0 AND d.d2 < rc.t1 AS at2
      FROM rc CROSS JOIN LATERAL (SELECT rc.assigned_at + rc.first_p AS d1,
                                         rc.assigned_at + rc.first_p + rc.more_p AS d2) d
     WHERE rc.first_n IS NOT NULL AND rc.assigned_at IS NOT NULL
       AND ((d.d1 >= rc.t0 AND d.d1 < rc.t1) OR (d.d2 >= rc.t0 AND d.d2 < rc.t1))),
held AS (
    SELECT d.case_id, d.key,
           bool_or(h.placed_at <= d.d1 AND (h.released_at IS NULL OR h.released_at > d.d1))
               AS held1,
           bool_or(h.placed_at <= d.d2 AND (h.released_at IS NULL OR h.released_at > d.d2))
               AS held2
      FROM due d JOIN case_holds h ON h.case_id = d.case_id
     GROUP BY d.case_id, d.key),
tally AS (
    SELECT d.case_id, d.key, count(*) FILTER (WHERE a.placed_at < d.d1) AS n1,
           count(*) AS n2
      FROM due d JOIN attempts a ON a.case_id = d.case_id
     WHERE a.placed_at >= d.assigned_at AND a.placed_at < d.d2
       AND a.placed_at >= $12 AND a.placed_at < $9
     GROUP BY d.case_id, d.key),
contact AS (
    SELECT d.case_id, d.key, min(x.created_at) AS first_rpc
      FROM due d JOIN actions x ON x.case_id = d.case_id
      JOIN action_codes k ON k.code = x.code AND k.right_party
     WHERE x.attempt_id IS NOT NULL AND x.created_at >= d.assigned_at AND x.created_at < d.d2
     GROUP BY d.case_id, d.key),
judged AS (
    SELECT d.key,
           d.at1 AND NOT coalesce(h.held1, false) AS due1,
           d.at2 AND NOT coalesce(h.held2, false) AS due2,
           coalesce(t.n1, 0) >= d.first_n OR coalesce(c.first_rpc < d.d1, false) AS ok1,
           coalesce(t.n2, 0) >= d.total_n OR coalesce(c.first_rpc < d.d2, false) AS ok2
      FROM due d
      LEFT JOIN held h ON h.case_id = d.case_id AND h.key = d.key
      LEFT JOIN tally t ON t.case_id = d.case_id AND t.key = d.key
      LEFT JOIN contact c ON c.case_id = d.case_id AND c.key = d.key),
floor AS (
    SELECT key, count(*) FILTER (WHERE due1 OR due2) AS floor_due,
           count(*) FILTER (WHERE (due1 OR due2) AND (ok1 OR NOT due1) AND (ok2 OR NOT due2))
               AS floor_met
      FROM judged GROUP BY key)
SELECT a.*, p.amount_recovered, r.promises_due, r.promises_kept, r.promises_broken,
       f.floor_due, f.floor_met{tried_columns}
  FROM accts a LEFT JOIN paid p USING (key) LEFT JOIN prom r USING (key)
  LEFT JOIN floor f USING (key){tried_join}
"""

_QA = """
WITH {m}
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

_NAMES = {
    GroupBy.CLIENT: "SELECT id, name, id AS client_id FROM clients WHERE id = ANY($1)",
    GroupBy.BATCH: "SELECT id, file_name AS name, client_id FROM batches WHERE id = ANY($1)",
    GroupBy.CAMPAIGN: "SELECT id, name, client_id FROM campaigns WHERE id = ANY($1)",
    GroupBy.AGENT: "SELECT id, display_name AS name, NULL::bigint AS client_id FROM users"
                   " WHERE id = ANY($1)",
}


@dataclass(frozen=True, slots=True)
class MonthScope:
    """The clients a report covers, each with its month and its contact floor."""

    month: date
    client_ids: tuple[int, ...]
    starts: tuple[datetime, ...]
    ends: tuple[datetime, ...]
    floors: tuple[tuple[int | None, timedelta | None, int | None, timedelta | None], ...]

    def args(self) -> tuple[object, ...]:
        """$1-$9 of every report query: the month per client, its floor, the span."""
        columns = list(zip(*self.floors, strict=True))  # a scope has at least one client
        return (list(self.client_ids), list(self.starts), list(self.ends),
                *(list(c) for c in columns), min(self.starts), max(self.ends))

    def boundaries(self) -> list[datetime]:
        """Every client's month start and end, sorted: the calls' time buckets."""
        return sorted(set(self.starts) | set(self.ends))

    def core(self) -> list[datetime]:
        """The span inside every client's month (its zones differ by hours, not weeks)."""
        return [max(self.starts), min(self.ends)]

    def floor_start(self) -> datetime:
        """The earliest attempt a floor deadline in the month can count."""
        periods = [f[1] + f[3] for f in self.floors if f[1] is not None and f[3] is not None]
        return min(self.starts) - max(periods, default=timedelta(0))


def _floor(rule_pack: str) -> tuple[int | None, timedelta | None, int | None,
                                     timedelta | None]:
    try:
        cadence = pack_named(rule_pack).cadence
    except ValueError:  # a pack this version does not know has no floor to measure
        cadence = None
    if cadence is None:
        return (None, None, None, None)
    return (cadence.first_attempts, cadence.first_period, cadence.more_attempts,
            cadence.more_period)


async def month_scope(db: Db, month: date, client_id: int | None) -> MonthScope:
    """The clients in scope (one, or all) with their month bounds and floors."""
    rows = await db.fetch("SELECT id, time_zone, rule_pack FROM clients"
                          " WHERE $1::bigint IS NULL OR id = $1 ORDER BY id", client_id)
    if client_id is not None and not rows:
        raise NotFound("client.not_found", "no such client")
    bounds = [month_bounds(month, ZoneInfo(r["time_zone"])) for r in rows]
    return MonthScope(month, tuple(r["id"] for r in rows), tuple(b[0] for b in bounds),
                      tuple(b[1] for b in bounds), tuple(_floor(r["rule_pack"]) for r in rows))


def _group(by: str) -> GroupBy:
    try:
        return GroupBy(by)
    except ValueError:
        raise InvalidInput("report.bad_group", "by must be client, batch, campaign or agent",
                           {"by": by}) from None


_SETTINGS = f"SET LOCAL work_mem = '{WORK_MEM}'; SET LOCAL jit = off"
_SNAPSHOT_ID = re.compile(r"^[0-9A-F-]{1,64}$")
Query = tuple[str, list[object]]


@dataclass(frozen=True, slots=True)
class Reader:
    """A report's snapshot: the connection of its REPEATABLE READ transaction (audit rows
    go there) and, when it has a pool, the exported snapshot other connections import
    to read the figures at the same time (they then agree as if read one by one)."""

    conn: Conn
    pool: asyncpg.Pool | None = None
    snapshot_id: str | None = None

    async def fetch_all(self, *queries: Query) -> list[list[asyncpg.Record]]:
        if self.pool is None or self.snapshot_id is None:
            return [await self.conn.fetch(sql, *args) for sql, args in queries]
        (sql, args), rest = queries[0], queries[1:]
        return list(await asyncio.gather(self.conn.fetch(sql, *args),
                                         *(self._on_helper(q) for q in rest)))

    async def _on_helper(self, query: Query) -> list[asyncpg.Record]:
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{self.snapshot_id}'")
            await conn.execute(_SETTINGS)
            return await conn.fetch(query[0], *query[1])


@asynccontextmanager
async def snapshot(db: Db | Reader) -> AsyncIterator[Reader]:
    """One REPEATABLE READ snapshot for a report (a given connection's transaction, or
    a pool's connection that exports it to up to 2 more when the pool allows)."""
    if isinstance(db, Reader):
        yield db
    elif isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            await conn.execute(_SETTINGS)
            shared = await conn.fetchval("SELECT pg_export_snapshot()")
            parallel = db.get_max_size() >= 3 and _SNAPSHOT_ID.match(shared) is not None
            yield Reader(conn, db if parallel else None, shared)
    else:
        async with db.transaction():
            await db.execute(_SETTINGS)
            yield Reader(db)


def _portfolio(scope: MonthScope, by: GroupBy) -> Query:
    """Case figures; by batch and agent with the attempts on the cases."""
    args = [*scope.args(), scope.month, next_month(scope.month), scope.floor_start()]
    parts = {"m": _M, "rc": _PLACED.format(key=_CASE_KEY.get(by, "")), "tried": "",
             "tried_columns": "", "tried_join": ""}
    if by is GroupBy.CAMPAIGN:
        parts.update(rc=_CALLED)
        args.extend(scope.core())
    elif by in (GroupBy.BATCH, GroupBy.AGENT):
        calls = ", t.attempts AS calls" if by is GroupBy.BATCH else ""
        parts.update(tried=_TRIED, tried_columns=", t.attempts" + calls,
                     tried_join=" LEFT JOIN tried t USING (key)")
    return _PORTFOLIO.format(**parts), args


def _calls(scope: MonthScope, by: GroupBy) -> Query:
    """Call figures by the call's group."""
    if by is GroupBy.BATCH:
        return _CALLS_BY_BATCH, list(scope.args())
    inner, outer = _CALL_KEY[by]
    sql = _CALLS.replace("{key}", inner).replace("{outer}", outer)
    return sql, [*scope.args(), scope.boundaries()]


def _qa(scope: MonthScope, by: GroupBy) -> Query:
    join = "JOIN cases c ON c.id = r.case_id" if by is GroupBy.BATCH else ""
    return _QA.format(m=_M, key=_QA_KEY[by], join=join), list(scope.args())


def _keyed(rows: list[asyncpg.Record], *, calls_are_attempts: bool = False) -> dict[
        int, Counts]:
    """Counts per group key; by client and campaign the calls are also the attempts."""
    if calls_are_attempts:
        return merge({r["key"]: {**dict(r), "attempts": r["calls"]} for r in rows})
    return merge({r["key"]: dict(r) for r in rows})


async def _names(conn: Conn, by: GroupBy, keys: list[int]) -> dict[int, tuple[str, int | None]]:
    rows = await conn.fetch(_NAMES[by], keys)
    return {r["id"]: (r["name"], r["client_id"]) for r in rows}


async def monthly_report(db: Db | Reader, *, month: date, by: str,
                         client_id: int | None) -> MonthlyReport:
    """The month's report per group `by` (client, batch, campaign, agent), of one client
    or of every client."""
    group, first = _group(by), month.replace(day=1)
    async with snapshot(db) as reader:
        scope = await month_scope(reader.conn, first, client_id)
        if not scope.client_ids:
            return MonthlyReport(first, group, client_id, ())
        cases, calls, qa = await reader.fetch_all(
            _portfolio(scope, group), _calls(scope, group), _qa(scope, group))
        totals = merge(_keyed(cases), _keyed(qa), _keyed(
            calls, calls_are_attempts=group in (GroupBy.CLIENT, GroupBy.CAMPAIGN)))
        names = await _names(reader.conn, group, [k for k in totals if k != 0])
    return MonthlyReport(first, group, client_id, report_rows(totals, names, client_id))


async def agent_figures(db: Db | Reader, *, client_id: int, month: date) -> list[AgentFigures]:
    """Each agent's cases of the client in the month (the agent evaluation's input):
    accounts, amounts assigned and recovered, compliant accounts; by agent id."""
    async with snapshot(db) as reader:
        scope = await month_scope(reader.conn, month.replace(day=1), client_id)
        [rows] = await reader.fetch_all(_portfolio(scope, GroupBy.AGENT))
        totals = _keyed(rows)
    return [AgentFigures(key, c.amount_assigned, c.amount_recovered, c.accounts,
                         c.compliant_accounts)
            for key, c in sorted(totals.items()) if key != 0]


def _complaint(row: asyncpg.Record) -> Complaint:
    return Complaint(row["id"], row["case_id"], row["client_id"], row["received_at"],
                     ComplaintChannel(row["channel"]), row["summary"], row["recorded_by"],
                     row["recorded_at"])


async def record_complaint(conn: Conn, *, case_id: int, client_id: int, new: NewComplaint,
                           recorded_by: int, now: datetime) -> Complaint:
    row = await conn.fetchrow(
        "INSERT INTO complaints (case_id, client_id, received_at, channel, summary,"
        " recorded_by, recorded_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *",
        case_id, client_id, new.received_at, str(new.channel), new.summary, recorded_by, now)
    assert row is not None
    return _complaint(row)


_LIST = """
SELECT x.* FROM complaints x
  LEFT JOIN unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[]) AS m(client_id, t0, t1)
         ON m.client_id = x.client_id
 WHERE ($4::bigint IS NULL OR x.client_id = $4)
   AND (NOT $5::boolean OR (x.received_at >= m.t0 AND x.received_at < m.t1))
   AND x.id > $6
 ORDER BY x.id LIMIT $7
"""


async def list_complaints(db: Db, *, client_id: int | None, month: date | None,
                          after: int = 0, limit: int = 100) -> list[Complaint]:
    """Complaints of one client or all, received in `month` (each client's own month)
    when given, in the order they were recorded."""
    scope = await month_scope(db, month or date(2000, 1, 1), client_id)
    rows = await db.fetch(_LIST, list(scope.client_ids), list(scope.starts),
                          list(scope.ends), client_id, month is not None, after, limit)
    return [_complaint(r) for r in rows]
