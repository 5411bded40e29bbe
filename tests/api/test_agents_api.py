"""The agent's desk over HTTP and a websocket, on real PostgreSQL and Redis: status
requests (applied now, or pending during a call), the screen-pop with its masking and
script, filing the call's action code (linking the attempt, ending the wrap-up,
idempotent), who may use which route, and the agent's own event socket."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import aiohttp
import pytest

from api.screen_pop import allowed_script
from cases.domain import Party
from tests.api.conftest import ApiClient
from tests.api.floor import Floor, floor, kind, phone_of, receive
from tests.api.world import ID_A1, NOW, USERS, World

__all__ = ["floor"]  # a fixture, used by name

TOMORROW = (NOW + timedelta(days=1)).date().isoformat()
AGENT_USERS = {"agent_a", "agent_b"}


async def post(api: ApiClient, world: World, who: str, path: str, body: Any = None,
               key: str | None = None) -> tuple[int, dict[str, Any]]:
    headers = world.headers(who) | ({"Idempotency-Key": key} if key else {})
    resp = await api.post(path, json=body, headers=headers)
    return resp.status, await resp.json()


async def get(api: ApiClient, world: World, who: str, path: str) -> tuple[int, dict[str, Any]]:
    resp = await api.get(path, headers=world.headers(who))
    return resp.status, await resp.json()


async def log_in(api: ApiClient, world: World, who: str = "agent_a") -> None:
    status, body = await post(api, world, who, "/agent/login")
    assert (status, body["result"]) == (200, "applied"), body


async def talking(api: ApiClient, floor: Floor, case: str = "A1", call: str = "call-1",
                  who: str = "agent_a", **attempt: Any) -> int:
    """`who` logged in and talking on a call the dialer placed to the case."""
    await log_in(api, floor.world, who)
    attempt_id = await floor.attempt(case, call, **attempt)
    await floor.talk(who, call)
    return attempt_id


async def test_login_status_and_logout_are_logged_and_audited(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await log_in(api, world)
    status, me = await get(api, world, "agent_a", "/agent/me")
    assert (status, me["status"], me["state"], me["registered"], me["queues"]) == (
        200, "available", "idle", True, [floor.queue_id])
    status, body = await post(api, world, "agent_a", "/agent/status",
                              {"status": "on_break", "reason": "lunch"})
    assert (status, body["result"], body["agent"]["status"], body["agent"]["reason"]) == (
        200, "applied", "on_break", "lunch")
    status, body = await post(api, world, "agent_a", "/agent/logout")
    assert body["agent"]["status"] == "logged_out"
    log = await world.pool.fetch("SELECT source, changed_by, to_status FROM agent_status_log"
                                 " WHERE agent_id = $1 ORDER BY id", world.users["agent_a"].id)
    me_id = world.users["agent_a"].id
    assert [tuple(r) for r in log] == [("self", me_id, "available"), ("self", me_id, "on_break"),
                                       ("self", me_id, "logged_out")]
    audited = await world.pool.fetch("SELECT details FROM audit_log WHERE action = 'agent.status'"
                                     " AND record_id = $1 ORDER BY id", floor.id("agent_a"))
    assert [json.loads(r["details"])["status"] for r in audited] == [
        "available", "on_break", "logged_out"]


@pytest.mark.parametrize(("body", "error_id"), [
    ({"status": "lunch"}, "agent.bad_status"),
    ({"status": "logged_out"}, "agent.bad_status"),
    ({"status": "on_break"}, "agent.break_reason"),
    ({"status": "on_break", "reason": "  "}, "agent.break_reason"),
])
async def test_bad_status_requests(api: ApiClient, world: World, floor: Floor,
                                   body: dict[str, str], error_id: str) -> None:
    await log_in(api, world)
    status, answer = await post(api, world, "agent_a", "/agent/status", body)
    assert (status, answer["error_id"]) == (400, error_id)


async def test_a_refused_status_is_a_conflict_and_writes_nothing(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await log_in(api, world)
    status, body = await post(api, world, "agent_a", "/agent/login")
    assert (status, body["error_id"]) == (409, "agent_status_conflict")
    assert await world.pool.fetchval("SELECT count(*) FROM agent_status_log") == 1


async def test_a_break_asked_for_during_a_call_waits_for_the_action_code(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await talking(api, floor)
    status, body = await post(api, world, "agent_a", "/agent/status",
                              {"status": "on_break", "reason": "lunch"})
    assert (status, body["result"], body["agent"]["status"], body["agent"]["pending"]) == (
        200, "pending", "available", {"status": "on_break", "reason": "lunch"})
    await floor.hang_up("agent_a", "call-1")
    status, filed = await post(api, world, "agent_a", "/agent/call/action", {"code": "RPC"},
                               key="k1")
    assert status == 201, filed
    assert (filed["agent"]["state"], filed["agent"]["status"], filed["agent"]["pending"]) == (
        "idle", "on_break", None)
    last = await world.pool.fetchrow("SELECT * FROM agent_status_log ORDER BY id DESC LIMIT 1")
    assert last is not None
    assert (last["to_status"], last["reason"], last["source"]) == ("on_break", "lunch", "self")


async def test_the_screen_pop_shows_the_case_masked(
    api: ApiClient, world: World, floor: Floor
) -> None:
    case_id = world.cases["A1"]
    for n, code in enumerate(("NA", "BUSY", "NA", "VM", "HU", "NA")):
        status, _ = await post(api, world, "agent_a", f"/cases/{case_id}/actions",
                               {"code": code}, key=f"before-{n}")
        assert status == 201
    await post(api, world, "agent_a", f"/cases/{case_id}/actions",
               {"code": "PTP", "amount": "500", "due_date": TOMORROW}, key="promise")
    attempt_id = await talking(api, floor)
    resp = await api.get("/agent/call", headers=world.headers("agent_a"))
    text = await resp.text()
    pop = json.loads(text)
    assert (resp.status, pop["call_id"], pop["attempt_id"], pop["script"]) == (
        200, "call-1", attempt_id, "collection")
    assert {k: pop["case"][k] for k in ("account_no", "balance", "bucket", "days_past_due",
                                        "status")} == {
        "account_no": "A1", "balance": "12000.50", "bucket": "M2", "days_past_due": 45,
        "status": "promised"}
    assert pop["debtor"] == {"name": "*伟", "id_no": "*" * 14 + ID_A1[-4:], "city": None}
    assert (pop["phone"]["number"], pop["phone"]["party"]) == ("**********8000", "debtor")
    assert ID_A1 not in text and "13800138000" not in text and "王伟" not in text
    assert [a["code"] for a in pop["last_actions"]] == ["PTP", "NA", "HU", "VM", "NA"]
    assert [p["amount"] for p in pop["open_promises"]] == ["500.00"]
    seen = await world.pool.fetchval(
        "SELECT details FROM audit_log WHERE action = 'case.view' AND record_id = $1",
        str(case_id))
    assert json.loads(seen) == {"via": "screen_pop", "call_id": "call-1"}


@pytest.mark.parametrize(("party", "notes", "script"), [
    (Party.DEBTOR, (), "collection"),
    (Party.GUARANTOR, (), "collection"),
    (Party.GUARANTOR, ("third_party.locate_only",), "locate_only"),
    (Party.DEBTOR, ("third_party.locate_only",), "locate_only"),
    (Party.RELATIVE, (), "locate_only"),
    (Party.EMPLOYER, (), "locate_only"),
])
def test_the_script_allowed(party: Party, notes: tuple[str, ...], script: str) -> None:
    assert allowed_script(party, notes) == script


@pytest.mark.parametrize(("party", "notes"), [
    ("guarantor", ("third_party.locate_only",)), ("relative", ()),
])
async def test_a_third_party_call_pops_the_locate_only_script(
    api: ApiClient, world: World, floor: Floor, party: str, notes: tuple[str, ...]
) -> None:
    await talking(api, floor, party=party, notes=notes)
    status, pop = await get(api, world, "agent_a", "/agent/call")
    assert (status, pop["script"], pop["phone"]["party"]) == (200, "locate_only", party)
    assert pop["phone"]["number"].endswith(pop["phone"]["number"][-4:])
    assert "*" in pop["phone"]["name"]


async def test_without_a_call_there_is_no_screen_pop_and_nothing_to_file(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await log_in(api, world)
    status, body = await get(api, world, "agent_a", "/agent/call")
    assert (status, body["error_id"]) == (404, "agent.no_call")
    status, body = await post(api, world, "agent_a", "/agent/call/action", {"code": "NA"},
                              key="k")
    assert (status, body["error_id"]) == (404, "agent.no_call")


async def test_a_ringing_call_cannot_be_filed_yet(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await log_in(api, world)
    await floor.attempt("A1", "call-1")
    await floor.ring("agent_a", "call-1")
    status, body = await post(api, world, "agent_a", "/agent/call/action", {"code": "NA"},
                              key="k")
    assert (status, body["error_id"]) == (409, "agent.call_not_answered")


async def test_filing_in_wrap_up_links_the_attempt_and_ends_the_wrap_up_once(
    api: ApiClient, world: World, floor: Floor
) -> None:
    attempt_id = await talking(api, floor)
    await floor.hang_up("agent_a", "call-1")
    await world.pool.execute("UPDATE attempts SET ended_at = $2, result = 'connected'"
                             " WHERE id = $1", attempt_id, NOW)  # the dialer closed it
    assert (await get(api, world, "agent_a", "/agent/me"))[1]["state"] == "wrap_up"
    body = {"code": "PTP", "amount": "700", "due_date": TOMORROW}
    status, filed = await post(api, world, "agent_a", "/agent/call/action", body, key="k-ptp")
    assert (status, filed["replayed"], filed["attempt_id"], filed["agent"]["state"]) == (
        201, False, attempt_id, "idle")
    row = await world.pool.fetchrow("SELECT * FROM actions WHERE id = $1", filed["id"])
    phone_id, _ = await phone_of(world, "A1", "debtor")
    assert row is not None and (row["attempt_id"], row["phone_id"], row["case_id"]) == (
        attempt_id, phone_id, world.cases["A1"])
    status, again = await post(api, world, "agent_a", "/agent/call/action", body, key="k-ptp")
    assert (status, again["id"], again["replayed"]) == (200, filed["id"], True)
    status, other = await post(api, world, "agent_a", "/agent/call/action", {"code": "NA"},
                               key="k-ptp")
    assert (status, other["error_id"]) == (409, "action.key_reused")
    assert await world.pool.fetchval("SELECT count(*) FROM promises") == 1
    assert await world.pool.fetchval("SELECT result FROM attempts WHERE id = $1",
                                      attempt_id) == "connected"


async def test_the_phone_filed_is_the_phone_called(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await talking(api, floor)
    other, _ = await phone_of(world, "A1", "guarantor")
    status, body = await post(api, world, "agent_a", "/agent/call/action",
                              {"code": "WN", "phone_id": other}, key="k")
    assert (status, body["error_id"]) == (400, "action.phone")


async def test_an_agent_files_on_the_case_of_their_call_though_not_assigned_to_them(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await talking(api, floor, who="agent_b")  # case A1 is assigned to agent_a
    status, pop = await get(api, world, "agent_b", "/agent/call")
    assert (status, pop["case"]["account_no"]) == (200, "A1")
    status, filed = await post(api, world, "agent_b", "/agent/call/action", {"code": "RPC"},
                               key="k")
    assert (status, filed["case_id"], filed["user_id"]) == (
        201, world.cases["A1"], world.users["agent_b"].id)
    status, _ = await get(api, world, "agent_b", f"/cases/{world.cases['A1']}")
    assert status == 404  # the case itself stays out of agent_b's scope


async def test_an_agent_acts_only_for_themselves(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await talking(api, floor)
    await log_in(api, world, "agent_b")
    status, _ = await get(api, world, "agent_b", "/agent/call")
    assert status == 404
    status, _ = await post(api, world, "agent_b", "/agent/call/action", {"code": "RPC"},
                           key="k")
    assert status == 404
    status, _ = await post(api, world, "agent_b", f"/supervisor/agents/{floor.id('agent_a')}"
                           "/status", {"status": "logged_out"})
    assert status == 403
    assert await world.pool.fetchval("SELECT count(*) FROM actions") == 0


@pytest.mark.parametrize(("method", "path"), [
    ("POST", "/agent/login"), ("GET", "/agent/me"), ("GET", "/agent/call"),
    ("POST", "/agent/status"), ("POST", "/agent/call/action"),
])
async def test_only_agents_use_the_agent_routes(
    api: ApiClient, world: World, floor: Floor, method: str, path: str
) -> None:
    got = {}
    for who in USERS:
        resp = await api.request(method, path, json={"status": "available", "code": "NA"},
                                 headers=world.headers(who) | {"Idempotency-Key": "m"})
        got[who] = resp.status
    assert {who for who, status in got.items() if status != 403} == AGENT_USERS


async def test_the_agent_socket_takes_a_query_token_and_pops_the_answered_call(
    api: ApiClient, world: World, floor: Floor
) -> None:
    await log_in(api, world)
    await log_in(api, world, "agent_b")
    await floor.attempt("A1", "call-1")
    me = floor.id("agent_a")
    async with api.ws_connect(f"/agent/events?token={world.tokens['agent_a']}") as ws:
        snapshot = await receive(ws, kind("snapshot"))
        assert (snapshot["agent"]["agent_id"], snapshot["agent"]["state"]) == (me, "idle")
        await post(api, world, "agent_b", "/agent/status", {"status": "on_break", "reason": "x"})
        await floor.talk("agent_a", "call-1")
        first = await receive(ws, kind("agent"))
        assert (first["agent_id"], first["state"]) == (me, "reserved")  # not agent_b's
        pop = await receive(ws, kind("screen_pop"))
        assert (pop["call_id"], pop["script"], pop["debtor"]["name"]) == (
            "call-1", "collection", "*伟")
        assert ID_A1 not in json.dumps(pop)


async def test_a_query_token_is_taken_for_websockets_only(
    api: ApiClient, world: World, floor: Floor
) -> None:
    resp = await api.get(f"/agent/me?token={world.tokens['agent_a']}")
    assert (resp.status, (await resp.json())["error_id"]) == (401, "auth.required")
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws_connect("/agent/events?token=not-a-token")
    assert refused.value.status == 401
    with pytest.raises(aiohttp.WSServerHandshakeError) as refused:
        await api.ws_connect(f"/agent/events?token={world.tokens['supervisor']}")
    assert refused.value.status == 403
