"""Disputes and fraud claims against real PostgreSQL: the hold the dialer respects, the
bank's resolution (right and wrong roles, other bank), the feed, the access log."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from aiohttp import web

from api import routes_client
from api.app import create_app
from api.settings import Settings
from cases import disputes
from cases.disputes import ResolutionKind
from cases.domain import CaseStatus
from cases.errors import InvalidInput
from dialer.campaign import Campaign
from dialer.candidates import phones_of
from dialer.compliance import CampaignState, DialContext, Resources, pack_named
from dialer.gate import Gate, LinePicker, admit, decide
from tests.api.conftest import ApiClient
from tests.api.world import NOW, USERS, World
from tests.dialer.records import make_campaign

TOMORROW = (NOW + timedelta(days=1)).date().isoformat()
FILERS = {"A1": "agent_a", "A2": "agent_b", "B1": "agent_b"}


def with_client_routes(app: web.Application) -> web.Application:
    """The portal's routes, unless the app factory already has them."""
    known = {r.resource.canonical for r in app.router.routes() if r.resource is not None}
    if "/client/disputes" not in known:
        app.router.add_routes(routes_client.routes)
    return app


@pytest.fixture
async def api(
    settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
    pool: asyncpg.Pool,
) -> ApiClient:
    return await aiohttp_client(with_client_routes(create_app(settings, clock=lambda: NOW)))


async def file(api: ApiClient, world: World, case: str, code: str, key: str,
               **fields: Any) -> dict[str, Any]:
    resp = await api.post(f"/cases/{world.cases[case]}/actions", json={"code": code, **fields},
                          headers={**world.headers(FILERS[case]), "Idempotency-Key": key})
    body: dict[str, Any] = await resp.json()
    assert resp.status == 201, body
    return body


async def dispute(api: ApiClient, world: World, case: str, code: str = "DSP",
                  statement: str = "I never had this card", key: str = "dsp") -> int:
    """File DSP/FRD through the real filing path, then open its dispute as the
    actions hook does (a no-op returning the same id once the hook is wired)."""
    action = await file(api, world, case, code, key, statement=statement)
    async with world.pool.acquire() as conn:
        return await disputes.open_dispute(
            conn, case_id=world.cases[case], client_id=await client_of(world, case),
            action_id=action["id"], kind="dispute" if code == "DSP" else "fraud",
            statement=statement, now=NOW,
        )


async def client_of(world: World, case: str) -> int:
    client_id: int = await world.pool.fetchval("SELECT client_id FROM cases WHERE id = $1",
                                               world.cases[case])
    return client_id


async def resolve(api: ApiClient, world: World, dispute_id: int, who: str = "auditor_a",
                  **body: Any) -> tuple[int, dict[str, Any]]:
    resp = await api.post(f"/client/disputes/{dispute_id}/resolve", json=body,
                          headers=world.headers(who))
    return resp.status, await resp.json()


async def case_row(world: World, case: str) -> asyncpg.Record:
    row = await world.pool.fetchrow("SELECT * FROM cases WHERE id = $1", world.cases[case])
    assert row is not None
    return row


async def active_holds(world: World, case: str) -> list[str]:
    rows = await world.pool.fetch(
        "SELECT reason FROM case_holds WHERE case_id = $1 AND released_at IS NULL ORDER BY id",
        world.cases[case])
    return [r["reason"] for r in rows]


async def audit_actions(world: World, action: str) -> list[asyncpg.Record]:
    return await world.pool.fetch("SELECT * FROM audit_log WHERE action = $1 ORDER BY id",
                                  action)


# --- opening -------------------------------------------------------------------------

async def test_filing_dsp_over_http_opens_a_dispute(api: ApiClient, world: World) -> None:
    action = await file(api, world, "A1", "DSP", "k", statement="amount is wrong")
    row = await world.pool.fetchrow("SELECT * FROM disputes WHERE action_id = $1",
                                    action["id"])
    assert row is not None
    assert (row["kind"], row["statement"], row["status"]) == ("dispute", "amount is wrong",
                                                              "open")
    payload = await world.pool.fetchval(
        "SELECT payload->>'dispute_id' FROM client_notifications WHERE case_id = $1",
        world.cases["A1"])
    assert payload == str(row["id"])


