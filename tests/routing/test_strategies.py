"""Queue strategies (pure): each one's order, its ties, and ranking eligible agents."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime

import pytest

from routing.eligibility import AgentView, Queue
from routing.status import GoOnBreak
from routing.strategies import (
    STRATEGIES,
    StrategyContext,
    UnknownStrategyError,
    longest_idle,
    rank,
    round_robin,
    skills_weighted,
)
from tests.routing.build import NOW, available, later, run

QUEUE = Queue("cards", strategy="skills_weighted", required_skills={"cards": 1, "legal": 1})
CTX = StrategyContext(QUEUE, NOW)


def member(
    agent_id: str, ended: datetime | None = None, cards: int = 1, legal: int = 1
) -> AgentView:
    agent = replace(available(agent_id), last_call_ended_at=ended)
    return AgentView(agent, True, frozenset({"cards"}), {"cards": cards, "legal": legal})


def ids(views: Sequence[AgentView]) -> list[str]:
    return [view.agent_id for view in views]


def test_the_registry_names_every_strategy() -> None:
    assert {
        "longest_idle": longest_idle,
        "round_robin": round_robin,
        "skills_weighted": skills_weighted,
    } == STRATEGIES


def test_longest_idle_puts_the_oldest_call_end_first_and_never_called_before_all() -> None:
    agents = [member("a", later(-60)), member("b", later(-600)), member("c"), member("d", NOW)]
    assert ids(longest_idle(agents, CTX)) == ["c", "b", "a", "d"]


def test_longest_idle_ties_go_to_the_lower_agent_id() -> None:
    agents = [member("b", later(-60)), member("c"), member("a", later(-60)), member("0")]
    assert ids(longest_idle(agents, CTX)) == ["0", "c", "a", "b"]


@pytest.mark.parametrize(
    ("cursor", "expected"),
    [
        (None, ["a1", "a2", "a3", "a4"]),
        ("a1", ["a2", "a3", "a4", "a1"]),
        ("a3", ["a4", "a1", "a2", "a3"]),
        ("a4", ["a1", "a2", "a3", "a4"]),
        ("a2x", ["a3", "a4", "a1", "a2"]),  # the last offered agent left the queue
    ],
)
def test_round_robin_continues_after_the_last_offered(
    cursor: str | None, expected: list[str]
) -> None:
    agents = [member("a3"), member("a1"), member("a4"), member("a2")]
    assert ids(round_robin(agents, replace(CTX, last_offered=cursor))) == expected


def test_round_robin_ignores_idle_time() -> None:
    agents = [member("a2", later(-3600)), member("a1", NOW)]
    assert ids(round_robin(agents, CTX)) == ["a1", "a2"]


def test_skills_weighted_puts_the_highest_level_first_then_longest_idle() -> None:
    agents = [
        member("low", later(-3600), cards=1, legal=1),
        member("high-recent", NOW, cards=5, legal=2),
        member("high-idle", later(-60), cards=3, legal=4),
        member("mid", later(-600), cards=2, legal=2),
        member("mid-twin", later(-600), cards=3, legal=1),
    ]
    assert ids(skills_weighted(agents, CTX)) == [
        "high-idle",
        "high-recent",
        "mid",
        "mid-twin",
        "low",
    ]


def test_skills_weighted_counts_only_the_queues_skills() -> None:
    agents = [member("a", cards=1, legal=9), member("b", cards=2, legal=1)]
    ctx = StrategyContext(Queue("cards", required_skills={"cards": 1}), NOW)
    assert ids(skills_weighted(agents, ctx)) == ["b", "a"]


def test_rank_keeps_only_eligible_agents_in_the_queues_order() -> None:
    on_break = replace(member("a0"), agent=run(available("a0"), GoOnBreak("lunch"))[0])
    unregistered = replace(member("a1"), registered=False)
    agents = [member("a3", cards=1), on_break, unregistered, member("a2", cards=4)]
    assert ids(rank(agents, CTX)) == ["a2", "a3"]


def test_rank_refuses_an_unknown_strategy() -> None:
    with pytest.raises(UnknownStrategyError, match=r"'fastest'.*known: longest_idle"):
        rank([member("a1")], StrategyContext(Queue("cards", strategy="fastest"), NOW))
