"""The monthly evaluation of agents: score, tier, rank, elimination flag, allocation
weight. A pure function of the month's figures and the client's parameters.

Rules:
- Never recovery alone (the credit-card rules forbid judging collectors only by the
  amounts they recover): the score is
  ``100 * (recovery_weight * recovery_index + compliance_weight * compliance_rate)``,
  0.6 / 0.4 by default, the two weights summing to 1.
- Compliance is also a gate: an agent whose compliance rate is under
  `compliance_floor` (0.95 by default) is at best `qualified`, whatever the score.
- The recovery rate (recovered / assigned) is normalised within the peer group: the
  client's rated agents of the month. ``recovery_index = rate / best rate``, so the
  best recovery of the month is 1.0 and the score does not depend on how hard the
  portfolio is; when nobody recovered anything every index is 0.
- Agents with fewer than `min_accounts` accounts (20) or nothing assigned are not
  rated: no score, tier or rank, not flagged; they keep the `qualified` weight and
  do not count as peers.
- Agents are ordered by score, then compliance rate, then recovery index (all
  descending); rank = 1 + the number of agents strictly ahead, so ties share a rank.
- Tiers `excellent / good / qualified / below`, by one of two methods chosen per
  client: ``thresholds`` (minimum scores, 85 / 70 / 55 by default) or ``quantiles``
  (by the share of rated agents strictly ahead: under 0.2 excellent, under 0.5 good,
  under 0.9 qualified, else below; tied agents share the better tier).
- Allocation weights by tier: 1.5 / 1.2 / 1.0 / 0.5 by default, never increasing
  towards worse tiers.
- Elimination: cycle 1 is the month of the client's first evaluation, each calendar
  month after it one more; on every even cycle the bottom `elimination_share` (10%)
  of the rated agents, rounded down but at least 1 when there are
  `elimination_min_agents` (5) or more, are flagged; so are agents tied with them.
- The evaluation of month M may run once M is over (the client's local day) and is
  due by the 15th of M+1.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, fields, replace
from datetime import date
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from enum import StrEnum
from fractions import Fraction

from cases.errors import Conflict, InvalidInput

DUE_DAY = 15
MAX_AMOUNT, MAX_ACCOUNTS = 10**16, 10**9  # what the evaluation tables hold
_RATE = Decimal("0.0001")
_SCORE = Decimal("0.01")


class Tier(StrEnum):
    EXCELLENT = "excellent"
    GOOD = "good"
    QUALIFIED = "qualified"
    BELOW = "below"


TIERS = tuple(Tier)  # best first
RATED_TIERS = TIERS[:3]  # the tiers with a threshold or a quantile


class Tiering(StrEnum):
    THRESHOLDS = "thresholds"
    QUANTILES = "quantiles"


class NotRated(StrEnum):
    TOO_FEW_ACCOUNTS = "too_few_accounts"
    NOTHING_ASSIGNED = "nothing_assigned"


def _tiered(*values: str) -> Mapping[Tier, Decimal]:
    return {tier: Decimal(v) for tier, v in zip(TIERS, values, strict=False)}


@dataclass(frozen=True, slots=True)
class EvaluationParams:
    """A client's evaluation parameters (the defaults unless the client set others)."""

    recovery_weight: Decimal = Decimal("0.6")
    compliance_weight: Decimal = Decimal("0.4")
    compliance_floor: Decimal = Decimal("0.95")
    min_accounts: int = 20
    tiering: Tiering = Tiering.THRESHOLDS
    thresholds: Mapping[Tier, Decimal] = field(default_factory=lambda: _tiered("85", "70", "55"))
    quantiles: Mapping[Tier, Decimal] = field(default_factory=lambda: _tiered("0.2", "0.5", "0.9"))
    weights: Mapping[Tier, Decimal] = field(
        default_factory=lambda: _tiered("1.5", "1.2", "1.0", "0.5"))
    elimination_share: Decimal = Decimal("0.10")
    elimination_min_agents: int = 5

    def weight(self, tier: Tier | None) -> Decimal:
        """The allocation weight of a tier; not rated (None) weighs as `qualified`."""
        return self.weights[tier or Tier.QUALIFIED]

    def as_json(self) -> dict[str, object]:
        return _json_fields(self)


