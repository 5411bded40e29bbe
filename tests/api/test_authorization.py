"""The authorization matrix: each role x each route x own/other data."""

from __future__ import annotations

import json

import pytest

from tests.api.conftest import ApiClient
from tests.api.world import USERS, World

EVERYONE = set(USERS)
STAFF_READ = {"admin", "manager", "supervisor", "cleared_supervisor", "qa"}
# Who may do what to case A1 (client BANKA, assigned to agent_a); others get 403 when
# their role may not, 404 when their role may but the case is outside their scope.
CASE_READERS = STAFF_READ | {"agent_a", "auditor_a"}
CASE_SCOPED_OUT = {"agent_b", "auditor_b"}


def expected(ok: set[str], ok_status: int, hidden: frozenset[str] | set[str] = frozenset()
             ) -> dict[str, int]:
    return {who: ok_status if who in ok else 404 if who in hidden else 403 for who in USERS}


ROUTES: list[tuple[str, str, dict[str, object] | None, dict[str, int]]] = [
    ("GET", "/me", None, expected(EVERYONE, 200)),
    ("GET", "/clients", None, expected(STAFF_READ | {"auditor_a", "auditor_b"}, 200)),
    ("GET", "/users/{agent_a}", None, expected({"admin", "supervisor",
                                                "cleared_supervisor"}, 200)),
    ("GET", "/batches/1/confirmation", None,
     expected({"admin", "manager", "supervisor", "cleared_supervisor", "auditor_a"}, 200,
              {"auditor_b"})),
    ("GET", "/cases", None, expected(EVERYONE, 200)),
    ("GET", "/cases/{A1}", None, expected(CASE_READERS, 200, CASE_SCOPED_OUT)),
    ("GET", "/cases/{A1}/phones", None, expected(CASE_READERS, 200, CASE_SCOPED_OUT)),
    ("GET", "/cases/{A1}/actions", None, expected(CASE_READERS, 200, CASE_SCOPED_OUT)),
    ("POST", "/cases/{A1}/actions", {"code": "NA"},
     expected({"admin", "supervisor", "cleared_supervisor", "agent_a"}, 201, {"agent_b"})),
    ("PUT", "/cases/{A1}/assignment", {"agent_id": "{agent_a}"},
     expected({"admin", "manager", "supervisor", "cleared_supervisor"}, 200)),
    ("GET", "/action-codes", None, expected(EVERYONE, 200)),
    ("GET", "/audit", None, expected({"admin", "auditor_a", "auditor_b"}, 200)),
    ("POST", "/clients", {"code": "NEW{n}", "name": "New bank"}, expected({"admin"}, 201)),
    ("POST", "/users", {"username": "new{n}", "password": "long enough pw", "role": "qa"},
     expected({"admin"}, 201)),
]


def fill(text: str, world: World, n: int) -> str:
    return (text.replace("{A1}", str(world.cases["A1"]))
            .replace("{agent_a}", str(world.users["agent_a"].id)).replace("{n}", str(n)))


@pytest.mark.parametrize(("method", "path", "body", "want"), ROUTES,
                         ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
async def test_route_matrix(api: ApiClient, world: World, method: str, path: str,
                            body: dict[str, object] | None, want: dict[str, int]) -> None:
    got: dict[str, int] = {}
    for n, who in enumerate(USERS):
        payload = None if body is None else json.loads(fill(json.dumps(body), world, n))
        if payload and payload.get("agent_id"):
            payload["agent_id"] = int(payload["agent_id"])
        headers = {**world.headers(who), "Idempotency-Key": f"matrix-{who}"}
        resp = await api.request(method, fill(path, world, n), json=payload, headers=headers)
        got[who] = resp.status
    assert got == want


async def test_upload_matrix(api: ApiClient, world: World) -> None:
    from aiohttp import FormData

    from tests.api.world import batch_csv, resident_id

    got = {}
    for n, who in enumerate(USERS):
        form = FormData()
        form.add_field("client", "BANKA")
        row = (f"U{n}", "赵强", resident_id("19800101", n), "100", 5, "13700137000", "", "")
        form.add_field("file", batch_csv([row]), filename="b.csv", content_type="text/csv")
        resp = await api.post("/batches", data=form, headers=world.headers(who))
        got[who] = resp.status
    assert got == expected({"admin", "manager"}, 201)


async def test_no_token_and_bad_token(api: ApiClient, world: World) -> None:
    resp = await api.get("/cases")
    assert resp.status == 401
    assert (await resp.json())["error_id"] == "auth.required"
    resp = await api.get("/cases", headers={"Authorization": "Bearer nope"})
    assert resp.status == 401
    assert (await resp.json())["error_id"] == "auth.invalid_token"


async def test_lists_are_scoped(api: ApiClient, world: World) -> None:
    async def accounts(who: str) -> set[str]:
        resp = await api.get("/cases", headers=world.headers(who))
        return {c["account_no"] for c in (await resp.json())["items"]}

    assert await accounts("admin") == {"A1", "A2", "B1"}
    assert await accounts("agent_a") == {"A1"}
    assert await accounts("agent_b") == {"A2", "B1"}
    assert await accounts("auditor_a") == {"A1", "A2"}
    assert await accounts("auditor_b") == {"B1"}
    resp = await api.get("/clients", headers=world.headers("auditor_b"))
    assert [c["code"] for c in (await resp.json())["items"]] == ["BANKB"]


async def test_auditor_sees_only_own_audit_entries(api: ApiClient, world: World) -> None:
    await api.get(f"/cases/{world.cases['B1']}", headers=world.headers("admin"))
    await api.get(f"/cases/{world.cases['A1']}", headers=world.headers("admin"))
    resp = await api.get("/audit?action=case.view", headers=world.headers("auditor_a"))
    seen = {e["record_id"] for e in (await resp.json())["items"]}
    assert seen == {str(world.cases["A1"])}
