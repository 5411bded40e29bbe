"""Month-end reports for the bank, and complaints, over PostgreSQL.

A report reads, all on one REPEATABLE READ snapshot so its figures agree:

1. the clients in scope, each with its month in its own zone and its rule pack's
   contact floor (:func:`month_scope`);
2. four set-based aggregate queries (never one per case), the portfolio, the contact
   floor, the calls and QA coverage (:mod:`api.report_queries`), at the same time on
   four connections of the pool when it has them: the first exports its snapshot and
   the others import it (:class:`Reader`);
3. the groups' names.

What each figure counts and how it is attributed is
:data:`cases.report_math.DEFINITIONS` (the JSON report carries it); the rates are
computed there. Complaints (cases/migrations/0008_reporting.sql) are recorded and
listed here too.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import date, datetime
from zoneinfo import ZoneInfo

import asyncpg

from api import report_queries as q
from api.report_queries import MonthScope, Query
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
    report_rows,
)
from cases.store import Conn, Db
from dialer.compliance import pack_named

_SNAPSHOT_ID = re.compile(r"^[0-9A-F-]{1,64}$")


def _floor(rule_pack: str) -> q.Floor:
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
        # Every query is let finish before a failure is raised: the snapshot's own
        # connection is then idle, and its transaction ends with the failure itself.
        done = await asyncio.gather(self.conn.fetch(sql, *args),
                                    *(self._on_helper(query) for query in rest),
                                    return_exceptions=True)
        for result in done:
            if isinstance(result, BaseException):
                raise result
        return [result for result in done if not isinstance(result, BaseException)]

    async def _on_helper(self, query: Query) -> list[asyncpg.Record]:
        assert self.pool is not None
        async with self.pool.acquire() as conn, conn.transaction(
                isolation="repeatable_read", readonly=True):
            await conn.execute(f"SET TRANSACTION SNAPSHOT '{self.snapshot_id}'")
            await conn.execute(q.SETTINGS)
            return await conn.fetch(query[0], *query[1])


@asynccontextmanager
async def snapshot(db: Db | Reader) -> AsyncIterator[Reader]:
    """One REPEATABLE READ snapshot for a report (a given connection's transaction, or
    a pool's connection that exports it to up to 3 more when the pool allows: a pool of
    3 reads two queries beside the first, and the last once one of them is done)."""
    if isinstance(db, Reader):
        yield db
    elif isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn, conn.transaction(isolation="repeatable_read"):
            await conn.execute(q.SETTINGS)
            shared = await conn.fetchval("SELECT pg_export_snapshot()")
            parallel = db.get_max_size() >= 3 and _SNAPSHOT_ID.match(shared) is not None
            yield Reader(conn, db if parallel else None, shared)
    else:
        async with db.transaction():
            await db.execute(q.SETTINGS)
            yield Reader(db)


def _keyed(rows: list[asyncpg.Record], *, calls_are_attempts: bool = False) -> dict[
        int, Counts]:
    """Counts per group key; by client and campaign the calls are also the attempts."""
    if calls_are_attempts:
        return merge({r["key"]: {**dict(r), "attempts": r["calls"]} for r in rows})
    return merge({r["key"]: dict(r) for r in rows})


async def _names(conn: Conn, by: GroupBy, keys: list[int]) -> dict[int, tuple[str, int | None]]:
    rows = await conn.fetch(q.NAMES[by], keys)
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
        cases, floor, calls, qa = await reader.fetch_all(
            q.portfolio(scope, group), q.floor(scope, group), q.calls(scope, group),
            q.qa(scope, group))
        totals = merge(_keyed(cases), _keyed(floor), _keyed(qa), _keyed(
            calls, calls_are_attempts=group in (GroupBy.CLIENT, GroupBy.CAMPAIGN)))
        names = await _names(reader.conn, group, [k for k in totals if k != 0])
    return MonthlyReport(first, group, client_id, report_rows(totals, names, client_id))


async def agent_figures(db: Db | Reader, *, client_id: int, month: date) -> list[AgentFigures]:
    """Each agent's cases of the client in the month (the agent evaluation's input):
    accounts, amounts assigned and recovered, compliant accounts; by agent id."""
    async with snapshot(db) as reader:
        scope = await month_scope(reader.conn, month.replace(day=1), client_id)
        [rows] = await reader.fetch_all(q.portfolio(scope, GroupBy.AGENT, attempts=False))
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
