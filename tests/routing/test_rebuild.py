"""Rebuilding the live state from PostgreSQL on real Redis and PostgreSQL: after a
FLUSHDB every agent has its status back and none is stuck on a call; reservations
for calls that are gone are released; the reconcile task notices a flush."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import replace

import asyncpg
import pytest
import redis.asyncio as aioredis

from routing import keys, store
from routing import state as sm
from routing import status as su
from routing.live import Live, QueueFigures
from routing.rebuild import Reconciler, rebuild, reconcile
from routing.state import AgentState
from routing.status import AgentStatus
from tests.routing.build import NOW, later
from tests.routing.world import Desk, Phones, open_desk

Redis = aioredis.Redis


async def reservable(live: Live, queue_id: str) -> set[str]:
    """Every agent the queue could be offered now (reserving them for calls r0, ...)."""
    found: set[str] = set()
    while (r := await live.reserve(queue_id, f"r{len(found)}", NOW)) is not None:
        found.add(r.agent_id)
    return found


@pytest.fixture
async def desk(pool: asyncpg.Pool, redis: Redis) -> Desk:
    return await open_desk(pool, redis, 4)


async def test_after_a_flushdb_every_agent_has_its_status_and_no_agent_a_call(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    service, ids = desk.service, [desk.id(n) for n in range(4)]
    await service.request_status(ids[1], su.GoOnBreak("lunch"), desk.me(1))
    await service.request_status(ids[2], su.LogOut(), desk.me(2))
    held = await desk.live.reserve(desk.queue_id, "c1", NOW)
    assert held is not None and held.agent_id in (ids[0], ids[3])
    await redis.flushdb()
    phones = Phones(a.extension for a in desk.agents if a.agent_id != ids[3])
    report = await rebuild(pool, redis, phones, {"c1"}, later(1))
    assert report is not None and (report.agents, report.queues, report.registered) == (4, 1, 3)
    statuses = {a.agent_id: (a.agent.status, a.agent.break_reason, a.agent.state, a.registered)
                for a in await desk.live.agents()}  # fmt: skip
    assert statuses == {
        ids[0]: (AgentStatus.AVAILABLE, None, AgentState.IDLE, True),
        ids[1]: (AgentStatus.ON_BREAK, "lunch", AgentState.IDLE, True),
        ids[2]: (AgentStatus.LOGGED_OUT, None, AgentState.IDLE, True),
        ids[3]: (AgentStatus.AVAILABLE, None, AgentState.IDLE, False),
    }
    assert await reservable(desk.live, desk.queue_id) == {ids[0]}


async def test_after_a_flushdb_an_agent_bridged_to_a_live_call_is_talking_on_it_again(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    await redis.flushdb()
    phones = Phones(a.extension for a in desk.agents)
    await rebuild(pool, redis, phones, {"c1"}, NOW, held={desk.id(0): "c1"})
    talking = await desk.live.agent(desk.id(0))
    assert (talking.agent.state, talking.agent.call_id) == (AgentState.TALKING, "c1")
    assert await desk.live.holder("c1") == desk.id(0)
    assert await reservable(desk.live, desk.queue_id) == {desk.id(n) for n in (1, 2, 3)}


async def test_reservations_for_calls_gone_are_released_and_live_ones_kept(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    dead = await desk.live.reserve(desk.queue_id, "c-dead", NOW)
    alive = await desk.live.reserve(desk.queue_id, "c-live", NOW)
    talker = await desk.live.reserve(desk.queue_id, "c-talk", NOW)
    assert dead and alive and talker
    for event in (sm.Offer("c-talk"), sm.Answered("c-talk")):
        await desk.service.call_event(talker.agent_id, event)
    phones = Phones(a.extension for a in desk.agents)
    report = await rebuild(pool, redis, phones, {"c-live"}, later(1))
    assert report is not None and sorted(report.released) == ["c-dead", "c-talk"]
    assert (await desk.live.agent(alive.agent_id)).agent.call_id == "c-live"
    assert await desk.live.holder("c-live") == alive.agent_id
    assert await desk.live.holder("c-dead") is None
    wrapping = await desk.live.agent(talker.agent_id)
    assert wrapping.agent.state is AgentState.WRAP_UP and wrapping.wrap_up_until is not None
    assert dead.agent_id in await reservable(desk.live, desk.queue_id)


async def test_a_request_pending_on_a_released_call_is_made_durable_in_its_askers_name(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    held = await desk.live.reserve(desk.queue_id, "c1", NOW)
    assert held is not None
    n = [desk.id(m) for m in range(4)].index(held.agent_id)
    await desk.service.request_status(held.agent_id, su.GoOnBreak("coffee"), desk.me(n))
    report = await rebuild(pool, redis, Phones(), set(), later(1))
    assert report is not None and report.status_changes == 1
    last = (await store.status_log(pool, int(held.agent_id)))[-1]
    assert (last.to_status, last.reason, last.by) == (AgentStatus.ON_BREAK, "coffee", desk.me(n))
    assert (await desk.live.agent(held.agent_id)).agent.status is AgentStatus.ON_BREAK


async def test_waiting_calls_and_counters_survive_a_rebuild_and_old_writers_fail(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    await desk.live.enqueue(desk.queue_id, "w1", NOW)
    assert await desk.live.reserve(desk.queue_id, "c1", NOW) is not None
    before, queues = await desk.live.snapshot(desk.id(0))
    await rebuild(pool, redis, Phones(a.extension for a in desk.agents), {"c1"}, later(1))
    figures = await desk.live.figures(desk.queue_id)
    assert figures == QueueFigures(waiting=1, free=3, reserved=1, missed=0)
    assert not await desk.live.commit(before, replace(before, registered=False), queues, NOW)


async def test_a_rebuild_under_way_elsewhere_is_left_alone(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    epoch = await redis.get(keys.EPOCH)
    await redis.set(keys.REBUILD_LOCK, "another process", px=5000)
    assert await rebuild(pool, redis, Phones(), set(), NOW) is None
    assert await redis.get(keys.EPOCH) == epoch


async def test_reconcile_rebuilds_only_a_state_that_is_gone(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    phones = Phones(a.extension for a in desk.agents)
    assert await reconcile(pool, redis, phones, set(), NOW) is None
    await redis.flushdb()
    report = await reconcile(pool, redis, phones, set(), NOW)
    assert report is not None and report.agents == 4
    assert len(await reservable(desk.live, desk.queue_id)) == 4


async def test_reconcile_takes_out_a_phone_whose_binding_went_without_a_word(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    phones = Phones(a.extension for a in desk.agents[1:])
    assert await reconcile(pool, redis, phones, set(), NOW) is None
    assert not (await desk.live.agent(desk.id(0))).registered
    assert desk.id(0) not in await reservable(desk.live, desk.queue_id)


class Phone(Phones):
    """Bindings that can be made to fail once (the registrar's table being swapped)."""

    broken = False

    def lookup(self, extension: str) -> object | None:
        if self.broken:
            self.broken = False
            raise KeyError(extension)
        return super().lookup(extension)


async def test_the_reconcile_task_rebuilds_a_flushed_state_and_outlives_a_failure(
    pool: asyncpg.Pool, redis: Redis, desk: Desk, caplog: pytest.LogCaptureFixture
) -> None:
    ticks: asyncio.Queue[float] = asyncio.Queue()
    go_on = asyncio.Event()

    async def wait(seconds: float) -> None:
        await ticks.put(seconds)
        await go_on.wait()
        go_on.clear()

    phones = Phone(a.extension for a in desk.agents)
    task = asyncio.create_task(Reconciler(pool, redis, phones, set(), lambda: NOW, 20.0,
                                          wait).run())  # fmt: skip
    try:
        async with asyncio.timeout(10):
            assert await ticks.get() == 20.0  # first check: the state is there
            await redis.flushdb()
            phones.broken = True
            with caplog.at_level(logging.ERROR, logger="routing.rebuild"):
                go_on.set()
                await ticks.get()  # second check: the rebuild failed
            assert "routing reconcile failed" in caplog.text
            assert not await redis.exists(keys.EPOCH)
            go_on.set()
            await ticks.get()  # third check: rebuilt
        assert await redis.exists(keys.EPOCH)
        assert len(await reservable(desk.live, desk.queue_id)) == 4
    finally:
        task.cancel()


async def test_the_reconcile_interval_is_at_most_a_minute(
    pool: asyncpg.Pool, redis: Redis
) -> None:
    with pytest.raises(ValueError, match="interval"):
        Reconciler(pool, redis, Phones(), set(), lambda: NOW, interval=61)


async def test_an_agent_left_on_a_call_by_a_lost_event_is_corrected_on_the_second_pass(
    pool: asyncpg.Pool, redis: Redis, desk: Desk
) -> None:
    """Redis kept the records but lost writes (connections killed mid-call): agent 0
    still talks on c1, which ended; agent 1 rings for c2, which telephony has bridged
    to them; agent 2 is idle though bridged to c3. Each is corrected after two passes
    that saw the same thing; agent 3, ringing for live c4, is an offer on its way."""
    ids = [desk.id(n) for n in range(4)]
    for n, call in enumerate(("c1", "c2", "c4")):
        agent = ids[(0, 1, 3)[n]]
        await desk.service.call_event(agent, sm.Reserve(call))
        await desk.service.call_event(agent, sm.Offer(call))
    await desk.service.call_event(ids[0], sm.Answered("c1"))
    held = {ids[1]: "c2", ids[2]: "c3"}
    phones = Phones(a.extension for a in desk.agents)
    reconciler = Reconciler(pool, redis, phones, {"c2", "c3", "c4"}, lambda: NOW, 1.0,
                            held=held)  # fmt: skip
    assert await reconciler.check() is None
    states = {a.agent_id: (a.agent.state, a.agent.call_id) for a in await desk.live.agents()}
    assert states[ids[0]] == (AgentState.TALKING, "c1")  # once is not enough
    await reconciler.check()
    states = {a.agent_id: (a.agent.state, a.agent.call_id) for a in await desk.live.agents()}
    assert states == {
        ids[0]: (AgentState.WRAP_UP, "c1"),
        ids[1]: (AgentState.TALKING, "c2"),
        ids[2]: (AgentState.TALKING, "c3"),
        ids[3]: (AgentState.RINGING, "c4"),
    }
