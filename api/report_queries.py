"""The month-end reports' SQL: each query's text and arguments (no IO here).

A report is three set-based aggregate queries (never one per case):

1. the portfolio (:func:`portfolio`): the month's cases of each group (a materialised
   CTE), their balances, payments, QA marks, complaints, promises due, contact floor
   and, by batch and agent, the calls on them (read from the (case, time) index);
2. the calls (:func:`calls`): grouped by campaign first and given their client after
   (a campaign's client, else the case's), bucketed by the clients' month bounds, so
   the month's calls are never joined with their cases one by one;
3. QA coverage (:func:`qa`): the month's recorded calls of agents, sampled, reviewed.

What the calls count is on the calls themselves: the month's calls are read from the
index on attempts (placed_at) that carries every column the reports group and count
by, and a call's right-party and promise flags are set when its action code is filed
(:func:`cases.actions.mark_attempt`), so no report looks actions up. By campaign, the
cases each campaign called in the month are the rows of ``campaign_cases`` (kept by a
trigger as calls are placed; dialer/migrations/0005_report_indexes.sql).

Every query takes the clients in scope as arrays ($1-$7: the client, its month's start
and end, its contact floor; $8-$9: the span of every client's month). The SQL only
ever takes fixed fragments chosen by the group; every value is a parameter.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta

from cases.report_math import GroupBy, next_month

# For the report's transaction only: memory for its hash joins and aggregates; no JIT
# (compiling costs these queries more, 0.5-2 s each in every worker, than it saves);
# the cost of a random page read of an SSD, not a spinning disk's 4: with 4 the
# planner reads the whole attempts table rather than the month's range of its index
# when the month is most of the table, twice the pages.
WORK_MEM = "128MB"
SETTINGS = (f"SET LOCAL work_mem = '{WORK_MEM}'; SET LOCAL jit = off;"
            " SET LOCAL random_page_cost = 1.1")
Query = tuple[str, list[object]]
Floor = tuple[int | None, timedelta | None, int | None, timedelta | None]


@dataclass(frozen=True, slots=True)
class MonthScope:
    """The clients a report covers, each with its month and its contact floor."""

    month: date
    client_ids: tuple[int, ...]
    starts: tuple[datetime, ...]
    ends: tuple[datetime, ...]
    floors: tuple[Floor, ...]

    def args(self) -> tuple[object, ...]:
        """$1-$9 of every report query: the month per client, its floor, the span."""
        columns = list(zip(*self.floors, strict=True))  # a scope has at least one client
        return (list(self.client_ids), list(self.starts), list(self.ends),
                *(list(c) for c in columns), min(self.starts), max(self.ends))

    def boundaries(self) -> list[datetime]:
        """Every client's month start and end, sorted: the calls' time buckets."""
        return sorted(set(self.starts) | set(self.ends))

    def floor_start(self) -> datetime:
        """The earliest attempt a floor deadline in the month can count."""
        periods = [f[1] + f[3] for f in self.floors if f[1] is not None and f[3] is not None]
        return min(self.starts) - max(periods, default=timedelta(0))


_M = """
m AS (SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::int[],
                           $5::interval[], $6::int[], $7::interval[])
        AS m(client_id, t0, t1, first_n, first_p, more_n, more_p))"""

# What a call counts for: its result, and the flags its action codes set on it.
_COUNTS = """
    count(*) FILTER (WHERE a.result = 'connected') AS connected,
    count(*) FILTER (WHERE a.result = 'connected' AND a.right_party) AS right_party_contacts,
    count(*) FILTER (WHERE a.result = 'connected' AND a.promise_to_pay) AS promises_to_pay,
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
  FROM g LEFT JOIN campaigns cp ON cp.id = g.campaign_id
  JOIN m ON m.client_id = coalesce(cp.client_id,
                                   (SELECT c.client_id FROM cases c WHERE c.id = g.lone))
   AND ($10::timestamptz[])[g.bucket] >= m.t0 AND ($10::timestamptz[])[g.bucket + 1] <= m.t1
 GROUP BY 1