@dataclass(frozen=True, slots=True)
class AgentResult:
    """One agent's figures for the month and client (the report's AgentFigures)."""

    agent_id: int
    amount_assigned: Decimal
    amount_recovered: Decimal
    accounts: int
    compliant_accounts: int


@dataclass(frozen=True, slots=True)
class EvaluationRow:
    agent_id: int
    accounts: int
    compliant_accounts: int
    amount_assigned: Decimal
    amount_recovered: Decimal
    recovery_rate: Decimal | None
    compliance_rate: Decimal | None
    recovery_index: Decimal | None
    score: Decimal | None
    tier: Tier | None
    rank: int | None
    compliance_gated: bool
    flagged_for_elimination: bool
    not_rated: NotRated | None
    allocation_weight: Decimal

    def as_json(self) -> dict[str, object]:
        return _json_fields(self)


def _json_fields(value: EvaluationParams | EvaluationRow) -> dict[str, object]:
    return {f.name: _json(getattr(value, f.name)) for f in fields(value)}


def _json(value: object) -> object:
    if isinstance(value, Decimal | StrEnum):
        return str(value)
    if isinstance(value, Mapping):
        return {str(k): _json(v) for k, v in value.items()}
    return value


# Months, the due date and cycles.

def parse_month(text: str) -> date:
    """``2026-10`` -> 1 October 2026."""
    parts = text.split("-")
    if len(parts) != 2 or not all(p.isdigit() for p in parts) or len(parts[0]) != 4:
        raise InvalidInput("evaluation.bad_month", f"month must look like 2026-10, not {text!r}")
    try:
        first = date(int(parts[0]), int(parts[1]), 1)
        next_month(first)  # 9999-12 has none: it could never be over
        return first
    except ValueError:
        raise InvalidInput("evaluation.bad_month", f"no month {text!r}") from None


