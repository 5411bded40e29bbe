"""A floor for the agent and supervisor API tests: the world's two agents as routing
agents with registered softphones in one queue of a BANKA campaign, the live state
rebuilt in Redis (both logged out), and what the call path would do to them: reserve
an agent for a call, ring, answer, hang up (`AgentService` on the app's clock, as
the dispatcher does), and the dialer's attempt rows."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import pytest
import redis.asyncio as aioredis
from aiohttp import ClientWebSocketResponse

from routing import state as sm
from routing.agent import AgentTimers
from routing.live import Live
from routing.rebuild import rebuild
from routing.roster import Member
from routing.service import AgentService
from routing.store import NewAgent, NewQueue, add_member, create_agent, create_queue
from tests.api.world import NOW, World
from tests.conftest import TEST_REDIS_URL
from tests.dialer.records import make_campaign
from tests.routing.world import Phones

REALM = "callcase"
TIMERS = AgentTimers(wrap_up_time=timedelta(seconds=20))
AGENTS = ("agent_a", "agent_b")
WAIT_S = 5.0


@dataclass
class Floor:
    world: World
    redis: aioredis.Redis
    live: Live
    service: AgentService
    queue_id: str
    campaign_id: int

    def id(self, who: str) -> str:
        return str(self.world.users[who].id)

    async def ring(self, who: str, call_id: str) -> None:
        """Reserve `who` (the only agent free) for the call and ring their softphone."""
        found = await self.live.reserve(self.queue_id, call_id, NOW)
        assert found is not None and found.agent_id == self.id(who), found
        await self.service.call_event(found.agent_id, sm.Offer(call_id))

    async def talk(self, who: str, call_id: str) -> None:
        await self.ring(who, call_id)
        await self.service.call_event(self.id(who), sm.Answered(call_id))

    async def hang_up(self, who: str, call_id: str) -> None:
        await self.service.call_event(self.id(who), sm.CallEnded(call_id))

    async def attempt(self, case: str, call_id: str, *, party: str = "debtor",
                      notes: tuple[str, ...] = (), result: str | None = None,
                      placed_at: datetime = NOW) -> int:
        """The dialer's attempt row for a call to the case's phone of `party`."""
        pool, case_id = self.world.pool, self.world.cases[case]
        phone = await phone_of(self.world, case, party)
        debtor = await pool.fetchval("SELECT debtor_id FROM cases WHERE id = $1", case_id)
        decision = {"allowed": True, "notes": list(notes)}
        attempt_id: int = await pool.fetchval(
            "INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party,"
            " work_line, dialer, call_id, placed_at, ended_at, result, decision, pack,"
            " pack_version) VALUES ($1, $2, $3, $4, $5, $6, 'line1', 'test', $7, $8, $9, $10,"
            " $11, 'cn-bank', '1') RETURNING id",
            self.campaign_id, case_id, debtor, phone[0], phone[1], party, call_id, placed_at,
            None if result is None else placed_at, result, json.dumps(decision),
        )  # fmt: skip
        return attempt_id


async def phone_of(world: World, case: str, party: str) -> tuple[int, str]:
    """The case's phone of `party` (a relative's is added when asked for)."""
    case_id = world.cases[case]
    row = await world.pool.fetchrow(
        "SELECT id, e164 FROM phones WHERE case_id = $1 AND party = $2", case_id, party)
    if row is None:
        row = await world.pool.fetchrow(
            "INSERT INTO phones (case_id, e164, party, kind, name, relation)"
            " VALUES ($1, '+8613700137001', $2, 'mobile', '王小明', 'brother')"
            " RETURNING id, e164", case_id, party)  # fmt: skip
    assert row is not None
    return row["id"], row["e164"]


async def open_floor(world: World, redis: aioredis.Redis) -> Floor:
    pool = world.pool
    campaign = await make_campaign(pool, world.clients["BANKA"])
    queue = await create_queue(pool, NewQueue("cards", campaign_id=campaign.id))
    await pool.execute("UPDATE campaigns SET queue_id = $1 WHERE id = $2", queue.id, campaign.id)
    extensions = []
    for n, who in enumerate(AGENTS):
        user_id = world.users[who].id
        agent = await create_agent(pool, NewAgent(user_id, f"80{n}", "softphone-pw", TIMERS),
                                   REALM, NOW)  # fmt: skip
        await add_member(pool, Member(queue.id, user_id))
        extensions.append(agent.extension)
    await rebuild(pool, redis, Phones(extensions), set(), NOW)
    live = Live(redis)
    return Floor(world, redis, live, AgentService(pool, live, lambda: NOW), str(queue.id),
                 campaign.id)  # fmt: skip


@pytest.fixture
async def floor(world: World) -> AsyncIterator[Floor]:
    client = aioredis.from_url(TEST_REDIS_URL)
    await client.flushdb()
    try:
        yield await open_floor(world, client)
    finally:
        await client.aclose()


Message = dict[str, Any]


async def receive(ws: ClientWebSocketResponse, wanted: Callable[[Message], bool]) -> Message:
    """The next message `wanted` accepts (others are skipped), within `WAIT_S`."""
    async with asyncio.timeout(WAIT_S):
        while True:
            message: Message = await ws.receive_json()
            if wanted(message):
                return message


def kind(name: str, **fields: object) -> Callable[[Message], bool]:
    return lambda m: m.get("kind") == name and all(m.get(k) == v for k, v in fields.items())
