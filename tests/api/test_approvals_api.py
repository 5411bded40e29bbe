"""Approval requests through the API and the store, on the real database: filing,
reading, the bank's decision, withdrawal, expiry, and using an approval to file an
action code (each role, own vs other client, the audit rows)."""

from __future__ import annotations

import itertools
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest

from api import auth, routes_approvals
from api.app import create_app
from api.settings import Settings
from cases import approvals, store
from cases.effects import ActionFields
from cases.errors import DomainError
from tests.api.conftest import ApiClient
from tests.api.world import NOW, USERS, World

DUE = "2026-12-20"
SETTLE = {"kind": "settlement", "settle_amount": "8000", "due_date": DUE,
          "reason": "lost job; family lends a lump sum"}
SETTLES = {"A1": SETTLE, "A2": {**SETTLE, "settle_amount": "500"},  # balance 800
           "B1": {**SETTLE, "settle_amount": "3000"}}  # balance 5000
WAIVE = {"kind": "fee_waiver", "waived_amount": "300", "reason": "late fees in hospital"}
HOUR, DAY = timedelta(hours=1), timedelta(days=1)
_keys = itertools.count()


@dataclass
class Clock:
    at: datetime = NOW

    def __call__(self) -> datetime:
        return self.at


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              pool: asyncpg.Pool, clock: Clock) -> ApiClient:
    app = create_app(settings, clock=clock)
    if not any(r.canonical == "/approvals" for r in app.router.resources()):
        app.router.add_routes(routes_approvals.routes)
    return await aiohttp_client(app)


