"""Allocating a batch's unassigned cases to agents, and agents' caseload caps, in
PostgreSQL. The allocation rules are `cases.allocation`.

- The cases allocated are those of the batch (its latest rows: ``last_batch_id``)
  that no agent holds and that are not paid or closed. Cases already assigned are
  never moved, so allocating a batch again only places what is still unplaced.
- The candidates are the active agent users, with their skills from the routing
  side's ``agent_skills``, their open cases (assigned, not paid or closed, across
  every client) and their cap (``agent_caseload_caps``, else
  `allocation.DEFAULT_CASELOAD_CAP`).
- Weights come from the client's latest published evaluation: each agent's
  allocation weight there; agents not in it (new) weigh as ``qualified`` under that
  evaluation's parameters; with no published evaluation yet, every agent weighs as
  ``qualified`` under the client's parameters.
- One transaction: allocations are serialised (an advisory lock, so two batches
  allocated at once cannot both fill the same agent past its cap), the cases are
  locked, assignments written, one log row per agent that received cases, one
  audit row.
- Admin and campaign managers allocate (the system may too); admin, supervisors and
  campaign managers set caps.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

import asyncpg

from cases import audit
from cases.allocation import (
    DEFAULT_CASELOAD_CAP,
    AgentSlot,
    Allocation,
    NewCase,
    Unplaced,
    allocate,
)
from cases.domain import Role
from cases.errors import Forbidden, InvalidInput, NotFound
from cases.evaluation import Tier
from cases.evaluations import Evaluation, client_params, latest_published
from cases.store import Conn

logger = logging.getLogger(__name__)

ALLOCATE_ROLES = frozenset({Role.ADMIN, Role.CAMPAIGN_MANAGER})
CAP_ROLES = frozenset({Role.ADMIN, Role.SUPERVISOR, Role.CAMPAIGN_MANAGER})
MAX_CAP = 100_000
_LOCK_KEY = 0x616C6C6F  # "allo"
OPEN = "status NOT IN ('paid', 'closed')"


@dataclass(frozen=True, slots=True)
class AgentShare:
    agent_id: int
    weight: Decimal
    cases: int
    balance: Decimal


@dataclass(frozen=True, slots=True)
class UnplacedCase:
    case_id: int
    account_no: str
    reason: Unplaced


@dataclass(frozen=True, slots=True)
class AllocationReport:
    batch_id: int
    client_id: int
    evaluation_id: int | None
    already_assigned: int
    shares: tuple[AgentShare, ...]
    unplaced: tuple[UnplacedCase, ...]

    @property
    def assigned(self) -> int:
        return sum(s.cases for s in self.shares)

    def as_json(self) -> dict[str, object]:
        return {
            "batch_id": self.batch_id, "client_id": self.client_id,
            "evaluation_id": self.evaluation_id, "assigned": self.assigned,
            "already_assigned": self.already_assigned,
            "agents": [{"agent_id": s.agent_id, "weight": str(s.weight), "cases": s.cases,
                        "balance": str(s.balance)} for s in self.shares],
            "unassigned": [{"case_id": u.case_id, "account_no": u.account_no,
                            "reason": str(u.reason)} for u in self.unplaced],
        }


def _check_role(actor: audit.Actor, roles: frozenset[Role], *, system: bool) -> None:
    user = actor.user
    if (user is None and not system) or (user is not None and user.role not in roles):
        raise Forbidden("allocation.role", "your role may not do this")


async def allocate_batch(
    pool: asyncpg.Pool, actor: audit.Actor, batch_id: int, now: datetime, *,
    by_balance: bool = False, default_cap: int = DEFAULT_CASELOAD_CAP,
) -> AllocationReport:
    """Assign the batch's unassigned open cases by the client's weights."""
    _check_role(actor, ALLOCATE_ROLES, system=True)
    async with pool.acquire() as conn, conn.transaction():
        client_id = await conn.fetchval("SELECT client_id FROM batches WHERE id = $1", batch_id)
        if client_id is None:
            raise NotFound("batch.not_found", "no such batch")
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _LOCK_KEY)
        cases = await conn.fetch(
            "SELECT id, account_no, product, bucket, balance, assigned_agent_id FROM cases"
            f" WHERE last_batch_id = $1 AND {OPEN} ORDER BY id FOR UPDATE", batch_id)
        evaluation = await latest_published(conn, client_id)
        agents = await _agents(conn, await _weights(conn, client_id, evaluation), default_cap)
        free = [c for c in cases if c["assigned_agent_id"] is None]
        result = allocate([_new_case(c) for c in free], agents, by_balance=by_balance)
        report = _report(batch_id, client_id, evaluation, len(cases) - len(free), free,
                         agents, result)
        await _write(conn, actor, report, result, now)
    logger.info("batch %s allocated: %d cases to %d agents, %d unassigned", batch_id,
                report.assigned, len(report.shares), len(report.unplaced))
    return report


def _new_case(r: asyncpg.Record) -> NewCase:
    return NewCase(r["id"], r["product"], r["bucket"], r["balance"])


async def _weights(conn: Conn, client_id: int, evaluation: Evaluation | None
                   ) -> tuple[Mapping[int, Decimal], Decimal]:
    """The weight of each evaluated agent, and the weight of everyone else."""
    if evaluation is None:
        return {}, (await client_params(conn, client_id)).weight(Tier.QUALIFIED)
    return ({row.agent_id: row.allocation_weight for row in evaluation.rows},
            evaluation.parameters.weight(Tier.QUALIFIED))


async def _agents(conn: Conn, weights: tuple[Mapping[int, Decimal], Decimal],
                  default_cap: int) -> list[AgentSlot]:
    by_agent, other = weights
    rows = await conn.fetch(
        "SELECT u.id, coalesce(k.cap, $1) AS cap,"
        " array(SELECT s.skill FROM agent_skills s WHERE s.agent_id = u.id) AS skills,"
        " (SELECT count(*) FROM cases c WHERE c.assigned_agent_id = u.id"
        f"  AND c.{OPEN}) AS open_cases"
        " FROM users u LEFT JOIN agent_caseload_caps k ON k.agent_id = u.id"
        " WHERE u.role = 'agent' AND u.active ORDER BY u.id", default_cap)
    return [AgentSlot(r["id"], by_agent.get(r["id"], other), frozenset(r["skills"]),
                      r["open_cases"], r["cap"]) for r in rows]


def _report(batch_id: int, client_id: int, evaluation: Evaluation | None, already: int,
            free: Sequence[asyncpg.Record], agents: Sequence[AgentSlot],
            result: Allocation) -> AllocationReport:
    case = {r["id"]: r for r in free}
    shares = []
    for agent in agents:
        mine = result.cases_of(agent.agent_id)
        if mine:
            shares.append(AgentShare(agent.agent_id, agent.weight, len(mine),
                                     sum((case[c]["balance"] for c in mine), Decimal(0))))
    unplaced = tuple(UnplacedCase(c, case[c]["account_no"], why) for c, why in result.unplaced)
    return AllocationReport(batch_id, client_id, evaluation.id if evaluation else None, already,
                            tuple(shares), unplaced)


async def _write(conn: Conn, actor: audit.Actor, report: AllocationReport,
                 result: Allocation, now: datetime) -> None:
    await conn.executemany(
        "UPDATE cases SET assigned_agent_id = $2, assigned_at = $3, updated_at = $3"
        " WHERE id = $1", [(case, agent, now) for case, agent in result.assigned])
    by = actor.user.id if actor.user else None
    await conn.executemany(
        "INSERT INTO allocations (batch_id, agent_id, cases, balance, weight, evaluation_id,"
        " allocated_at, allocated_by) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
        [(report.batch_id, s.agent_id, s.cases, s.balance, s.weight, report.evaluation_id,
          now, by) for s in report.shares])
    unplaced: dict[str, int] = {}
    for u in report.unplaced:
        unplaced[str(u.reason)] = unplaced.get(str(u.reason), 0) + 1
    await audit.record(
        conn, actor, "batch.allocate", record_type="batch", record_id=report.batch_id,
        client_id=report.client_id,
        details={"assigned": report.assigned, "agents": len(report.shares),
                 "already_assigned": report.already_assigned, "unassigned": unplaced,
                 "evaluation_id": report.evaluation_id})


async def set_caseload_cap(pool: asyncpg.Pool, actor: audit.Actor, agent_id: int,
                           cap: int | None, now: datetime) -> int:
    """Set an agent's cap (None: back to the default); the cap now in force."""
    _check_role(actor, CAP_ROLES, system=False)
    if cap is not None and not 0 <= cap <= MAX_CAP:
        raise InvalidInput("caseload.bad_cap", f"cap must be between 0 and {MAX_CAP}")
    async with pool.acquire() as conn, conn.transaction():
        role = await conn.fetchval("SELECT role FROM users WHERE id = $1", agent_id)
        if role != "agent":
            raise NotFound("agent.not_found", f"no agent {agent_id}")
        if cap is None:
            await conn.execute("DELETE FROM agent_caseload_caps WHERE agent_id = $1", agent_id)
        else:
            await conn.execute(
                "INSERT INTO agent_caseload_caps (agent_id, cap, updated_at, updated_by)"
                " VALUES ($1, $2, $3, $4) ON CONFLICT (agent_id) DO UPDATE SET cap = $2,"
                " updated_at = $3, updated_by = $4", agent_id, cap, now,
                actor.user.id if actor.user else None)
        await audit.record(conn, actor, "agent.caseload_cap", record_type="user",
                           record_id=agent_id, details={"cap": cap})
    return DEFAULT_CASELOAD_CAP if cap is None else cap