"""

# By batch the connected and abandoned calls are read with their case, each in its
# case's client's month (the calls are counted on the cases, :data:`_TRIED`).
_CALLS_BY_BATCH = f"""
WITH {_M}
SELECT c.first_batch_id AS key, {_COUNTS}
  FROM attempts a JOIN cases c ON c.id = a.case_id JOIN m ON m.client_id = c.client_id
   AND ($10::timestamptz[])[width_bucket(a.placed_at, $10::timestamptz[])] >= m.t0
   AND ($10::timestamptz[])[width_bucket(a.placed_at, $10::timestamptz[]) + 1] <= m.t1
 WHERE a.result IN ('connected', 'abandoned') AND a.placed_at >= $8 AND a.placed_at < $9
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
# it began; by campaign, the cases the campaign called in the month ($10, in the case's
# client's zone).
_PLACED = """
rc AS MATERIALIZED (
    SELECT c.id AS case_id, {key} AS key, c.balance, c.assigned_at, m.*
      FROM cases c JOIN m ON m.client_id = c.client_id
      JOIN batches b ON b.id = c.first_batch_id
     WHERE b.received_at < m.t1
       AND NOT (c.status IN ('paid', 'closed') AND c.updated_at < m.t0))"""
_CALLED = """
rc AS MATERIALIZED (
    SELECT g.campaign_id AS key, c.id AS case_id, c.balance, c.assigned_at, m.*
      FROM campaign_cases g JOIN cases c ON c.id = g.case_id
      JOIN m ON m.client_id = c.client_id
     WHERE g.month = $10)"""
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
           count(*) AS n2, min(a.placed_at) FILTER (WHERE a.right_party) AS first_rpc
      FROM due d JOIN attempts a ON a.case_id = d.case_id
     WHERE a.placed_at >= d.assigned_at AND a.placed_at < d.d2
       AND a.placed_at >= $12 AND a.placed_at < $9
     GROUP BY d.case_id, d.key),
judged AS (
    SELECT d.key,
           d.at1 AND NOT coalesce(h.held1, false) AS due1,
           d.at2 AND NOT coalesce(h.held2, false) AS due2,
           coalesce(t.n1, 0) >= d.first_n OR coalesce(t.first_rpc < d.d1, false) AS ok1,
           coalesce(t.n2, 0) >= d.total_n OR coalesce(t.first_rpc < d.d2, false) AS ok2
      FROM due d
      LEFT JOIN held h ON h.case_id = d.case_id AND h.key = d.key
      LEFT JOIN tally t ON t.case_id = d.case_id AND t.key = d.key),
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

NAMES = {
    GroupBy.CLIENT: "SELECT id, name, id AS client_id FROM clients WHERE id = ANY($1)",
    GroupBy.BATCH: "SELECT id, file_name AS name, client_id FROM batches WHERE id = ANY($1)",
    GroupBy.CAMPAIGN: "SELECT id, name, client_id FROM campaigns WHERE id = ANY($1)",
    GroupBy.AGENT: "SELECT id, display_name AS name, NULL::bigint AS client_id FROM users"
                   " WHERE id = ANY($1)",
}


def portfolio(scope: MonthScope, by: GroupBy, *, attempts: bool = True) -> Query:
    """Case figures; by batch and agent with the attempts on the cases (unless not
    `attempts`: the agent evaluation does not need them)."""
    args = [*scope.args(), scope.month, next_month(scope.month), scope.floor_start()]
    parts = {"m": _M, "rc": _PLACED.format(key=_CASE_KEY.get(by, "")), "tried": "",
             "tried_columns": "", "tried_join": ""}
    if by is GroupBy.CAMPAIGN:
        parts.update(rc=_CALLED)
    elif attempts and by in (GroupBy.BATCH, GroupBy.AGENT):
        calls_ = ", t.attempts AS calls" if by is GroupBy.BATCH else ""
        parts.update(tried=_TRIED, tried_columns=", t.attempts" + calls_,
                     tried_join=" LEFT JOIN tried t USING (key)")
    return _PORTFOLIO.format(**parts), args


def calls(scope: MonthScope, by: GroupBy) -> Query:
    """Call figures by the call's group."""
    if by is GroupBy.BATCH:
        return _CALLS_BY_BATCH, [*scope.args(), scope.boundaries()]
    inner, outer = _CALL_KEY[by]
    sql = _CALLS.replace("{key}", inner).replace("{outer}", outer)
    return sql, [*scope.args(), scope.boundaries()]


def qa(scope: MonthScope, by: GroupBy) -> Query:
    """QA coverage of the month's recorded calls of agents."""
    join = "JOIN cases c ON c.id = r.case_id" if by is GroupBy.BATCH else ""
    return _QA.format(m=_M, key=_QA_KEY[by], join=join), list(scope.args())
