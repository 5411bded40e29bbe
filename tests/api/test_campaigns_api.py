"""Campaigns through the API: create with every bad field named, run commands with
their audit trail, scope for the bank's auditor, and a case's dialability."""

from __future__ import annotations

import asyncio
import json
from datetime import timedelta

import asyncpg
import pytest

from api.cli import main
from telephony.lines import WorkLine
from telephony.store import add_line
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World
from tests.dialer.records import Phone, make_case, make_client

BODY = {"name": "M2 cards", "mode": "progressive", "work_lines": ["trunk1"]}


async def create(api: ApiClient, world: World, who: str = "manager", **fields: object
                 ) -> dict[str, object]:
    await add_line(world.pool, WorkLine("trunk1", "127.0.0.1", 5070, "+862100000000"))
    body = {**BODY, "client_id": world.clients["BANKA"], **fields}
    response = await api.post("/campaigns", json=body, headers=world.headers(who))
    assert response.status == 201, await response.text()
    data: dict[str, object] = await response.json()
    return data


async def test_create_and_read(api: ApiClient, world: World) -> None:
    created = await create(api, world)
    assert created["state"] == "draft"
    assert created["rule_pack"] == "cn-bank"
    response = await api.get(f"/campaigns/{created['id']}", headers=world.headers("supervisor"))
    data = await response.json()
    assert data["last_24h"]["attempts"] == 0
    assert data["ring_timeout_s"] == 25


async def test_bad_campaign_names_every_field(api: ApiClient, world: World) -> None:
    await add_line(world.pool, WorkLine("trunk1", "127.0.0.1", 5070, "+862100000000"))
    body = {"client_id": world.clients["BANKA"], "name": "x", "work_lines": ["private-phone"],
            "ring_timeout_s": 10}
    response = await api.post("/campaigns", json=body, headers=world.headers("manager"))
    assert response.status == 400
    error = await response.json()
    assert set(error["details"]["fields"]) == {"ring_timeout_s"}
    body["ring_timeout_s"] = 20
    response = await api.post("/campaigns", json=body, headers=world.headers("manager"))
    error = await response.json()
    assert "private-phone" in error["details"]["fields"]["work_lines"]


async def test_only_managers_create(api: ApiClient, world: World) -> None:
    body = {**BODY, "client_id": world.clients["BANKA"]}
    for who in ("agent_a", "qa", "supervisor", "auditor_a"):
        response = await api.post("/campaigns", json=body, headers=world.headers(who))
        assert response.status == 403, who


async def test_run_commands_follow_the_table_and_are_audited(api: ApiClient,
                                                             world: World) -> None:
    campaign_id = (await create(api, world))["id"]
    moves = [("start", 200, "running"), ("start", 409, None), ("pause", 200, "paused"),
             ("resume", 200, "running"), ("stop", 200, "stopped"), ("resume", 409, None)]
    for command, status, state in moves:
        response = await api.post(f"/campaigns/{campaign_id}/{command}",
                                  headers=world.headers("supervisor"))
        assert response.status == status, command
        if state:
            assert (await response.json())["state"] == state
    logged = await world.pool.fetch(
        "SELECT action, details FROM audit_log WHERE record_type = 'campaign' ORDER BY id")
    assert [row["action"] for row in logged] == [
        "campaign.create", "campaign.start", "campaign.pause", "campaign.resume",
        "campaign.stop"]


async def test_auditor_sees_only_its_banks_campaigns(api: ApiClient, world: World) -> None:
    campaign_id = (await create(api, world))["id"]
    mine = await api.get("/campaigns", headers=world.headers("auditor_a"))
    assert [c["id"] for c in (await mine.json())["items"]] == [campaign_id]
    other = await api.get("/campaigns", headers=world.headers("auditor_b"))
    assert (await other.json())["items"] == []
    hidden = await api.get(f"/campaigns/{campaign_id}", headers=world.headers("auditor_b"))
    assert hidden.status == 404
    refused = await api.post(f"/campaigns/{campaign_id}/start",
                             headers=world.headers("auditor_a"))
    assert refused.status == 403


async def test_dialability_names_every_phone_and_reason(api: ApiClient, world: World) -> None:
    case_id = world.cases["A1"]
    at = NOW.replace(hour=14, minute=30)  # 22:30 in Shanghai
    response = await api.get(f"/cases/{case_id}/dialability",
                             params={"at": at.isoformat()}, headers=world.headers("admin"))
    assert response.status == 200, await response.text()
    data = await response.json()
    assert [p["party"] for p in data["phones"]] == ["debtor", "guarantor"]
    debtor = next(p for p in data["phones"] if p["party"] == "debtor")
    codes = [r["code"] for r in debtor["decision"]["reasons"]]
    assert codes == ["window.outside"]
    assert debtor["decision"]["next_permitted_at"].startswith(
        (at + timedelta(days=1)).date().isoformat())
    assert "*" in debtor["number"]
    assert data["cadence"]["phase"] == "first"


