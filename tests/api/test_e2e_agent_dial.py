"""An agent dials a case from the desk, end to end: the API, Redis, the call path,
the compliance check, the agent's baresip softphone rung first, then a sipp debtor
phone through a work line; the attempt closed with its result and the call recorded.
A held case is refused with its reasons and nothing is dialled."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient
from redis.asyncio import Redis

from api import auth
from api.app import create_app
from api.callpath import CallPath
from api.settings import Settings
from dialer.campaign import Command
from dialer.store import command_campaign
from routing.agent import AgentTimers
from routing.roster import Member
from routing.store import NewAgent, NewQueue, add_member, create_agent, create_queue
from telephony.lines import WorkLine
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

EXTENSION, PASSWORD = "8101", "agent-8101-pw"
PERSON = "+8613800000026"  # uas_mixed: answers and talks until our BYE
ApiClient = TestClient[web.Request, web.Application]


async def seed(pool: asyncpg.Pool, trunk_port: int) -> dict[str, int]:
    await add_line(pool, WorkLine("trunk1", LOOPBACK, trunk_port, "+862100000000"))
    client = await make_client(pool, "DIALBANK")
    user = await pool.fetchval(
        "INSERT INTO users (username, display_name, role, password_hash)"
        " VALUES ('agent-8101', 'agent 8101', 'agent', 'x') RETURNING id")
    other = await pool.fetchval(
        "INSERT INTO users (username, display_name, role, password_hash)"
        " VALUES ('agent-other', 'agent other', 'agent', 'x') RETURNING id")
    queue = await create_queue(pool, NewQueue("preview"))
    timers = AgentTimers(wrap_up_time=timedelta(seconds=1))
    await create_agent(pool, NewAgent(user, EXTENSION, PASSWORD, timers), REALM, BASE)
    await add_member(pool, Member(queue.id, user))
    campaign = await make_campaign(pool, client, mode="preview", queue_id=queue.id,
                                   work_lines=["trunk1"], ring_timeout_s=15)
    await command_campaign(pool, campaign.id, Command.START, now=BASE)
    person = await make_case(pool, client, Phone(PERSON))
    held = await make_case(pool, client, Phone("+8613800000027"))
    theirs = await make_case(pool, client, Phone("+8613800000028"))
    await pool.execute("INSERT INTO case_holds (case_id, reason, placed_at)"
                       " VALUES ($1, 'dispute', $2)", held.case_id, BASE)
    for case_id, agent in ((person.case_id, user), (held.case_id, user),
                           (theirs.case_id, other)):
        await pool.execute("UPDATE cases SET assigned_agent_id = $2 WHERE id = $1",
                           case_id, agent)
    return {"agent": user, "person": person.case_id, "held": held.case_id,
            "theirs": theirs.case_id, "campaign": campaign.id}


async def attempt_ended(pool: asyncpg.Pool, attempt_id: int) -> asyncpg.Record:
    async with asyncio.timeout(60):
        while True:
            row = await pool.fetchrow("SELECT * FROM attempts WHERE id = $1", attempt_id)
            if row is not None and row["ended_at"] is not None:
                return row
            await asyncio.sleep(0.25)  # the attempt row is in PostgreSQL: poll it


@pytest.mark.timeout(120)
async def test_agent_dials_an_assigned_case_and_a_held_one_is_refused(
    pool: asyncpg.Pool, redis: Redis, settings: Settings, tmp_path: Path,
    aiohttp_client: Callable[..., Awaitable[ApiClient]],
) -> None:
    fill = await greeting_clips(tmp_path)
    (tmp_path / "sipp").mkdir()
    async with sipp("uas_mixed", tmp_path / "sipp", fill=fill, calls=1,
                    quit_after=90) as (phone, trunk_port):
        ids = await seed(pool, trunk_port)
        settings = _settings(settings, tmp_path, (63400, 63500))
        clock = shifted_clock()
        api = await aiohttp_client(create_app(settings, clock=clock))
        token, _ = await auth.issue_session(pool, ids["agent"], now=clock(),
                                            ttl=timedelta(hours=1), ip="127.0.0.1")
        headers = {"Authorization": f"Bearer {token}"}
        async with CallPath.open(settings, pool, redis, clock) as path:
            running = asyncio.create_task(path.run())
            (tmp_path / "baresip").mkdir()
            bound = watch_registrations(path, EXTENSION)
            try:
                async with baresip(tmp_path / "baresip", extension=EXTENSION,
                                   password=PASSWORD, registrar=path.ua.endpoint.address[1],
                                   audio=await _agent_audio(tmp_path)):
                    await registered(path, bound, BASE)
                    resp = await api.post("/agent/login", headers=headers)
                    assert resp.status == 200, await resp.text()
                    answer = await _dial_until_served(api, headers, ids["held"])
                    assert answer["status"] == 409, answer
                    assert answer["error_id"] == "dial.refused"
                    reasons = [r["code"] for refusal in answer["details"]["refusals"]
                               for r in refusal["reasons"]]
                    assert "case_on_hold" in reasons or any("hold" in r for r in reasons)
                    resp = await api.post("/agent/dial", json={"case_id": ids["theirs"]},
                                          headers=headers)
                    assert resp.status == 404
                    answer = await _dial_until_served(api, headers, ids["person"])
                    assert answer["status"] == 202, answer
                    ended = await attempt_ended(pool, answer["attempt_id"])
            finally:
                running.cancel()
                await asyncio.gather(running, return_exceptions=True)
        assert await phone.exit_code() == 0, phone.file("*errors.log")
    assert (ended["result"], ended["agent_id"], ended["call_id"]) == (
        "connected", ids["agent"], answer["call_id"]), dict(ended)
    assert ended["decision"] is not None and ended["campaign_id"] == ids["campaign"]
    held_attempts = await pool.fetchval("SELECT count(*) FROM attempts WHERE case_id = $1",
                                        ids["held"])
    assert held_attempts == 0  # refused: nothing dialled
    assert await pool.fetchval("SELECT count(*) FROM refusals WHERE case_id = $1",
                               ids["held"]) >= 1
    recorded = await pool.fetchval("SELECT count(*) FROM recordings WHERE call_id = $1",
                                   answer["call_id"])
    assert recorded == 1
    audited = await pool.fetch(
        "SELECT record_id FROM audit_log WHERE action = 'call.agent_dial'"
        " AND details->>'answer' IS DISTINCT FROM 'none' ORDER BY id")
    assert [r["record_id"] for r in audited] == [str(ids["held"]), str(ids["person"])]


async def _dial_until_served(api: ApiClient, headers: dict[str, str], case_id: int
                             ) -> dict[str, Any]:
    """POST /agent/dial; the call path may still be subscribing: a 503 is retried."""
    async with asyncio.timeout(20):
        while True:
            resp = await api.post("/agent/dial", json={"case_id": case_id}, headers=headers)
            body: dict[str, Any] = await resp.json()
            if resp.status != 503:
                return body | {"status": resp.status}
