"""Queue strategies: which agent a queue's call is offered to first.

Pure. A strategy orders agents best first; it does not filter: `rank` keeps the
eligible agents (`routing.eligibility`) and orders them with the queue's strategy.
The router offers the call to the first and, when that claim fails or the agent
does not answer, to the next. Every order is total (ties end on agent id), so the
same inputs always give the same offer.

* ``longest_idle``: the agent whose last call ended longest ago first; an agent
  with no call yet before everyone (mod_callcenter's last_bridge_end of 0).
* ``round_robin``: agents in agent-id order, starting after the one last offered a
  call from this queue (`StrategyContext.last_offered`, the queue's cursor, kept by
  the shell); an id the cursor no longer finds still places the turn correctly.
* ``skills_weighted``: the highest level first, summed over the queue's required
  skills; equal levels by longest idle.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from routing.eligibility import AgentView, Queue, is_eligible

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StrategyContext:
    queue: Queue
    now: datetime
    last_offered: str | None = None  # round_robin's cursor: an agent id


Strategy = Callable[[Sequence[AgentView], StrategyContext], list[AgentView]]


class UnknownStrategyError(ValueError):
    pass


def _idle_key(view: AgentView) -> tuple[datetime, str]:
    return view.agent.last_call_ended_at or _NEVER, view.agent_id


def longest_idle(agents: Sequence[AgentView], ctx: StrategyContext) -> list[AgentView]:
    return sorted(agents, key=_idle_key)


def round_robin(agents: Sequence[AgentView], ctx: StrategyContext) -> list[AgentView]:
    cursor = ctx.last_offered

    def turn(view: AgentView) -> tuple[bool, str]:
        had_turn = cursor is not None and view.agent_id <= cursor
        return had_turn, view.agent_id

    return sorted(agents, key=turn)


def skill_score(view: AgentView, queue: Queue) -> int:
    return sum(view.skills.get(skill, 0) for skill in queue.required_skills)


def skills_weighted(agents: Sequence[AgentView], ctx: StrategyContext) -> list[AgentView]:
    def key(view: AgentView) -> tuple[int, datetime, str]:
        return -skill_score(view, ctx.queue), *_idle_key(view)

    return sorted(agents, key=key)


STRATEGIES: dict[str, Strategy] = {
    "longest_idle": longest_idle,
    "round_robin": round_robin,
    "skills_weighted": skills_weighted,
}


def strategy_for(queue: Queue) -> Strategy:
    try:
        return STRATEGIES[queue.strategy]
    except KeyError:
        known = ", ".join(sorted(STRATEGIES))
        raise UnknownStrategyError(
            f"queue {queue.queue_id}: unknown strategy {queue.strategy!r} (known: {known})"
        ) from None


def rank(agents: Sequence[AgentView], ctx: StrategyContext) -> list[AgentView]:
    """The agents who may take the queue's call now, best first."""
    eligible = [view for view in agents if is_eligible(view, ctx.queue, ctx.now)]
    return strategy_for(ctx.queue)(eligible, ctx)
