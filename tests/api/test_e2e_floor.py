"""The floor end to end: a sipp debtor phone reached by a progressive campaign, the
dialer, the queue, a registered baresip agent who auto-answers; the agent's
websocket receives the screen-pop of the case, the supervisor's websocket shows the
agent's states in order; the supervisor listens in from a baresip softphone of
their own and hears the call."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import numpy as np
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from api import auth
from api.app import create_app
from api.callpath import CallPath
from api.settings import Settings
from routing.agent import AgentTimers
from routing.roster import Member
from routing.store import (
    NewAgent,
    NewQueue,
    add_member,
    create_agent,
    create_queue,
    set_supervisor_phone,
)
from telephony.lines import WorkLine
from telephony.media.taps import QueueTap
from telephony.store import add_line
from tests.api.test_e2e_campaign import (
    BASE,
    REALM,
    _agent_audio,
    _settings,
    greeting_clips,
    redis,
    registered,
    shifted_clock,
    watch_registrations,
)
from tests.dialer.records import Phone, make_campaign, make_case, make_client
from tests.telephony.sip.peers import LOOPBACK, baresip, sipp

pytestmark = pytest.mark.e2e
__all__ = ["redis"]  # a fixture, used by name

AGENT, AGENT_PW, SUPERVISOR, SUPERVISOR_PW = "8201", "agent-8201-pw", "9201", "super-9201-pw"
PERSON = "+8613800000036"  # uas_mixed: answers after a ring and talks until our BYE
ApiClient = TestClient[web.Request, web.Application]
WAIT_S = 30


async def seed(pool: asyncpg.Pool, trunk_port: int) -> dict[str, int]:
    await add_line(pool, WorkLine("trunk1", LOOPBACK, trunk_port, "+862100000000"))
    client = await make_client(pool, "FLOORBANK")
    ids = {}
    for name, role in (("agent-8201", "agent"), ("boss", "supervisor")):
        ids[name] = await pool.fetchval(
            "INSERT INTO users (username, display_name, role, password_hash)"
            " VALUES ($1, $1, $2, 'x') RETURNING id", name, role)
    queue = await create_queue(pool, NewQueue("floor"))
    await create_agent(pool, NewAgent(ids["agent-8201"], AGENT, AGENT_PW,
                                      AgentTimers(wrap_up_time=timedelta(seconds=2))),
                       REALM, BASE)
    await add_member(pool, Member(queue.id, ids["agent-8201"]))
    await set_supervisor_phone(pool, ids["boss"], SUPERVISOR, SUPERVISOR_PW, REALM)
    campaign = await make_campaign(pool, client, queue_id=queue.id, work_lines=["trunk1"],
                                   ring_timeout_s=15, amd_policy="off")
    ids["case"] = (await make_case(pool, client, Phone(PERSON))).case_id
    ids["campaign"] = campaign.id
    return ids


async def token(pool: asyncpg.Pool, user_id: int) -> dict[str, str]:
    issued, _ = await auth.issue_session(pool, user_id, now=BASE, ttl=timedelta(hours=8),
                                         ip="127.0.0.1")
    return {"Authorization": f"Bearer {issued}"}


async def next_message(ws: aiohttp.ClientWebSocketResponse,
                       wanted: Callable[[dict[str, Any]], bool]) -> dict[str, Any]:
    async with asyncio.timeout(WAIT_S):
        while True:
            message: dict[str, Any] = await ws.receive_json()
            if wanted(message):
                return message


async def states_until(ws: aiohttp.ClientWebSocketResponse, agent_id: str,
                       last: str) -> list[str]:
    """The agent's states as the supervisor's websocket shows them, up to `last`."""
    seen: list[str] = []
    while not seen or seen[-1] != last:
        event = await next_message(ws, lambda m: m.get("kind") == "agent"
                                   and m.get("agent_id") == agent_id)
        if not seen or seen[-1] != event["state"]:
            seen.append(event["state"])
    return seen


async def heard(path: CallPath, call_id: str) -> float:
    """RMS of what the supervisor's leg is sent over one second of the call."""
    session = path.monitors.sessions[call_id]
    async with asyncio.timeout(WAIT_S):
        await session.joined.wait()
    tap = QueueTap(80)
    session.leg.stream.add_tap(tap)
    try:
        async with asyncio.timeout(10):
            frames = [(await tap.get()).outbound for _ in range(50)]
    finally:
        session.leg.stream.remove_tap(tap)
    pcm = np.concatenate([f for f in frames if f is not None]).astype(np.float64)
    return float(np.sqrt(np.mean(pcm ** 2))) if len(pcm) else 0.0