async def test_open_dispute_records_the_statement_once(api: ApiClient, world: World) -> None:
    dispute_id = await dispute(api, world, "A1", "FRD", "卡被盗用，不是我本人")
    row = await world.pool.fetchrow("SELECT * FROM disputes WHERE id = $1", dispute_id)
    assert row is not None
    assert (row["kind"], row["statement"], row["status"], row["opened_by"],
            row["client_id"], row["opened_at"]) == (
        "fraud", "卡被盗用，不是我本人", "open", world.users["agent_a"].id,
        world.clients["BANKA"], NOW)
    async with world.pool.acquire() as conn:
        again = await disputes.open_dispute(
            conn, case_id=row["case_id"], client_id=row["client_id"],
            action_id=row["action_id"], kind="fraud", statement="x", now=NOW)
    assert again == dispute_id
    assert await world.pool.fetchval("SELECT count(*) FROM disputes") == 1
    assert await active_holds(world, "A1") == ["fraud"]


@pytest.mark.parametrize(("kind", "statement", "error_id"), [
    ("deceased", "x", "dispute.kind"), ("dispute", "   ", "dispute.statement"),
])
async def test_open_dispute_refuses_bad_input(pool: asyncpg.Pool, kind: str, statement: str,
                                              error_id: str) -> None:
    async with pool.acquire() as conn:
        with pytest.raises(InvalidInput) as caught:
            await disputes.open_dispute(conn, case_id=1, client_id=1, action_id=1, kind=kind,
                                        statement=statement, now=NOW)
    assert caught.value.error_id == error_id


# --- the dialer ----------------------------------------------------------------------

def gate_for(campaign: Campaign) -> Gate:
    def dial(line_free: bool) -> DialContext:
        return DialContext(
            campaign_id=campaign.id, ring_timeout=campaign.settings.ring_timeout,
            agent_guaranteed=True, campaign=CampaignState(0, 0),
            resources=Resources(work_line=line_free, recording=True),
        )

    return Gate(campaign, pack_named(campaign.settings.rule_pack), "d1", dial,
                LinePicker({"line1": 10}))


async def admitted_cases(pool: asyncpg.Pool, campaign: Campaign) -> set[int]:
    found = await admit(pool, gate_for(campaign), NOW, 10)
    await pool.execute("UPDATE attempts SET ended_at = placed_at, result = 'no_answer'")
    return {a.candidate.case_id for a in found}


async def test_dialer_skips_the_disputed_case_until_the_bank_resolves(
    api: ApiClient, world: World,
) -> None:
    campaign = await make_campaign(world.pool, world.clients["BANKA"])
    dispute_id = await dispute(api, world, "A1")
    assert await admitted_cases(world.pool, campaign) == {world.cases["A2"]}  # A1 held
    async with world.pool.acquire() as conn:
        [facts, *_] = (await phones_of(conn, [world.cases["A1"]], NOW))[world.cases["A1"]]
        decision = await decide(conn, facts.candidate, gate_for(campaign).pack, NOW,
                                gate_for(campaign).dial(True))
    assert not decision.allowed
    assert str(decision.codes[0]) == "hold.dispute"
    status, _ = await resolve(api, world, dispute_id, resolution="debt_confirmed")
    assert status == 200
    assert world.cases["A1"] in await admitted_cases(world.pool, campaign)