def next_month(month: date) -> date:
    return date(month.year + month.month // 12, month.month % 12 + 1, 1)


def due_date(month: date) -> date:
    """The evaluation of `month` is due by the 15th of the month after."""
    return next_month(month).replace(day=DUE_DAY)


def check_month_over(month: date, today: date) -> None:
    """Refuse to evaluate a month before it is over (`today` in the client's zone)."""
    if today < next_month(month):
        raise Conflict("evaluation.month_not_over",
                       f"{month:%Y-%m} is not over yet: evaluate it from {next_month(month)}",
                       {"month": f"{month:%Y-%m}", "from": next_month(month).isoformat()})


def cycle_number(first_month: date, month: date) -> int:
    """Cycle 1 is the client's first evaluated month; each calendar month adds one."""
    cycle = (month.year - first_month.year) * 12 + month.month - first_month.month + 1
    if cycle < 1:
        raise Conflict("evaluation.before_first",
                       f"the client's evaluations start at {first_month:%Y-%m}; an earlier"
                       " month would renumber the cycles", {"first": f"{first_month:%Y-%m}"})
    return cycle


def is_elimination_cycle(cycle: int) -> bool:
    return cycle % 2 == 0


# Parameters from JSON.

_NUMBERS = ("recovery_weight", "compliance_weight", "compliance_floor", "elimination_share")
_COUNTS = ("min_accounts", "elimination_min_agents")
_TABLES = {"thresholds": RATED_TIERS, "quantiles": RATED_TIERS, "weights": TIERS}


def parse_params(raw: Mapping[str, object], base: EvaluationParams | None = None
                 ) -> EvaluationParams:
    """Parameters from JSON laid over `base` (the defaults); every problem at once."""
    values: dict[str, object] = {}
    problems = {name: "unknown parameter" for name in sorted(
        set(raw) - {*_NUMBERS, *_COUNTS, *_TABLES, "tiering"})}
    for name, value in raw.items():
        try:
            if name in _NUMBERS:
                values[name] = decimal(value, name)
            elif name in _COUNTS:
                values[name] = whole(value, name)
            elif name in _TABLES:
                values[name] = _table(value, name, getattr(base or EvaluationParams(), name))
            elif name == "tiering":
                values[name] = _tiering(value)
        except ValueError as exc:
            problems[name] = str(exc)
    params = replace(base or EvaluationParams(), **values)  # type: ignore[arg-type]
    problems = _param_problems(params) | problems
    if problems:
        raise InvalidInput("evaluation.invalid_parameters", "some parameters are invalid",
                           problems)
    return params


def _tiering(value: object) -> Tiering:
    if not isinstance(value, str) or value not in set(Tiering):  # {} is unhashable
        raise ValueError(f"must be one of {', '.join(Tiering)}")
    return Tiering(str(value))


def _table(value: object, name: str, base: Mapping[Tier, Decimal]) -> Mapping[Tier, Decimal]:
    tiers = _TABLES[name]
    if not isinstance(value, dict) or not set(value) <= {str(t) for t in tiers}:
        raise ValueError(f"must be an object with keys among {', '.join(tiers)}")
    return {t: decimal(value[str(t)], f"{name}.{t}") if str(t) in value else base[t]
            for t in tiers}


def _param_problems(p: EvaluationParams) -> dict[str, str]:
    weights_ok = min(p.recovery_weight, p.compliance_weight) >= 0 and (
        p.recovery_weight + p.compliance_weight == 1)
    checks = [
        ("recovery_weight", weights_ok, "the two weights are 0..1 and add up to 1"),
        ("compliance_floor", 0 <= p.compliance_floor <= 1, "must be between 0 and 1"),
        ("min_accounts", p.min_accounts >= 1, "must be 1 or more"),
        ("thresholds", _descending(p.thresholds, RATED_TIERS, 0, 100),
         "scores 0..100, excellent >= good >= qualified"),
        ("quantiles", _descending(p.quantiles, RATED_TIERS[::-1], 0, 1)
         and min(p.quantiles.values()) > 0, "shares in (0, 1], excellent <= good <= qualified"),
        ("weights", _descending(p.weights, TIERS, 0, 10) and min(p.weights.values()) > 0,
         "more than 0, at most 10, excellent >= good >= qualified >= below"),
        ("elimination_share", 0 <= p.elimination_share <= Decimal("0.5"),
         "must be between 0 and 0.5"),
        ("elimination_min_agents", p.elimination_min_agents >= 1, "must be 1 or more"),
    ]
    return {name: rule for name, ok, rule in checks if not ok}


def _descending(table: Mapping[Tier, Decimal], order: tuple[Tier, ...], low: int, high: int
                ) -> bool:
    values = [table[t] for t in order]
    return all(low <= v <= high for v in values) and all(
        a >= b for a, b in itertools.pairwise(values))


def check_results(results: Sequence[AgentResult]) -> None:
    """Every problem of the figures at once, by position."""
    problems = {str(n): problem for n, r in enumerate(results)
                if (problem := _result_problem(r, {x.agent_id for x in results[:n]}))}
    if problems:
        raise InvalidInput("evaluation.invalid_results", "some figures are invalid", problems)


def _result_problem(r: AgentResult, seen: set[int]) -> str | None:
    if r.agent_id in seen:
        return f"agent {r.agent_id} appears twice"
    if not 0 <= min(r.amount_assigned, r.amount_recovered) <= max(
            r.amount_assigned, r.amount_recovered) < MAX_AMOUNT:
        return f"amounts must be 0 or more and below {MAX_AMOUNT:,}"
    if not 0 <= r.compliant_accounts <= r.accounts <= MAX_ACCOUNTS:
        return f"need 0 <= compliant_accounts <= accounts <= {MAX_ACCOUNTS:,}"
    return None


def whole(value: object, name: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 0:
        raise ValueError(f"{name} must be a whole number, 0 or more")
    return value


def decimal(value: object, name: str) -> Decimal:
    try:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise InvalidOperation
        number = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{name} must be a number") from None
    if not number.is_finite():
        raise ValueError(f"{name} must be a finite number")
    return number


def _quantize(value: Fraction, step: Decimal) -> Decimal:
    exact = Decimal(value.numerator) / Decimal(value.denominator)
    return exact.quantize(step, rounding=ROUND_HALF_UP)


def _not_rated(r: AgentResult, params: EvaluationParams) -> NotRated | None:
    if r.accounts < params.min_accounts:
        return NotRated.TOO_FEW_ACCOUNTS
    if r.amount_assigned <= 0:
        return NotRated.NOTHING_ASSIGNED
    return None


def _rate(part: Decimal | int, whole: Decimal | int) -> Fraction | None:
    return None if whole <= 0 else Fraction(part) / Fraction(whole)


def _key(row: EvaluationRow) -> tuple[Decimal, Decimal, Decimal]:
    """Rated agents are ordered by score, then compliance, then recovery: higher first."""
    assert row.score is not None and row.compliance_rate is not None
    return row.score, row.compliance_rate, row.recovery_index or Decimal(0)


def _base_row(r: AgentResult, params: EvaluationParams) -> EvaluationRow:
    recovery, compliance = _rate(r.amount_recovered, r.amount_assigned), _rate(
        r.compliant_accounts, r.accounts)
    return EvaluationRow(
        agent_id=r.agent_id, accounts=r.accounts, compliant_accounts=r.compliant_accounts,
        amount_assigned=r.amount_assigned, amount_recovered=r.amount_recovered,
        recovery_rate=None if recovery is None else _quantize(recovery, _RATE),
        compliance_rate=None if compliance is None else _quantize(compliance, _RATE),
        recovery_index=None, score=None, tier=None, rank=None, compliance_gated=False,
        flagged_for_elimination=False, not_rated=_not_rated(r, params),
        allocation_weight=params.weight(None),
    )


def _scored(row: EvaluationRow, r: AgentResult, best: Fraction, params: EvaluationParams
            ) -> EvaluationRow:
    recovery = _rate(r.amount_recovered, r.amount_assigned) or Fraction(0)
    compliance = _rate(r.compliant_accounts, r.accounts) or Fraction(0)
    index = recovery / best if best > 0 else Fraction(0)
    score = 100 * (Fraction(params.recovery_weight) * index
                   + Fraction(params.compliance_weight) * compliance)
    return replace(row, recovery_index=_quantize(index, _RATE), score=_quantize(score, _SCORE))


def evaluate(
    results: Sequence[AgentResult], params: EvaluationParams, *, cycle: int
) -> tuple[EvaluationRow, ...]:
    """The evaluation rows, rated agents best first, then the not rated by agent id."""
    check_results(results)
    base = {r.agent_id: _base_row(r, params) for r in results}
    rated = [r for r in results if base[r.agent_id].not_rated is None]
    best = max((_rate(r.amount_recovered, r.amount_assigned) or Fraction(0) for r in rated),
               default=Fraction(0))
    scored = [_scored(base[r.agent_id], r, best, params) for r in rated]
    ranked = _rank(scored, params, is_elimination_cycle(cycle))
    rest = sorted((row for row in base.values() if row.not_rated), key=lambda x: x.agent_id)
    return (*ranked, *rest)


def _rank(scored: list[EvaluationRow], params: EvaluationParams, eliminate: bool
          ) -> list[EvaluationRow]:
    keys = [_key(row) for row in scored]
    n, flag = len(scored), elimination_count(len(scored), params) if eliminate else 0
    placed = []
    for row, key in zip(scored, keys, strict=True):
        ahead, behind = sum(1 for k in keys if k > key), sum(1 for k in keys if k < key)
        placed.append(_placed(row, params, ahead=ahead, n=n, flagged=behind < flag))
    return sorted(placed, key=lambda row: (row.rank, row.agent_id))


def _placed(row: EvaluationRow, params: EvaluationParams, *, ahead: int, n: int,
            flagged: bool) -> EvaluationRow:
    assert row.score is not None and row.compliance_rate is not None
    tier = _tier(row.score, ahead, n, params)
    gated = row.compliance_rate < params.compliance_floor and TIERS.index(tier) < TIERS.index(
        Tier.QUALIFIED)
    if gated:
        tier = Tier.QUALIFIED
    return replace(row, tier=tier, rank=ahead + 1, compliance_gated=gated,
                   flagged_for_elimination=flagged, allocation_weight=params.weight(tier))


def _tier(score: Decimal, ahead: int, n: int, params: EvaluationParams) -> Tier:
    by_score = params.tiering is Tiering.THRESHOLDS
    for tier in RATED_TIERS:
        if (score >= params.thresholds[tier] if by_score
                else Fraction(ahead, n) < params.quantiles[tier]):
            return tier
    return Tier.BELOW


def elimination_count(rated: int, params: EvaluationParams) -> int:
    """How many of `rated` agents an elimination cycle flags (ties may add more)."""
    count = math.floor(rated * params.elimination_share)
    return max(count, 1) if rated >= params.elimination_min_agents else count
