"""Monthly agent evaluations in PostgreSQL: compute a draft, publish it, read it.

Rules (the scoring itself is `cases.evaluation`):
- computing month M needs M to be over in the client's time zone; computing again
  replaces the draft, every row; a published evaluation never changes (Conflict,
  and the database's triggers refuse it too);
- cycles count calendar months from the client's first evaluation, so a month
  before it is refused (it would renumber the cycles of the evaluations made);
- the parameters are the client's (`evaluation_settings`), or the defaults; the
  ones used are stored with the evaluation;
- admin and supervisors compute (the system may too: a scheduled run) and publish;
  admin sets a client's parameters;
- who sees what: admin, supervisors and campaign managers every evaluation, drafts
  included; the bank's client auditor its own client's published ones (another
  client's: 404); an agent the published ones, with only its own row; QA none;
- computing, publishing, changing parameters and viewing one evaluation's rows
  (staff performance data) each write one audit row in the same transaction.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import date, datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

import asyncpg

from cases import audit
from cases.access import check_client_visible
from cases.domain import Role, User
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.evaluation import (
    AgentResult,
    EvaluationParams,
    EvaluationRow,
    NotRated,
    Tier,
    check_month_over,
    check_results,
    cycle_number,
    due_date,
    evaluate,
    is_elimination_cycle,
    parse_params,
)
from cases.store import Conn, Db

logger = logging.getLogger(__name__)

COMPUTE_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR})
SETTINGS_ROLES = frozenset({Role.ADMIN})
SEE_ALL_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CAMPAIGN_MANAGER})


class EvaluationStatus(StrEnum):
    DRAFT = "draft"
    PUBLISHED = "published"


@dataclass(frozen=True, slots=True)
class Evaluation:
    id: int
    client_id: int
    month: date
    cycle: int
    elimination_cycle: bool
    status: EvaluationStatus
    parameters: EvaluationParams
    computed_at: datetime
    computed_by: int | None
    published_at: datetime | None
    published_by: int | None
    rows: tuple[EvaluationRow, ...] = ()

    def as_json(self, *, with_rows: bool = True) -> dict[str, object]:
        body: dict[str, object] = {
            "id": self.id, "client_id": self.client_id, "month": f"{self.month:%Y-%m}",
            "due_date": due_date(self.month).isoformat(), "cycle": self.cycle,
            "elimination_cycle": self.elimination_cycle, "status": str(self.status),
            "parameters": self.parameters.as_json(),
            "computed_at": self.computed_at.isoformat(), "computed_by": self.computed_by,
            "published_at": self.published_at and self.published_at.isoformat(),
            "published_by": self.published_by,
        }
        if with_rows:
            body["rows"] = [row.as_json() for row in self.rows]
        return body


@dataclass(frozen=True, slots=True)
class Computed:
    evaluation: Evaluation
    replaced: bool  # an earlier draft of the month was replaced


def _check_role(actor: audit.Actor, roles: frozenset[Role], *, system: bool = False) -> None:
    user = actor.user
    if user is None and system:
        return
    if user is None or user.role not in roles:
        raise Forbidden("evaluation.role", "your role may not do this")


async def client_params(db: Db, client_id: int) -> EvaluationParams:
    """The client's evaluation parameters, or the defaults."""
    raw = await db.fetchval(
        "SELECT parameters FROM evaluation_settings WHERE client_id = $1", client_id)
    return EvaluationParams() if raw is None else parse_params(json.loads(raw))


async def visible_params(db: Db, user: User, client_id: int) -> EvaluationParams:
    """The parameters a client is evaluated with; another client's auditor gets 404."""
    check_client_visible(user, client_id)
    await _client_exists(db, client_id)
    return await client_params(db, client_id)


async def set_params(pool: asyncpg.Pool, actor: audit.Actor, client_id: int,
                     raw: dict[str, object], now: datetime) -> EvaluationParams:
    """Lay `raw` over the client's parameters (every problem reported at once)."""
    _check_role(actor, SETTINGS_ROLES)
    async with pool.acquire() as conn, conn.transaction():
        await _lock_client(conn, client_id)
        params = parse_params(raw, await client_params(conn, client_id))
        await conn.execute(
            "INSERT INTO evaluation_settings (client_id, parameters, updated_at, updated_by)"
            " VALUES ($1, $2, $3, $4) ON CONFLICT (client_id) DO UPDATE SET"
            " parameters = $2, updated_at = $3, updated_by = $4",
            client_id, json.dumps(params.as_json()), now, _user_id(actor))
        await audit.record(conn, actor, "evaluation.settings", record_type="client",
                           record_id=client_id, client_id=client_id, details=raw)
    return params


