"""The month-end reports' SQL: each query's text and arguments (no IO here).

A report is four set-based aggregate queries (never one per case):

1. the portfolio (:func:`portfolio`): the month's cases of each group (a materialised
   CTE), their balances, payments, QA marks, complaints, promises due and, by batch and
   agent, the calls on them;
2. the contact floor (:func:`floor`): the cases with a floor deadline in the month, and
   whether the calls on each met it (a query of its own, to be read at the same time);
3. the calls (:func:`calls`): the month's tally of calls by group;
4. QA coverage (:func:`qa`): the month's recorded calls of agents, sampled, reviewed.

What the calls count is kept as they happen, so no report reads the month's calls one
by one. ``call_tally`` holds, per (month, campaign, case, agent), the calls placed,
connected, with a right-party or promise code, abandoned (a trigger on attempts keeps
it as calls are placed, bridged, ended and coded: dialer/migrations/0006_call_tally.sql;
its month is that of the case's client's zone, and a campaign calls its client's cases
only). By campaign, the cases each campaign called in the month are the rows of
``campaign_cases`` (dialer/migrations/0005_report_indexes.sql). The contact floor still
reads each due case's calls from the index on attempts (case, time): its deadlines fall
at any instant of the month. QA coverage reads the recordings' sampled and reviewed
marks (recording/ and transcription/migrations/0003_qa_marks.sql) from the index on
recordings (client, start) alone.

Every query takes the clients in scope as arrays ($1-$7: the client, its month's start
and end, its contact floor), then what else it reads by: the span of every client's
month ($8-$9; the floor's from the earliest call a deadline counts), the month as a
date (the calls' $8). The SQL only ever takes fixed fragments chosen by the group; every
value is a parameter.
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

    def clients(self) -> tuple[object, ...]:
        """$1-$7 of every report query: the month per client, its floor."""
        columns = list(zip(*self.floors, strict=True))  # a scope has at least one client
        return (list(self.client_ids), list(self.starts), list(self.ends),
                *(list(c) for c in columns))

    def args(self) -> tuple[object, ...]:
        """$1-$9 of a query that reads by time: the clients, the span of their months."""
        return (*self.clients(), min(self.starts), max(self.ends))

    def floor_start(self) -> datetime:
        """The earliest attempt a floor deadline in the month can count."""
        periods = [f[1] + f[3] for f in self.floors if f[1] is not None and f[3] is not None]
        return min(self.starts) - max(periods, default=timedelta(0))


_M = """
m AS (SELECT * FROM unnest($1::bigint[], $2::timestamptz[], $3::timestamptz[], $4::int[],
                           $5::interval[], $6::int[], $7::interval[])
        AS m(client_id, t0, t1, first_n, first_p, more_n, more_p))"""

# The month's tally of calls (call_tally) by group, each client's month being the
# rows of its cases for the month ($8). A row none of whose calls is left (placed
# without an agent, then bridged) counts nothing; a group is there when it has a call
# (by batch: a connected or abandoned one, as the calls on the cases are counted with
# them, :data:`_TRIED`).
_CALLS = f"""
WITH {_M}
SELECT {{key}} AS key{{calls}}, sum(t.connected) AS connected,
       sum(t.right_party) AS right_party_contacts, sum(t.promises) AS promises_to_pay,
       sum(t.abandoned) AS abandoned
  FROM call_tally t JOIN m ON m.client_id = t.client_id
 WHERE t.month = $8 AND {{counted}}
 GROUP BY 1
"""

_CASE_KEY = {GroupBy.CLIENT: "c.client_id", GroupBy.BATCH: "c.first_batch_id",
             GroupBy.AGENT: "coalesce(c.assigned_agent_id, 0)"}
# The calls' groups: the tally's column.
_CALL_KEY = {GroupBy.CLIENT: "t.client_id", GroupBy.BATCH: "t.batch_id",
             GroupBy.CAMPAIGN: "t.campaign_id", GroupBy.AGENT: "t.agent_id"}
_QA_KEY = {GroupBy.CLIENT: "r.client_id", GroupBy.BATCH: "c.first_batch_id",
           GroupBy.CAMPAIGN: "coalesce(r.campaign_id, 0)", GroupBy.AGENT: "r.agent_id"}

# The month's cases of each group, as (the cases joined, the condition on them): placed
# before the month ended, not finished before it began; by campaign, the cases the
# campaign called in the month (in the case's client's zone; {month}: its parameter).
_PLACED = ("cases c JOIN batches b ON b.id = c.first_batch_id",
           "b.received_at < m.t1 AND NOT (c.status IN ('paid', 'closed') AND c.updated_at < m.t0)")
_CALLED = ("campaign_cases g JOIN cases c ON c.id = g.case_id", "g.month = {month}")
# The month's cases with what the portfolio counts on them, and their client's month (not
# its floor: the rows stay narrow enough to be held in memory).
_RC = """
rc AS MATERIALIZED (
    SELECT c.id AS case_id, {key} AS key, c.balance, c.assigned_at, m.t0, m.t1
      FROM {cases} JOIN m ON m.client_id = c.client_id
     WHERE {condition})"""
# Calls on each case of the group in its client's month: the case's rows of the tally.
_TRIED = """,
tried AS (
    SELECT rc.key, sum(t.calls) AS attempts
      FROM rc JOIN call_tally t ON t.case_id = rc.case_id
     WHERE t.month = $10 AND t.client_id = ANY($1)
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
     GROUP BY rc.key)
