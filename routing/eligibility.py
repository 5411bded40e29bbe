"""Whether an agent may be offered a queue's call now: one pure predicate.

An agent is eligible for a queue at `now` when all of these hold:

* status ``available`` (the person wants calls),
* state ``idle`` (holding no call, wrap-up over),
* ready_at has passed (no_answer_delay or reject_delay served),
* their softphone is registered (a call offered to a phone that is not there rings
  nowhere and costs the debtor the 2 s window),
* they are a member of the queue,
* they have every skill the queue requires, at least at the level it requires.

`ineligibility` names the conditions that fail (for the supervisor's "why is this
agent not getting calls?"); `is_eligible` is true exactly when it names none, so the
two can never disagree.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum

from routing.agent import Agent
from routing.state import AgentState
from routing.status import AgentStatus


@dataclass(frozen=True, slots=True)
class Queue:
    queue_id: str
    strategy: str = "longest_idle"  # a key of routing.strategies.STRATEGIES
    required_skills: Mapping[str, int] = field(default_factory=dict)  # skill -> min level

    def __post_init__(self) -> None:
        if any(level < 1 for level in self.required_skills.values()):
            raise ValueError(f"queue {self.queue_id}: required skill levels start at 1")


@dataclass(frozen=True, slots=True)
class AgentView:
    """An agent with what routing needs beyond the agent's own value: the
    registrar's word on the softphone, and the agent's queues and skill levels."""

    agent: Agent
    registered: bool
    queues: frozenset[str]
    skills: Mapping[str, int] = field(default_factory=dict)  # skill -> level

    @property
    def agent_id(self) -> str:
        return self.agent.agent_id


class Ineligible(StrEnum):
    NOT_AVAILABLE = "not available"
    NOT_IDLE = "not idle"
    NOT_READY = "ready_at not reached"
    NOT_REGISTERED = "softphone not registered"
    NOT_IN_QUEUE = "not in the queue"
    MISSING_SKILL = "missing a required skill"


def has_skills(skills: Mapping[str, int], required: Mapping[str, int]) -> bool:
    return all(skills.get(skill, 0) >= level for skill, level in required.items())


def ineligibility(view: AgentView, queue: Queue, now: datetime) -> tuple[Ineligible, ...]:
    """Every reason `view` may not take a call from `queue` at `now`; () if none."""
    agent = view.agent
    checks = (
        (Ineligible.NOT_AVAILABLE, agent.status is AgentStatus.AVAILABLE),
        (Ineligible.NOT_IDLE, agent.state is AgentState.IDLE),
        (Ineligible.NOT_READY, agent.is_ready(now)),
        (Ineligible.NOT_REGISTERED, view.registered),
        (Ineligible.NOT_IN_QUEUE, queue.queue_id in view.queues),
        (Ineligible.MISSING_SKILL, has_skills(view.skills, queue.required_skills)),
    )
    return tuple(reason for reason, holds in checks if not holds)


def is_eligible(view: AgentView, queue: Queue, now: datetime) -> bool:
    return not ineligibility(view, queue, now)
