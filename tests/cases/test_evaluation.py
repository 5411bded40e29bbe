"""The agent evaluation: pure tables and properties, then compute and publish on the
real database."""

from __future__ import annotations

import json
from datetime import date, timedelta
from decimal import Decimal

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases import audit, evaluations, store
from cases.domain import Role, User
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.evaluation import (
    AgentResult,
    EvaluationParams,
    EvaluationRow,
    NotRated,
    Tier,
    Tiering,
    check_month_over,
    cycle_number,
    due_date,
    elimination_count,
    evaluate,
    parse_month,
    parse_params,
)
from tests.api.world import NOW, World, build_world

DEFAULTS = EvaluationParams()
QUANTILES = parse_params({"tiering": "quantiles"})


def agent(agent_id: int, recovered: str, compliant: int = 20, *, accounts: int = 20,
          assigned: str = "1000") -> AgentResult:
    return AgentResult(agent_id, Decimal(assigned), Decimal(recovered), accounts, compliant)


def by_agent(rows: tuple[EvaluationRow, ...]) -> dict[int, EvaluationRow]:
    return {row.agent_id: row for row in rows}


# Months, due dates, cycles.

@pytest.mark.parametrize(("month", "due"), [("2026-10", date(2026, 11, 15)), (
    "2026-12", date(2027, 1, 15)), ("2027-01", date(2027, 2, 15)), ("2028-02", date(2028, 3, 15))])
def test_the_evaluation_of_a_month_is_due_by_the_15th_of_the_next(month: str, due: date
                                                                  ) -> None:
    assert due_date(parse_month(month)) == due


@pytest.mark.parametrize("text", ["2026-13", "2026-00", "26-10", "2026/10", "2026-1x", "",
                                  "2026-10-01"])
