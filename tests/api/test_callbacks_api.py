"""An agent's callbacks on real PostgreSQL: the cases assigned to them whose latest
action is a callback, earliest first, due once their time came; a later action, a
hold or a closed case takes one off; other agents' and other roles' are not shown."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from tests.api.conftest import ApiClient
from tests.api.floor import phone_of
from tests.api.world import NOW, USERS, World

TOMORROW_3PM = "2026-11-30T15:00:00+08:00"


async def file(api: ApiClient, world: World, who: str, case: str, body: dict[str, Any],
               key: str) -> dict[str, Any]:
    resp = await api.post(f"/cases/{world.cases[case]}/actions", json=body,
                          headers=world.headers(who) | {"Idempotency-Key": key})
    assert resp.status == 201, await resp.text()
    filed: dict[str, Any] = await resp.json()
    return filed


async def callbacks(api: ApiClient, world: World, who: str) -> list[dict[str, Any]]:
    resp = await api.get("/agent/callbacks", headers=world.headers(who))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    assert body["at"] == NOW.isoformat()
    items: list[dict[str, Any]] = body["items"]
    return items


async def past_callback(world: World, case: str, minutes_ago: int) -> None:
    """A callback agreed earlier, for a time that has come (the API refuses to file a
    callback in the past, so it is written as filed then)."""
    at = NOW - timedelta(minutes=minutes_ago)
    await world.pool.execute(
        "INSERT INTO actions (case_id, code, user_id, idempotency_key, fields, created_at)"
        " VALUES ($1, 'CB', $2, $3, $4, $5)", world.cases[case], world.users["agent_b"].id,
        f"past-{case}", json.dumps({"callback_at": at.isoformat()}), at - timedelta(days=1))


async def test_an_agent_sees_the_callbacks_of_their_cases_earliest_first(
    api: ApiClient, world: World
) -> None:
    phone_id, number = await phone_of(world, "A1", "debtor")
    filed = await file(api, world, "agent_a", "A1", {
        "code": "CB", "callback_at": "2026-11-30T15:00", "phone_id": phone_id,
        "note": "after work"}, "cb-a1")
    await past_callback(world, "A2", 30)
    await past_callback(world, "B1", 5)
    await file(api, world, "agent_b", "B1", {"code": "CB", "callback_at": TOMORROW_3PM},
               "cb-b1")  # B1's latest callback is tomorrow's

    [a1] = await callbacks(api, world, "agent_a")
    assert a1 == {
        "case_id": world.cases["A1"], "client_id": world.clients["BANKA"],
        "account_no": "A1", "debtor_name": "王伟", "status": "in_progress", "bucket": "M2",
        "currency": "CNY", "balance": "12000.50", "callback_at": TOMORROW_3PM,
        "time_zone": "Asia/Shanghai", "due": False, "action_id": filed["id"], "code": "CB",
        "note": "after work", "filed_at": NOW.isoformat(), "filed_by": "agent_a",
        "phone": {"id": phone_id, "number": "*" * (len(number) - 4) + number[-4:],
                  "party": "debtor"},
    }
    b = await callbacks(api, world, "agent_b")
    assert [(c["account_no"], c["due"], c["callback_at"]) for c in b] == [
        ("A2", True, "2026-11-29T10:30:00+08:00"),  # half an hour ago, Shanghai time
        ("B1", False, TOMORROW_3PM),
    ]
    assert b[0]["phone"] is None  # no number was named with it


async def test_a_later_action_a_hold_or_a_closed_case_takes_the_callback_off(
    api: ApiClient, world: World
) -> None:
    await file(api, world, "agent_b", "A2", {"code": "CB", "callback_at": TOMORROW_3PM},
               "cb-a2")
    await file(api, world, "agent_b", "B1", {"code": "CB", "callback_at": TOMORROW_3PM},
               "cb-b1")
    assert [c["account_no"] for c in await callbacks(api, world, "agent_b")] == ["A2", "B1"]
    await file(api, world, "agent_b", "A2", {"code": "RPC"}, "rpc-a2")  # the call back
    assert [c["account_no"] for c in await callbacks(api, world, "agent_b")] == ["B1"]
    await world.pool.execute("INSERT INTO case_holds (case_id, reason, placed_at) VALUES"
                             " ($1, 'bank_request', $2)", world.cases["B1"], NOW)
    assert await callbacks(api, world, "agent_b") == []
    await world.pool.execute("UPDATE case_holds SET released_at = $1", NOW)
    assert [c["account_no"] for c in await callbacks(api, world, "agent_b")] == ["B1"]
    await world.pool.execute("UPDATE cases SET status = 'paid' WHERE id = $1",
                             world.cases["B1"])
    assert await callbacks(api, world, "agent_b") == []


async def test_a_reassigned_case_takes_its_callback_along(api: ApiClient, world: World) -> None:
    await file(api, world, "agent_a", "A1", {"code": "CB", "callback_at": TOMORROW_3PM},
               "cb-a1")
    resp = await api.put(f"/cases/{world.cases['A1']}/assignment",
                         json={"agent_id": world.users["agent_b"].id},
                         headers=world.headers("supervisor"))
    assert resp.status == 200
    assert await callbacks(api, world, "agent_a") == []
    [moved] = await callbacks(api, world, "agent_b")
    assert (moved["account_no"], moved["filed_by"]) == ("A1", "agent_a")


async def test_only_agents_have_callbacks(api: ApiClient, world: World) -> None:
    for who in USERS:
        resp = await api.get("/agent/callbacks", headers=world.headers(who))
        assert resp.status == (200 if who.startswith("agent_") else 403), who
    resp = await api.get("/agent/callbacks?limit=0", headers=world.headers("agent_a"))
    assert resp.status == 400
