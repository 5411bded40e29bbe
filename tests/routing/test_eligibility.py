"""The eligibility predicate (pure): every condition, alone and in every combination."""

from __future__ import annotations

import itertools
from dataclasses import replace

import pytest

from routing.agent import Agent
from routing.eligibility import AgentView, Ineligible, Queue, ineligibility, is_eligible
from routing.state import AgentState
from routing.status import AgentStatus
from tests.routing.build import NOW, available, later, talking, wrapping_up

QUEUE = Queue("cards", required_skills={"cards": 2})
CONDITIONS = list(Ineligible)


def view(failing: set[Ineligible]) -> AgentView:
    """An agent for whom exactly the `failing` conditions do not hold."""
    agent: Agent = available()
    if Ineligible.NOT_AVAILABLE in failing:
        agent = replace(agent, status=AgentStatus.ON_BREAK, break_reason="lunch")
    if Ineligible.NOT_IDLE in failing:
        agent = replace(agent, state=AgentState.RINGING, call_id="c1")
    if Ineligible.NOT_READY in failing:
        agent = replace(agent, ready_at=later(1))
    return AgentView(
        agent,
        registered=Ineligible.NOT_REGISTERED not in failing,
        queues=frozenset({"loans"} if Ineligible.NOT_IN_QUEUE in failing else {"cards", "loans"}),
        skills={"cards": 1 if Ineligible.MISSING_SKILL in failing else 2},
    )


TRUTH_TABLE = [
    set(itertools.compress(CONDITIONS, bits))
    for bits in itertools.product((False, True), repeat=len(CONDITIONS))
]


@pytest.mark.parametrize("failing", TRUTH_TABLE, ids=lambda f: ",".join(sorted(f)) or "none")
def test_eligible_exactly_when_no_condition_fails(failing: set[Ineligible]) -> None:
    candidate = view(failing)
    assert set(ineligibility(candidate, QUEUE, NOW)) == failing
    assert is_eligible(candidate, QUEUE, NOW) is (not failing)


def test_ready_at_now_is_ready() -> None:
    agent = replace(available(), ready_at=NOW)
    assert is_eligible(AgentView(agent, True, frozenset({"cards"}), {"cards": 3}), QUEUE, NOW)


def test_a_queue_without_required_skills_takes_anyone_in_it() -> None:
    plain = AgentView(available(), True, frozenset({"general"}))
    assert is_eligible(plain, Queue("general"), NOW)


def test_every_required_skill_is_needed() -> None:
    queue = Queue("legal", required_skills={"cards": 1, "legal": 1})
    one = AgentView(available(), True, frozenset({"legal"}), {"cards": 5})
    assert ineligibility(one, queue, NOW) == (Ineligible.MISSING_SKILL,)


@pytest.mark.parametrize("agent", [talking("c1"), wrapping_up("c1")], ids=["talking", "wrap_up"])
def test_an_agent_holding_a_call_is_not_eligible(agent: Agent) -> None:
    assert ineligibility(AgentView(agent, True, frozenset({"g"})), Queue("g"), NOW) == (
        Ineligible.NOT_IDLE,
    )


def test_required_levels_start_at_one() -> None:
    with pytest.raises(ValueError, match="levels start at 1"):
        Queue("cards", required_skills={"cards": 0})
