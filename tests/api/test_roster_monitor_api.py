"""Setting up agents, queues and supervisors' softphones over HTTP; and asking to
listen in through real Redis to a call path that answers (or none that does)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from routing import keys, monitoring
from tests.api.conftest import ApiClient
from tests.api.floor import Floor, floor
from tests.api.test_agents_api import get, post, talking
from tests.api.world import World

__all__ = ["floor"]  # a fixture, used by name


async def put(api: ApiClient, world: World, who: str, path: str,
              body: Any = None) -> tuple[int, dict[str, Any]]:
    resp = await api.put(path, json=body, headers=world.headers(who))
    return resp.status, await resp.json()


async def audited(world: World, action: str) -> list[dict[str, Any]]:
    rows = await world.pool.fetch(
        "SELECT username, record_id, details::text AS details FROM audit_log"
        " WHERE action = $1 ORDER BY id", action)
    return [dict(r) for r in rows]


async def test_admin_sets_up_an_agent_and_routing_is_told(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await floor.redis.delete(keys.ROSTER_CHANGED)
    user = world.users["supervisor"]  # not an agent user
    status, body = await post(api, world, "admin", "/agents",
                              {"user_id": user.id, "extension": "900", "password": "pw-long-1"})
    assert (status, body["error_id"]) == (400, "agent.not_agent_user")
    agent_b = world.users["agent_b"].id
    await world.pool.execute("DELETE FROM queue_members WHERE agent_id = $1", agent_b)
    await world.pool.execute("DELETE FROM agents WHERE user_id = $1", agent_b)
    new = {"user_id": world.users["agent_b"].id, "extension": "8123",
           "password": "softphone-pw-2", "skills": {"credit_card": 5},
           "timers": {"wrap_up_time": 45, "max_no_answer": 2}}
    status, body = await post(api, world, "supervisor", "/agents", new)
    assert (status, body["error_id"]) == (403, "auth.role")
    status, body = await post(api, world, "admin", "/agents", new)
    assert status == 201, body
    assert (body["extension"], body["skills"], body["timers"]["wrap_up_time"],
            body["timers"]["max_no_answer"]) == ("8123", {"credit_card": 5}, 45.0, 2)
    assert "password" not in str(body) and "ha1" not in str(body)
    assert await floor.redis.get(keys.ROSTER_CHANGED) == b"1"
    status, body = await post(api, world, "admin", "/agents", new)
    assert (status, body["error_id"]) == (409, "agent.exists")
    rows = await audited(world, "roster.agent_create")
    assert len(rows) == 1 and "softphone-pw-2" not in rows[0]["details"]


async def test_bad_agent_requests_are_explained(api: ApiClient, world: World,
                                                floor: Floor) -> None:
    agent_id = world.users["agent_a"].id
    for body, field in (({"skills": {"credit_card": 11}}, "skills"),
                        ({"timers": {"wrap_up_time": -1}}, "timers.wrap_up_time"),
                        ({"timers": {"lunch": 3}}, "timers")):
        resp = await api.patch(f"/agents/{agent_id}", json=body, headers=world.headers("admin"))
        answer = await resp.json()
        assert (resp.status, answer["error_id"]) == (400, "request.bad_field"), answer
        assert field in answer["details"]
    resp = await api.patch(f"/agents/{agent_id}", json={"skills": {"loans": 3}},
                           headers=world.headers("admin"))
    assert resp.status == 200 and (await resp.json())["skills"] == {"loans": 3}


async def test_queues_and_members(api: ApiClient, world: World, floor: Floor) -> None:
    status, queue = await post(api, world, "admin", "/queues",
                               {"name": "loans", "strategy": "round_robin"})
    assert status == 201, queue
    status, body = await post(api, world, "admin", "/queues", {"name": "x", "strategy": "lifo"})
    assert (status, body["error_id"]) == (400, "queue.unknown_strategy")
    agent_id = world.users["agent_a"].id
    status, _ = await put(api, world, "supervisor", f"/queues/{queue['id']}/members/{agent_id}")
    assert status == 200
    status, body = await get(api, world, "supervisor", "/queues")
    assert [q["members"] for q in body["items"] if q["name"] == "loans"] == [[agent_id]]
    resp = await api.delete(f"/queues/{queue['id']}/members/{agent_id}",
                            headers=world.headers("supervisor"))
    assert resp.status == 200
    resp = await api.delete(f"/queues/{queue['id']}/members/{agent_id}",
                            headers=world.headers("supervisor"))
    assert resp.status == 404


async def test_supervisor_phone_is_theirs_and_its_extension_unique(
    api: ApiClient, world: World, floor: Floor
) -> None:
    me = world.users["supervisor"].id
    other = world.users["cleared_supervisor"].id
    status, body = await put(api, world, "supervisor", f"/supervisors/{other}/phone",
                             {"extension": "9001", "password": "listen-pw-1"})
    assert (status, body["error_id"]) == (403, "phone.not_yours")
    status, body = await put(api, world, "supervisor", f"/supervisors/{me}/phone",
                             {"extension": "800", "password": "listen-pw-1"})  # an agent's
    assert (status, body["error_id"]) == (409, "supervisor_phone.exists"), body
    status, body = await put(api, world, "supervisor", f"/supervisors/{me}/phone",
                             {"extension": "9001", "password": "short"})
    assert (status, body["error_id"]) == (400, "agent.weak_password")
    status, body = await put(api, world, "supervisor", f"/supervisors/{me}/phone",
                             {"extension": "9001", "password": "listen-pw-1"})
    assert (status, body) == (200, {"user_id": me, "extension": "9001"})
    status, body = await put(api, world, "admin", f"/supervisors/{world.users['qa'].id}/phone",
                             {"extension": "9002", "password": "listen-pw-1"})
    assert (status, body["error_id"]) == (400, "phone.not_supervisor")
    ha1 = await world.pool.fetchval("SELECT sip_ha1 FROM supervisor_phones WHERE user_id = $1",
                                    me)
    assert len(ha1) == 32


class CallPathStandIn:
    """Answers monitor commands for one call, as the call path's `Monitors` would."""

    def __init__(self, call_id: str) -> None:
        self.call_id = call_id
        self.commands: list[dict[str, str]] = []

    def holds(self, call_id: str) -> bool:
        return call_id == self.call_id

    async def handle(self, command: dict[str, str]) -> dict[str, object]:
        self.commands.append(command)
        if command["action"] == "stop":
            return {"ok": True, "state": "ended"}
        if command["mode"] == "barge" and command["extension"] != "9001":
            return {"ok": False, "why": "another supervisor is monitoring this call"}
        return {"ok": True, "state": "ringing", "mode": command["mode"]}