async def compute(
    pool: asyncpg.Pool, actor: audit.Actor, client_id: int, month: date,
    results: Sequence[AgentResult], now: datetime,
) -> Computed:
    """Compute (or compute again) the draft evaluation of `month` from `results`."""
    _check_role(actor, COMPUTE_ROLES, system=True)
    check_results(results)
    async with pool.acquire() as conn, conn.transaction():
        zone = await _lock_client(conn, client_id)
        check_month_over(month, now.astimezone(ZoneInfo(zone)).date())
        await _check_agents(conn, results)
        first = await conn.fetchval(
            "SELECT min(month) FROM evaluations WHERE client_id = $1", client_id)
        cycle = cycle_number(first or month, month)
        params = await client_params(conn, client_id)
        rows = evaluate(results, params, cycle=cycle)
        evaluation_id, replaced = await _save(conn, actor, client_id, month, cycle, params, now)
        await _insert_rows(conn, evaluation_id, rows)
        await audit.record(
            conn, actor, "evaluation.compute", record_type="evaluation",
            record_id=evaluation_id, client_id=client_id,
            details={"month": f"{month:%Y-%m}", "agents": len(rows), "replaced": replaced})
        found = await _load(conn, evaluation_id)
    logger.info("evaluation %s of client %s for %s computed (%d agents)", evaluation_id,
                client_id, f"{month:%Y-%m}", len(rows))
    return Computed(found, replaced)


async def publish(pool: asyncpg.Pool, actor: audit.Actor, client_id: int, month: date,
                  now: datetime) -> Evaluation:
    """Publish the draft of `month`: from now on it never changes."""
    _check_role(actor, COMPUTE_ROLES)
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow(
            "SELECT id, status FROM evaluations WHERE client_id = $1 AND month = $2"
            " FOR UPDATE", client_id, month)
        if row is None:
            raise NotFound("evaluation.not_found", f"no evaluation of {month:%Y-%m}")
        if row["status"] == EvaluationStatus.PUBLISHED:
            raise Conflict("evaluation.published", f"{month:%Y-%m} is published already")
        await conn.execute(
            "UPDATE evaluations SET status = 'published', published_at = $2,"
            " published_by = $3 WHERE id = $1", row["id"], now, _user_id(actor))
        await audit.record(conn, actor, "evaluation.publish", record_type="evaluation",
                           record_id=row["id"], client_id=client_id,
                           details={"month": f"{month:%Y-%m}"})
        return await _load(conn, row["id"])


async def view(pool: asyncpg.Pool, actor: audit.Actor, client_id: int, month: date
               ) -> Evaluation:
    """One evaluation with the rows the actor may see; the view is audited."""
    published_only, own = _visibility(_person(actor), client_id)
    async with pool.acquire() as conn, conn.transaction():
        evaluation_id = await conn.fetchval(
            "SELECT id FROM evaluations WHERE client_id = $1 AND month = $2"
            " AND (status = 'published' OR NOT $3)", client_id, month, published_only)
        if evaluation_id is None:
            raise NotFound("evaluation.not_found", f"no evaluation of {month:%Y-%m}")
        found = await _load(conn, evaluation_id, only_agent=own)
        await audit.record(conn, actor, "evaluation.view", record_type="evaluation",
                           record_id=evaluation_id, client_id=client_id,
                           details={"month": f"{month:%Y-%m}", "rows": len(found.rows)})
    return found


async def list_evaluations(db: Db, user: User, client_id: int) -> list[Evaluation]:
    """The client's evaluations the user may see, newest month first, without rows."""
    published_only, _ = _visibility(user, client_id)
    await _client_exists(db, client_id)
    rows = await db.fetch(
        "SELECT * FROM evaluations WHERE client_id = $1 AND (status = 'published' OR NOT $2)"
        " ORDER BY month DESC", client_id, published_only)
    return [_evaluation(r) for r in rows]


def _visibility(user: User, client_id: int) -> tuple[bool, int | None]:
    """(published only?, the only agent whose row is shown)."""
    if user.role in SEE_ALL_ROLES:
        return False, None
    if user.role is Role.CLIENT_AUDITOR:
        check_client_visible(user, client_id)
        return True, None
    if user.role is Role.AGENT:
        return True, user.id
    raise Forbidden("evaluation.role", "your role may not see evaluations")


def _person(actor: audit.Actor) -> User:
    if actor.user is None:
        raise Forbidden("evaluation.role", "a person views evaluations")
    return actor.user


def _user_id(actor: audit.Actor) -> int | None:
    return actor.user.id if actor.user else None


async def _client_exists(db: Db, client_id: int) -> None:
    if await db.fetchval("SELECT id FROM clients WHERE id = $1", client_id) is None:
        raise NotFound("client.not_found", "no such client")


async def _lock_client(conn: Conn, client_id: int) -> str:
    """Evaluations of one client are computed one at a time; the client's zone."""
    zone: str | None = await conn.fetchval(
        "SELECT time_zone FROM clients WHERE id = $1 FOR NO KEY UPDATE", client_id)
    if zone is None:
        raise NotFound("client.not_found", "no such client")
    return zone