async def test_two_open_disputes_hold_until_both_are_resolved(api: ApiClient,
                                                              world: World) -> None:
    campaign = await make_campaign(world.pool, world.clients["BANKA"])
    first = await dispute(api, world, "A1", "DSP", key="k1")
    second = await dispute(api, world, "A1", "FRD", statement="identity theft", key="k2")
    status, body = await resolve(api, world, first, resolution="debt_confirmed")
    assert (status, body["case_status"], body["holds_released"], body["holds_left"]) == (
        200, "on_hold", 1, 1)
    assert await active_holds(world, "A1") == ["fraud"]
    assert world.cases["A1"] not in await admitted_cases(world.pool, campaign)
    status, body = await resolve(api, world, second, resolution="debt_confirmed")
    assert (status, body["case_status"], body["holds_left"]) == (200, "in_progress", 0)
    assert world.cases["A1"] in await admitted_cases(world.pool, campaign)


# --- resolving -----------------------------------------------------------------------

async def test_debt_confirmed_resumes_collection(api: ApiClient, world: World) -> None:
    dispute_id = await dispute(api, world, "A1")
    status, body = await resolve(api, world, dispute_id, resolution="debt_confirmed",
                                 note="statement signed in 2024")
    assert status == 200, body
    assert (body["status"], body["resolution"], body["resolved_by"], body["note"],
            body["case_status"]) == ("resolved", "debt_confirmed",
                                     world.users["auditor_a"].id, "statement signed in 2024",
                                     "in_progress")
    case = await case_row(world, "A1")
    assert (case["status"], case["next_action_at"]) == ("in_progress", NOW)
    hold = await world.pool.fetchrow("SELECT * FROM case_holds WHERE case_id = $1",
                                     world.cases["A1"])
    assert hold is not None
    assert (hold["released_at"], hold["released_by"]) == (NOW, world.users["auditor_a"].id)
    [row] = await audit_actions(world, "dispute.resolve")
    assert (row["username"], row["record_id"], row["client_id"]) == (
        "auditor-a", str(dispute_id), world.clients["BANKA"])
    notice = await world.pool.fetchrow(
        "SELECT payload FROM client_notifications WHERE kind = 'dispute_resolved'")
    assert notice is not None
    assert '"resolution": "debt_confirmed"' in notice["payload"]


async def test_debt_adjusted_sets_the_new_balance(api: ApiClient, world: World) -> None:
    dispute_id = await dispute(api, world, "A1")
    status, body = await resolve(api, world, dispute_id, resolution="debt_adjusted",
                                 new_balance="9000.50")
    assert status == 200, body
    assert (body["old_balance"], body["new_balance"], body["case_status"]) == (
        "12000.50", "9000.50", "in_progress")
    assert (await case_row(world, "A1"))["balance"] == Decimal("9000.50")


@pytest.mark.parametrize("resolution", ["debt_cancelled", "fraud_confirmed"])
async def test_closing_resolutions_close_the_case(api: ApiClient, world: World,
                                                  resolution: str) -> None:
    await file(api, world, "A1", "PTP", "ptp", amount="500", due_date=TOMORROW)
    dispute_id = await dispute(api, world, "A1", "FRD")
    status, body = await resolve(api, world, dispute_id, resolution=resolution)
    assert (status, body["case_status"]) == (200, "closed")
    case = await case_row(world, "A1")
    assert (case["status"], case["next_action_at"]) == ("closed", None)
    assert await world.pool.fetchval("SELECT status FROM promises") == "cancelled"
    assert await active_holds(world, "A1") == []
    resp = await api.post(f"/cases/{world.cases['A1']}/actions", json={"code": "RPC"},
                          headers={**world.headers("agent_a"), "Idempotency-Key": "late"})
    assert (resp.status, (await resp.json())["error_id"]) == (409, "action.case_closed")


async def test_a_resolved_dispute_cannot_be_resolved_again(api: ApiClient,
                                                           world: World) -> None:
    dispute_id = await dispute(api, world, "A1")
    assert (await resolve(api, world, dispute_id, resolution="debt_confirmed"))[0] == 200
    status, body = await resolve(api, world, dispute_id, resolution="debt_cancelled")
    assert (status, body["error_id"], body["details"]["resolution"]) == (
        409, "dispute.resolved", "debt_confirmed")
    assert (await case_row(world, "A1"))["status"] == "in_progress"
    assert len(await audit_actions(world, "dispute.resolve")) == 1


