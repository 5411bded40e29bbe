"""The call path restarted after ``kill -9``: the wrap-up timers died with the killed
process, yet every agent's wrap-up ends on time and the call gets its default code.

* The agent was talking: the call was cut, the wrap-up starts at the restart and
  ends at its deadline.
* The agent was wrapping up and the deadline passed while the process was down: the
  wrap-up ends at once.

In process, real PostgreSQL and Redis: the killed run is what it left behind (the
attempt, Redis saying what the agent was doing); then `CallPath.open` starts as
``callcase serve dialer`` does (the end-to-end version with 50 live calls is
`test_kill9.py`)."""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from api.callpath import CallPath
from api.settings import Settings
from routing.agent import Agent, AgentTimers
from routing.fields import LiveAgent
from routing.rebuild import install
from routing.roster import ChangedBy, Changer, Member
from routing.state import AgentState
from routing.status import AgentStatus
from routing.store import (
    NewAgent,
    NewQueue,
    add_member,
    create_agent,
    create_queue,
    load_roster,
    set_status,
)
from tests.api.test_e2e_campaign import _settings, redis
from tests.dialer.records import Phone, make_case, make_client
from tests.faults.floor import until

pytestmark = pytest.mark.e2e
__all__ = ["redis"]  # a fixture, used by name

WRAP_UP = timedelta(seconds=1.5)
CUT = "cut-by-kill-9@127.0.0.1"


async def killed_run(
    pool: asyncpg.Pool, redis: Redis, dialer: str, state: AgentState
) -> tuple[int, int]:
    """What a killed run leaves: the agent talking on an answered call whose attempt is
    open, or wrapping up after a call whose attempt is closed and whose wrap-up ran
    out while the process was down. The attempt's id and the agent's."""
    now = datetime.now(UTC)
    talking = state is AgentState.TALKING
    client = await make_client(pool, "CUTBANK")
    made = await make_case(pool, client, Phone("+8613900000016"))
    user = await pool.fetchval(
        "INSERT INTO users (username, display_name, role, password_hash)"
        " VALUES ('agent-8100', 'agent-8100', 'agent', 'x') RETURNING id"
    )
    timers = AgentTimers(wrap_up_time=WRAP_UP)
    await create_agent(pool, NewAgent(user, "8100", "agent-8100-pw", timers), "callcase", now)
    queue = await create_queue(pool, NewQueue("floor"))
    await add_member(pool, Member(queue.id, user, position=1))
    async with pool.acquire() as conn:
        me = Changer(ChangedBy.SELF, user)
        await set_status(conn, user, AgentStatus.AVAILABLE, None, me, now)
        roster = await load_roster(conn)
    attempt = await pool.fetchval(
        "INSERT INTO attempts (case_id, debtor_id, phone_id, number, party, agent_id, work_line,"
        " dialer, call_id, placed_at, answered_at, ended_at, result, decision, pack,"
        " pack_version) VALUES ($1, $2, $3, '+8613900000016', 'debtor', $4, 'trunk1', $5, $6,"
        " $7, $7, $8, $9, $10, 'cn-bank', '1') RETURNING id",
        made.case_id, made.debtor_id, made.phone_ids[0], user, dialer, CUT,
        now - timedelta(seconds=30), None if talking else now - timedelta(seconds=10),
        None if talking else "connected", json.dumps({"allowed": True}),
    )  # fmt: skip
    agent = Agent(str(user), timers, AgentStatus.AVAILABLE, state=state, call_id=CUT)
    live = LiveAgent(agent, "8100", registered=True, queues=frozenset({str(queue.id)}),
                     wrap_up_until=None if talking else now - timedelta(seconds=5))  # fmt: skip
    await install(redis, roster, [live], "the killed run's epoch")
    return attempt, user


@pytest.mark.timeout(60)
@pytest.mark.parametrize("state", [AgentState.TALKING, AgentState.WRAP_UP])
async def test_after_kill9_the_agents_wrap_up_ends_on_time_with_the_default_code(
    pool: asyncpg.Pool, redis: Redis, settings: Settings, tmp_path: Path, state: AgentState
) -> None:
    settings = _settings(settings, tmp_path, (64000, 64100))
    attempt, agent = await killed_run(pool, redis, settings.dialer.name, state)
    started = time.monotonic()
    async with CallPath.open(settings, pool, redis) as path:
        if state is AgentState.TALKING:  # the cut call's wrap-up starts at the restart
            (live,) = await path.live.agents()
            assert (live.agent.state, live.agent.call_id) == (AgentState.WRAP_UP, CUT)

        async def idle() -> object:
            (live,) = await path.live.agents()
            return live.agent.state is AgentState.IDLE or live.agent.state

        await until("the agent idle once the wrap-up ran out", 30, idle)
        wrapped = time.monotonic() - started

        async def coded() -> object:
            return await pool.fetchval("SELECT count(*) FROM actions") == 1

        await until("the default code filed", 10, coded)
    if state is AgentState.TALKING:
        assert wrapped >= WRAP_UP.total_seconds()  # the agent had all of the wrap-up time
    row = await pool.fetchrow("SELECT result, agent_id FROM attempts WHERE id = $1", attempt)
    result = "interrupted" if state is AgentState.TALKING else "connected"
    assert row is not None and dict(row) == {"result": result, "agent_id": agent}
    action = await pool.fetchrow("SELECT code, attempt_id, user_id FROM actions")
    assert action is not None and dict(action) == {
        "code": "NOCODE", "attempt_id": attempt, "user_id": None}  # fmt: skip
