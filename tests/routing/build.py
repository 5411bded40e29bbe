"""Agents in a given situation, built by feeding them the events that lead there."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from routing.agent import Agent, AgentTimers, Effect, Event, apply
from routing.state import Answered, CallEnded, Offer, Reserve
from routing.status import LogIn

NOW = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)
TIMERS = AgentTimers(
    wrap_up_time=timedelta(seconds=20),
    no_answer_delay=timedelta(seconds=15),
    max_no_answer=3,
    reject_delay=timedelta(seconds=60),
)


def run(agent: Agent, *events: Event, at: datetime = NOW) -> tuple[Agent, list[Effect]]:
    """Feed `events` at `at`; the last agent and every effect, in order."""
    effects: list[Effect] = []
    for event in events:
        found = apply(agent, event, at)
        agent = found.agent
        effects += found.effects
    return agent, effects


def available(agent_id: str = "a1", timers: AgentTimers = TIMERS) -> Agent:
    return run(Agent(agent_id, timers), LogIn())[0]


def ringing(call_id: str = "c1", agent: Agent | None = None, at: datetime = NOW) -> Agent:
    return run(agent or available(), Reserve(call_id), Offer(call_id), at=at)[0]


def talking(call_id: str = "c1", agent: Agent | None = None, at: datetime = NOW) -> Agent:
    return run(ringing(call_id, agent, at), Answered(call_id), at=at)[0]


def wrapping_up(call_id: str = "c1", agent: Agent | None = None, at: datetime = NOW) -> Agent:
    return run(talking(call_id, agent, at), CallEnded(call_id), at=at)[0]


def later(seconds: float) -> datetime:
    return NOW + timedelta(seconds=seconds)
