"""Preview dialing over HTTP with the real database: an agent of a running preview
campaign's queue gets its cases one by one (never a case of another agent, never a
held one, never one just previewed), each becoming theirs; other agents get others."""

from __future__ import annotations

from typing import Any

import asyncpg

from dialer.campaign import Command
from dialer.store import command_campaign
from routing.roster import Member
from routing.store import NewQueue, add_member, create_queue
from tests.api.conftest import ApiClient
from tests.api.world import ID_A2, NOW, World
from tests.dialer.records import make_campaign


async def next_case(api: ApiClient, world: World, who: str) -> dict[str, Any]:
    resp = await api.post("/agent/preview/next", json={}, headers=world.headers(who))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def preview_campaign(world: World, *agents: str) -> int:
    pool: asyncpg.Pool = world.pool
    queue = await create_queue(pool, NewQueue("preview"))
    for who in agents:
        user_id = world.users[who].id
        await pool.execute("INSERT INTO agents (user_id, extension, sip_realm, sip_ha1,"
                           " status_since) VALUES ($1, $2, 'callcase', $3, $4)",
                           user_id, f"7{user_id}", "0" * 32, NOW)
        await add_member(pool, Member(queue.id, user_id))
    campaign = await make_campaign(pool, world.clients["BANKA"], mode="preview",
                                   queue_id=queue.id)
    await command_campaign(pool, campaign.id, Command.START, now=NOW)
    return campaign.id


async def test_agents_get_their_next_cases_one_by_one(api: ApiClient, world: World) -> None:
    pool = world.pool
    await pool.execute("UPDATE cases SET assigned_agent_id = NULL WHERE id = $1",
                       world.cases["A2"])  # nobody's now; A1 stays agent_a's
    campaign_id = await preview_campaign(world, "agent_a", "agent_b")
    first = await next_case(api, world, "agent_b")
    assert (first["campaign_id"], first["case"]["id"]) == (campaign_id, world.cases["A2"])
    assert first["case"]["assigned_agent_id"] == world.users["agent_b"].id
    debtor = first["case"]["debtor"]
    assert debtor["id_no_masked"] is True and debtor["id_no"] != ID_A2  # as GET /cases shows
    assert await next_case(api, world, "agent_b") == {
        "case": None, "why": "no case of your preview campaigns is left to read now"}
    mine = await next_case(api, world, "agent_a")
    assert mine["case"]["id"] == world.cases["A1"]  # their own; A2 is agent_b's now
    assert (await next_case(api, world, "agent_a"))["case"] is None  # just previewed
    audited = await pool.fetch("SELECT username, record_id FROM audit_log"
                               " WHERE action = 'case.preview' ORDER BY id")
    assert [(r["username"], r["record_id"]) for r in audited] == [
        ("agent-b", str(world.cases["A2"])), ("agent-a", str(world.cases["A1"]))]


async def test_held_cases_and_other_roles(api: ApiClient, world: World) -> None:
    await preview_campaign(world, "agent_a")
    await world.pool.execute("INSERT INTO case_holds (case_id, reason, placed_at)"
                             " VALUES ($1, 'dispute', $2)", world.cases["A1"], NOW)
    assert (await next_case(api, world, "agent_a"))["case"] is None
    resp = await api.post("/agent/preview/next", json={}, headers=world.headers("supervisor"))
    assert resp.status == 403
    resp = await api.post("/agent/preview/next", json={"campaign_id": "x"},
                          headers=world.headers("agent_a"))
    assert resp.status == 400