@pytest.mark.parametrize(("who", "status", "error_id"), [
    ("admin", 403, "auth.role"), ("supervisor", 403, "auth.role"),
    ("agent_a", 403, "auth.role"), ("manager", 403, "auth.role"),
    ("auditor_b", 404, "dispute.not_found"),
])
async def test_only_the_banks_auditor_resolves(api: ApiClient, world: World, who: str,
                                               status: int, error_id: str) -> None:
    dispute_id = await dispute(api, world, "A1")
    got, body = await resolve(api, world, dispute_id, who, resolution="debt_confirmed")
    assert (got, body["error_id"]) == (status, error_id)
    assert await active_holds(world, "A1") == ["dispute"]
    assert (await case_row(world, "A1"))["status"] == "on_hold"
    assert await audit_actions(world, "dispute.resolve") == []
    got, _ = await resolve(api, world, 999_999, who, resolution="debt_confirmed")
    assert got == status


async def test_resolve_in_the_domain_refuses_staff(world: World) -> None:
    from cases.audit import Actor
    from cases.errors import Forbidden

    with pytest.raises(Forbidden) as caught:
        await disputes.resolve(world.pool, Actor(world.users["admin"]), 1,
                               disputes.Resolution(ResolutionKind.DEBT_CONFIRMED), None, NOW)
    assert caught.value.error_id == "dispute.bank_only"


@pytest.mark.parametrize(("body", "fields"), [
    ({"resolution": "forgiven"}, {"resolution"}),
    ({}, {"resolution"}),
    ({"resolution": "debt_adjusted"}, {"new_balance"}),
    ({"resolution": "debt_adjusted", "new_balance": "0"}, {"new_balance"}),
    ({"resolution": "debt_adjusted", "new_balance": "-5"}, {"new_balance"}),
    ({"resolution": "debt_adjusted", "new_balance": "12.345"}, {"new_balance"}),
    ({"resolution": "debt_adjusted", "new_balance": True}, {"new_balance"}),
    ({"resolution": "debt_confirmed", "new_balance": "100"}, {"new_balance"}),
    ({"resolution": "debt_confirmed", "note": ""}, {"note"}),
    ({"resolution": "debt_confirmed", "note": "x" * 4001}, {"note"}),
    ({"resolution": "debt_confirmed", "colour": "red"}, {"colour"}),
])
async def test_bad_resolutions_are_refused_and_change_nothing(
    api: ApiClient, world: World, body: dict[str, Any], fields: set[str],
) -> None:
    dispute_id = await dispute(api, world, "A1")
    status, answer = await resolve(api, world, dispute_id, **body)
    assert (status, answer["error_id"], set(answer["details"])) == (
        400, "dispute.invalid_resolution", fields)
    assert await world.pool.fetchval("SELECT status FROM disputes") == "open"
    assert await active_holds(world, "A1") == ["dispute"]


def test_plan_resolution_table() -> None:
    plan, kinds = disputes.plan_resolution, ResolutionKind
    assert plan(kinds.DEBT_CONFIRMED, CaseStatus.ON_HOLD, holds_left=0).status == "in_progress"
    assert plan(kinds.DEBT_CONFIRMED, CaseStatus.ON_HOLD, holds_left=1).status == "on_hold"
    assert plan(kinds.DEBT_ADJUSTED, CaseStatus.LEGAL, holds_left=1).status == "legal"
    assert plan(kinds.DEBT_CANCELLED, CaseStatus.ON_HOLD, holds_left=1).status == "closed"
    assert plan(kinds.FRAUD_CONFIRMED, CaseStatus.PAID, holds_left=0).status == "paid"
    assert plan(kinds.DEBT_CONFIRMED, CaseStatus.CLOSED, holds_left=0).status == "closed"


# --- reading -------------------------------------------------------------------------

