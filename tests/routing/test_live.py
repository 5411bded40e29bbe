"""Live state on a real Redis: reservation by each strategy, never one agent for two
calls (concurrent routers, and randomized rounds of routers and releases),
registration and ready_at, check-and-set writes, waiting calls, the supervisors'
feed, and refusal once the state is gone."""

from __future__ import annotations

import asyncio
import json
import random
from collections.abc import AsyncIterator
from dataclasses import replace

import asyncpg
import pytest
import redis.asyncio as aioredis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from cases.errors import Conflict, NotFound
from routing import keys
from routing import state as sm
from routing.fields import LiveAgent
from routing.live import Live, LiveStateLost, QueueFigures, Reservation
from routing.state import AgentState
from routing.strategies import StrategyContext, rank
from tests.conftest import TEST_REDIS_URL
from tests.routing.build import NOW, later
from tests.routing.world import install_world, live_agent, open_desk, queue

Redis = aioredis.Redis


@pytest.fixture
async def clients(redis: Redis) -> AsyncIterator[list[Live]]:
    """Five more clients, each with its own connections: five routers."""
    found = [aioredis.from_url(TEST_REDIS_URL) for _ in range(5)]
    yield [Live(client) for client in found]
    for client in found:
        await client.aclose()


async def reserve_all(live: Live, queue_id: str, prefix: str = "c") -> list[str]:
    """Reserve the queue's agents for calls c0, c1, ... until none is left."""
    found: list[str] = []
    while (r := await live.reserve(queue_id, f"{prefix}{len(found)}", NOW)) is not None:
        found.append(r.agent_id)
    return found


async def test_each_strategy_reserves_in_its_order(redis: Redis) -> None:
    agents = [
        live_agent("a1", "1", "2", "3", ended=later(-10), skills={"cards": 1}),
        live_agent("a2", "1", "2", "3", ended=later(-600), skills={"cards": 2}),
        live_agent("a3", "1", "2", "3", skills={"cards": 1}),
        live_agent("a4", "1", "2", "3", ended=later(-60), skills={"cards": 5}),
    ]
    await install_world(redis, agents, queue(1), queue(2, "round_robin"),
                        queue(3, "skills_weighted", cards=1))  # fmt: skip
    live = Live(redis)
    assert await reserve_all(live, "1") == ["a3", "a2", "a4", "a1"]
    await install_world(redis, agents, queue(1), queue(2, "round_robin"),
                        queue(3, "skills_weighted", cards=1))  # fmt: skip
    assert await reserve_all(live, "3") == ["a4", "a2", "a3", "a1"]


async def test_round_robin_starts_after_the_agent_it_offered_last(redis: Redis) -> None:
    agents = [live_agent(a, "2") for a in ("a1", "a2", "a3")]
    live = await install_world(redis, agents, queue(2, "round_robin"))
    first = await live.reserve("2", "c1", NOW)
    assert first is not None and first.agent_id == "a1"
    await redis.hset(keys.queue("2"), "cursor", "a2")
    assert await reserve_all(live, "2", "d") == ["a3", "a2"]


@settings(max_examples=40, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])  # fmt: skip
@given(st.data())
async def test_reservations_follow_the_pure_strategy_and_skip_whom_it_would(
    redis: Redis, data: st.DataObject
) -> None:
    strategy = data.draw(st.sampled_from(["longest_idle", "round_robin", "skills_weighted"]))
    profile = queue(5, strategy, cards=2)
    agents = [data.draw(agents_in("5"), label=f"agent {n}") for n in range(8)]
    agents = list({a.agent_id: a for a in agents}.values())
    live = await install_world(redis, agents, profile)
    expected = rank([a.view for a in agents], StrategyContext(profile.queue, NOW))
    assert await reserve_all(live, "5") == [v.agent_id for v in expected]


def agents_in(queue_id: str) -> st.SearchStrategy[LiveAgent]:
    ended = st.one_of(st.none(), st.integers(1, 10**6).map(lambda ms: later(-ms / 1000)))
    ready_at = st.sampled_from([None, later(-1), later(30)])
    status = st.sampled_from(["available", "available", "on_break", "logged_out"])
    return st.builds(
        lambda agent_id, registered, status, ended, ready_at, level, member: live_agent(
            agent_id, *([queue_id] if member else []), registered=registered, status=status,
            ended=ended, ready_at=ready_at, skills={"cards": level},
        ),
        st.text("abcd0123", min_size=1, max_size=3), st.booleans(), status, ended, ready_at,
        st.integers(0, 4), st.integers(0, 6).map(bool),
    )  # fmt: skip


