"""Supervisors watching the floor on real PostgreSQL and Redis: the live agents with
their time in state, forcing an agent's status (in the supervisor's name, audited,
pending during a call), who may, and the floor's websocket: a snapshot with the
queues' and campaigns' figures, then the deltas as routing publishes them."""

from __future__ import annotations

import asyncio
import contextlib
import json
from datetime import timedelta
from typing import Any, cast

import aiohttp
import asyncpg
import pytest
from aiohttp import web

from api import routes_supervisor, wallboard
from api.event_feed import Subscription
from routing.rebuild import rebuild
from tests.api.conftest import ApiClient
from tests.api.floor import Floor, floor, kind, receive
from tests.api.world import NOW, USERS, World
from tests.conftest import TEST_REDIS_URL
from tests.routing.world import Phones

__all__ = ["floor"]  # a fixture, used by name

SUPERVISORS = {"admin", "supervisor", "cleared_supervisor"}


async def post(api: ApiClient, world: World, who: str, path: str, body: Any = None
               ) -> tuple[int, dict[str, Any]]:
    resp = await api.post(path, json=body, headers=world.headers(who))
    return resp.status, await resp.json()


async def force(api: ApiClient, floor: Floor, who: str, body: dict[str, str],
                by: str = "supervisor") -> tuple[int, dict[str, Any]]:
    return await post(api, floor.world, by, f"/supervisor/agents/{floor.id(who)}/status", body)