READERS = {"admin", "manager", "supervisor", "cleared_supervisor", "auditor_a"}


async def test_reading_a_dispute_matrix_and_audit(api: ApiClient, world: World) -> None:
    dispute_id = await dispute(api, world, "A1", statement="我没有办过这张卡")
    got = {}
    for who in USERS:
        resp = await api.get(f"/client/disputes/{dispute_id}", headers=world.headers(who))
        got[who] = resp.status
        if resp.status == 200:
            assert (await resp.json())["statement"] == "我没有办过这张卡"
    assert got == {who: 200 if who in READERS else 404 if who == "auditor_b" else 403
                   for who in USERS}
    rows = await audit_actions(world, "dispute.view")
    assert sorted(r["username"] for r in rows) == sorted(w.replace("_", "-") for w in READERS)
    assert {(r["record_id"], r["client_id"]) for r in rows} == {
        (str(dispute_id), world.clients["BANKA"])}


async def test_lists_are_scoped_and_carry_no_statement(api: ApiClient, world: World) -> None:
    a1 = await dispute(api, world, "A1")
    b1 = await dispute(api, world, "B1", "FRD")
    await resolve(api, world, b1, "auditor_b", resolution="fraud_confirmed")

    async def ids(who: str, query: str = "") -> list[int]:
        resp = await api.get(f"/client/disputes{query}", headers=world.headers(who))
        body = await resp.json()
        assert resp.status == 200, body
        assert all("statement" not in d for d in body["items"])
        return [d["id"] for d in body["items"]]

    assert await ids("auditor_a") == [a1]
    assert await ids("auditor_b") == [b1]
    assert await ids("admin") == [a1, b1]
    assert await ids("admin", "?status=open") == [a1]
    assert await ids("admin", f"?client_id={world.clients['BANKB']}") == [b1]
    assert await ids("supervisor", f"?case_id={world.cases['A1']}") == [a1]
    resp = await api.get(f"/client/disputes?client_id={world.clients['BANKB']}",
                         headers=world.headers("auditor_a"))
    assert resp.status == 404
    resp = await api.get("/client/disputes?status=pending", headers=world.headers("admin"))
    assert resp.status == 400
    resp = await api.get("/client/disputes", headers=world.headers("agent_a"))
    assert resp.status == 403


# --- the feed ------------------------------------------------------------------------

async def feed(api: ApiClient, world: World, who: str, query: str = ""
               ) -> tuple[int, dict[str, Any]]:
    resp = await api.get(f"/client/notifications{query}", headers=world.headers(who))
    return resp.status, await resp.json()


async def test_feed_is_the_banks_own_in_order_with_a_cursor(api: ApiClient,
                                                            world: World) -> None:
    await dispute(api, world, "A1", statement="never had it")
    await file(api, world, "A2", "PAID", "paid")
    await dispute(api, world, "B1", "FRD")
    status, body = await feed(api, world, "auditor_a", "?limit=1")
    assert status == 200
    [first] = body["items"]
    assert (first["kind"], first["case_id"], first["payload"]["statement"]) == (
        "dispute", world.cases["A1"], "never had it")
    status, body = await feed(api, world, "auditor_a", f"?after={body['next_after']}")
    assert [n["kind"] for n in body["items"]] == ["payment_claim"]
    status, body = await feed(api, world, "auditor_a", f"?after={body['next_after']}")
    assert (body["items"], body["next_after"]) == ([], body["next_after"])
    status, body = await feed(api, world, "auditor_b")
    assert [n["kind"] for n in body["items"]] == ["fraud"]
    rows = await audit_actions(world, "notifications.view")
    assert (rows[0]["username"], json.loads(rows[0]["details"])) == (
        "auditor-a", {"first": first["id"], "last": first["id"], "count": 1})
    assert len(rows) == 3  # the empty read is not audited


