"""Allocating a batch's cases to agents: pure tables and properties, then the store on
the real database (skills from agent_skills, caps, weights from the published
evaluation, idempotency, the log and the audit row)."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date
from decimal import Decimal
from fractions import Fraction

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cases import allocations, audit, batches, evaluations, store
from cases.allocation import (
    DEFAULT_CASELOAD_CAP,
    AgentSlot,
    NewCase,
    Unplaced,
    allocate,
    allocation_order,
    bucket_skill,
    can_take,
)
from cases.domain import Role, User
from cases.errors import Forbidden, InvalidInput, NotFound
from cases.evaluation import AgentResult
from routing import store as routing_store
from tests.api.world import NOW, World, build_world, resident_id

CARD = frozenset({"credit_card"})


def case(case_id: int, balance: str = "100", product: str = "credit_card", bucket: str = "M1"
         ) -> NewCase:
    return NewCase(case_id, product, bucket, Decimal(balance))


def slot(agent_id: int, weight: str = "1", skills: frozenset[str] = CARD, *, open_cases: int = 0,
         cap: int | None = None) -> AgentSlot:
    return AgentSlot(agent_id, Decimal(weight), skills, open_cases, cap)


# Skills.

@pytest.mark.parametrize(("bucket", "skill"), [("M0", "bucket_m0"), ("M3", "bucket_m3"),
                                               ("M6", "bucket_m6"), ("M6+", "bucket_m6plus")])
def test_bucket_skill_names(bucket: str, skill: str) -> None:
    assert bucket_skill(bucket) == skill


@pytest.mark.parametrize(("skills", "product", "bucket", "takes"), [
    ({"credit_card"}, "credit_card", "M3", True),
    ({"credit_card"}, "personal_loan", "M3", False),
    ({"personal_loan", "credit_card"}, "personal_loan", "M6+", True),
    ({"credit_card", "bucket_m1", "bucket_m2"}, "credit_card", "M2", True),
    ({"credit_card", "bucket_m1", "bucket_m2"}, "credit_card", "M3", False),
    ({"credit_card", "bucket_m6plus"}, "credit_card", "M6+", True),
    ({"bucket_m1"}, "credit_card", "M1", False),  # a bucket without the product
    ({"cards", "legal"}, "credit_card", "M1", False),  # queue skills are not products
    (set(), "credit_card", "M1", False),
])
def test_the_skill_rule(skills: set[str], product: str, bucket: str, takes: bool) -> None:
    assert can_take(frozenset(skills), case(1, product=product, bucket=bucket)) is takes


# Tables.

def test_biggest_balances_go_first_and_spread_over_the_agents() -> None:
    cases = [case(1, "50"), case(2, "9000"), case(3, "8000"), case(4, "70"), case(5, "8000")]
    assert [c.case_id for c in allocation_order(cases)] == [2, 3, 5, 4, 1]
    result = allocate(cases, [slot(20), slot(10)])
    assert result.assigned == ((2, 10), (3, 20), (5, 10), (4, 20), (1, 10))


def test_shares_follow_the_tier_weights() -> None:
    result = allocate([case(n) for n in range(1, 33)],
                      [slot(1, "1.5"), slot(2, "1.2"), slot(3, "1.0"), slot(4, "0.5")])
    # 32 cases over a total weight of 4.2: 11.43, 9.14, 7.62, 3.81; each within one.
    assert Counter(agent for _, agent in result.assigned) == {1: 12, 2: 9, 3: 8, 4: 3}


def test_caps_count_the_open_cases_already_held() -> None:
    result = allocate([case(n) for n in range(1, 11)],
                      [slot(1, open_cases=8, cap=10), slot(2, cap=3),
                       slot(3, open_cases=12, cap=10)])
    counts = Counter(agent for _, agent in result.assigned)
    assert counts == {1: 2, 2: 3}
    assert [(c, why) for c, why in result.unplaced] == [
        (n, Unplaced.CASELOAD_FULL) for n in range(6, 11)]


def test_cases_no_agent_can_take_are_reported_with_the_reason() -> None:
    result = allocate(
        [case(1, product="personal_loan"), case(2, bucket="M6+"), case(3), case(4)],
        [slot(1, skills=frozenset({"credit_card", "bucket_m1"}), cap=1)])
    assert result.assigned == ((3, 1),)
    assert dict(result.unplaced) == {1: Unplaced.NO_SKILLED_AGENT,
                                     2: Unplaced.NO_SKILLED_AGENT, 4: Unplaced.CASELOAD_FULL}


def test_no_agents_leaves_every_case_unassigned() -> None:
    result = allocate([case(1), case(2)], [])
    assert result.assigned == ()
    assert [why for _, why in result.unplaced] == [Unplaced.NO_SKILLED_AGENT] * 2


def test_a_specialist_and_a_generalist_share_what_both_can_take() -> None:
    loans = frozenset({"personal_loan"})
    both = frozenset({"personal_loan", "credit_card"})
    cases = [case(n, product="personal_loan") for n in range(1, 7)] + [
        case(n) for n in range(7, 10)]
    result = allocate(cases, [slot(1, skills=loans), slot(2, skills=both)])
    counts = Counter(agent for _, agent in result.assigned)
    assert counts == {1: 3, 2: 6}  # half of the loans each, every card to agent 2


def test_balance_aware_allocation_splits_the_money_by_weight() -> None:
    cases = [case(1, "100"), case(2, "60"), case(3, "50"), case(4, "10")]
    result = allocate(cases, [slot(1), slot(2)], by_balance=True)
    assert dict(result.assigned) == {1: 1, 2: 2, 3: 2, 4: 1}  # 110 each
    assert dict(allocate(cases, [slot(1), slot(2)]).assigned) == {1: 1, 2: 2, 3: 1, 4: 2}


@pytest.mark.parametrize(("agents", "field"), [
    ([slot(1), slot(1)], None),
    ([slot(1, "0")], "1"),
    ([slot(2, cap=-1)], "2"),
])
def test_bad_agents_are_refused(agents: list[AgentSlot], field: str | None) -> None:
    with pytest.raises(InvalidInput) as caught:
        allocate([case(1)], agents)
    if field is not None:
        assert field in caught.value.details


# Properties.

SKILL_SETS = st.frozensets(st.sampled_from(
    ["credit_card", "personal_loan", "bucket_m1", "bucket_m3", "bucket_m6plus"]))
CASES = st.lists(st.builds(
    NewCase, st.integers(1, 10**6), st.sampled_from(["credit_card", "personal_loan"]),
    st.sampled_from(["M1", "M3", "M6+"]),
    st.integers(0, 10**6).map(lambda n: Decimal(n) / 100)),
    max_size=60, unique_by=lambda c: c.case_id)
WEIGHTS = st.sampled_from(["0.5", "1.0", "1.2", "1.5", "0.3", "2"]).map(Decimal)
AGENTS = st.lists(st.builds(
    AgentSlot, st.integers(1, 1000), WEIGHTS, SKILL_SETS, st.integers(0, 20),
    st.one_of(st.none(), st.integers(0, 30))), max_size=8, unique_by=lambda a: a.agent_id)


@settings(max_examples=300, deadline=None)
@given(CASES, AGENTS, st.booleans())
def test_caps_skills_and_completeness_always_hold(cases: list[NewCase],
                                                  agents: list[AgentSlot],
                                                  by_balance: bool) -> None:
    result = allocate(cases, agents, by_balance=by_balance)
    by_id = {a.agent_id: a for a in agents}
    by_case = {c.case_id: c for c in cases}
    placed = [c for c, _ in result.assigned] + [c for c, _ in result.unplaced]
    assert sorted(placed) == sorted(by_case)
    for case_id, agent_id in result.assigned:
        assert can_take(by_id[agent_id].skills, by_case[case_id])
    for agent_id, got in Counter(a for _, a in result.assigned).items():
        cap = by_id[agent_id].cap
        assert cap is None or by_id[agent_id].open_cases + got <= cap
    for case_id, why in result.unplaced:
        skilled = [a for a in agents if can_take(a.skills, by_case[case_id])]
        assert (why is Unplaced.CASELOAD_FULL) == bool(skilled)


@settings(max_examples=300, deadline=None)
@given(st.lists(WEIGHTS, min_size=1, max_size=8), st.integers(0, 80))
def test_unconstrained_shares_stay_within_one_case_of_the_weights(
        weights: list[Decimal], n: int) -> None:
    agents = [slot(i + 1, str(w)) for i, w in enumerate(weights)]
    result = allocate([case(c) for c in range(1, n + 1)], agents)
    total = sum(Fraction(w) for w in weights)
    received = Counter[int]()
    for t, (_, agent_id) in enumerate(result.assigned, start=1):
        received[agent_id] += 1
        for a in agents:  # after every case, not only at the end
            assert abs(received[a.agent_id] - t * Fraction(a.weight) / total) < 1


@settings(max_examples=200, deadline=None)
@given(st.lists(WEIGHTS, min_size=1, max_size=8), CASES)
def test_by_balance_no_agent_gets_more_than_its_share_and_one_case(
        weights: list[Decimal], cases: list[NewCase]) -> None:
    agents = [slot(i + 1, str(w), frozenset({"credit_card", "personal_loan"}))
              for i, w in enumerate(weights)]
    result = allocate(cases, agents, by_balance=True)
    balance = {c.case_id: Fraction(c.balance) for c in cases}
    biggest = max(balance.values(), default=Fraction(0))
    total, weight = Fraction(0), sum(Fraction(w) for w in weights)
    received: dict[int, Fraction] = {}
    for case_id, agent_id in result.assigned:
        received[agent_id] = received.get(agent_id, Fraction(0)) + balance[case_id]
        total += balance[case_id]
        assert received[agent_id] <= total * Fraction(weights[agent_id - 1]) / weight + biggest


@settings(max_examples=100, deadline=None)
@given(CASES, AGENTS)
def test_allocation_is_deterministic_whatever_the_input_order(cases: list[NewCase],
                                                              agents: list[AgentSlot]) -> None:
    assert allocate(cases, agents) == allocate(cases[::-1], agents[::-1])


# The store on the real database.

HEADER = "account_no,debtor_name,debtor_id_no,product,balance,days_past_due,mobile\n"


async def import_cases(world: World, rows: list[tuple[str, str, int, int]]) -> int:
    """A batch for BANKA of (account, product, balance, days past due); its id."""
    lines = [f"{acc},债务人,{resident_id('19800101', n + 100)},{product},{balance},{dpd},"
             f"1380013{n:04d}" for n, (acc, product, balance, dpd) in enumerate(rows)]
    client = await store.get_client(world.pool, code="BANKA")
    made = await batches.import_batch(world.pool, audit.SYSTEM, client, "alloc.csv",
                                      (HEADER + "\n".join(lines) + "\n").encode(),
                                      received_at=NOW, now=NOW)
    assert made.rows_rejected == 0, made.rejections
    return made.batch_id


async def agent_with(world: World, name: str, skills: dict[str, int]) -> User:
    user = await store.add_user(world.pool, store.NewUser(name, name, Role.AGENT, "x"))
    await routing_store.create_agent(
        world.pool, routing_store.NewAgent(user.id, f"{7000 + user.id}", "softphone-pw",
                                           skills=skills), "callcase", NOW)
    return user


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def assigned(pool: asyncpg.Pool, batch_id: int) -> dict[str, int | None]:
    rows = await pool.fetch("SELECT account_no, assigned_agent_id FROM cases"
                            " WHERE last_batch_id = $1", batch_id)
    return {r["account_no"]: r["assigned_agent_id"] for r in rows}


async def test_allocate_by_skills_and_caps_then_again_moves_nothing(world: World) -> None:
    pool, manager = world.pool, audit.Actor(world.users["manager"])
    cards = await agent_with(world, "cards-1", {"credit_card": 3})
    loans = await agent_with(world, "loans-1", {"personal_loan": 2, "bucket_m1": 1})
    batch = await import_cases(world, [
        ("N1", "credit_card", 5000, 10), ("N2", "credit_card", 4000, 10),
        ("N3", "personal_loan", 3000, 10), ("N4", "personal_loan", 2000, 200),
        ("N5", "credit_card", 1000, 10)])
    await allocations.set_caseload_cap(pool, manager, cards.id, 2, NOW)
    report = await allocations.allocate_batch(pool, manager, batch, NOW)
    assert await assigned(pool, batch) == {"N1": cards.id, "N2": cards.id, "N3": loans.id,
                                           "N4": None, "N5": None}
    assert [(u.account_no, str(u.reason)) for u in report.unplaced] == [
        ("N4", "no_skilled_agent"), ("N5", "caseload_full")]
    assert [(s.agent_id, s.cases, s.balance) for s in report.shares] == [
        (cards.id, 2, Decimal("9000.00")), (loans.id, 1, Decimal("3000.00"))]
    when = await pool.fetchval("SELECT assigned_at FROM cases WHERE account_no = 'N1'")
    assert when == NOW
    # More room: allocating again places N5 and leaves N1..N3 where they are.
    await allocations.set_caseload_cap(pool, manager, cards.id, 3, NOW)
    again = await allocations.allocate_batch(pool, manager, batch, NOW)
    assert (again.assigned, again.already_assigned) == (1, 3)
    assert (await assigned(pool, batch))["N5"] == cards.id
    log = await pool.fetch("SELECT agent_id, cases FROM allocations ORDER BY id")
    assert [(r["agent_id"], r["cases"]) for r in log] == [(cards.id, 2), (loans.id, 1),
                                                           (cards.id, 1)]
    entries = await pool.fetch("SELECT * FROM audit_log WHERE action = 'batch.allocate'"
                               " ORDER BY id")
    assert [json.loads(e["details"])["assigned"] for e in entries] == [3, 1]
    assert json.loads(entries[0]["details"])["unassigned"] == {"no_skilled_agent": 1,
                                                               "caseload_full": 1}
    assert entries[0]["user_id"] == world.users["manager"].id


async def test_weights_come_from_the_latest_published_evaluation(world: World) -> None:
    pool, admin = world.pool, audit.Actor(world.users["admin"])
    best = await agent_with(world, "best", {"credit_card": 1})
    worst = await agent_with(world, "worst", {"credit_card": 1})
    newcomer = await agent_with(world, "newcomer", {"credit_card": 1})
    results = [AgentResult(best.id, Decimal(1000), Decimal(900), 30, 30),
               AgentResult(worst.id, Decimal(1000), Decimal(50), 30, 24)]
    bank = world.clients["BANKA"]
    await evaluations.compute(pool, admin, bank, date(2026, 10, 1), results, NOW)
    batch = await import_cases(world, [(f"W{n}", "credit_card", 1000 + n, 5)
                                       for n in range(30)])
    # A draft does not count: equal weights.
    draft = await allocations.allocate_batch(pool, admin, batch, NOW)
    assert draft.evaluation_id is None
    assert sorted(s.cases for s in draft.shares) == [10, 10, 10]
    batch2 = await import_cases(world, [(f"X{n}", "credit_card", 1000 + n, 5)
                                        for n in range(30)])
    published = await evaluations.publish(pool, admin, bank, date(2026, 10, 1), NOW)
    report = await allocations.allocate_batch(pool, admin, batch2, NOW)
    assert report.evaluation_id == published.id
    shares = {s.agent_id: (s.weight, s.cases) for s in report.shares}
    # 1.5 : 0.5 : 1.0 (new: qualified) of 30 cases.
    assert shares == {best.id: (Decimal("1.500"), 15), worst.id: (Decimal("0.500"), 5),
                      newcomer.id: (Decimal("1.0"), 10)}


async def test_closed_and_paid_cases_are_not_allocated_nor_counted(world: World) -> None:
    pool, admin = world.pool, audit.Actor(world.users["admin"])
    agent = await agent_with(world, "solo", {"credit_card": 1})
    batch = await import_cases(world, [("P1", "credit_card", 100, 5),
                                       ("P2", "credit_card", 100, 5)])
    await pool.execute("UPDATE cases SET status = 'paid' WHERE account_no = 'P1'")
    await allocations.set_caseload_cap(pool, admin, agent.id, 1, NOW)
    report = await allocations.allocate_batch(pool, admin, batch, NOW)
    assert (report.assigned, report.unplaced) == (1, ())
    assert await assigned(pool, batch) == {"P1": None, "P2": agent.id}


async def test_who_may_allocate_and_set_caps(world: World) -> None:
    pool = world.pool
    batch = await import_cases(world, [("R1", "credit_card", 100, 5)])
    for who in ("supervisor", "agent_a", "auditor_a", "qa"):
        with pytest.raises(Forbidden):
            await allocations.allocate_batch(pool, audit.Actor(world.users[who]), batch, NOW)
    for who in ("agent_a", "auditor_a", "qa"):
        with pytest.raises(Forbidden):
            await allocations.set_caseload_cap(pool, audit.Actor(world.users[who]),
                                               world.users["agent_a"].id, 5, NOW)
    system = await allocations.allocate_batch(pool, audit.SYSTEM, batch, NOW)
    assert system.unplaced[0].reason is Unplaced.NO_SKILLED_AGENT
    with pytest.raises(NotFound):
        await allocations.allocate_batch(pool, audit.SYSTEM, 424242, NOW)
    sup = audit.Actor(world.users["supervisor"])
    with pytest.raises(NotFound):
        await allocations.set_caseload_cap(pool, sup, world.users["qa"].id, 5, NOW)
    with pytest.raises(InvalidInput):
        await allocations.set_caseload_cap(pool, sup, world.users["agent_a"].id, -1, NOW)
    assert await allocations.set_caseload_cap(pool, sup, world.users["agent_a"].id, None,
                                              NOW) == DEFAULT_CASELOAD_CAP