async def test_dialability_respects_case_scope(api: ApiClient, world: World) -> None:
    case_id = world.cases["A1"]
    for who, status in (("agent_a", 200), ("agent_b", 404), ("auditor_b", 404)):
        response = await api.get(f"/cases/{case_id}/dialability", headers=world.headers(who))
        assert response.status == status, who
    bad = await api.get(f"/cases/{case_id}/dialability", params={"at": "yesterday"},
                        headers=world.headers("admin"))
    assert bad.status == 400


def test_cli_compliance_explain(database_url: str, monkeypatch: pytest.MonkeyPatch,
                                capsys: pytest.CaptureFixture[str]) -> None:
    async def seed() -> None:
        pool = await asyncpg.create_pool(database_url, min_size=1, max_size=2)
        try:
            client = await make_client(pool, "EXPLAINBANK")
            await make_case(pool, client, Phone("+8613800000001"),
                            Phone("+8613800000002", party="relative"))
            await pool.execute("UPDATE cases SET account_no = 'EXPLAIN-1'"
                               " WHERE client_id = $1", client)
        finally:
            await pool.close()

    asyncio.run(seed())
    monkeypatch.setenv("CALLCASE_DATABASE_URL", database_url)
    args = ["compliance", "explain", "--client", "EXPLAINBANK", "EXPLAIN-1"]
    assert main([*args, "--at", "2026-03-02T10:00:00+08:00"]) == 0
    out = capsys.readouterr().out
    assert "ALLOWED" in out and "third_party.not_lost" in out
    assert main([*args, "--at", "2026-03-02T21:30:00+08:00", "--json"]) == 4
    answer = json.loads(capsys.readouterr().out)
    debtor = answer["phones"][0]["decision"]
    assert [r["code"] for r in debtor["reasons"]] == ["window.outside"]
    assert debtor["next_permitted_at"] == "2026-03-03T00:00:00+00:00"
    assert main(["compliance", "explain", "--client", "EXPLAINBANK", "NOPE"]) == 1
    assert "no account NOPE" in capsys.readouterr().err


async def test_contact_floor_shows_cases_behind_and_blocked(api: ApiClient, world: World) -> None:
    pool = world.pool
    a1, a2 = world.cases["A1"], world.cases["A2"]
    assigned = NOW - timedelta(days=8)
    await pool.execute("UPDATE cases SET assigned_at = $1 WHERE id = ANY($2::bigint[])",
                       assigned, [a1, a2])
    # A2: three attempts in its first week (the floor's first part met); A1: none.
    phone = await pool.fetchrow("SELECT c.debtor_id, p.id, p.e164 FROM cases c"
                                " JOIN phones p ON p.case_id = c.id WHERE c.id = $1", a2)
    assert phone is not None
    for day in range(3):
        await pool.execute(
            "INSERT INTO attempts (case_id, debtor_id, phone_id, number, party, work_line,"
            " dialer, placed_at, ended_at, result, decision, pack, pack_version) VALUES"
            " ($1, $2, $3, $4, 'debtor', 'trunk1', 'd', $5, $5, 'no_answer', '{}', 'cn-bank',"
            " '2026.1')", a2, phone["debtor_id"], phone["id"], phone["e164"],
            assigned + timedelta(days=day, hours=2))
    # A1's latest refusal: nothing before a dispute is resolved (no time lifts it).
    a1_phone = await pool.fetchval("SELECT id FROM phones WHERE case_id = $1 LIMIT 1", a1)
    await pool.execute("INSERT INTO refusals (case_id, phone_id, at, reasons, decision)"
                       " VALUES ($1, $2, $3, '{hold.dispute}', '{}')", a1, a1_phone, NOW)
    response = await api.get(f"/clients/{world.clients['BANKA']}/contact-floor",
                             headers=world.headers("supervisor"))
    data = await response.json()
    by_case = {c["case_id"]: c for c in data["cases"]}
    assert by_case[a1]["phase"] == "first" and by_case[a1]["behind"] is True
    assert by_case[a1]["ceiling_conflict"] is True
    assert by_case[a2]["phase"] == "more" and by_case[a2]["failure_report_due"] is True
    assert by_case[a2]["behind"] is False and by_case[a2]["needed"] == 2
    assert data["summary"]["behind"] == 1 and data["summary"]["ceiling_conflict"] == 1
    behind = await api.get(f"/clients/{world.clients['BANKA']}/contact-floor",
                           params={"behind": "true"}, headers=world.headers("supervisor"))
    assert [c["case_id"] for c in (await behind.json())["cases"]] == [a1]
    other = await api.get(f"/clients/{world.clients['BANKA']}/contact-floor",
                          headers=world.headers("auditor_b"))
    assert other.status == 404