SELECT a.*, p.amount_recovered, r.promises_due, r.promises_kept, r.promises_broken{tried_columns}
  FROM accts a LEFT JOIN paid p USING (key) LEFT JOIN prom r USING (key){tried_join}
"""

# The contact floor, a query of its own (read at the same time as the portfolio): the
# month's cases of the group with a floor deadline in the month, in case order, so that
# their calls ($8-$9: from the earliest a deadline counts) are read from the index on
# attempts (case, time) page after page.
_FLOOR = """
WITH {m},
due AS MATERIALIZED (
    SELECT c.id AS case_id, {key} AS key, c.assigned_at, m.first_n,
           m.first_n + m.more_n AS total_n, d.d1, d.d2,
           d.d1 >= m.t0 AND d.d1 < m.t1 AS at1, d.d2 >= m.t0 AND d.d2 < m.t1 AS at2
      FROM {cases} JOIN m ON m.client_id = c.client_id
     CROSS JOIN LATERAL (SELECT c.assigned_at + m.first_p AS d1,
                                c.assigned_at + m.first_p + m.more_p AS d2) d
     WHERE {condition} AND m.first_n IS NOT NULL AND c.assigned_at IS NOT NULL
       AND ((d.d1 >= m.t0 AND d.d1 < m.t1) OR (d.d2 >= m.t0 AND d.d2 < m.t1))
     ORDER BY c.id),
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
       AND a.placed_at >= $8 AND a.placed_at < $9
     GROUP BY d.case_id, d.key),
judged AS (
    SELECT d.key,
           d.at1 AND NOT coalesce(h.held1, false) AS due1,
           d.at2 AND NOT coalesce(h.held2, false) AS due2,
           coalesce(t.n1, 0) >= d.first_n OR coalesce(t.first_rpc < d.d1, false) AS ok1,
           coalesce(t.n2, 0) >= d.total_n OR coalesce(t.first_rpc < d.d2, false) AS ok2
      FROM due d
      LEFT JOIN held h ON h.case_id = d.case_id AND h.key = d.key
      LEFT JOIN tally t ON t.case_id = d.case_id AND t.key = d.key)
SELECT key, count(*) FILTER (WHERE due1 OR due2) AS floor_due,
       count(*) FILTER (WHERE (due1 OR due2) AND (ok1 OR NOT due1) AND (ok2 OR NOT due2))
           AS floor_met
  FROM judged GROUP BY key
"""

# The recordings of the month's calls of agents, each client's from the index on
# recordings (client, start) alone, with QA's marks on them.
_QA = """
WITH {m}
SELECT {key} AS key, count(*) AS recorded_calls, count(*) FILTER (WHERE r.sampled)
           AS sampled_calls, count(*) FILTER (WHERE r.sampled AND r.reviewed) AS reviewed_calls
  FROM m JOIN recordings r ON r.client_id = m.client_id
   AND r.started_at >= m.t0 AND r.started_at < m.t1 {join}
 WHERE r.started_at >= $8 AND r.started_at < $9
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


def _month_cases(by: GroupBy, month: str) -> dict[str, str]:
    """The fragments of a group's month's cases (:data:`_PLACED`, :data:`_CALLED`)."""
    if by is GroupBy.CAMPAIGN:
        cases, condition = _CALLED
        return {"key": "g.campaign_id", "cases": cases,
                "condition": condition.format(month=month)}
    cases, condition = _PLACED
    return {"key": _CASE_KEY[by], "cases": cases, "condition": condition}


def portfolio(scope: MonthScope, by: GroupBy, *, attempts: bool = True) -> Query:
    """Case figures; by batch and agent with the attempts on the cases (unless not
    `attempts`: the agent evaluation does not need them)."""
    args = [*scope.args(), scope.month, next_month(scope.month)]
    parts = {"m": _M, "rc": _RC.format(**_month_cases(by, "$10")), "tried": "",
             "tried_columns": "", "tried_join": ""}
    if attempts and by in (GroupBy.BATCH, GroupBy.AGENT):
        calls_ = ", t.attempts AS calls" if by is GroupBy.BATCH else ""
        parts.update(tried=_TRIED, tried_columns=", t.attempts" + calls_,
                     tried_join=" LEFT JOIN tried t USING (key)")
    return _PORTFOLIO.format(**parts), args


def floor(scope: MonthScope, by: GroupBy) -> Query:
    """The contact floor's deadlines in the month and those met, by the case's group."""
    args = [*scope.clients(), scope.floor_start(), max(scope.ends)]
    if by is GroupBy.CAMPAIGN:
        args.append(scope.month)
    return _FLOOR.format(m=_M, **_month_cases(by, "$10")), args


def calls(scope: MonthScope, by: GroupBy) -> Query:
    """Call figures by the call's group (by batch without the calls: :data:`_TRIED`)."""
    batch = by is GroupBy.BATCH
    parts = {"{key}": _CALL_KEY[by], "{calls}": "" if batch else ", sum(t.calls) AS calls",
             "{counted}": "(t.connected > 0 OR t.abandoned > 0)" if batch else "t.calls > 0"}
    sql = _CALLS
    for name, part in parts.items():
        sql = sql.replace(name, part)
    return sql, [*scope.clients(), scope.month]


def qa(scope: MonthScope, by: GroupBy) -> Query:
    """QA coverage of the month's recorded calls of agents."""
    join = "JOIN cases c ON c.id = r.case_id" if by is GroupBy.BATCH else ""
    return _QA.format(m=_M, key=_QA_KEY[by], join=join), list(scope.args())