@pytest.fixture
async def call_path(floor: Floor) -> AsyncIterator[CallPathStandIn]:
    stand_in = CallPathStandIn("call-mon")
    ready = asyncio.Event()
    serving = asyncio.create_task(monitoring.serve(floor.redis, stand_in, ready))
    async with asyncio.timeout(5):
        await ready.wait()
    yield stand_in
    serving.cancel()
    await asyncio.gather(serving, return_exceptions=True)


async def test_listen_in_reaches_the_call_path_and_is_audited(
    api: ApiClient, world: World, floor: Floor, call_path: CallPathStandIn
) -> None:
    me = world.users["supervisor"].id
    await talking(api, floor, call="call-mon")
    status, body = await post(api, world, "supervisor", "/supervisor/calls/call-mon/monitor",
                              {"mode": "listen"})
    assert (status, body["error_id"]) == (409, "phone.none")
    await put(api, world, "supervisor", f"/supervisors/{me}/phone",
              {"extension": "9001", "password": "listen-pw-1"})
    status, body = await post(api, world, "supervisor", "/supervisor/calls/call-mon/monitor",
                              {"mode": "whisper"})
    assert (status, body["state"], body["mode"]) == (202, "ringing", "whisper"), body
    assert call_path.commands[-1] | {"reply": ""} == {
        "action": "start", "call_id": "call-mon", "extension": "9001", "mode": "whisper",
        "reply": ""}
    status, body = await post(api, world, "agent_a", "/supervisor/calls/call-mon/monitor",
                              {"mode": "listen"})
    assert status == 403
    status, body = await post(api, world, "supervisor", "/supervisor/calls/call-mon/monitor",
                              {"mode": "shout"})
    assert (status, body["error_id"]) == (400, "monitor.bad_mode")
    resp = await api.delete("/supervisor/calls/call-mon/monitor",
                            headers=world.headers("supervisor"))
    assert (resp.status, (await resp.json())["state"]) == (200, "ended")
    rows = await audited(world, "call.monitor")
    assert [(r["username"], r["record_id"]) for r in rows] == [("supervisor", "call-mon")]
    assert '"whisper"' in rows[0]["details"]
    assert len(await audited(world, "call.monitor_end")) == 1


async def test_refusals_and_silence_from_the_call_path(
    api: ApiClient, world: World, floor: Floor, call_path: CallPathStandIn
) -> None:
    me = world.users["supervisor"].id
    await put(api, world, "supervisor", f"/supervisors/{me}/phone",
              {"extension": "9009", "password": "listen-pw-1"})
    status, body = await post(api, world, "supervisor", "/supervisor/calls/nope/monitor", {})
    assert (status, body["error_id"]) == (404, "call.not_live")
    await talking(api, floor, call="call-mon")
    status, body = await post(api, world, "supervisor", "/supervisor/calls/call-mon/monitor",
                              {"mode": "barge"})
    assert (status, body["error_id"]) == (409, "call.monitor_refused")
    await floor.attempt("A2", "call-elsewhere")  # live, but no process holds it
    status, body = await post(api, world, "supervisor",
                              "/supervisor/calls/call-elsewhere/monitor", {"mode": "listen"})
    assert (status, body["error_id"]) == (503, "call.monitor_unconfirmed")
    assert "NOT monitoring" in body["message"]
    assert len(await audited(world, "call.monitor")) == 2