async def call(api: ApiClient, world: World, who: str, method: str, path: str,
               body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    resp = await api.request(method, path, json=body, headers=world.headers(who))
    return resp.status, await resp.json()


async def ask(api: ApiClient, world: World, who: str = "agent_a", case: str = "A1",
              body: dict[str, Any] | None = None) -> tuple[int, dict[str, Any]]:
    return await call(api, world, who, "POST", f"/cases/{world.cases[case]}/approvals",
                      SETTLES[case] if body is None else body)


async def decide(api: ApiClient, world: World, approval_id: int, who: str = "auditor_a",
                 **body: Any) -> tuple[int, dict[str, Any]]:
    return await call(api, world, who, "POST", f"/approvals/{approval_id}/decision",
                      body or {"decision": "approve"})


async def approved(api: ApiClient, world: World, case: str = "A1",
                   body: dict[str, Any] | None = None) -> int:
    who = {"A1": "agent_a"}.get(case, "supervisor")
    status, filed = await ask(api, world, who, case, body)
    assert status == 201, filed
    status, done = await decide(api, world, filed["id"],
                                "auditor_b" if case == "B1" else "auditor_a")
    assert (status, done["status"]) == (200, "approved"), done
    approval_id: int = filed["id"]
    return approval_id


async def audit_rows(world: World, action: str) -> list[asyncpg.Record]:
    return await world.pool.fetch(
        "SELECT user_id, client_id, record_id, details FROM audit_log WHERE action = $1"
        " ORDER BY id", action)


async def relogin(world: World, at: datetime) -> None:
    for who, user in world.users.items():
        world.tokens[who], _ = await auth.issue_session(world.pool, user.id, now=at,
                                                        ttl=8 * HOUR, ip="127.0.0.1")


def matrix(ok: set[str], status: int, hidden: set[str]) -> dict[str, int]:
    return {who: status if who in ok else 404 if who in hidden else 403 for who in USERS}


STAFF = {"admin", "supervisor", "cleared_supervisor"}


# Filing.


async def test_who_may_file_a_request(api: ApiClient, world: World) -> None:
    got = {}
    for who in USERS:
        status, body = await ask(api, world, who)
        got[who] = status
        if status == 201:  # free the slot: one waiting request of a kind per case
            assert (await call(api, world, "admin", "POST",
                               f"/approvals/{body['id']}/withdraw"))[0] == 200
    assert got == matrix(STAFF | {"agent_a"}, 201, {"agent_b"})
    rows = await audit_rows(world, "approval.request")
    assert [r["user_id"] for r in rows] == [
        world.users[w].id for w in ("admin", "supervisor", "cleared_supervisor", "agent_a")]
    assert {r["client_id"] for r in rows} == {world.clients["BANKA"]}


async def test_a_filed_request_waits_for_the_bank_and_the_bank_is_told(
        api: ApiClient, world: World) -> None:
    status, body = await ask(api, world)
    assert status == 201, body
    assert body | {"id": 0} == {
        "id": 0, "case_id": world.cases["A1"], "client_id": world.clients["BANKA"],
        "kind": "settlement",
        "terms": {"kind": "settlement", "settle_amount": "8000.00", "due_date": DUE},
        "balance": "12000.50", "reason": SETTLE["reason"], "status": "requested",
        "requested_by": world.users["agent_a"].id, "requested_at": NOW.isoformat(),
        "decided_by": None, "decided_at": None, "decision_note": None,
        "withdrawn_by": None, "withdrawn_at": None,
        "expires_at": (NOW + 30 * DAY).isoformat(), "used_by_action_id": None,
        "used_at": None,
    }
    note = await world.pool.fetchrow("SELECT client_id, case_id, kind, payload"
                                     " FROM client_notifications")
    assert note is not None
    assert (note["client_id"], note["case_id"], note["kind"]) == (
        world.clients["BANKA"], world.cases["A1"], "approval_request")
    assert json.loads(note["payload"]) == {
        "approval_id": body["id"], "case_id": world.cases["A1"], "balance": "12000.50",
        "decide_by": (NOW + 30 * DAY).isoformat(), "kind": "settlement",
        "settle_amount": "8000.00", "due_date": DUE,
    }  # the terms, never the free-text reason


async def test_bad_request_reports_every_problem_and_keeps_nothing(
        api: ApiClient, world: World) -> None:
    status, body = await ask(api, world, body={"kind": "settlement", "settle_amount": "20000",
                                               "due_date": "2026-11-01"})
    assert (status, body["error_id"]) == (400, "approval.invalid")
    assert body["details"] == {"reason": "required", "due_date": "is in the past",
                               "settle_amount": "must be below the balance of 12000.50"}
    for table in ("approval_requests", "client_notifications"):
        assert await world.pool.fetchval(f"SELECT count(*) FROM {table}") == 0
    assert await audit_rows(world, "approval.request") == []
    resp = await api.post(f"/cases/{world.cases['A1']}/approvals", data=b"[1",
                          headers=world.headers("agent_a"))
    assert resp.status == 400


async def test_the_debtors_day_decides_what_is_past(api: ApiClient, world: World,
                                                    clock: Clock) -> None:
    clock.at = datetime.fromisoformat("2026-11-29T17:00:00+00:00")  # 01:00 on the 30th
    await relogin(world, clock.at)
    status, body = await ask(api, world, body={**SETTLE, "due_date": "2026-11-29"})
    assert (status, body["details"]) == (400, {"due_date": "is in the past"})


async def test_one_waiting_request_of_a_kind_per_case(api: ApiClient, world: World) -> None:
    _, first = await ask(api, world)
    status, body = await ask(api, world, "supervisor")
    assert (status, body["error_id"], body["details"]) == (
        409, "approval.pending", {"approval_id": first["id"]})
    assert (await ask(api, world, body=WAIVE))[0] == 201  # another kind
    assert (await ask(api, world, "agent_b", "A2"))[0] == 201  # another case
    await decide(api, world, first["id"], decision="reject", note="offer more")
    assert (await ask(api, world))[0] == 201  # decided: the agency may ask again


async def test_no_request_on_a_closed_case_or_a_missing_one(api: ApiClient,
                                                            world: World) -> None:
    await world.pool.execute("UPDATE cases SET status = 'closed' WHERE id = $1",
                             world.cases["A1"])
    status, body = await ask(api, world)
    assert (status, body["error_id"]) == (409, "approval.case_closed")
    status, body = await call(api, world, "admin", "POST", "/cases/999999/approvals", SETTLE)
    assert (status, body["error_id"]) == (404, "case.not_found")


# Reading.


async def test_who_sees_a_request(api: ApiClient, world: World) -> None:
    _, filed = await ask(api, world)
    got = {who: (await call(api, world, who, "GET", f"/approvals/{filed['id']}"))[0]
           for who in USERS}
    assert got == matrix(set(USERS) - {"agent_b", "auditor_b"}, 200,
                         {"agent_b", "auditor_b"})
    views = await audit_rows(world, "approval.view")
    assert len(views) == 7
    assert {r["record_id"] for r in views} == {str(filed["id"])}
    status, body = await call(api, world, "admin", "GET", "/approvals/424242")
    assert (status, body["error_id"]) == (404, "approval.not_found")


async def test_lists_are_scoped_and_filtered(api: ApiClient, world: World) -> None:
    ids = {"A1": (await ask(api, world))[1]["id"],
           "A2": (await ask(api, world, "agent_b", "A2"))[1]["id"],
           "B1": (await ask(api, world, "agent_b", "B1"))[1]["id"]}
    await decide(api, world, ids["A1"])

    async def seen(who: str, query: str = "") -> set[str]:
        status, body = await call(api, world, who, "GET", f"/approvals{query}")
        assert status == 200, body
        return {case for case, i in ids.items() for r in body["items"] if r["id"] == i}

    assert await seen("admin") == await seen("qa") == {"A1", "A2", "B1"}
    assert await seen("agent_a") == {"A1"}
    assert await seen("agent_b") == {"A2", "B1"}
    assert await seen("auditor_a") == {"A1", "A2"}
    assert await seen("auditor_b") == {"B1"}
    assert await seen("auditor_b", f"?client_id={world.clients['BANKA']}") == set()
    assert await seen("admin", "?status=requested") == {"A2", "B1"}
    assert await seen("auditor_a", "?status=approved") == {"A1"}
    assert await seen("admin", f"?case_id={world.cases['B1']}") == {"B1"}
    status, body = await call(api, world, "admin", "GET", "/approvals?status=pending")
    assert (status, body["error_id"]) == (400, "request.bad_param")
    listed = await audit_rows(world, "approval.list")
    assert listed[4]["client_id"] == world.clients["BANKA"]  # auditor_a's listing


async def test_pages_follow_the_cursor(api: ApiClient, world: World) -> None:
    for body in (SETTLE, WAIVE, {**WAIVE, "kind": "interest_waiver"}):
        await ask(api, world, body=body)
    _, page = await call(api, world, "admin", "GET", "/approvals?limit=2")
    assert len(page["items"]) == 2
    _, rest = await call(api, world, "admin", "GET",
                         f"/approvals?limit=2&after={page['next_after']}")
    assert [r["kind"] for r in rest["items"]] == ["interest_waiver"]
    assert rest["next_after"] is None


# The bank's decision.


async def test_only_the_banks_own_auditor_decides(api: ApiClient, world: World) -> None:
    _, filed = await ask(api, world)
    got = {}
    for who in [w for w in USERS if w != "auditor_a"] + ["auditor_a"]:
        got[who] = (await decide(api, world, filed["id"], who))[0]
    assert got == matrix({"auditor_a"}, 200, {"auditor_b"})
    row = await world.pool.fetchrow("SELECT status, decided_by, decided_at, expires_at"
                                    " FROM approval_requests WHERE id = $1", filed["id"])
    assert row is not None
    assert dict(row) == {"status": "approved", "decided_by": world.users["auditor_a"].id,
                         "decided_at": NOW, "expires_at": NOW + 30 * DAY}
    [entry] = await audit_rows(world, "approval.approve")
    assert (entry["user_id"], entry["client_id"], entry["record_id"]) == (
        world.users["auditor_a"].id, world.clients["BANKA"], str(filed["id"]))


async def test_rejection_says_why_and_is_final(api: ApiClient, world: World) -> None:
    _, filed = await ask(api, world)
    status, body = await decide(api, world, filed["id"], decision="reject")
    assert (status, body["error_id"], body["details"]) == (
        400, "approval.invalid_decision", {"note": "required"})
    status, body = await decide(api, world, filed["id"], decision="reject",
                                note="settle at 9000 at least")
    assert (status, body["status"], body["decision_note"]) == (
        200, "rejected", "settle at 9000 at least")
    status, body = await decide(api, world, filed["id"])
    assert (status, body["error_id"], body["message"]) == (
        409, "approval.state", "a rejected request cannot be approved")
    _, seen = await call(api, world, "agent_a", "GET", f"/approvals/{filed['id']}")
    assert (seen["status"], seen["decision_note"]) == ("rejected", "settle at 9000 at least")
    assert len(await audit_rows(world, "approval.reject")) == 1


# Withdrawal.


async def test_who_may_withdraw(api: ApiClient, world: World) -> None:
    _, mine = await ask(api, world)
    _, theirs = await ask(api, world, "supervisor", body=WAIVE)
    path = f"/approvals/{theirs['id']}/withdraw"
    got = {who: (await call(api, world, who, "POST", path))[0]
           for who in USERS if who not in STAFF}
    assert got == {"manager": 403, "qa": 403, "agent_a": 403, "agent_b": 404,
                   "auditor_a": 403, "auditor_b": 403}
    status, body = await call(api, world, "agent_a", "POST", path)
    assert body["error_id"] == "approval.not_requester"
    status, body = await call(api, world, "agent_a", "POST", f"/approvals/{mine['id']}/withdraw")
    assert (status, body["status"], body["withdrawn_by"]) == (
        200, "withdrawn", world.users["agent_a"].id)
    status, body = await call(api, world, "cleared_supervisor", "POST", path)
    assert (status, body["status"]) == (200, "withdrawn")
    assert [r["record_id"] for r in await audit_rows(world, "approval.withdraw")] == [
        str(mine["id"]), str(theirs["id"])]


async def test_a_decided_request_cannot_be_withdrawn(api: ApiClient, world: World) -> None:
    approval_id = await approved(api, world)
    status, body = await call(api, world, "agent_a", "POST", f"/approvals/{approval_id}/withdraw")
    assert (status, body["message"]) == (409, "an approved request cannot be withdrawn")
    status, body = await decide(api, world, approval_id, decision="reject", note="changed mind")
    assert (status, body["error_id"]) == (409, "approval.state")


# Expiry.


async def test_an_undecided_request_lapses_after_30_days(api: ApiClient, world: World,
                                                         clock: Clock) -> None:
    _, filed = await ask(api, world)
    assert await approvals.expire(world.pool, NOW + 30 * DAY - timedelta(seconds=1)) == []
    clock.at = NOW + 30 * DAY
    await relogin(world, clock.at)
    _, seen = await call(api, world, "auditor_a", "GET", f"/approvals/{filed['id']}")
    assert seen["status"] == "expired"  # before the periodic job wrote it down
    status, body = await decide(api, world, filed["id"])
    assert (status, body["message"]) == (409, "an expired request cannot be approved")
    assert await approvals.expire(world.pool, clock.at) == [filed["id"]]
    assert await approvals.expire(world.pool, clock.at) == []
    assert await world.pool.fetchval("SELECT status FROM approval_requests") == "expired"
    [entry] = await audit_rows(world, "approval.expire")
    assert (entry["user_id"], entry["client_id"]) == (None, world.clients["BANKA"])
    assert json.loads(entry["details"])["was"] == "requested"
    again = {**SETTLE, "due_date": "2027-01-20"}
    assert (await ask(api, world, body=again))[0] == 201  # the agency may ask again


async def test_an_approval_is_valid_30_days_from_the_decision(
        api: ApiClient, world: World, clock: Clock) -> None:
    _, filed = await ask(api, world)
    clock.at = NOW + 20 * DAY
    await relogin(world, clock.at)
    await decide(api, world, filed["id"])
    assert await approvals.expire(world.pool, NOW + 49 * DAY) == []  # not 30 from filing
    clock.at = NOW + 50 * DAY
    await relogin(world, clock.at)
    _, listed = await call(api, world, "agent_a", "GET", "/approvals?status=expired")
    assert [r["id"] for r in listed["items"]] == [filed["id"]]
    assert await approvals.expire(world.pool, clock.at) == [filed["id"]]


# Using an approval (the store's consume, inside a filing transaction).


async def use(world: World, code: str, fields: ActionFields, case: str = "A1",
              at: datetime = NOW) -> int:
    """File `code` as agent_a the way cases.actions does: action row, then consume."""
    async with world.pool.acquire() as conn, conn.transaction():
        action_id: int = await conn.fetchval(
            "INSERT INTO actions (case_id, code, user_id, idempotency_key, created_at)"
            " VALUES ($1, $2, $3, $4, $5) RETURNING id", world.cases[case], code,
            world.users["agent_a"].id, f"use-{next(_keys)}", at)
        row = await conn.fetchrow("SELECT * FROM action_codes WHERE code = $1", code)
        assert row is not None
        await approvals.consume(conn, case_id=world.cases[case],
                                code=store.code_from_row(row), fields=fields,
                                action_id=action_id, now=at)
    return action_id


def settle(approval_id: int | None, amount: str = "8000",
           due: date = date(2026, 12, 20)) -> ActionFields:
    return ActionFields(amount=Decimal(amount), due_date=due, approval_id=approval_id)


async def test_using_an_approval_marks_it_used_and_audits(api: ApiClient,
                                                          world: World) -> None:
    approval_id = await approved(api, world)
    action_id = await use(world, "SETL", settle(approval_id))
    row = await world.pool.fetchrow("SELECT status, used_by_action_id, used_at"
                                    " FROM approval_requests WHERE id = $1", approval_id)
    assert row is not None
    assert dict(row) == {"status": "used", "used_by_action_id": action_id, "used_at": NOW}
    [entry] = await audit_rows(world, "approval.use")
    assert (entry["user_id"], entry["record_id"]) == (world.users["agent_a"].id,
                                                      str(approval_id))
    assert json.loads(entry["details"]) == {"case_id": world.cases["A1"],
                                            "action_id": action_id, "code": "SETL"}
    assert await use(world, "PTP", settle(None)) > 0  # a code that needs none: untouched


async def test_consume_refuses_and_nothing_is_kept(api: ApiClient, world: World) -> None:
    approval_id = await approved(api, world)
    _, waiting = await ask(api, world, body=WAIVE)
    other_case = await approved(api, world, "A2")
    refusals: list[tuple[str, ActionFields, str, datetime]] = [
        ("SETL", settle(None), "approval.required", NOW),
        ("SETL", settle(424242), "approval.not_on_case", NOW),
        ("SETL", settle(other_case), "approval.not_on_case", NOW),
        ("WAIVF", ActionFields(approval_id=approval_id), "approval.kind", NOW),
        ("WAIVF", ActionFields(approval_id=waiting["id"]), "approval.not_approved", NOW),
        ("SETL", settle(approval_id, "7000"), "approval.terms", NOW),
        ("SETL", settle(approval_id, due=date(2026, 12, 21)), "approval.terms", NOW),
        ("SETL", settle(approval_id), "approval.expired", NOW + 30 * DAY),
        ("PTP", settle(approval_id), "approval.not_needed", NOW),
    ]
    for code, fields, error_id, at in refusals:
        with pytest.raises(DomainError) as caught:
            await use(world, code, fields, at=at)
        assert caught.value.error_id == error_id, (code, fields)
    assert await world.pool.fetchval("SELECT count(*) FROM actions") == 0
    assert await world.pool.fetchval(
        "SELECT status FROM approval_requests WHERE id = $1", approval_id) == "approved"
    assert await audit_rows(world, "approval.use") == []
    await use(world, "SETL", settle(approval_id))
    with pytest.raises(DomainError) as caught:
        await use(world, "SETL", settle(approval_id))
    assert caught.value.error_id == "approval.used"


async def test_the_new_codes_are_in_the_catalogue(world: World) -> None:
    codes = {c.code: c for c in await store.action_codes(world.pool)}
    assert {k: codes[k].needs_approval for k in ("SETL", "INST", "WAIVF", "WAIVI", "COLL",
                                                 "LITG", "PTP")} == {
        "SETL": "settlement", "INST": "restructuring", "WAIVF": "fee_waiver",
        "WAIVI": "interest_waiver", "COLL": "collateral", "LITG": "litigation", "PTP": None}
    assert codes["SETL"].required_fields == ("amount", "due_date", "approval_id")
    assert codes["SETL"].creates_promise and codes["INST"].creates_promise
    assert codes["SETL"].label_zh == "和解还款承诺（银行已批准）"


# End to end: filing SETL through POST /cases/{id}/actions.



async def file(api: ApiClient, world: World, key: str, **body: Any
               ) -> tuple[int, dict[str, Any]]:
    resp = await api.post(f"/cases/{world.cases['A1']}/actions", json=body,
                          headers={**world.headers("agent_a"), "Idempotency-Key": key})
    return resp.status, await resp.json()


async def nothing_filed(world: World) -> bool:
    counts = [await world.pool.fetchval(f"SELECT count(*) FROM {t}")
              for t in ("actions", "promises")]
    return counts == [0, 0]


async def test_settlement_without_an_approval_is_refused(api: ApiClient,
                                                         world: World) -> None:
    # SETL lists approval_id among its required fields, so the filing stops there;
    # consume's approval.required guards a code that needs an approval but does not.
    status, body = await file(api, world, "s1", code="SETL", amount="8000", due_date=DUE)
    assert (status, body["error_id"], body["details"]) == (
        400, "action.missing_fields", {"approval_id": "required"})
    assert await nothing_filed(world)


async def test_settlement_with_the_approval_promises_the_settled_amount(
        api: ApiClient, world: World) -> None:
    approval_id = await approved(api, world)
    status, action = await file(api, world, "s1", code="SETL", amount="8000", due_date=DUE,
                                approval_id=approval_id)
    assert status == 201, action
    promise = await world.pool.fetchrow("SELECT amount, due_date, action_id FROM promises")
    assert promise is not None
    assert dict(promise) == {"amount": Decimal("8000.00"), "due_date": date(2026, 12, 20),
                             "action_id": action["id"]}
    assert await world.pool.fetchval("SELECT status FROM cases WHERE id = $1",
                                     world.cases["A1"]) == "promised"
    _, seen = await call(api, world, "agent_a", "GET", f"/approvals/{approval_id}")
    assert (seen["status"], seen["used_by_action_id"]) == ("used", action["id"])
    status, again = await file(api, world, "s1", code="SETL", amount="8000", due_date=DUE,
                               approval_id=approval_id)
    assert (status, again["replayed"]) == (200, True)  # a retry: still one use
    status, body = await file(api, world, "s2", code="SETL", amount="8000", due_date=DUE,
                              approval_id=approval_id)
    assert (status, body["error_id"]) == (409, "approval.used")
    assert len(await audit_rows(world, "approval.use")) == 1


async def test_settlement_with_a_request_the_bank_has_not_approved(
        api: ApiClient, world: World) -> None:
    _, waiting = await ask(api, world)
    status, body = await file(api, world, "s1", code="SETL", amount="8000", due_date=DUE,
                              approval_id=waiting["id"])
    assert (status, body["error_id"]) == (403, "approval.not_approved")
    assert await nothing_filed(world)


async def test_settlement_off_the_approved_terms(api: ApiClient, world: World) -> None:
    approval_id = await approved(api, world)
    status, body = await file(api, world, "s1", code="SETL", amount="6000", due_date=DUE,
                              approval_id=approval_id)
    assert (status, body["error_id"], body["details"]) == (
        409, "approval.terms", {"amount": "the settled amount the bank approved is 8000.00"})
    assert await nothing_filed(world)
    _, seen = await call(api, world, "agent_a", "GET", f"/approvals/{approval_id}")
    assert seen["status"] == "approved"  # still there for the right terms


async def test_an_approval_id_on_a_code_that_needs_none(api: ApiClient, world: World) -> None:
    approval_id = await approved(api, world)
    status, body = await file(api, world, "p1", code="PTP", amount="8000", due_date=DUE,
                              approval_id=approval_id)
    assert (status, body["error_id"]) == (400, "approval.not_needed")
    assert await nothing_filed(world)


async def test_settlement_needs_its_fields_before_anything_else(api: ApiClient,
                                                                world: World) -> None:
    status, body = await file(api, world, "s1", code="SETL", approval_id="x")
    assert (status, body["error_id"]) == (400, "action.invalid_fields")
    assert set(body["details"]) == {"approval_id"}
    assert await nothing_filed(world)