def test_a_bad_month_is_refused_clearly(text: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_month(text)
    assert caught.value.error_id == "evaluation.bad_month"


@pytest.mark.parametrize(("today", "allowed"), [(date(2026, 10, 15), False), (
    date(2026, 10, 31), False), (date(2026, 11, 1), True), (date(2027, 3, 1), True)])
def test_a_month_is_evaluated_only_once_it_is_over(today: date, allowed: bool) -> None:
    if allowed:
        check_month_over(date(2026, 10, 1), today)
    else:
        with pytest.raises(Conflict) as caught:
            check_month_over(date(2026, 10, 1), today)
        assert caught.value.details == {"month": "2026-10", "from": "2026-11-01"}


@pytest.mark.parametrize(("first", "month", "cycle"), [
    (date(2026, 1, 1), date(2026, 1, 1), 1), (date(2026, 1, 1), date(2026, 2, 1), 2),
    (date(2026, 11, 1), date(2027, 2, 1), 4), (date(2026, 1, 1), date(2027, 1, 1), 13),
])
def test_cycles_count_calendar_months_from_the_first_evaluation(first: date, month: date,
                                                                cycle: int) -> None:
    assert cycle_number(first, month) == cycle


def test_a_month_before_the_first_evaluation_is_refused() -> None:
    with pytest.raises(Conflict) as caught:
        cycle_number(date(2026, 5, 1), date(2026, 4, 1))
    assert caught.value.error_id == "evaluation.before_first"


# Scores and tiers.

def test_never_recovery_alone_the_best_collector_with_poor_compliance_is_not_excellent(
) -> None:
    rows = by_agent(evaluate([
        agent(1, "500", compliant=18),  # best recovery, 90% compliance
        agent(2, "450", compliant=20),  # 90% of the best recovery, fully compliant
    ], DEFAULTS, cycle=1))
    # 1: 60 * 1.0 + 40 * 0.9 = 96, excellent by score but under the 95% floor.
    assert (rows[1].score, rows[1].tier, rows[1].compliance_gated) == (
        Decimal("96.00"), Tier.QUALIFIED, True)
    assert (rows[2].score, rows[2].tier, rows[2].compliance_gated) == (
        Decimal("94.00"), Tier.EXCELLENT, False)
    assert rows[1].rank == 1 and rows[1].allocation_weight == Decimal("1.0")
    assert rows[2].allocation_weight == Decimal("1.5")


def test_compliance_weighs_in_the_score_even_above_the_floor() -> None:
    rows = by_agent(evaluate([agent(1, "300", compliant=20), agent(2, "300", compliant=19)],
                             DEFAULTS, cycle=1))
    assert rows[1].score == Decimal("100.00")
    assert rows[2].score == Decimal("98.00") and rows[2].rank == 2


@pytest.mark.parametrize(("recovered", "tier"), [
    ("1000", Tier.EXCELLENT),  # 60 + 40 = 100
    ("750", Tier.EXCELLENT),  # 45 + 40 = 85
    ("745", Tier.GOOD),  # 44.70 + 40 = 84.70
    ("500", Tier.GOOD),  # 30 + 40 = 70
    ("250", Tier.QUALIFIED),  # 15 + 40 = 55
    ("240", Tier.BELOW),  # 14.40 + 40 = 54.40
    ("0", Tier.BELOW),  # 40
])
def test_score_thresholds_give_the_tier(recovered: str, tier: Tier) -> None:
    rows = by_agent(evaluate([agent(1, "1000"), agent(2, recovered)], DEFAULTS, cycle=1))
    assert rows[2].tier is tier
    assert rows[2].allocation_weight == DEFAULTS.weights[tier]


def test_recovery_is_normalised_to_the_best_peer_so_the_portfolio_level_does_not_matter(
) -> None:
    easy = evaluate([agent(1, "800"), agent(2, "400")], DEFAULTS, cycle=1)
    hard = evaluate([agent(1, "80"), agent(2, "40")], DEFAULTS, cycle=1)
    assert [(r.recovery_index, r.score, r.tier) for r in easy] == [
        (r.recovery_index, r.score, r.tier) for r in hard]
    assert [r.recovery_index for r in hard] == [Decimal("1.0000"), Decimal("0.5000")]
    assert [r.recovery_rate for r in hard] == [Decimal("0.0800"), Decimal("0.0400")]


def test_when_nobody_recovered_anything_recovery_counts_zero_for_everyone() -> None:
    rows = evaluate([agent(1, "0"), agent(2, "0", compliant=10)], DEFAULTS, cycle=1)
    assert [(r.recovery_index, r.score) for r in rows] == [
        (Decimal("0.0000"), Decimal("40.00")), (Decimal("0.0000"), Decimal("20.00"))]


def test_agents_with_too_few_accounts_or_nothing_assigned_are_not_rated() -> None:
    rows = by_agent(evaluate([
        agent(1, "100"), agent(2, "900", accounts=19, compliant=19),
        agent(3, "0", assigned="0"),
    ], DEFAULTS, cycle=2))
    assert rows[2].not_rated is NotRated.TOO_FEW_ACCOUNTS
    assert rows[3].not_rated is NotRated.NOTHING_ASSIGNED
    for n in (2, 3):
        assert (rows[n].score, rows[n].tier, rows[n].rank) == (None, None, None)
        assert not rows[n].flagged_for_elimination
        assert rows[n].allocation_weight == DEFAULTS.weights[Tier.QUALIFIED]
    # Agent 2's recovery is no peer: agent 1 is the best of the rated.
    assert rows[1].recovery_index == Decimal("1.0000")
    assert rows[2].recovery_rate == Decimal("0.9000") and rows[3].recovery_rate is None


def test_ties_share_a_rank_and_the_order_is_score_compliance_recovery() -> None:
    rows = evaluate([agent(4, "500"), agent(3, "500"), agent(2, "1000", compliant=17),
                     agent(5, "900"), agent(1, "200")], DEFAULTS, cycle=1)
    # 5 and 2 both score 94: 5 is the more compliant; 3 and 4 tie on everything.
    assert [(r.agent_id, r.score, r.rank) for r in rows] == [
        (5, Decimal("94.00"), 1), (2, Decimal("94.00"), 2), (3, Decimal("70.00"), 3),
        (4, Decimal("70.00"), 3), (1, Decimal("52.00"), 5)]


def test_quantile_tiers_follow_the_rank() -> None:
    rows = evaluate([agent(n, str(100 * n)) for n in range(1, 11)], QUANTILES, cycle=1)
    assert [r.tier for r in rows] == [Tier.EXCELLENT] * 2 + [Tier.GOOD] * 3 + [
        Tier.QUALIFIED] * 4 + [Tier.BELOW]


def test_quantile_ties_share_the_better_tier_and_the_gate_still_holds() -> None:
    results = [agent(n, "500") for n in range(1, 5)] + [
        agent(5, "900", compliant=15), agent(6, "100")]
    rows = by_agent(evaluate(results, QUANTILES, cycle=1))
    assert rows[5].rank == 1 and rows[5].tier is Tier.QUALIFIED and rows[5].compliance_gated
    assert {rows[n].tier for n in range(1, 5)} == {Tier.EXCELLENT}  # 1 of 6 ahead: < 0.2
    assert rows[6].tier is Tier.QUALIFIED  # 5 of 6 ahead: under 0.9
    assert evaluate([agent(1, "10")], QUANTILES, cycle=1)[0].tier is Tier.EXCELLENT


@pytest.mark.parametrize(("rated", "flagged"), [(1, 0), (4, 0), (5, 1), (10, 1), (19, 1),
                                                 (20, 2), (35, 3)])
def test_elimination_flags_the_bottom_tenth_at_least_one_from_five(rated: int, flagged: int
                                                                   ) -> None:
    assert elimination_count(rated, DEFAULTS) == flagged
    rows = evaluate([agent(n, str(10 * n)) for n in range(1, rated + 1)], DEFAULTS, cycle=2)
    assert [r.agent_id for r in rows if r.flagged_for_elimination] == list(
        range(flagged, 0, -1))


def test_elimination_runs_every_second_cycle_only() -> None:
    results = [agent(n, str(10 * n)) for n in range(1, 11)]
    for cycle, expected in [(1, 0), (2, 1), (3, 0), (4, 1)]:
        rows = evaluate(results, DEFAULTS, cycle=cycle)
        assert sum(r.flagged_for_elimination for r in rows) == expected


def test_agents_tied_with_a_flagged_agent_are_flagged_too() -> None:
    results = [agent(n, "500") for n in range(1, 9)] + [agent(9, "100"), agent(10, "100")]
    rows = by_agent(evaluate(results, DEFAULTS, cycle=2))
    assert rows[9].flagged_for_elimination and rows[10].flagged_for_elimination
    assert not any(rows[n].flagged_for_elimination for n in range(1, 9))


@pytest.mark.parametrize(("results", "position", "message"), [
    ([agent(1, "1"), agent(1, "2")], "1", "agent 1 appears twice"),
    ([agent(1, "-1")], "0", "amounts must be 0 or more and below 10,000,000,000,000,000"),
    ([agent(1, "1", assigned="1e16")], "0",
     "amounts must be 0 or more and below 10,000,000,000,000,000"),
    ([agent(1, "1", compliant=21)], "0",
     "need 0 <= compliant_accounts <= accounts <= 1,000,000,000"),
])
def test_bad_figures_are_refused_by_position(results: list[AgentResult], position: str,
                                             message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        evaluate(results, DEFAULTS, cycle=1)
    assert caught.value.details == {position: message}


# Parameters.

def test_parameters_lay_over_the_defaults_and_round_trip_through_json() -> None:
    params = parse_params({"tiering": "quantiles", "weights": {"below": "0.2"},
                           "min_accounts": 30, "recovery_weight": 0.5,
                           "compliance_weight": "0.5"})
    assert params.weights[Tier.BELOW] == Decimal("0.2")
    assert params.weights[Tier.EXCELLENT] == Decimal("1.5")
    assert (params.tiering, params.min_accounts) == (Tiering.QUANTILES, 30)
    assert parse_params(json.loads(json.dumps(params.as_json()))) == params
    assert parse_params({}) == DEFAULTS


def test_bad_parameters_are_all_reported_at_once() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_params({"recovery_weight": "0.7", "thresholds": {"good": "90"},
                      "weights": {"below": "0"}, "elimination_share": "0.9"})
    assert set(caught.value.details) == {"recovery_weight", "thresholds", "weights",
                                         "elimination_share"}
    with pytest.raises(InvalidInput) as caught:
        parse_params({"tiering": "vibes", "min_accounts": -1, "colour": "red",
                      "quantiles": {"best": 1}})
    assert set(caught.value.details) == {"tiering", "min_accounts", "colour", "quantiles"}


# Properties.

MONEY, COUNT = st.integers(0, 10**6), st.integers(0, 60)
RESULTS = st.lists(st.tuples(MONEY, MONEY, COUNT, COUNT), max_size=25).map(lambda ts: [
    AgentResult(n + 1, Decimal(a), Decimal(r), acc, min(c, acc))
    for n, (a, r, acc, c) in enumerate(ts)])


@settings(max_examples=200, deadline=None)
@given(RESULTS, st.integers(1, 6), st.sampled_from([DEFAULTS, QUANTILES]))
def test_evaluation_properties(results: list[AgentResult], cycle: int,
                               params: EvaluationParams) -> None:
    rows = evaluate(results, params, cycle=cycle)
    assert sorted(r.agent_id for r in rows) == [r.agent_id for r in results]
    rated = [r for r in rows if r.not_rated is None]
    for row in rated:
        assert row.score is not None and 0 <= row.score <= 100
        assert row.compliance_rate is not None and row.tier is not None
        if row.compliance_rate < params.compliance_floor:
            assert row.tier in (Tier.QUALIFIED, Tier.BELOW)
    flagged = [r.rank or 0 for r in rows if r.flagged_for_elimination]
    kept = [r.rank or 0 for r in rated if not r.flagged_for_elimination]
    assert not flagged if cycle % 2 else elimination_count(len(rated), params) <= len(flagged)
    assert not flagged or not kept or min(flagged) > max(kept)  # the bottom ones
    assert [r.rank for r in rated] == sorted(r.rank or 0 for r in rated)


@settings(max_examples=100, deadline=None)
@given(RESULTS, st.integers(2, 50))
def test_scaling_every_recovery_changes_no_score(results: list[AgentResult], k: int) -> None:
    scaled = [AgentResult(r.agent_id, r.amount_assigned, r.amount_recovered * k, r.accounts,
                          r.compliant_accounts) for r in results]
    before, after = evaluate(results, DEFAULTS, cycle=2), evaluate(scaled, DEFAULTS, cycle=2)
    assert [(r.agent_id, r.score, r.tier, r.rank) for r in before] == [
        (r.agent_id, r.score, r.tier, r.rank) for r in after]


# Compute and publish on the real database.

async def more_agents(pool: asyncpg.Pool, count: int) -> list[User]:
    return [await store.add_user(pool, store.NewUser(f"eval-agent-{n}", f"Agent {n}",
                                                     Role.AGENT, "x"))
            for n in range(count)]


def figures(agents: list[User]) -> list[AgentResult]:
    return [agent(a.id, str(100 * (n + 1))) for n, a in enumerate(agents)]


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


OCTOBER = date(2026, 10, 1)


async def test_compute_replaces_the_draft_and_publish_freezes_it(world: World) -> None:
    pool, who = world.pool, audit.Actor(world.users["supervisor"])
    bank = world.clients["BANKA"]
    agents = await more_agents(pool, 6)
    first = await evaluations.compute(pool, who, bank, OCTOBER, figures(agents), NOW)
    assert not first.replaced and first.evaluation.cycle == 1
    assert len(first.evaluation.rows) == 6
    again = await evaluations.compute(pool, who, bank, OCTOBER, figures(agents[:3]), NOW)
    assert again.replaced and again.evaluation.id == first.evaluation.id
    assert len(again.evaluation.rows) == 3
    assert await pool.fetchval("SELECT count(*) FROM evaluation_rows") == 3
    published = await evaluations.publish(pool, who, bank, OCTOBER, NOW)
    assert published.status == evaluations.EvaluationStatus.PUBLISHED
    assert published.published_by == world.users["supervisor"].id
    with pytest.raises(Conflict) as caught:
        await evaluations.compute(pool, who, bank, OCTOBER, figures(agents), NOW)
    assert caught.value.error_id == "evaluation.published"
    with pytest.raises(Conflict):
        await evaluations.publish(pool, who, bank, OCTOBER, NOW)
    assert await pool.fetchval("SELECT count(*) FROM evaluation_rows") == 3
    actions = [r["action"] for r in await pool.fetch(
        "SELECT action FROM audit_log WHERE record_type = 'evaluation' ORDER BY id")]
    assert actions == ["evaluation.compute", "evaluation.compute", "evaluation.publish"]


async def test_the_database_refuses_to_change_a_published_evaluation(world: World) -> None:
    pool, who = world.pool, audit.Actor(world.users["admin"])
    agents = await more_agents(pool, 2)
    made = await evaluations.compute(pool, who, world.clients["BANKA"], OCTOBER,
                                     figures(agents), NOW)
    await evaluations.publish(pool, who, world.clients["BANKA"], OCTOBER, NOW)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("UPDATE evaluation_rows SET score = 100 WHERE evaluation_id = $1",
                           made.evaluation.id)
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await pool.execute("DELETE FROM evaluations WHERE id = $1", made.evaluation.id)


async def test_a_month_not_over_in_the_clients_zone_is_refused(world: World) -> None:
    pool, who = world.pool, audit.Actor(world.users["admin"])
    agents = await more_agents(pool, 1)
    # 30 Nov 17:00 UTC is already 1 Dec 01:00 in Shanghai: November is over there;
    # 15:00 UTC is 23:00 in Shanghai: not yet.
    late_utc = NOW.replace(day=30, hour=17)
    made = await evaluations.compute(pool, who, world.clients["BANKA"], date(2026, 11, 1),
                                     figures(agents), late_utc)
    assert made.evaluation.month == date(2026, 11, 1)
    with pytest.raises(Conflict) as caught:
        await evaluations.compute(pool, who, world.clients["BANKB"], date(2026, 11, 1),
                                  figures(agents), late_utc - timedelta(hours=2))
    assert caught.value.error_id == "evaluation.month_not_over"
    assert await pool.fetchval("SELECT count(*) FROM evaluations") == 1


async def test_elimination_flags_on_the_second_cycle_only(world: World) -> None:
    pool, who = world.pool, audit.Actor(world.users["admin"])
    agents = await more_agents(pool, 6)
    bank = world.clients["BANKA"]
    september = await evaluations.compute(pool, who, bank, date(2026, 9, 1), figures(agents),
                                          NOW)
    october = await evaluations.compute(pool, who, bank, OCTOBER, figures(agents), NOW)
    assert (september.evaluation.cycle, october.evaluation.cycle) == (1, 2)
    assert not any(r.flagged_for_elimination for r in september.evaluation.rows)
    assert [r.agent_id for r in october.evaluation.rows if r.flagged_for_elimination] == [
        agents[0].id]
    with pytest.raises(Conflict) as caught:
        await evaluations.compute(pool, who, bank, date(2026, 8, 1), figures(agents), NOW)
    assert caught.value.error_id == "evaluation.before_first"


async def test_figures_of_someone_not_an_agent_are_refused(world: World) -> None:
    pool, who = world.pool, audit.Actor(world.users["admin"])
    results = [agent(world.users["qa"].id, "10"), agent(99999, "10")]
    with pytest.raises(InvalidInput) as caught:
        await evaluations.compute(pool, who, world.clients["BANKA"], OCTOBER, results, NOW)
    assert caught.value.details == {str(world.users["qa"].id): "not an agent",
                                    "99999": "not an agent"}
    with pytest.raises(NotFound):
        await evaluations.compute(pool, who, 424242, OCTOBER, [], NOW)
    assert await pool.fetchval("SELECT count(*) FROM evaluations") == 0


async def test_the_system_may_compute_but_not_publish(world: World) -> None:
    pool = world.pool
    made = await evaluations.compute(pool, audit.SYSTEM, world.clients["BANKA"], OCTOBER, [],
                                     NOW)
    assert made.evaluation.computed_by is None
    with pytest.raises(Forbidden):
        await evaluations.publish(pool, audit.SYSTEM, world.clients["BANKA"], OCTOBER, NOW)
    with pytest.raises(Forbidden):
        await evaluations.compute(pool, audit.Actor(world.users["manager"]),
                                  world.clients["BANKA"], OCTOBER, [], NOW)
