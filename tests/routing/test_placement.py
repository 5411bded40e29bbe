"""Ready-set scores (pure): ordering by (score, agent id), as Redis does, gives the
queue strategy's order, for every strategy; what is placed is what is eligible."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from routing.eligibility import AgentView, Queue
from routing.placement import (
    BASE,
    SKILL_WEIGHT,
    micros_since_base,
    placeable,
    placements,
    score,
)
from routing.state import Reserve
from routing.status import GoOnBreak
from routing.strategies import StrategyContext, rank
from tests.routing.build import NOW, available, later, run

STRATEGY_NAMES = st.sampled_from(["longest_idle", "round_robin", "skills_weighted"])
ENDS = st.one_of(
    st.none(),
    st.integers(0, 10**9).map(lambda ms: NOW - timedelta(milliseconds=ms)),
)


@st.composite
def views(draw: st.DrawFn) -> list[AgentView]:
    ids = draw(st.lists(st.text("abc123", min_size=1, max_size=3), max_size=8, unique=True))
    found = []
    for agent_id in ids:
        agent = available(agent_id)
        if draw(st.booleans()):
            agent = run(agent, GoOnBreak("lunch"))[0]
        elif draw(st.integers(0, 4)) == 0:
            agent = run(agent, Reserve("c1"))[0]
        agent = replace(agent, last_call_ended_at=draw(ENDS))
        skills = {"cards": draw(st.integers(0, 10)), "legal": draw(st.integers(0, 10))}
        queues = frozenset({"q"}) if draw(st.integers(0, 5)) else frozenset()
        found.append(AgentView(agent, draw(st.booleans()), queues, skills))
    return found


@settings(max_examples=300, deadline=None)
@given(views(), STRATEGY_NAMES, st.booleans())
def test_redis_order_of_the_placed_agents_is_the_strategy_order(
    agents: list[AgentView], strategy: str, needs_legal: bool
) -> None:
    required = {"cards": 1, "legal": 2} if needs_legal else {"cards": 1}
    queue = Queue("q", strategy, required)
    placed = {v.agent_id: placements(v, {"q": queue}).get("q") for v in agents}
    in_redis = sorted((s, a) for a, s in placed.items() if s is not None)
    expected = rank(agents, StrategyContext(queue, NOW))
    assert [a for _, a in in_redis] == [v.agent_id for v in expected]


def test_an_agent_waiting_for_ready_at_is_placed_and_one_on_a_call_is_not() -> None:
    queue = Queue("q")
    delayed = replace(available("a"), ready_at=later(30))
    assert placeable(AgentView(delayed, True, frozenset({"q"})), queue)
    held = run(available("b"), Reserve("c1"))[0]
    assert not placeable(AgentView(held, True, frozenset({"q"})), queue)


def test_an_agent_is_placed_in_each_of_its_queues_it_has_the_skills_for() -> None:
    view = AgentView(available("a"), True, frozenset({"q1", "q2", "q3"}), {"cards": 2})
    queues = {
        "q1": Queue("q1"), "q2": Queue("q2", required_skills={"cards": 3}),
        "q3": Queue("q3", "round_robin"), "q4": Queue("q4"),
    }  # fmt: skip
    assert placements(view, queues) == {"q1": 0, "q3": 0}


def test_scores_never_called_first_then_by_call_end_and_skills_outweigh_idle_time() -> None:
    assert micros_since_base(None) == 0
    assert micros_since_base(BASE + timedelta(seconds=1)) == 1_000_000
    assert micros_since_base(datetime(2019, 1, 1, tzinfo=UTC)) == 1
    queue = Queue("q", "skills_weighted", {"cards": 1})
    expert = AgentView(replace(available("a"), last_call_ended_at=NOW), True, frozenset({"q"}),
                       {"cards": 9})  # fmt: skip
    novice = AgentView(available("b"), True, frozenset({"q"}), {"cards": 1})
    assert score(expert, queue) < score(novice, queue) == -SKILL_WEIGHT
    assert abs(score(expert, queue)) < 2**53  # an exact double in Redis
