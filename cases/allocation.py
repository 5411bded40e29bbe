"""Allocating a batch's new cases to agents by weight: a pure, deterministic function
of the cases, the agents' skills, caseloads and caps, and their weights.

Rules:
- Skills (names from the routing side's ``agent_skills``; levels do not matter here):
  an agent takes a case only with the skill named after the case's product
  (``credit_card``, ``personal_loan``), and, if the agent has any bucket skill, only
  with the bucket skill of the case's bucket: ``bucket_m0`` .. ``bucket_m6`` and
  ``bucket_m6plus`` for ``M6+``. An agent without bucket skills takes every bucket.
- Caps: an agent's open cases after the allocation never exceed its cap (no cap: no
  limit); an agent already at or over its cap takes nothing.
- Cases go out biggest balance first (equal balances by case id), so big balances
  spread over the agents rather than piling on one.
- Shares follow the weights (the Balinski-Young quota method, house-monotone): each
  case adds to the entitlement of every agent able to take it its weight's share of
  the case (weight / sum of those agents' weights); the case goes to an agent still
  under its entitlement (when skills and caps leave none, to any able agent), the
  one with the smallest (received + this case) / weight, ties to the lowest agent
  id. When every agent can take every case and no cap binds, each agent's count
  stays within one case of ``n * weight / total weight`` after every case.
  Balance-aware allocation measures each case by its balance instead of 1, so
  amounts rather than counts follow the weights.
- A case no agent can take stays unassigned with its reason: no agent has the
  skills (``no_skilled_agent``), or every skilled agent is at its cap
  (``caseload_full``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from enum import StrEnum
from fractions import Fraction

from cases.errors import InvalidInput

DEFAULT_CASELOAD_CAP = 300  # open cases per agent, when no cap was set for the agent
PRODUCT_SKILLS = {"credit_card": "credit_card", "personal_loan": "personal_loan"}
BUCKET_SKILL_PREFIX = "bucket_"


class Unplaced(StrEnum):
    NO_SKILLED_AGENT = "no_skilled_agent"
    CASELOAD_FULL = "caseload_full"


@dataclass(frozen=True, slots=True)
class NewCase:
    case_id: int
    product: str
    bucket: str
    balance: Decimal


@dataclass(frozen=True, slots=True)
class AgentSlot:
    """An agent as allocation sees it: its weight, skills, open cases and cap."""

    agent_id: int
    weight: Decimal
    skills: frozenset[str]
    open_cases: int = 0
    cap: int | None = None

    @property
    def room(self) -> int | None:
        return None if self.cap is None else max(self.cap - self.open_cases, 0)


@dataclass(frozen=True, slots=True)
class Allocation:
    assigned: tuple[tuple[int, int], ...]  # (case id, agent id), in allocation order
    unplaced: tuple[tuple[int, Unplaced], ...]  # (case id, reason)

    def cases_of(self, agent_id: int) -> list[int]:
        return [case for case, agent in self.assigned if agent == agent_id]


def bucket_skill(bucket: str) -> str:
    """``M3`` -> ``bucket_m3``; ``M6+`` -> ``bucket_m6plus``."""
    return BUCKET_SKILL_PREFIX + bucket.lower().replace("+", "plus")


def product_skill(product: str) -> str:
    return PRODUCT_SKILLS.get(product, product)


def can_take(skills: frozenset[str], case: NewCase) -> bool:
    """The skill rule: the product's skill, and the bucket's if the agent has any."""
    if product_skill(case.product) not in skills:
        return False
    buckets = {s for s in skills if s.startswith(BUCKET_SKILL_PREFIX)}
    return not buckets or bucket_skill(case.bucket) in buckets


def check_agents(agents: Sequence[AgentSlot]) -> None:
    ids = [a.agent_id for a in agents]
    if len(set(ids)) != len(ids):
        raise InvalidInput("allocation.duplicate_agent", "an agent appears twice")
    bad = {str(a.agent_id): "weight must be more than 0" for a in agents if a.weight <= 0}
    bad.update({str(a.agent_id): "cap must not be negative" for a in agents
                if a.cap is not None and a.cap < 0})
    if bad:
        raise InvalidInput("allocation.invalid_agents", "some agents are invalid", bad)


def _whole(values: Sequence[Fraction]) -> list[int]:
    """Whole numbers in the same exact proportions as `values`."""
    factor = math.lcm(*(v.denominator for v in values)) if values else 1
    return [int(v * factor) for v in values]


class _Ledger:
    """Per agent (by position, agents sorted by id): weight, room left, measure
    received and entitlement, all exact whole numbers: weights and measures scaled
    to integers, and ``owed = entitlement * scale`` where `scale` is a multiple of
    every able agents' total weight seen so far (so a large batch stays fast)."""

    def __init__(self, agents: Sequence[AgentSlot]) -> None:
        self.agents = sorted(agents, key=lambda a: a.agent_id)
        self.weight = _whole([Fraction(a.weight) for a in self.agents])
        self.room = [a.room for a in self.agents]
        self.received = [0] * len(self.agents)
        self.owed = [0] * len(self.agents)
        self.scale = 1
        self._skilled: dict[tuple[str, str], list[int]] = {}

    def skilled(self, case: NewCase) -> list[int]:
        key = (case.product, case.bucket)
        if key not in self._skilled:
            self._skilled[key] = [n for n, a in enumerate(self.agents)
                                  if can_take(a.skills, case)]
        return self._skilled[key]

    def place(self, case: NewCase, measure: int) -> int | Unplaced:
        skilled = self.skilled(case)
        able = [n for n in skilled if (room := self.room[n]) is None or room > 0]
        if not able:
            return Unplaced.CASELOAD_FULL if skilled else Unplaced.NO_SKILLED_AGENT
        self._entitle(able, measure)
        under = [n for n in able if self.received[n] * self.scale < self.owed[n]]
        chosen = self._choose(under or able, measure)
        self.received[chosen] += measure
        if (room := self.room[chosen]) is not None:
            self.room[chosen] = room - 1
        return self.agents[chosen].agent_id

    def _entitle(self, able: list[int], measure: int) -> None:
        total = sum(self.weight[n] for n in able)
        if self.scale % total:
            factor = total // math.gcd(self.scale, total)
            self.scale *= factor
            self.owed = [owed * factor for owed in self.owed]
        share = measure * (self.scale // total)
        for n in able:
            self.owed[n] += share * self.weight[n]

    def _choose(self, candidates: list[int], measure: int) -> int:
        """The smallest (received + measure) / weight; of equals, the lowest agent id."""
        best = candidates[0]
        for n in candidates[1:]:
            if ((self.received[n] + measure) * self.weight[best]
                    < (self.received[best] + measure) * self.weight[n]):
                best = n
        return best


def allocation_order(cases: Sequence[NewCase]) -> list[NewCase]:
    """Biggest balance first; equal balances by case id."""
    return sorted(cases, key=lambda c: (-c.balance, c.case_id))


def allocate(
    cases: Sequence[NewCase], agents: Sequence[AgentSlot], *, by_balance: bool = False
) -> Allocation:
    """Place each case with an agent by the rules above; the rest are reported."""
    check_agents(agents)
    ledger = _Ledger(agents)
    ordered = allocation_order(cases)
    measures = [1] * len(ordered)
    if by_balance:
        measures = _whole([Fraction(max(c.balance, Decimal(0))) for c in ordered])
    assigned: list[tuple[int, int]] = []
    unplaced: list[tuple[int, Unplaced]] = []
    for case, measure in zip(ordered, measures, strict=True):
        outcome = ledger.place(case, measure)
        if isinstance(outcome, Unplaced):
            unplaced.append((case.case_id, outcome))
        else:
            assigned.append((case.case_id, outcome))
    return Allocation(tuple(assigned), tuple(unplaced))
