"""PostgreSQL restarts in the middle of a campaign: the dialer fails closed, the API
says 503 with retry advice, a retried action lands once, nothing in flight is lost,
and the campaign goes on by itself.

Real peers as in the campaign's end-to-end test (sipp debtor phones on a work line,
a baresip and a pyVoIP agent registered with digest) against a PostgreSQL server of
the test's own (`private_pg`), stopped with `pg_ctl stop -m fast` while a debtor and
an agent are talking, and started again a few seconds later.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from api.app import create_app
from api.callpath import CallPath
from api.migrate import migrate
from api.settings import Settings
from api.simulate_agents import stop_phone
from dialer.campaign import Command
from dialer.store import command_campaign
from routing.roster import ChangedBy, Changer
from routing.status import LogIn
from tests.api.test_e2e_campaign import (
    AGENTS,
    BASE,
    NUMBERS,
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
from tests.api.world import NOW, World, build_world
from tests.faults.private_pg import PrivatePostgres, private_postgres
from tests.telephony.audio import speech
from tests.telephony.sip.peers import baresip, sipp

pytestmark = pytest.mark.e2e
__all__ = ["redis"]  # a fixture, used by name

OUTAGE_S = 6.0
TOMORROW = (NOW + timedelta(days=1)).date().isoformat()


@pytest.fixture
async def server() -> AsyncIterator[PrivatePostgres]:
    async with private_postgres() as found:
        conn = await asyncpg.connect(found.url)
        try:
            await migrate(conn)
        finally:
            await conn.close()
        yield found


async def answered_by_agent(pool: asyncpg.Pool) -> None:
    async with asyncio.timeout(60):
        while True:
            if await pool.fetchval("SELECT count(*) FROM attempts"
                                   " WHERE answered_at IS NOT NULL AND ended_at IS NULL"):
                return
            await asyncio.sleep(0.1)  # the attempts are rows in PostgreSQL: poll them


def count_dials(path: CallPath) -> list[float]:
    """The times of every call placed to a debtor (the work-line originates)."""
    placed: list[float] = []
    original = path.control.originate

    async def originate(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("line") is not None:
            placed.append(time.monotonic())
        return await original(*args, **kwargs)

    path.control.originate = originate  # type: ignore[method-assign]
    return placed


async def call_over(path: CallPath, call_id: str) -> None:
    """Until no agent holds the call (the dispatcher let it go: the call ended)."""
    async with asyncio.timeout(60):
        while True:
            if call_id not in path.dispatcher.held.values():
                return
            await asyncio.sleep(0.1)  # the dispatcher has no event for it: poll


async def file_action(api: TestClient[Any, Any], world: World, key: str
                      ) -> tuple[int, dict[str, Any], dict[str, str]]:  # fmt: skip
    resp = await api.post(
        f"/cases/{world.cases['A1']}/actions",
        json={"code": "PTP", "amount": "900", "due_date": TOMORROW},
        headers={**world.headers("agent_a"), "Idempotency-Key": key})
    return resp.status, await resp.json(), dict(resp.headers)


@pytest.mark.timeout(240)
async def test_postgres_restarting_mid_campaign_fails_closed_and_loses_nothing(
    server: PrivatePostgres, redis: Redis, settings: Settings, tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]],
) -> None:  # fmt: skip
    settings = replace(settings, database=replace(settings.database, url=server.url))
    pool = await asyncpg.create_pool(server.url, min_size=1, max_size=8)
    try:
        world = await build_world(pool)
        api = await aiohttp_client(create_app(settings, clock=lambda: NOW))
        fill = await greeting_clips(tmp_path)
        (tmp_path / "sipp").mkdir()
        async with sipp("uas_mixed", tmp_path / "sipp", fill=fill, calls=len(NUMBERS),
                        quit_after=200) as (phone, trunk_port):
            campaign_id, _ = await seed(pool, trunk_port)
            settings = _settings(settings, tmp_path, (63900, 64200))
            clock = shifted_clock()
            async with CallPath.open(settings, pool, redis, clock) as path:
                placed = count_dials(path)
                outage = await _campaign_through_an_outage(
                    path, clock, pool, server, api, world, campaign_id, tmp_path)
                attempts = await all_attempts_ended(pool, len(NUMBERS))
            assert await phone.exit_code() == 0, phone.file("*errors.log")
        down_from, down_until, during = outage
        # fail closed: nothing dialled while PostgreSQL was away (a call admitted just
        # before the stop has its attempt row already; 1 s is left for its INVITE)
        assert [t for t in placed if down_from + 1.0 <= t <= down_until] == []
        numbers = [a["number"] for a in attempts]
        assert sorted(numbers) == sorted(NUMBERS)  # each once: nothing redialled blindly
        assert len(placed) == len(attempts)  # every call placed has its attempt row
        # the call that was up through the outage kept its result and its agent
        assert during["result"] == "connected" and during["agent_id"] is not None, during
        assert all(a["result"] not in (None, "interrupted") for a in attempts), attempts
        await _check_recordings(pool, settings, attempts)
        # the action retried after the 503 landed once
        assert await pool.fetchval("SELECT count(*) FROM actions WHERE case_id = $1",
                                   world.cases["A1"]) == 1
    finally:
        await pool.close()


async def _campaign_through_an_outage(
    path: CallPath, clock: Callable[[], datetime], pool: asyncpg.Pool,
    server: PrivatePostgres, api: TestClient[Any, Any],
    world: World, campaign_id: int, tmp_path: Path,
) -> tuple[float, float, dict[str, Any]]:  # fmt: skip
    port = path.ua.endpoint.address[1]
    (tmp_path / "baresip").mkdir()
    voip = pyvoip_agent(port, "8002", AGENTS["8002"], talk_s=3)
    bound = watch_registrations(path, *AGENTS)
    async with baresip(tmp_path / "baresip", extension="8001", password=AGENTS["8001"],
                       registrar=port, audio=(await speech(
                           tmp_path, "agent", "您好，这里是客户服务中心。", voice="cmn")).pcm_wav):
        await asyncio.to_thread(voip.start)  # type: ignore[attr-defined]
        try:
            await registered(path, bound, BASE)
            for user in await pool.fetch("SELECT user_id FROM agents"):
                me = Changer(ChangedBy.SELF, user["user_id"])
                await path.dispatcher.service.request_status(str(user["user_id"]),
                                                             LogIn(), me)  # fmt: skip
            await command_campaign(pool, campaign_id, Command.START, now=BASE)
            running = asyncio.create_task(path.run())
            try:
                await answered_by_agent(pool)
                talking = await pool.fetchrow(
                    "SELECT id, call_id FROM attempts WHERE answered_at IS NOT NULL"
                    " AND ended_at IS NULL ORDER BY id LIMIT 1")
                assert talking is not None
                down_from = time.monotonic()
                await server.stop()
                status, body, headers = await file_action(api, world, "ptp-during-outage")
                assert (status, body["error_id"]) == (503, "service.unavailable"), body
                assert int(headers["Retry-After"]) > 0
                # the call up at the stop ends while PostgreSQL is away; its result
                # waits for the database, nothing else can keep it
                await call_over(path, talking["call_id"])
                await asyncio.sleep(max(0.0, down_from + OUTAGE_S - time.monotonic()))
                restarted_at = clock()
                # the server takes connections before `pg_ctl start -w` notices (it
                # polls): the outage is known to last until the start is asked for
                down_until = time.monotonic()
                await server.start()
                status, body, _ = await file_action(api, world, "ptp-during-outage")
                assert status == 201, body
                again, same, _ = await file_action(api, world, "ptp-during-outage")
                assert (again, same["id"]) == (200, body["id"])
                await all_attempts_ended(pool, len(NUMBERS))
                ended = await pool.fetchrow("SELECT * FROM attempts WHERE id = $1",
                                            talking["id"])  # fmt: skip
                assert ended is not None
                during = dict(ended)
                assert during["ended_at"] < restarted_at  # it ended during the outage
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        finally:
            await stop_phone(voip)
    return down_from, down_until, during
