"""Routing worlds for the tests on real Redis and PostgreSQL: live agents and queues
written straight into Redis, or agents and queues created in PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime

import asyncpg

from cases.domain import Role
from cases.store import NewUser, add_user
from routing import status as su
from routing import store
from routing.agent import Agent
from routing.fields import LiveAgent
from routing.live import Live, Redis
from routing.rebuild import install, rebuild
from routing.roster import AgentProfile, ChangedBy, Changer, Member, QueueProfile, Roster
from routing.service import AgentService
from routing.status import AgentStatus
from tests.routing.build import NOW, TIMERS

REALM = "callcase"
PASSWORD = "softphone-secret"


class Phones:
    """The registrar's bindings, as a set of registered extensions."""

    def __init__(self, extensions: Iterable[str] = ()) -> None:
        self.bound = set(extensions)

    def lookup(self, extension: str) -> object | None:
        return extension if extension in self.bound else None


def live_agent(
    agent_id: str, *queues: str, registered: bool = True,
    status: AgentStatus = AgentStatus.AVAILABLE, ended: datetime | None = None,
    ready_at: datetime | None = None, skills: Mapping[str, int] | None = None,
) -> LiveAgent:  # fmt: skip
    agent = Agent(agent_id, TIMERS, status, ready_at=ready_at, last_call_ended_at=ended)
    if status is AgentStatus.ON_BREAK:
        agent = replace(agent, break_reason="lunch")
    return LiveAgent(agent, f"x{agent_id}", registered, frozenset(queues), dict(skills or {}))


def queue(queue_id: int, strategy: str = "longest_idle", **skills: int) -> QueueProfile:
    return QueueProfile(queue_id, f"q{queue_id}", strategy, None, skills)


async def install_world(
    redis: Redis, agents: Iterable[LiveAgent], *queues: QueueProfile
) -> Live:
    await install(redis, Roster(queues=queues), list(agents), "test-epoch")
    return Live(redis)


async def add_agents(
    pool: asyncpg.Pool, count: int, *, first: int = 0, skills: Mapping[str, int] | None = None
) -> list[AgentProfile]:
    agents = []
    for n in range(first, first + count):
        user = await add_user(pool, NewUser(f"agent{n}", f"Agent {n}", Role.AGENT, "x"))
        new = store.NewAgent(user.id, f"{1000 + n}", PASSWORD, TIMERS, dict(skills or {}))
        agents.append(await store.create_agent(pool, new, REALM, NOW))
    return agents


async def add_queue(
    pool: asyncpg.Pool, name: str, members: Iterable[AgentProfile], strategy: str = "longest_idle",
    campaign_id: int | None = None, **skills: int,
) -> QueueProfile:  # fmt: skip
    found = await store.create_queue(pool, store.NewQueue(name, strategy, campaign_id, skills))
    for agent in members:
        await store.add_member(pool, Member(found.id, agent.user_id))
    return found


class Clock:
    def __init__(self, now: datetime = NOW) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Desk:
    agents: list[AgentProfile]
    queue_id: str
    live: Live
    service: AgentService
    clock: Clock

    def me(self, n: int) -> Changer:
        return Changer(ChangedBy.SELF, self.agents[n].user_id)

    def id(self, n: int) -> str:
        return self.agents[n].agent_id


async def open_desk(pool: asyncpg.Pool, redis: Redis, count: int = 3) -> Desk:
    """`count` agents in one longest-idle queue, registered and logged in."""
    agents = await add_agents(pool, count)
    found = await add_queue(pool, "cards", agents)
    await rebuild(pool, redis, Phones(a.extension for a in agents), set(), NOW)
    clock = Clock()
    desk = Desk(agents, str(found.id), Live(redis), AgentService(pool, Live(redis), clock), clock)
    for n in range(count):
        await desk.service.request_status(desk.id(n), su.LogIn(), desk.me(n))
    return desk
