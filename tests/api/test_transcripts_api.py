"""Transcripts and QA over HTTP: who may read a transcript, its audit row, search
within a client, the monthly sample, the reviewer's queue, reviews and coverage."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import asyncpg
import pytest

from api.app import create_app
from api.settings import RecordingSettings, Settings
from cases.access import Scope
from cases.audit import AuditFilter, query
from recording.catalog import RecordingRow
from recording.writer import RecorderPool
from tests.api.conftest import ApiClient
from tests.api.world import World
from tests.recording.catalogued import STARTED, catalogued
from tests.transcription.qa_world import scripted_transcript, store_transcript
from transcription import qa_store
from transcription.dialogue import Speaker

A, D = Speaker.AGENT, Speaker.DEBTOR
MONTH = STARTED.strftime("%Y-%m")
PASS = {"opening": "pass", "verification": "pass", "courtesy": "pass", "negotiation": "pass",
        "arrangement": "pass", "closing": "pass", "no_threats": "pass",
        "no_third_party": "pass", "no_impersonation": "pass"}


@pytest.fixture
async def recorder(tmp_path: Path) -> AsyncIterator[RecorderPool]:
    async with RecorderPool(tmp_path / "recordings", min_free_bytes=0) as running:
        yield running


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              pool: asyncpg.Pool, recorder: RecorderPool) -> ApiClient:
    settings = dataclasses.replace(settings, recording=RecordingSettings(recorder.root))
    return await aiohttp_client(create_app(settings, clock=lambda: STARTED))


async def transcribed(pool: asyncpg.Pool, recorder: RecorderPool, world: World, call_id: str,
                      account: str, *turns: tuple[Speaker, str]) -> RecordingRow:
    row = await catalogued(pool, recorder, world, call_id, account,
                           agent="agent_a" if account == "A1" else "agent_b")
    await store_transcript(pool, row.id, scripted_transcript(*turns, duration=2.0))
    await qa_store.refresh_flags(pool, row.id)
    return row


@pytest.fixture
async def a1(pool: asyncpg.Pool, recorder: RecorderPool, world: World) -> RecordingRow:
    """BANKA, agent_a: an agent who threatens; the debtor gives a card number."""
    return await transcribed(
        pool, recorder, world, "call-a1", "A1", (A, "this call is recorded"),
        (D, "my card is four five three two one four eight eight one two three four five six "
            "seven two"), (A, "pay the overdue balance or we will hurt you"))


@pytest.fixture
async def b1(pool: asyncpg.Pool, recorder: RecorderPool, world: World) -> RecordingRow:
    """BANKB, agent_b: a polite call that also says overdue."""
    return await transcribed(pool, recorder, world, "call-b1", "B1",
                             (A, "this call is recorded"), (A, "your balance is overdue"))


async def test_a_transcript_with_its_flags_and_its_audit_row(
        api: ApiClient, world: World, a1: RecordingRow, pool: asyncpg.Pool) -> None:
    resp = await api.get(f"/recordings/{a1.id}/transcript", headers=world.headers("qa"))
    assert resp.status == 200
    body = await resp.json()
    assert body["speakers"] == ["agent", "debtor"] and body["client_id"] == a1.entry.client_id
    assert "[card]" in body["text"] and "four five" not in str(body)
    assert [(f["kind"], f["speaker"]) for f in body["flags"]] == [
        ("number_spoken", "debtor"), ("threat", "agent")]
    assert body["flags"][1]["text"] == "hurt"
    assert {w["speaker"] for w in body["words"]} == {"agent", "debtor"}
    entries = await query(pool, Scope(), AuditFilter(action="transcript.view"))
    assert [(e.username, e.record_id, e.client_id) for e in entries] == [
        ("qa", str(a1.id), a1.entry.client_id)]


@pytest.mark.parametrize(("who", "status"), [
    ("admin", 200), ("supervisor", 200), ("auditor_a", 200), ("auditor_b", 404),
    ("agent_a", 403), ("manager", 403)])
async def test_who_may_read_a_transcript(api: ApiClient, world: World, a1: RecordingRow,
                                         who: str, status: int) -> None:
    resp = await api.get(f"/recordings/{a1.id}/transcript", headers=world.headers(who))
    assert resp.status == status


async def test_a_recording_without_transcript_is_404(api: ApiClient, world: World,
                                                     pool: asyncpg.Pool,
                                                     recorder: RecorderPool) -> None:
    row = await catalogued(pool, recorder, world, "call-none")
    resp = await api.get(f"/recordings/{row.id}/transcript", headers=world.headers("qa"))
    assert (resp.status, (await resp.json())["error_id"]) == (404, "transcript.not_found")


async def test_search_is_limited_to_the_auditors_client(
        api: ApiClient, world: World, a1: RecordingRow, b1: RecordingRow,
        pool: asyncpg.Pool) -> None:
    async def hits(who: str, q: str) -> list[int]:
        resp = await api.get("/transcripts/search", params={"q": q},
                             headers=world.headers(who))
        assert resp.status == 200
        return [h["recording_id"] for h in (await resp.json())["items"]]

    assert sorted(await hits("qa", "overdue")) == sorted([a1.id, b1.id])
    assert await hits("auditor_a", "overdue") == [a1.id]
    assert await hits("auditor_b", "overdue") == [b1.id]
    assert await hits("qa", '"will hurt"') == [a1.id]
    assert await hits("qa", "4532") == []  # the card number is not in the transcript
    resp = await api.get("/transcripts/search", params={"q": "x"},
                         headers=world.headers("agent_a"))
    assert resp.status == 403
    resp = await api.get("/transcripts/search", headers=world.headers("qa"))
    assert (await resp.json())["error_id"] == "transcript.bad_query"
    searches = await query(pool, Scope(), AuditFilter(action="transcript.search"))
    assert searches[1].details == {"q": "overdue", "recordings": [a1.id]}


async def test_sample_queue_review_and_coverage(api: ApiClient, world: World,
                                                a1: RecordingRow, b1: RecordingRow,
                                                pool: asyncpg.Pool) -> None:
    qa = world.headers("qa")
    resp = await api.get("/qa/coverage", params={"month": MONTH}, headers=qa)
    body = await resp.json()
    assert (resp.status, body["error_id"]) == (409, "qa.coverage_short")
    assert [(r["agent_id"], r["agent_name"]) for r in body["details"]["report"]] == [
        (world.users["agent_a"].id, "agent_a"), (world.users["agent_b"].id, "agent_b")]
    assert {r["agent_name"] for r in body["details"]["agents"]} == {"agent_a", "agent_b"}
    resp = await api.post("/qa/samples", json={"month": MONTH, "seed": "nov"}, headers=qa)
    assert (resp.status, (await resp.json())["sampled"]) == (201, 2)
    resp = await api.get("/qa/queue", headers=qa)
    queued = (await resp.json())["items"]
    assert {(q["recording_id"], q["reason"], q["agent_name"]) for q in queued} == {
        (a1.id, "flagged", "agent_a"), (b1.id, "random", "agent_b")}
    review = {"recording_id": a1.id, "answers": {**PASS, "no_threats": "fail"},
              "comments": [{"at": 0.5, "text": "threatens the debtor"}]}
    resp = await api.post("/qa/reviews", json=review, headers=qa)
    body = await resp.json()
    assert resp.status == 201, body
    assert (body["score"], body["auto_failed"], body["compliant"]) == (0.0, ["no_threats"],
                                                                       False)
    assert (await api.post("/qa/reviews", json=review, headers=qa)).status == 409
    mark = await pool.fetchrow("SELECT compliant, failed_items FROM qa_compliance"
                               " WHERE case_id = $1", world.cases["A1"])
    assert mark is not None and (mark["compliant"], mark["failed_items"]) == (
        False, ["no_threats"])
    resp = await api.get("/qa/queue", headers=world.headers("supervisor"))
    assert [q["recording_id"] for q in (await resp.json())["items"]] == [b1.id]
    resp = await api.get("/qa/coverage", params={"month": MONTH},
                         headers=world.headers("auditor_a"))
    assert (await resp.json())["agents"] == [{
        "agent_id": world.users["agent_a"].id, "agent_name": "agent_a", "calls": 1,
        "sampled": 1, "reviewed": 1, "sampled_share": 1.0, "reviewed_share": 1.0,
        "short": False}]


async def test_the_scorecard_a_review_answers(api: ApiClient, world: World,
                                             a1: RecordingRow, pool: asyncpg.Pool) -> None:
    path = f"/clients/{world.clients['BANKA']}/scorecard"
    resp = await api.get(path, headers=world.headers("qa"))
    card = await resp.json()
    assert resp.status == 200, card
    assert (card["client_id"], card["version"]) == (world.clients["BANKA"], 1)
    assert [i["key"] for i in card["items"]] == list(PASS)
    assert [i["key"] for i in card["items"] if i["auto_fail"]] == [
        "no_threats", "no_third_party", "no_impersonation"]
    again = await (await api.get(path, headers=world.headers("auditor_a"))).json()
    assert again == card  # stored once, on first use
    await pool.execute("INSERT INTO qa_scorecards (client_id, version, name, items, created_at)"
                       " VALUES ($1, 2, 'short form', $2, now())", world.clients["BANKA"],
                       '[{"key": "courtesy", "label": "Courteous", "weight": 1,'
                       ' "auto_fail": false}]')
    newer = await (await api.get(path, headers=world.headers("supervisor"))).json()
    assert (newer["version"], [i["key"] for i in newer["items"]]) == (2, ["courtesy"])
    resp = await api.post("/qa/reviews", json={"recording_id": a1.id,
                                               "answers": {"courtesy": "pass"}},
                          headers=world.headers("qa"))
    assert (resp.status, (await resp.json())["scorecard_id"]) == (201, newer["id"])
    for who, client, status in (("auditor_b", "BANKA", 404), ("agent_a", "BANKA", 403),
                                ("manager", "BANKA", 403), ("admin", None, 404)):
        client_id = world.clients[client] if client else 424242
        resp = await api.get(f"/clients/{client_id}/scorecard", headers=world.headers(who))
        assert resp.status == status, who


@pytest.mark.parametrize(("who", "method", "path", "status"), [
    ("auditor_a", "post", "/qa/reviews", 403), ("agent_a", "get", "/qa/queue", 403),
    ("supervisor", "post", "/qa/samples", 403), ("qa", "get", "/qa/coverage?month=26-1", 400),
])
async def test_qa_roles_and_checks(api: ApiClient, world: World, who: str, method: str,
                                   path: str, status: int) -> None:
    resp = await api.request(method, path, json={}, headers=world.headers(who))
    assert resp.status == status


async def test_a_review_must_answer_the_scorecard(api: ApiClient, world: World,
                                                  a1: RecordingRow) -> None:
    resp = await api.post("/qa/reviews", json={"recording_id": a1.id, "answers": {"x": "pass"}},
                          headers=world.headers("qa"))
    body = await resp.json()
    assert (resp.status, body["error_id"]) == (400, "qa.bad_review")
    assert "opening" in body["details"]["missing"]
