"""Status requests and call events on real PostgreSQL and Redis: durable status with
its history, deferred requests, max_no_answer, a writer that loses the race, and
the whole call cycle."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

import asyncpg
import pytest
import redis.asyncio as aioredis

from routing import state as sm
from routing import status as su
from routing import store
from routing.eligibility import Queue
from routing.fields import LiveAgent
from routing.live import Live, Reservation
from routing.roster import SYSTEM
from routing.service import AgentService
from routing.state import AgentState
from routing.status import AgentStatus, StatusError
from tests.routing.build import NOW, later
from tests.routing.world import Desk, open_desk

Redis = aioredis.Redis


@pytest.fixture
async def desk(pool: asyncpg.Pool, redis: Redis) -> Desk:
    return await open_desk(pool, redis)


async def ring(desk: Desk, call_id: str) -> Reservation:
    found = await desk.live.reserve(desk.queue_id, call_id, desk.clock())
    assert found is not None
    await desk.service.call_event(found.agent_id, sm.Offer(call_id))
    return found


async def test_logging_in_is_durable_logged_and_makes_the_agent_reservable(
    pool: asyncpg.Pool, desk: Desk
) -> None:
    profile = await store.get_agent(pool, desk.agents[0].user_id)
    assert profile.status is AgentStatus.AVAILABLE and profile.status_since == NOW
    log = await store.status_log(pool, desk.agents[0].user_id)
    assert [(c.from_status, c.to_status, c.by) for c in log] == [
        (AgentStatus.LOGGED_OUT, AgentStatus.AVAILABLE, desk.me(0))]
    assert (await desk.live.agent(desk.id(0))).agent.status is AgentStatus.AVAILABLE
    assert await desk.live.reserve(desk.queue_id, "c1", NOW) is not None


async def test_a_break_asked_for_during_a_call_waits_for_the_wrap_up_then_is_logged(
    pool: asyncpg.Pool, desk: Desk
) -> None:
    held = await ring(desk, "c1")
    n = desk.agents.index(next(a for a in desk.agents if a.agent_id == held.agent_id))
    await desk.service.call_event(held.agent_id, sm.Answered("c1"))
    await desk.service.request_status(held.agent_id, su.GoOnBreak("lunch"), desk.me(n))
    assert (await store.get_agent(pool, int(held.agent_id))).status is AgentStatus.AVAILABLE
    await desk.service.call_event(held.agent_id, sm.CallEnded("c1"))
    desk.clock.now = later(5)
    await desk.service.call_event(held.agent_id, sm.WrapUpDone("c1"))
    log = await store.status_log(pool, int(held.agent_id))
    assert (log[-1].to_status, log[-1].reason, log[-1].by, log[-1].at) == (
        AgentStatus.ON_BREAK, "lunch", desk.me(n), later(5))
    others = {desk.id(m) for m in range(3)} - {held.agent_id}
    found = [await desk.live.reserve(desk.queue_id, f"c{m}", later(5)) for m in (2, 3, 4)]
    assert {r.agent_id for r in found if r is not None} == others


async def test_max_no_answer_benches_the_agent_in_the_systems_name(
    pool: asyncpg.Pool, pool_desk: Desk
) -> None:
    desk = pool_desk
    for n, call in enumerate(("c1", "c2", "c3")):
        desk.clock.now = later(60 * n)
        found = await desk.live.reserve(desk.queue_id, call, desk.clock())
        assert found is not None and found.agent_id == desk.id(0)
        await desk.service.call_event(desk.id(0), sm.Offer(call))
        await desk.service.call_event(desk.id(0), sm.NoAnswer(call))
    profile = await store.get_agent(pool, desk.agents[0].user_id)
    assert (profile.status, profile.status_reason) == (AgentStatus.ON_BREAK, "max_no_answer")
    assert (await store.status_log(pool, desk.agents[0].user_id))[-1].by == SYSTEM


@pytest.fixture
async def pool_desk(pool: asyncpg.Pool, redis: Redis) -> Desk:
    """One agent only."""
    return await open_desk(pool, redis, 1)


async def test_a_refused_request_writes_nothing(pool: asyncpg.Pool, desk: Desk) -> None:
    with pytest.raises(StatusError):
        await desk.service.request_status(desk.id(0), su.LogIn(), desk.me(0))
    assert len(await store.status_log(pool, desk.agents[0].user_id)) == 1


class Interfering(Live):
    """A Live whose first commit loses to a router reserving the agent meanwhile."""

    def __init__(self, redis: Redis, queue_id: str) -> None:
        super().__init__(redis)
        self.queue_id, self.raced = queue_id, False

    async def commit(
        self, before: LiveAgent, after: LiveAgent, queues: Mapping[str, Queue], now: datetime
    ) -> bool:
        if not self.raced:
            self.raced = True
            assert await self.reserve(self.queue_id, "c-race", now) is not None
        return await super().commit(before, after, queues, now)


async def test_a_writer_that_loses_the_race_rolls_back_and_reapplies(
    pool: asyncpg.Pool, redis: Redis, pool_desk: Desk
) -> None:
    desk = pool_desk
    service = AgentService(pool, Interfering(redis, desk.queue_id), desk.clock)
    step = await service.request_status(desk.id(0), su.GoOnBreak("lunch"), desk.me(0))
    assert step.agent.state is AgentState.RESERVED and step.agent.pending == su.GoOnBreak("lunch")
    assert len(await store.status_log(pool, desk.agents[0].user_id)) == 1  # the login only
    assert (await store.get_agent(pool, desk.agents[0].user_id)).status is AgentStatus.AVAILABLE


async def test_after_a_call_the_agent_goes_to_the_back_of_the_longest_idle_line(
    desk: Desk,
) -> None:
    first = await ring(desk, "c1")
    for event in (sm.Answered("c1"), sm.CallEnded("c1")):
        await desk.service.call_event(first.agent_id, event)
    assert await desk.live.holder("c1") == first.agent_id
    desk.clock.now = later(30)
    await desk.service.call_event(first.agent_id, sm.WrapUpTimeout("c1"))
    assert await desk.live.holder("c1") is None
    order = [await desk.live.reserve(desk.queue_id, f"d{n}", later(30)) for n in range(3)]
    assert [r.agent_id for r in order if r is not None][-1] == first.agent_id
