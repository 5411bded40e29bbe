"""Agent evaluations, evaluation parameters, batch allocation and caseload caps over
HTTP: each role, own and other client, bad input, the audit rows."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable

import asyncpg
import pytest
from aiohttp import ClientResponse

from api import routes_evaluations
from api.app import create_app
from api.settings import Settings
from cases import audit, batches, store
from routing import store as routing_store
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World, batch_csv, resident_id

OCTOBER = "2026-10"


@pytest.fixture
async def api(
    settings: Settings,
    aiohttp_client: Callable[..., Awaitable[ApiClient]],
    pool: asyncpg.Pool,
) -> ApiClient:
    app = create_app(settings, clock=lambda: NOW)
    if not any(r.canonical == "/batches/{id}/allocate" for r in app.router.resources()):
        app.router.add_routes(routes_evaluations.routes)
    return await aiohttp_client(app)


def figures(world: World) -> list[dict[str, object]]:
    """agent_a recovers the most but breaks the rules on 3 of 30 accounts."""
    return [
        {"agent_id": world.users["agent_a"].id, "amount_assigned": "100000.00",
         "amount_recovered": "30000.00", "accounts": 30, "compliant_accounts": 27},
        {"agent_id": world.users["agent_b"].id, "amount_assigned": 100000,
         "amount_recovered": 27000.5, "accounts": 30, "compliant_accounts": 30},
    ]


def path(world: World, code: str = "BANKA", month: str = OCTOBER) -> str:
    return f"/clients/{world.clients[code]}/evaluations/{month}"


async def compute(api: ApiClient, world: World, who: str = "supervisor",
                  code: str = "BANKA") -> ClientResponse:
    return await api.post(path(world, code), json={"results": figures(world)},
                          headers=world.headers(who))


async def published(api: ApiClient, world: World) -> None:
    assert (await compute(api, world)).status == 201
    resp = await api.post(path(world) + "/publish", headers=world.headers("supervisor"))
    assert resp.status == 200, await resp.text()


async def audit_actions(pool: asyncpg.Pool, prefix: str) -> list[tuple[str, str | None]]:
    rows = await pool.fetch("SELECT action, username FROM audit_log WHERE action LIKE $1"
                            " ORDER BY id", prefix + "%")
    return [(r["action"], r["username"]) for r in rows]


async def test_compute_a_draft_never_by_recovery_alone(api: ApiClient, world: World) -> None:
    resp = await compute(api, world)
    assert resp.status == 201, await resp.text()
    body = await resp.json()
    assert (body["month"], body["due_date"], body["status"], body["cycle"],
            body["replaced"]) == (OCTOBER, "2026-11-15", "draft", 1, False)
    rows = {r["agent_id"]: r for r in body["rows"]}
    best, clean = rows[world.users["agent_a"].id], rows[world.users["agent_b"].id]
    assert (best["rank"], best["score"], best["tier"], best["compliance_gated"]) == (
        1, "96.00", "qualified", True)
    assert (clean["rank"], clean["score"], clean["tier"]) == (2, "94.00", "excellent")
    assert (best["recovery_rate"], best["compliance_rate"]) == ("0.3000", "0.9000")
    again = await compute(api, world, "admin")
    assert again.status == 200 and (await again.json())["replaced"] is True
    assert await audit_actions(world.pool, "evaluation.") == [
        ("evaluation.compute", "supervisor"), ("evaluation.compute", "admin")]


@pytest.mark.parametrize("who", ["manager", "qa", "agent_a", "auditor_a"])
async def test_only_admin_and_supervisors_compute(api: ApiClient, world: World, who: str
                                                  ) -> None:
    assert (await compute(api, world, who)).status == 403
    assert await world.pool.fetchval("SELECT count(*) FROM evaluations") == 0


@pytest.mark.parametrize(("month", "body", "status", "error_id"), [
    ("2026-11", None, 409, "evaluation.month_not_over"),  # NOW is 29 November
    ("2026-13", None, 400, "evaluation.bad_month"),
    (OCTOBER, {"results": "all good"}, 400, "evaluation.invalid_results"),
    (OCTOBER, {"results": [{"agent_id": 1, "amount_assigned": "x", "accounts": -1}]}, 400,
     "evaluation.invalid_results"),
    (OCTOBER, {"results": [{"agent_id": 999999, "amount_assigned": 1, "amount_recovered": 1,
                            "accounts": 1, "compliant_accounts": 1}]}, 400,
     "evaluation.unknown_agent"),
])
async def test_bad_computations_are_clear_and_store_nothing(
        api: ApiClient, world: World, month: str, body: dict[str, object] | None, status: int,
        error_id: str) -> None:
    resp = await api.post(path(world, month=month),
                          json=body or {"results": figures(world)},
                          headers=world.headers("admin"))
    assert resp.status == status, await resp.text()
    error = await resp.json()
    assert error["error_id"] == error_id
    if error_id == "evaluation.invalid_results" and isinstance(body, dict) and isinstance(
            body["results"], list):
        assert "amount_assigned" in error["details"]["0"]
    assert await world.pool.fetchval("SELECT count(*) FROM evaluations") == 0


async def test_unknown_client_is_404(api: ApiClient, world: World) -> None:
    resp = await api.post("/clients/424242/evaluations/2026-10",
                          json={"results": figures(world)}, headers=world.headers("admin"))
    assert resp.status == 404


async def test_publish_once_then_nothing_changes(api: ApiClient, world: World) -> None:
    await published(api, world)
    again = await api.post(path(world) + "/publish", headers=world.headers("admin"))
    assert again.status == 409
    assert (await again.json())["error_id"] == "evaluation.published"
    recompute = await compute(api, world, "admin")
    assert recompute.status == 409
    assert await audit_actions(world.pool, "evaluation.") == [
        ("evaluation.compute", "supervisor"), ("evaluation.publish", "supervisor")]
    missing = await api.post(path(world, month="2026-09") + "/publish",
                             headers=world.headers("admin"))
    assert missing.status == 404


@pytest.mark.parametrize("who", ["manager", "qa", "agent_a", "auditor_a"])
async def test_only_admin_and_supervisors_publish(api: ApiClient, world: World, who: str
                                                  ) -> None:
    assert (await compute(api, world)).status == 201
    resp = await api.post(path(world) + "/publish", headers=world.headers(who))
    assert resp.status == 403
    assert await world.pool.fetchval("SELECT status FROM evaluations") == "draft"


async def test_the_bank_sees_its_own_published_evaluations_only(api: ApiClient, world: World
                                                                 ) -> None:
    assert (await compute(api, world)).status == 201
    listed = await api.get(f"/clients/{world.clients['BANKA']}/evaluations",
                           headers=world.headers("auditor_a"))
    assert (await listed.json())["items"] == []
    draft = await api.get(path(world), headers=world.headers("auditor_a"))
    assert draft.status == 404
    resp = await api.post(path(world) + "/publish", headers=world.headers("supervisor"))
    assert resp.status == 200
    listed = await api.get(f"/clients/{world.clients['BANKA']}/evaluations",
                           headers=world.headers("auditor_a"))
    items = (await listed.json())["items"]
    assert [(i["month"], i["status"]) for i in items] == [(OCTOBER, "published")]
    assert "rows" not in items[0]
    own = await api.get(path(world), headers=world.headers("auditor_a"))
    assert own.status == 200 and len((await own.json())["rows"]) == 2
    for other in (path(world), f"/clients/{world.clients['BANKA']}/evaluations"):
        resp = await api.get(other, headers=world.headers("auditor_b"))
        assert resp.status == 404
        assert (await resp.json())["error_id"] == "client.not_found"


async def test_an_agent_sees_only_its_own_row_of_published_evaluations(
        api: ApiClient, world: World) -> None:
    assert (await compute(api, world)).status == 201
    assert (await api.get(path(world), headers=world.headers("agent_b"))).status == 404
    resp = await api.post(path(world) + "/publish", headers=world.headers("supervisor"))
    assert resp.status == 200
    for who in ("agent_a", "agent_b"):
        body = await (await api.get(path(world), headers=world.headers(who))).json()
        assert [r["agent_id"] for r in body["rows"]] == [world.users[who].id]
    viewed = await world.pool.fetch(
        "SELECT username, details FROM audit_log WHERE action = 'evaluation.view' ORDER BY id")
    assert [(v["username"], json.loads(v["details"])["rows"]) for v in viewed] == [
        ("agent-a", 1), ("agent-b", 1)]


async def test_staff_see_drafts_and_qa_sees_nothing(api: ApiClient, world: World) -> None:
    assert (await compute(api, world)).status == 201
    for who in ("admin", "supervisor", "manager"):
        resp = await api.get(path(world), headers=world.headers(who))
        body = await resp.json()
        assert (resp.status, body["status"], len(body["rows"])) == (200, "draft", 2)
    assert (await api.get(path(world), headers=world.headers("qa"))).status == 403
    resp = await api.get(f"/clients/{world.clients['BANKA']}/evaluations",
                         headers=world.headers("qa"))
    assert resp.status == 403


async def test_evaluation_settings_per_client(api: ApiClient, world: World) -> None:
    url = f"/clients/{world.clients['BANKA']}/evaluation-settings"
    put = await api.put(url, json={"tiering": "quantiles", "weights": {"below": "0.3"}},
                        headers=world.headers("admin"))
    assert put.status == 200, await put.text()
    assert (await put.json())["parameters"]["weights"]["below"] == "0.3"
    bad = await api.put(url, json={"recovery_weight": "0.9", "colour": 1},
                        headers=world.headers("admin"))
    assert bad.status == 400
    assert set((await bad.json())["details"]) == {"colour", "recovery_weight"}
    assert (await api.put(url, json={}, headers=world.headers("supervisor"))).status == 403
    own = await api.get(url, headers=world.headers("auditor_a"))
    assert (await own.json())["parameters"]["tiering"] == "quantiles"
    assert (await api.get(url, headers=world.headers("auditor_b"))).status == 404
    other = await api.get(f"/clients/{world.clients['BANKB']}/evaluation-settings",
                          headers=world.headers("manager"))
    assert (await other.json())["parameters"]["tiering"] == "thresholds"
    assert await audit_actions(world.pool, "evaluation.settings") == [
        ("evaluation.settings", "admin")]
    body = await (await compute(api, world)).json()
    assert body["parameters"]["tiering"] == "quantiles"


async def import_batch(world: World) -> int:
    rows = [(f"N{n}", "新户", resident_id("19800101", 300 + n), str(1000 * n), 10 + n,
             f"1391234{n:04d}", "", "") for n in range(1, 5)]
    client = await store.get_client(world.pool, code="BANKA")
    made = await batches.import_batch(world.pool, audit.SYSTEM, client, "new.csv",
                                      batch_csv(rows), received_at=NOW, now=NOW)
    return made.batch_id


async def test_allocate_a_batch_over_http(api: ApiClient, world: World) -> None:
    batch = await import_batch(world)
    agent = world.users["agent_a"]
    await routing_store.create_agent(world.pool, routing_store.NewAgent(
        agent.id, "7001", "softphone-pw", skills={"credit_card": 1}), "callcase", NOW)
    cap = await api.put(f"/agents/{agent.id}/caseload-cap", json={"cap": 3},
                        headers=world.headers("supervisor"))
    assert cap.status == 200 and await cap.json() == {"agent_id": agent.id, "cap": 3,
                                                      "default": False}
    resp = await api.post(f"/batches/{batch}/allocate", headers=world.headers("manager"))
    assert resp.status == 200, await resp.text()
    body = await resp.json()
    # agent_a holds A1 already: room for 2 more, the two biggest balances.
    assert body["agents"] == [{"agent_id": agent.id, "weight": "1.0", "cases": 2,
                               "balance": "7000.00"}]
    assert [(u["account_no"], u["reason"]) for u in body["unassigned"]] == [
        ("N2", "caseload_full"), ("N1", "caseload_full")]
    again = await api.post(f"/batches/{batch}/allocate", json={"by_balance": True},
                           headers=world.headers("admin"))
    assert (await again.json())["already_assigned"] == 2
    assert await audit_actions(world.pool, "batch.allocate") == [
        ("batch.allocate", "manager"), ("batch.allocate", "admin")]
    assert await audit_actions(world.pool, "agent.caseload_cap") == [
        ("agent.caseload_cap", "supervisor")]


@pytest.mark.parametrize(("who", "body", "status"), [
    ("supervisor", None, 403), ("agent_a", None, 403), ("auditor_a", None, 403),
    ("qa", None, 403), ("admin", {"by_balance": "yes"}, 400),
])
async def test_who_may_allocate(api: ApiClient, world: World, who: str,
                                body: dict[str, object] | None, status: int) -> None:
    batch = await import_batch(world)
    resp = await api.post(f"/batches/{batch}/allocate", json=body, headers=world.headers(who))
    assert resp.status == status
    assert await world.pool.fetchval("SELECT count(*) FROM allocations") == 0
    missing = await api.post("/batches/424242/allocate", headers=world.headers("admin"))
    assert missing.status == 404


@pytest.mark.parametrize(("who", "target", "body", "status"), [
    ("agent_a", "agent_a", {"cap": 5}, 403),
    ("auditor_a", "agent_a", {"cap": 5}, 403),
    ("admin", "qa", {"cap": 5}, 404),
    ("admin", "agent_a", {"cap": "5"}, 400),
    ("admin", "agent_a", {}, 400),
    ("admin", "agent_a", {"cap": -2}, 400),
    ("manager", "agent_a", {"cap": None}, 200),
])
async def test_caseload_cap_input_and_roles(api: ApiClient, world: World, who: str,
                                            target: str, body: dict[str, object],
                                            status: int) -> None:
    resp = await api.put(f"/agents/{world.users[target].id}/caseload-cap", json=body,
                         headers=world.headers(who))
    assert resp.status == status, await resp.text()
    if status == 200:
        assert (await resp.json())["cap"] == 300
    assert await world.pool.fetchval("SELECT count(*) FROM agent_caseload_caps") == 0