async def test_feed_scoping(api: ApiClient, world: World) -> None:
    await dispute(api, world, "A1")
    status, body = await feed(api, world, "admin")
    assert (status, body["error_id"]) == (400, "request.client_id")
    status, body = await feed(api, world, "admin", f"?client_id={world.clients['BANKA']}")
    assert (status, len(body["items"])) == (200, 1)
    status, body = await feed(api, world, "auditor_b", f"?client_id={world.clients['BANKA']}")
    assert (status, body["error_id"]) == (404, "client.not_found")
    status, body = await feed(api, world, "admin", "?client_id=99999")
    assert status == 404
    for who in ("supervisor", "agent_a", "qa", "manager"):
        assert (await feed(api, world, who))[0] == 403


async def test_ack(api: ApiClient, world: World) -> None:
    await dispute(api, world, "A1")
    await dispute(api, world, "B1")
    ids = [r["id"] for r in await world.pool.fetch(
        "SELECT id FROM client_notifications ORDER BY id")]

    async def ack(who: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        resp = await api.post("/client/notifications/ack", json=body,
                              headers=world.headers(who))
        return resp.status, await resp.json()

    assert await ack("auditor_b", {"ids": [ids[0]]}) == (200, {"acked": 0})
    assert await ack("auditor_a", {"up_to": ids[-1]}) == (200, {"acked": 1})
    assert await ack("auditor_a", {"up_to": ids[-1]}) == (200, {"acked": 0})
    assert (await ack("admin", {"ids": [ids[1]]}))[0] == 403
    for bad in ({}, {"ids": "1"}, {"ids": [True]}, {"up_to": -1}, {"all": True}):
        status, body = await ack("auditor_b", bad)
        assert (status, body["error_id"]) == (400, "ack.invalid"), bad
    acked = await world.pool.fetch("SELECT id, acked_at FROM client_notifications ORDER BY id")
    assert [r["acked_at"] for r in acked] == [NOW, None]
    assert len(await audit_actions(world, "notifications.ack")) == 3


# --- the access log --------------------------------------------------------------------

async def test_access_log_shows_who_saw_the_banks_debtors(api: ApiClient,
                                                          world: World) -> None:
    for who, case in (("supervisor", "A1"), ("qa", "A2"), ("admin", "B1")):
        await api.get(f"/cases/{world.cases[case]}", headers=world.headers(who))
    dispute_id = await dispute(api, world, "A1")
    await api.get(f"/client/disputes/{dispute_id}", headers=world.headers("admin"))
    await api.put(f"/cases/{world.cases['A1']}/assignment", json={"agent_id": None},
                  headers=world.headers("admin"))

    async def seen(who: str, query: str = "") -> list[tuple[str, str]]:
        resp = await api.get(f"/client/access-log{query}", headers=world.headers(who))
        body = await resp.json()
        assert resp.status == 200, body
        return [(e["username"], e["action"]) for e in body["items"]]

    assert await seen("auditor_a") == [("supervisor", "case.view"), ("qa", "case.view"),
                                       ("admin", "dispute.view")]
    assert await seen("auditor_b") == [("admin", "case.view")]
    assert await seen("auditor_a", f"?case_id={world.cases['A1']}") == [
        ("supervisor", "case.view"), ("admin", "dispute.view")]
    assert await seen("auditor_a", f"?user_id={world.users['qa'].id}") == [("qa", "case.view")]
    assert await seen("admin", f"?client_id={world.clients['BANKB']}") == [
        ("admin", "case.view")]
    assert await seen("auditor_a", "?since=2999-01-01T00:00:00%2B00:00") == []
    for bad in ("?since=yesterday", "?until=2026-01-01T00:00:00"):
        resp = await api.get(f"/client/access-log{bad}", headers=world.headers("auditor_a"))
        assert resp.status == 400
    resp = await api.get(f"/client/access-log?client_id={world.clients['BANKA']}",
                         headers=world.headers("auditor_b"))
    assert resp.status == 404
    resp = await api.get("/client/access-log", headers=world.headers("supervisor"))
    assert resp.status == 403