async def test_every_live_agent_with_the_time_in_state(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await post(api, world, "agent_a", "/agent/login")
    await floor.attempt("A1", "call-1")
    await floor.talk("agent_a", "call-1")
    await floor.hang_up("agent_a", "call-1")
    resp = await api.get("/supervisor/agents", headers=world.headers("supervisor"))
    items = {a["agent_id"]: a for a in (await resp.json())["items"]}
    a, b = items[floor.id("agent_a")], items[floor.id("agent_b")]
    assert (a["name"], a["status"], a["state"], a["call_id"], a["registered"], a["queues"]) == (
        "agent_a", "available", "wrap_up", "call-1", True, [floor.queue_id])
    assert (a["state_since"], a["seconds_in_state"]) == (NOW.isoformat(), 0.0)
    assert a["wrap_up_until"] == (NOW + timedelta(seconds=20)).isoformat()
    assert (b["status"], b["state"], b["call_id"], b["status_since"], b["state_since"]) == (
        "logged_out", "idle", None, NOW.isoformat(), None)


async def test_the_time_in_state_is_known_once_the_state_was_seen_to_start(
    api: ApiClient, world: World, floor: Floor
) -> None:
    async with api.ws_connect("/supervisor/events", headers=world.headers("supervisor")) as ws:
        await receive(ws, kind("snapshot"))
        await post(api, world, "agent_b", "/agent/login")
        await floor.attempt("A1", "call-1")
        await floor.talk("agent_b", "call-1")
        await receive(ws, kind("agent", agent_id=floor.id("agent_b"), state="talking"))
        await post(api, world, "agent_a", "/agent/login")  # idle since before we looked
        await receive(ws, kind("agent", agent_id=floor.id("agent_a")))
    resp = await api.get("/supervisor/agents", headers=world.headers("supervisor"))
    items = {a["agent_id"]: a for a in (await resp.json())["items"]}
    a, b = items[floor.id("agent_a")], items[floor.id("agent_b")]
    assert (b["state"], b["state_since"], b["seconds_in_state"]) == (
        "talking", NOW.isoformat(), 0.0)
    assert (a["state"], a["state_since"], a["seconds_in_state"]) == ("idle", None, None)


async def test_a_forced_status_is_in_the_supervisors_name_and_audited(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await post(api, world, "agent_a", "/agent/login")
    status, body = await force(api, floor, "agent_a", {"status": "on_break", "reason": "coaching"})
    assert (status, body["result"], body["agent"]["status"], body["agent"]["reason"]) == (
        200, "applied", "on_break", "coaching")
    last = await world.pool.fetchrow("SELECT * FROM agent_status_log ORDER BY id DESC LIMIT 1")
    assert last is not None
    assert (last["source"], last["changed_by"], last["to_status"]) == (
        "supervisor", world.users["supervisor"].id, "on_break")
    row = await world.pool.fetchrow("SELECT * FROM audit_log WHERE action ="
                                    " 'supervisor.force_status'")
    assert row is not None
    assert (row["user_id"], row["record_type"], row["record_id"]) == (
        world.users["supervisor"].id, "agent", floor.id("agent_a"))
    assert json.loads(row["details"])["reason"] == "coaching"


async def test_a_forced_logout_during_a_call_waits_for_the_wrap_up(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await post(api, world, "agent_a", "/agent/login")
    await floor.attempt("A1", "call-1")
    await floor.talk("agent_a", "call-1")
    status, body = await force(api, floor, "agent_a", {"status": "logged_out"}, by="admin")
    assert (status, body["result"], body["agent"]["pending"]) == (
        200, "pending", {"status": "logged_out", "reason": None})
    await floor.hang_up("agent_a", "call-1")
    resp = await api.post("/agent/call/action", json={"code": "RPC"},
                          headers=world.headers("agent_a") | {"Idempotency-Key": "k"})
    assert (await resp.json())["agent"]["status"] == "logged_out"
    last = await world.pool.fetchrow("SELECT * FROM agent_status_log ORDER BY id DESC LIMIT 1")
    assert last is not None and (last["source"], last["changed_by"]) == (
        "supervisor", world.users["admin"].id)


async def test_unknown_agents_and_bad_requests(api: ApiClient, world: World,
                                               floor: Floor) -> None:
    status, body = await post(api, world, "supervisor", "/supervisor/agents/999999/status",
                              {"status": "logged_out"})
    assert (status, body["error_id"]) == (404, "agent.not_live")
    status, body = await force(api, floor, "agent_a", {"status": "talking"})
    assert (status, body["error_id"]) == (400, "agent.bad_status")
    status, body = await force(api, floor, "agent_a", {"status": "available"})
    assert (status, body["error_id"]) == (409, "agent_status_conflict")  # logged out


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/supervisor/agents"), ("POST", "/supervisor/agents/{agent_a}/status"),
])
async def test_only_supervisors_and_admins_use_the_supervisor_routes(
    api: ApiClient, world: World, floor: Floor, method: str, path: str
) -> None:
    await post(api, world, "agent_a", "/agent/login")
    got = {}
    for who in USERS:
        resp = await api.request(method, path.format(agent_a=floor.id("agent_a")),
                                 json={"status": "on_break", "reason": "x"},
                                 headers=world.headers(who))
        got[who] = resp.status
    assert got == {who: 200 if who in SUPERVISORS else 403 for who in USERS}


async def figures_of_the_day(floor: Floor) -> None:
    """Today in Shanghai: connected, abandoned, no answer, one in progress; one abandoned
    yesterday (before midnight in Shanghai) that does not count."""
    for n, result in enumerate(("connected", "abandoned", "no_answer", None)):
        await floor.attempt("A2", f"c{n}", result=result)
    await floor.attempt("A2", "old", result="abandoned", placed_at=NOW - timedelta(hours=12))


async def test_the_floor_socket_sends_a_snapshot_then_deltas(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await figures_of_the_day(floor)
    await floor.live.enqueue(floor.queue_id, "waiting-1", NOW)
    async with api.ws_connect("/supervisor/events", headers=world.headers("supervisor")) as ws:
        snapshot = await receive(ws, kind("snapshot"))
        assert {a["agent_id"]: a["status"] for a in snapshot["agents"]} == {
            floor.id("agent_a"): "logged_out", floor.id("agent_b"): "logged_out"}
        assert snapshot["queues"] == {floor.queue_id: {
            "name": "cards", "campaign_id": floor.campaign_id, "waiting": 1, "free": 0,
            "reserved": 0, "missed": 0, "oldest_waiting_since": NOW.isoformat()}}
        assert snapshot["campaigns"][str(floor.campaign_id)] | {"name": None} == {
            "name": None, "state": "draft", "max_abandon_rate": 0.03, **TODAY}
        await post(api, world, "agent_a", "/agent/login")
        delta = await receive(ws, kind("agent", agent_id=floor.id("agent_a")))
        assert (delta["status"], delta["state"]) == ("available", "idle")
        await floor.live.enqueue(floor.queue_id, "waiting-2", NOW + timedelta(seconds=40))
        queue = await receive(ws, kind("queue", queue_id=floor.queue_id, waiting=2))
        assert queue["oldest_waiting_since"] == NOW.isoformat()
        await floor.live.withdraw(floor.queue_id, "waiting-1", NOW)
        queue = await receive(ws, kind("queue", queue_id=floor.queue_id, waiting=1))
        assert queue["oldest_waiting_since"] == (NOW + timedelta(seconds=40)).isoformat()
        await floor.live.withdraw(floor.queue_id, "waiting-2", NOW)
        queue = await receive(ws, kind("queue", queue_id=floor.queue_id, waiting=0))
        assert queue["oldest_waiting_since"] is None


# figures_of_the_day's figures: 4 placed today, 3 of them finished; answered by a person:
# the connected and the abandoned call.
TODAY = {"attempts": 4, "finished": 3, "answers": 2, "connected": 1, "abandoned": 1,
         "right_party_contacts": 0, "answer_rate": 2 / 3, "abandon_rate": 0.5}


async def test_the_floor_socket_sends_the_campaigns_figures_when_they_change(
    api: ApiClient, world: World, floor: Floor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(routes_supervisor, "FIGURES_EVERY_S", 0.05)
    ours = str(floor.campaign_id)
    async with api.ws_connect("/supervisor/events", headers=world.headers("supervisor")) as ws:
        snapshot = await receive(ws, kind("snapshot"))
        assert snapshot["campaigns"] == {}  # a draft that has not called today
        await figures_of_the_day(floor)  # pushed as the rows come, up to all five
        pushed = await receive(ws, lambda m: m.get("kind") == "campaigns"
                               and m["campaigns"][ours]["attempts"] == 4)
        assert pushed["at"] == NOW.isoformat()
        assert pushed["campaigns"][ours] | {"name": None} == {
            "name": None, "state": "draft", "max_abandon_rate": 0.03, **TODAY}
        attempt_id = await floor.attempt("A1", "c-rpc", result="connected")
        await world.pool.execute(
            "INSERT INTO actions (case_id, code, user_id, attempt_id, idempotency_key,"
            " created_at) VALUES ($1, 'RPC', $2, $3, 'k-rpc', $4)", world.cases["A1"],
            world.users["agent_a"].id, attempt_id, NOW)
        pushed = await receive(ws, lambda m: m.get("kind") == "campaigns"
                               and m["campaigns"][ours]["right_party_contacts"] == 1)
        figures = pushed["campaigns"][ours]
        assert (figures["attempts"], figures["connected"], figures["abandon_rate"]) == (
            5, 2, 1 / 3)
        sent = []
        with contextlib.suppress(TimeoutError):  # nothing changed: nothing more is sent
            async with asyncio.timeout(0.5):
                sent.append(await ws.receive_json())
        assert sent == []


async def test_the_sockets_of_an_app_share_one_read_of_the_figures(
    monkeypatch: pytest.MonkeyPatch
) -> None:
    reads: list[object] = []

    async def campaigns(pool: object, at: object) -> dict[str, dict[str, object]]:
        reads.append(at)
        await asyncio.sleep(0)
        return {"1": {"attempts": len(reads)}}

    monkeypatch.setattr(wallboard, "campaigns", campaigns)
    monkeypatch.setattr(routes_supervisor, "FIGURES_EVERY_S", 3600.0)
    app, other, pool = web.Application(), web.Application(), cast(asyncpg.Pool, None)
    shared = routes_supervisor._figures_of(app)
    first = await asyncio.gather(*(shared.read(pool, NOW) for _ in range(5)))
    assert first == [{"1": {"attempts": 1}}] * 5 and len(reads) == 1  # five sockets, one read
    assert routes_supervisor._figures_of(app) is shared
    assert await routes_supervisor._figures_of(other).read(pool, NOW) == {"1": {"attempts": 2}}
    shared.read_at -= 1800  # half the interval has passed
    assert await shared.read(pool, NOW) == {"1": {"attempts": 3}}


async def test_a_campaigns_day_by_interval(api: ApiClient, world: World, floor: Floor) -> None:
    """NOW is 11:00 in Shanghai; calls at 09:10, 09:40 and 10:50 local."""
    for call, result, minutes in (("d1", "connected", -110), ("d2", "abandoned", -80),
                                  ("d3", "no_answer", -80), ("d4", "connected", -10),
                                  ("d5", None, -10), ("y", "abandoned", -12 * 60)):
        await floor.attempt("A2", call, result=result,
                            placed_at=NOW + timedelta(minutes=minutes))
    path = f"/campaigns/{floor.campaign_id}/today"
    resp = await api.get(path + "?step=60", headers=world.headers("supervisor"))
    assert resp.status == 200
    day = await resp.json()
    assert {k: day[k] for k in ("campaign_id", "day", "time_zone", "step_minutes",
                                "max_abandon_rate", "at")} == {
        "campaign_id": floor.campaign_id, "day": "2026-11-29", "time_zone": "Asia/Shanghai",
        "step_minutes": 60, "max_abandon_rate": 0.03, "at": NOW.isoformat()}
    assert [(p["from"], p["attempts"], p["answer_rate"], p["abandon_rate"],
             p["abandon_rate_to_date"]) for p in day["points"]] == [
        ("2026-11-29T09:00:00+08:00", 3, 2 / 3, 0.5, 0.5),
        ("2026-11-29T10:00:00+08:00", 2, 1.0, 0.0, 1 / 3),
        ("2026-11-29T11:00:00+08:00", 0, None, None, 1 / 3),  # the hour holding now
    ]
    half = await (await api.get(path, headers=world.headers("manager"))).json()
    assert half["step_minutes"] == 30
    assert [p["from"][11:16] for p in half["points"]] == [
        "09:00", "09:30", "10:00", "10:30", "11:00"]
    assert [p["attempts"] for p in half["points"]] == [1, 2, 0, 2, 0]
    for who, query, status in (("supervisor", "?step=20", 400), ("qa", "", 403),
                               ("auditor_a", "", 403), ("agent_a", "", 403)):
        resp = await api.get(path + query, headers=world.headers(who))
        assert resp.status == status, who
    resp = await api.get("/campaigns/424242/today", headers=world.headers("admin"))
    assert resp.status == 404


async def test_a_rebuild_of_the_live_state_sends_a_new_snapshot(
    api: ApiClient, world: World, floor: Floor
) -> None:
    async with api.ws_connect("/supervisor/events", headers=world.headers("admin")) as ws:
        await receive(ws, kind("snapshot"))
        await world.pool.execute("UPDATE agents SET status = 'available' WHERE user_id = $1",
                                 world.users["agent_b"].id)
        await rebuild(world.pool, floor.redis, Phones(), set(), NOW)
        again = await receive(ws, kind("snapshot"))
        b = next(a for a in again["agents"] if a["agent_id"] == floor.id("agent_b"))
        assert (b["status"], b["registered"]) == ("available", False)


async def test_the_floor_socket_takes_a_query_token_from_supervisors_only(
    api: ApiClient, world: World, floor: Floor
) -> None:
    async with api.ws_connect(f"/supervisor/events?token={world.tokens['supervisor']}") as ws:
        assert (await receive(ws, kind("snapshot")))["agents"]
    for who, status in (("agent_a", 403), ("auditor_a", 403), ("qa", 403)):
        with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
            await api.ws_connect(f"/supervisor/events?token={world.tokens[who]}")
        assert refused.value.status == status, who
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws_connect("/supervisor/events")
    assert refused.value.status == 401


async def test_a_dropped_subscription_makes_the_sockets_resynchronise(
    api: ApiClient, world: World, floor: Floor
) -> None:
    async with api.ws_connect("/supervisor/events", headers=world.headers("admin")) as ws:
        await receive(ws, kind("snapshot"))
        ours = [c for c in await floor.redis.client_list(_type="pubsub")
                if c["db"] == TEST_REDIS_URL.rsplit("/", 1)[1]]
        for client in ours:
            await floor.redis.client_kill_filter(_id=client["id"])
        await receive(ws, kind("snapshot"))
        await post(api, world, "agent_a", "/agent/login")
        await receive(ws, kind("agent", agent_id=floor.id("agent_a")))


async def test_a_socket_that_falls_behind_is_told_to_resynchronise() -> None:
    subscription = Subscription(size=2)
    for n in range(3):
        subscription.offer({"kind": "agent", "n": n})
    subscription.offer({"kind": "agent", "n": 3})
    async with asyncio.timeout(1):
        assert [await subscription.next() for _ in range(2)] == [
            {"kind": "resync", "reason": "lagged"}, {"kind": "agent", "n": 3}]
