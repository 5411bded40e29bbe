"""Cases through the HTTP API: masking, audited views, pagination, filters."""

from __future__ import annotations

import logging

import pytest

from tests.api.conftest import ApiClient
from tests.api.world import ID_A1, World


async def test_id_number_is_masked_for_everyone_by_default(api: ApiClient, world: World) -> None:
    for who in ("admin", "supervisor", "qa", "agent_a", "auditor_a"):
        resp = await api.get(f"/cases/{world.cases['A1']}", headers=world.headers(who))
        body = await resp.json()
        assert body["debtor"]["id_no"] == "*" * 14 + ID_A1[-4:], who
        assert ID_A1 not in await resp.text()


async def test_reveal_needs_clearance_and_is_audited(api: ApiClient, world: World) -> None:
    path = f"/cases/{world.cases['A1']}?reveal=id_no"
    for who in ("supervisor", "qa", "agent_a", "manager"):
        resp = await api.get(path, headers=world.headers(who))
        assert resp.status == 403, who
        assert (await resp.json())["error_id"] == "pii.no_clearance"
    resp = await api.get(path, headers=world.headers("cleared_supervisor"))
    assert resp.status == 200
    assert (await resp.json())["debtor"]["id_no"] == ID_A1
    rows = await world.pool.fetch("SELECT * FROM audit_log WHERE action = 'pii.reveal'")
    assert [(r["username"], r["record_id"], r["ip"]) for r in rows] == [
        ("cleared-supervisor", str(world.cases["A1"]), "127.0.0.1")]


async def test_full_id_never_reaches_the_log(api: ApiClient, world: World,
                                             caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    await api.get(f"/cases/{world.cases['A1']}?reveal=id_no",
                  headers=world.headers("cleared_supervisor"))
    await api.post(f"/cases/{world.cases['A1']}/actions", json={"code": "RPC"},
                   headers={**world.headers("agent_a"), "Idempotency-Key": "k1"})
    assert ID_A1 not in caplog.text
    rows = await world.pool.fetch("SELECT details::text AS d FROM audit_log")
    assert all(ID_A1 not in r["d"] for r in rows)


async def test_case_views_are_audited(api: ApiClient, world: World) -> None:
    await api.get(f"/cases/{world.cases['A1']}", headers=world.headers("qa"))
    await api.get(f"/cases/{world.cases['A1']}/phones", headers=world.headers("qa"))
    rows = await world.pool.fetch(
        "SELECT action, username, client_id, request_id FROM audit_log"
        " WHERE action LIKE 'case.%' ORDER BY id")
    assert [(r["action"], r["username"], r["client_id"]) for r in rows] == [
        ("case.view", "qa", world.clients["BANKA"]),
        ("case.phones.view", "qa", world.clients["BANKA"]),
    ]
    assert all(r["request_id"] for r in rows)


async def test_keyset_pagination_walks_every_case_once(api: ApiClient, world: World) -> None:
    seen: list[int] = []
    after = 0
    while True:
        resp = await api.get(f"/cases?limit=2&after={after}", headers=world.headers("admin"))
        body = await resp.json()
        seen += [c["id"] for c in body["items"]]
        if body["next_after"] is None:
            break
        after = body["next_after"]
    assert seen == sorted(world.cases.values())


@pytest.mark.parametrize(("query", "accounts"), [
    ("bucket=M2", {"A1"}),
    ("bucket=M6%2B", {"A2"}),
    ("status=open", {"A1", "A2", "B1"}),
    ("status=promised", set()),
])
async def test_filters(api: ApiClient, world: World, query: str, accounts: set[str]) -> None:
    resp = await api.get(f"/cases?{query}", headers=world.headers("admin"))
    assert {c["account_no"] for c in (await resp.json())["items"]} == accounts


async def test_filter_by_agent_and_client(api: ApiClient, world: World) -> None:
    agent_b = world.users["agent_b"].id
    resp = await api.get(f"/cases?agent_id={agent_b}&client_id={world.clients['BANKA']}",
                         headers=world.headers("admin"))
    assert {c["account_no"] for c in (await resp.json())["items"]} == {"A2"}


@pytest.mark.parametrize("query", ["status=sleeping", "bucket=M9", "limit=0", "limit=x",
                                   "after=-1"])
async def test_bad_query_is_a_clear_400(api: ApiClient, world: World, query: str) -> None:
    resp = await api.get(f"/cases?{query}", headers=world.headers("admin"))
    assert resp.status == 400
    body = await resp.json()
    assert set(body) == {"error_id", "message", "details"}


async def test_unknown_case_is_404(api: ApiClient, world: World) -> None:
    resp = await api.get("/cases/999999", headers=world.headers("admin"))
    assert resp.status == 404
    resp = await api.get("/cases/abc", headers=world.headers("admin"))
    assert resp.status in (400, 404)


async def test_phones_of_a_case(api: ApiClient, world: World) -> None:
    resp = await api.get(f"/cases/{world.cases['A1']}/phones", headers=world.headers("agent_a"))
    phones = {(p["e164"], p["party"], p["kind"]) for p in (await resp.json())["items"]}
    assert phones == {("+8613800138000", "debtor", "mobile"),
                      ("+8613900139000", "guarantor", "mobile")}