async def test_an_unregistered_agent_is_never_reserved_until_its_phone_registers(
    redis: Redis,
) -> None:
    live = await install_world(redis, [live_agent("a1", "1", registered=False)], queue(1))
    assert await live.reserve("1", "c1", NOW) is None
    assert await live.set_registered("xa1", True, NOW)
    assert await live.reserve("1", "c1", NOW) == Reservation("1", "c1", "a1", "xa1", 2)
    assert not await live.set_registered("x-nobody", True, NOW)


async def test_a_registration_lost_takes_the_agent_out_of_the_queue(redis: Redis) -> None:
    live = await install_world(redis, [live_agent("a1", "1")], queue(1))
    await live.set_registered("xa1", False, NOW)
    assert await live.reserve("1", "c1", NOW) is None
    assert not (await live.agent("a1")).registered


async def test_an_agent_is_skipped_until_its_ready_at_and_keeps_its_place(redis: Redis) -> None:
    agents = [live_agent("a1", "1", ready_at=later(30)), live_agent("a2", "1", ended=NOW)]
    live = await install_world(redis, agents, queue(1))
    taken = await live.reserve("1", "c1", NOW)
    assert taken is not None and taken.agent_id == "a2"
    assert await live.reserve("1", "c2", NOW) is None
    later_on = await live.reserve("1", "c2", later(30))
    assert later_on is not None and later_on.agent_id == "a1"


async def test_fifty_concurrent_reservations_for_ten_agents_never_share_one(
    redis: Redis, clients: list[Live]
) -> None:
    agents = [live_agent(f"a{n}", "1", "2") for n in range(10)]
    await install_world(redis, agents, queue(1), queue(2, "round_robin"))
    found = await asyncio.gather(*(
        clients[n % len(clients)].reserve(str(1 + n % 2), f"c{n}", NOW) for n in range(50)
    ))  # fmt: skip
    taken = [r for r in found if r is not None]
    assert len(taken) == 10
    assert sorted(r.agent_id for r in taken) == sorted(a.agent_id for a in agents)
    for r in taken:
        held = await clients[0].agent(r.agent_id)
        assert (held.agent.state, held.agent.call_id) == (AgentState.RESERVED, r.call_id)
        assert await clients[0].holder(r.call_id) == r.agent_id


async def test_a_stale_writer_fails_and_the_newer_state_stays(redis: Redis) -> None:
    live = await install_world(redis, [live_agent("a1", "1")], queue(1))
    before, queues = await live.snapshot("a1")
    assert await live.reserve("1", "c1", NOW) is not None
    stale = replace(before, registered=False)
    assert not await live.commit(before, stale, queues, NOW)
    now_held = await live.agent("a1")
    assert now_held.agent.call_id == "c1" and now_held.registered


async def test_a_call_holds_one_agent_and_unknown_queues_are_refused(redis: Redis) -> None:
    live = await install_world(redis, [live_agent("a1", "1"), live_agent("a2", "1")], queue(1))
    assert await live.reserve("1", "c1", NOW) is not None
    with pytest.raises(Conflict, match="c1 already holds an agent"):
        await live.reserve("1", "c1", NOW)
    with pytest.raises(NotFound, match="no live queue 9"):
        await live.reserve("9", "c2", NOW)


async def test_the_call_waiting_longest_is_offered_first(redis: Redis) -> None:
    live = await install_world(redis, [live_agent("a1", "1")], queue(1))
    assert await live.enqueue("1", "late", later(2))
    assert await live.enqueue("1", "early", NOW)
    assert not await live.enqueue("1", "early", later(3))
    taken = await live.reserve_next("1", later(3))
    assert taken is not None and (taken.call_id, taken.agent_id) == ("early", "a1")
    assert await live.reserve_next("1", later(3)) is None  # a call waits, no agent is free
    assert await live.figures("1") == QueueFigures(waiting=1, free=0, reserved=1, missed=1)
    assert await live.withdraw("1", "late", later(4))
    assert await live.reserve_next("1", later(4)) is None  # no call waits