async def _check_agents(conn: Conn, results: Sequence[AgentResult]) -> None:
    ids = [r.agent_id for r in results]
    found = {r["id"] for r in await conn.fetch(
        "SELECT id FROM users WHERE id = ANY($1::bigint[]) AND role = 'agent'", ids)}
    unknown = {str(i): "not an agent" for i in ids if i not in found}
    if unknown:
        raise InvalidInput("evaluation.unknown_agent", "some figures are not of agents",
                           unknown)


async def _save(conn: Conn, actor: audit.Actor, client_id: int, month: date, cycle: int,
                params: EvaluationParams, now: datetime) -> tuple[int, bool]:
    """Insert the evaluation, or reset the month's draft; (its id, replaced?)."""
    earlier = await conn.fetchrow(
        "SELECT id, status FROM evaluations WHERE client_id = $1 AND month = $2 FOR UPDATE",
        client_id, month)
    if earlier is not None and earlier["status"] == EvaluationStatus.PUBLISHED:
        raise Conflict("evaluation.published",
                       f"{month:%Y-%m} is published: it can no longer be computed again")
    args = (cycle, is_elimination_cycle(cycle), json.dumps(params.as_json()), now,
            _user_id(actor))
    if earlier is not None:
        await conn.execute("DELETE FROM evaluation_rows WHERE evaluation_id = $1", earlier["id"])
        await conn.execute(
            "UPDATE evaluations SET cycle = $2, elimination_cycle = $3, parameters = $4,"
            " computed_at = $5, computed_by = $6 WHERE id = $1", earlier["id"], *args)
        return earlier["id"], True
    new_id: int = await conn.fetchval(
        "INSERT INTO evaluations (client_id, month, cycle, elimination_cycle, parameters,"
        " computed_at, computed_by) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        client_id, month, *args)
    return new_id, False


_ROW_COLUMNS = (
    "agent_id", "accounts", "compliant_accounts", "amount_assigned", "amount_recovered",
    "recovery_rate", "compliance_rate", "recovery_index", "score", "tier", "rank",
    "compliance_gated", "flagged_for_elimination", "not_rated_reason", "allocation_weight",
)


async def _insert_rows(conn: Conn, evaluation_id: int, rows: Sequence[EvaluationRow]) -> None:
    await conn.executemany(
        f"INSERT INTO evaluation_rows (evaluation_id, {', '.join(_ROW_COLUMNS)})"
        f" VALUES ({', '.join(f'${n}' for n in range(1, len(_ROW_COLUMNS) + 2))})",
        [(evaluation_id, r.agent_id, r.accounts, r.compliant_accounts, r.amount_assigned,
          r.amount_recovered, r.recovery_rate, r.compliance_rate, r.recovery_index, r.score,
          r.tier and str(r.tier), r.rank, r.compliance_gated, r.flagged_for_elimination,
          r.not_rated and str(r.not_rated), r.allocation_weight) for r in rows])


async def _load(db: Db, evaluation_id: int, *, only_agent: int | None = None) -> Evaluation:
    head = await db.fetchrow("SELECT * FROM evaluations WHERE id = $1", evaluation_id)
    assert head is not None
    rows = await db.fetch(
        "SELECT * FROM evaluation_rows WHERE evaluation_id = $1"
        " AND ($2::bigint IS NULL OR agent_id = $2)"
        " ORDER BY rank NULLS LAST, agent_id", evaluation_id, only_agent)
    return replace(_evaluation(head), rows=tuple(_row(r) for r in rows))


def _evaluation(r: asyncpg.Record) -> Evaluation:
    return Evaluation(
        id=r["id"], client_id=r["client_id"], month=r["month"], cycle=r["cycle"],
        elimination_cycle=r["elimination_cycle"], status=EvaluationStatus(r["status"]),
        parameters=parse_params(json.loads(r["parameters"])), computed_at=r["computed_at"],
        computed_by=r["computed_by"], published_at=r["published_at"],
        published_by=r["published_by"],
    )


def _row(r: asyncpg.Record) -> EvaluationRow:
    values = {name: r[name] for name in _ROW_COLUMNS if name != "not_rated_reason"}
    values["tier"] = r["tier"] and Tier(r["tier"])
    return EvaluationRow(
        **values, not_rated=r["not_rated_reason"] and NotRated(r["not_rated_reason"]))


async def latest_published(db: Db, client_id: int) -> Evaluation | None:
    """The client's newest published evaluation, with every row; None if none yet."""
    evaluation_id = await db.fetchval(
        "SELECT id FROM evaluations WHERE client_id = $1 AND status = 'published'"
        " ORDER BY month DESC LIMIT 1", client_id)
    return None if evaluation_id is None else await _load(db, evaluation_id)