@pytest.mark.timeout(150)
async def test_dialer_queue_agent_screen_pop_states_and_listen_in(
    pool: asyncpg.Pool, redis: Redis, settings: Settings, tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[ApiClient]],
) -> None:
    fill = await greeting_clips(tmp_path)
    (tmp_path / "sipp").mkdir()
    async with sipp("uas_mixed", tmp_path / "sipp", fill=fill, calls=1,
                    quit_after=120) as (phone, trunk_port):
        ids = await seed(pool, trunk_port)
        settings = _settings(settings, tmp_path, (63950, 64050))
        clock = shifted_clock()
        api = await aiohttp_client(create_app(settings, clock=clock))
        agent_auth, boss_auth = await token(pool, ids["agent-8201"]), await token(pool,
                                                                                ids["boss"])
        async with CallPath.open(settings, pool, redis, clock) as path:
            port = path.ua.endpoint.address[1]
            bound = watch_registrations(path, AGENT, SUPERVISOR)
            for who in ("agent", "boss"):
                (tmp_path / who).mkdir()
            running = asyncio.create_task(path.run())
            try:
                async with (
                    baresip(tmp_path / "agent", extension=AGENT, password=AGENT_PW,
                            registrar=port, audio=await _agent_audio(tmp_path)),
                    baresip(tmp_path / "boss", extension=SUPERVISOR, password=SUPERVISOR_PW,
                            registrar=port),
                ):
                    await registered(path, bound, BASE)
                    resp = await api.post("/agent/login", headers=agent_auth)
                    assert resp.status == 200, await resp.text()
                    async with (
                        api.ws_connect("/agent/events", headers=agent_auth) as desk,
                        api.ws_connect("/supervisor/events", headers=boss_auth) as floor,
                    ):
                        await next_message(floor, lambda m: m.get("kind") == "snapshot")
                        await next_message(desk, lambda m: m.get("kind") == "snapshot")
                        resp = await api.post(f"/campaigns/{ids['campaign']}/start",
                                              headers=boss_auth)
                        assert resp.status == 200, await resp.text()
                        agent_id = str(ids["agent-8201"])
                        talking = await states_until(floor, agent_id, "talking")
                        pop = await next_message(desk, lambda m: m.get("kind") == "screen_pop")
                        call_id = pop["call_id"]
                        resp = await api.post(f"/supervisor/calls/{call_id}/monitor",
                                              json={"mode": "listen"}, headers=boss_auth)
                        assert resp.status == 202, await resp.text()
                        loudness = await heard(path, call_id)
                        after = await states_until(floor, agent_id, "idle")
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        assert await phone.exit_code() == 0, phone.file("*errors.log")
    assert talking == ["idle", "reserved", "ringing", "talking"] or talking == [
        "reserved", "ringing", "talking"], talking
    assert after[-2:] == ["wrap_up", "idle"], after
    assert pop["case"]["id"] == ids["case"], pop
    assert loudness > 300  # the debtor's speech and the agent's voice, not silence
    monitored = await pool.fetchval("SELECT count(*) FROM audit_log WHERE action ="
                                    " 'call.monitor' AND record_id = $1", call_id)
    assert monitored == 1