async def test_the_oldest_waiting_call_gives_the_longest_wait(redis: Redis) -> None:
    live = await install_world(redis, [live_agent("a1", "1")], queue(1), queue(2))
    assert await live.oldest_waiting("1") is None
    await live.enqueue("1", "second", later(2.5))
    await live.enqueue("1", "first", later(0.000001))
    await live.enqueue("2", "other", NOW)
    assert await live.oldest_waiting("1") == later(0.000001)  # to the microsecond
    await live.reserve_next("1", later(3))  # the oldest is offered and leaves
    assert await live.oldest_waiting("1") == later(2.5)
    await live.withdraw("1", "second", later(4))
    assert await live.oldest_waiting("1") is None
    assert await live.oldest_waiting("2") == NOW


async def test_supervisors_hear_reservations_and_waiting_counts(redis: Redis) -> None:
    live = await install_world(redis, [live_agent("a1", "1")], queue(1))
    async with redis.pubsub() as feed:
        await feed.subscribe(live.events)
        await next_event(feed)  # the subscription's confirmation
        await live.enqueue("1", "c1", NOW)
        assert await next_event(feed) == {
            "kind": "queue", "queue_id": "1", "waiting": 1, "free": 1, "at": NOW.isoformat()}
        await live.reserve_next("1", NOW)
        agent = await next_event(feed)
        assert (agent["kind"], agent["agent_id"], agent["state"]) == ("agent", "a1", "reserved")
        assert (await next_event(feed))["waiting"] == 0


async def next_event(feed: aioredis.client.PubSub) -> dict[str, object]:
    async with asyncio.timeout(5):
        while True:
            message = await feed.get_message(timeout=1)
            if message is None:
                continue
            if message["type"] == "subscribe":
                return {}
            found: dict[str, object] = json.loads(message["data"])
            return found


async def test_nothing_is_written_once_the_live_state_is_gone(redis: Redis) -> None:
    live = await install_world(redis, [live_agent("a1", "1")], queue(1))
    before, queues = await live.snapshot("a1")
    await redis.flushdb()
    with pytest.raises(LiveStateLost):
        await live.reserve("1", "c1", NOW)
    with pytest.raises(LiveStateLost):
        await live.commit(before, replace(before, registered=False), queues, NOW)
    assert await redis.exists(keys.agent("a1")) == 0
    with pytest.raises(NotFound):
        await live.agent("a1")


@pytest.mark.parametrize("seed", range(5))
async def test_randomized_routers_never_reserve_an_agent_holding_a_call(
    pool: asyncpg.Pool, redis: Redis, clients: list[Live], seed: int
) -> None:
    rng = random.Random(seed)
    desk = await open_desk(pool, redis, 6)
    holding: dict[str, str] = {}  # agent -> call, as the routers were told
    calls = iter(range(10**6))
    for _ in range(25):
        releases = [(a, c) for a, c in holding.items() if rng.random() < 0.5]
        tasks = [clients[n % len(clients)].reserve(desk.queue_id, f"c{next(calls)}", NOW)
                 for n in range(rng.randint(1, 8))]  # fmt: skip
        freed = [desk.service.call_event(a, sm.Release(c)) for a, c in releases]
        rng.shuffle(tasks)
        found = await asyncio.gather(*tasks, *freed)
        taken = [r for r in found[: len(tasks)] if isinstance(r, Reservation)]
        for a, _ in releases:
            del holding[a]
        for r in taken:
            assert r.agent_id not in holding, f"{r.agent_id} reserved while holding a call"
            holding[r.agent_id] = r.call_id
        assert len({r.agent_id for r in taken}) == len(taken)
        live = {a.agent_id: a.agent.call_id for a in await desk.live.agents()}
        assert {a: c for a, c in live.items() if c is not None} == holding


def test_channels_are_scoped_to_the_redis_database() -> None:
    on_15 = aioredis.Redis.from_url("redis://127.0.0.1:6379/15")
    on_3 = aioredis.Redis.from_url("redis://127.0.0.1:6379/3")
    assert Live(on_15).events == keys.EVENTS + "@15" != Live(on_3).events
