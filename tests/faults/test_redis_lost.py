"""Redis loses everything in the middle of a campaign: the whole call path keeps its
promises. Real peers as in the campaign's end-to-end test (sipp debtor phones on a
work line, a baresip and a pyVoIP agent registered with digest): once calls are
flowing, the Redis database is emptied and this process's connections to it are
killed, as a Redis restart without persistence does. The reconciler (every 0.5 s
here) rebuilds routing's state from PostgreSQL and the registrar; the campaign
finishes; no number is dialled twice; every attempt has its result, every answered
call its recording; no agent is left reserved or ringing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import asyncpg
import pytest
from redis.asyncio import Redis

from api.callpath import CallPath
from api.settings import Settings
from api.simulate_agents import stop_phone
from dialer.campaign import Command
from dialer.store import command_campaign
from routing.roster import ChangedBy, Changer
from routing.state import AgentState
from routing.status import LogIn
from tests.api.test_e2e_campaign import (
    AGENTS,
    BASE,
    NUMBERS,
    _agent_audio,
    _check_recordings,
    _settings,
    all_attempts_ended,
    greeting_clips,
    pyvoip_agent,
    redis,
    registered,
    seed,
    shifted_clock,
    watch_registrations,
)
from tests.telephony.sip.peers import baresip, sipp

pytestmark = pytest.mark.e2e
__all__ = ["redis"]  # a fixture, used by name


async def lose_redis(redis: Redis) -> int:
    """Empty our Redis database and kill every connection to it (ours only)."""
    await redis.flushdb()
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    me = await redis.client_id()
    killed = 0
    for client in await redis.client_list():
        if int(client["db"]) == db and int(client["id"]) != me:
            killed += await redis.client_kill_filter(_id=client["id"])
    return killed


async def answered_calls(pool: asyncpg.Pool, count: int) -> None:
    async with asyncio.timeout(60):
        while True:
            answered = await pool.fetchval(
                "SELECT count(*) FROM attempts WHERE answered_at IS NOT NULL")
            if answered >= count:
                return
            await asyncio.sleep(0.1)  # the attempts are rows in PostgreSQL: poll them


async def rebuilt(path: CallPath) -> None:
    async with asyncio.timeout(10):
        while True:
            if await path.live.is_built():
                return
            await asyncio.sleep(0.1)  # the reconciler's next pass (every 0.5 s here)


@pytest.mark.timeout(180)
async def test_redis_losing_everything_mid_campaign_loses_and_duplicates_nothing(
    pool: asyncpg.Pool, redis: Redis, settings: Settings, tmp_path: Path,
) -> None:
    fill = await greeting_clips(tmp_path)
    (tmp_path / "sipp").mkdir()
    async with sipp("uas_mixed", tmp_path / "sipp", fill=fill, calls=len(NUMBERS),
                    quit_after=150) as (phone, trunk_port):
        campaign_id, _ = await seed(pool, trunk_port)
        settings = _settings(settings, tmp_path, (63600, 63900))
        async with CallPath.open(settings, pool, redis, shifted_clock()) as path:
            path.reconciler.interval = 0.5
            port = path.ua.endpoint.address[1]
            (tmp_path / "baresip").mkdir()
            voip = pyvoip_agent(port, "8002", AGENTS["8002"], talk_s=4)
            bound = watch_registrations(path, *AGENTS)
            async with baresip(tmp_path / "baresip", extension="8001",
                               password=AGENTS["8001"], registrar=port,
                               audio=await _agent_audio(tmp_path)):
                await asyncio.to_thread(voip.start)  # type: ignore[attr-defined]
                try:
                    await registered(path, bound, BASE)
                    for user in await pool.fetch("SELECT user_id FROM agents"):
                        me = Changer(ChangedBy.SELF, user["user_id"])
                        await path.dispatcher.service.request_status(
                            str(user["user_id"]), LogIn(), me)
                    await command_campaign(pool, campaign_id, Command.START, now=BASE)
                    running = asyncio.create_task(path.run())
                    try:
                        await answered_calls(pool, 1)
                        assert await lose_redis(redis) >= 1
                        attempts = await all_attempts_ended(pool, len(NUMBERS))
                        await rebuilt(path)
                        agents = await path.live.agents()
                    finally:
                        running.cancel()
                        await asyncio.gather(running, return_exceptions=True)
                finally:
                    await stop_phone(voip)
        assert await phone.exit_code() == 0, phone.file("*errors.log")
    numbers = [a["number"] for a in attempts]
    assert sorted(numbers) == sorted(NUMBERS)  # each number once: nothing redialled
    assert all(a["result"] is not None and a["ended_at"] is not None for a in attempts)
    assert {a.agent.state for a in agents} <= {AgentState.IDLE, AgentState.WRAP_UP}
    assert {a.agent_id for a in agents} == {
        str(r["user_id"]) for r in await pool.fetch("SELECT user_id FROM agents")}
    await _check_recordings(pool, settings, attempts)
