"""Field visits over HTTP against real PostgreSQL: planning, results, evidence files,
closing, cancelling, who sees what, the audit trail and the monthly QA sample."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from api.app import create_app
from api.routes_field_visits import setup_field_visit_routes
from api.settings import Settings
from cases import field_visit_rules as rules
from cases.field_visits import EvidenceStore
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World

MAX_BYTES = 64 << 10
TOMORROW = (NOW + timedelta(days=1)).date().isoformat()
JPEG = b"\xff\xd8\xff\xe0\x00\x10JFIF" + bytes(range(256)) * 8
PNG = b"\x89PNG\r\n\x1a\n" + bytes(100)
WAV = b"RIFF\x24\x08\x00\x00WAVEfmt " + bytes(2048)
PDF = b"%PDF-1.4\n" + b"signed report\n" * 20
Json = dict[str, Any]


@pytest.fixture
def evidence_root(tmp_path: Path) -> Path:
    return tmp_path / "evidence"


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              pool: asyncpg.Pool, evidence_root: Path) -> ApiClient:
    app = create_app(settings, clock=lambda: NOW)
    setup_field_visit_routes(app, EvidenceStore(evidence_root, MAX_BYTES))
    return await aiohttp_client(app)


async def call(api: ApiClient, world: World, who: str, method: str, path: str, *,
               content_type: str | None = None, **kwargs: Any) -> tuple[int, Json]:
    headers = world.headers(who) | ({} if content_type is None else
                                    {"Content-Type": content_type})
    resp = await api.request(method, path, headers=headers, **kwargs)
    return resp.status, await resp.json()


async def request_visit(api: ApiClient, world: World, case: str, agent: str) -> int:
    """The assigned agent files SKIP (lost contact): the case's visit is requested."""
    resp = await api.post(f"/cases/{world.cases[case]}/actions", json={"code": "SKIP"},
                          headers={**world.headers(agent), "Idempotency-Key": f"skip-{case}"})
    assert resp.status == 201, await resp.text()
    visit_id: int = await world.pool.fetchval(
        "SELECT id FROM field_visit_requests WHERE case_id = $1", world.cases[case])
    return visit_id


def plan_body(world: World, *collectors: str, address: str | None = "1 Gate Rd") -> Json:
    body: Json = {"planned_for": TOMORROW,
                  "collectors": [world.users[c].id for c in collectors or ("agent_a",
                                                                          "agent_b")]}
    if address is not None:
        body["address"] = address
    return body


async def planned(api: ApiClient, world: World, case: str = "A1", agent: str = "agent_a",
                  collectors: tuple[str, ...] = ("agent_a", "agent_b")) -> int:
    visit_id = await request_visit(api, world, case, agent)
    status, body = await call(api, world, "supervisor", "POST",
                              f"/field-visits/{visit_id}/plan",
                              json=plan_body(world, *collectors))
    assert status == 200, body
    return visit_id


async def visited(api: ApiClient, world: World, **kwargs: Any) -> int:
    visit_id = await planned(api, world, **kwargs)
    status, body = await call(api, world, "agent_a", "POST", f"/field-visits/{visit_id}/result",
                              json={"result": "not_home", "notes": "neighbours say moved"})
    assert status == 200, body
    return visit_id


async def upload(api: ApiClient, world: World, visit_id: int, data: Any, content_type: str,
                 kind: str = "photo", name: str | None = "门口.jpg",
                 who: str = "agent_a") -> tuple[int, Json]:
    params = {"kind": kind} | ({} if name is None else {"name": name})
    return await call(api, world, who, "POST", f"/field-visits/{visit_id}/evidence",
                      data=data, params=params, content_type=content_type)


async def audit_rows(world: World, action: str) -> list[asyncpg.Record]:
    return await world.pool.fetch("SELECT * FROM audit_log WHERE action = $1 ORDER BY id",
                                  action)


def stored_files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


# --- planning ----------------------------------------------------------------------------

async def test_a_lost_case_is_planned_by_a_supervisor(api: ApiClient, world: World) -> None:
    visit_id = await request_visit(api, world, "A1", "agent_a")
    status, listed = await call(api, world, "supervisor", "GET",
                                "/field-visits?status=requested")
    assert status == 200
    assert [(v["id"], v["case_id"], v["status"]) for v in listed["items"]] == [
        (visit_id, world.cases["A1"], "requested")]
    assert listed["items"][0]["missing_evidence"] == ["a photo",
                                                      "a recording or a signed report"]
    status, body = await call(api, world, "supervisor", "POST", f"/field-visits/{visit_id}/plan",
                              json=plan_body(world, address=None))
    assert (status, body["error_id"]) == (400, "field_visit.invalid")  # no address on file
    status, body = await call(api, world, "supervisor", "POST", f"/field-visits/{visit_id}/plan",
                              json=plan_body(world))
    assert status == 200
    assert (body["status"], body["planned_for"], body["address"]) == ("planned", TOMORROW,
                                                                      "1 Gate Rd")
    assert body["collectors"] == [world.users["agent_a"].id, world.users["agent_b"].id]
    [entry] = await audit_rows(world, "field_visit.plan")
    assert (entry["username"], entry["record_id"], entry["client_id"]) == (
        "supervisor", str(visit_id), world.clients["BANKA"])


async def test_re_planning_before_the_visit(api: ApiClient, world: World) -> None:
    visit_id = await planned(api, world)
    status, body = await call(api, world, "admin", "POST", f"/field-visits/{visit_id}/plan",
                              json=plan_body(world, "agent_b", "supervisor"))
    assert status == 200
    assert body["collectors"] == [world.users["agent_b"].id, world.users["supervisor"].id]
    assert json.loads((await audit_rows(world, "field_visit.plan"))[-1]["details"])[
        "replanned"] is True


@pytest.mark.parametrize(("who", "status"), [("agent_a", 403), ("auditor_a", 403),
                                              ("manager", 403), ("qa", 403)])
async def test_only_supervisors_and_admins_plan(api: ApiClient, world: World, who: str,
                                                status: int) -> None:
    visit_id = await request_visit(api, world, "A1", "agent_a")
    got, body = await call(api, world, who, "POST", f"/field-visits/{visit_id}/plan",
                           json=plan_body(world))
    assert (got, body["error_id"]) == (status, "auth.role")


async def test_a_bad_plan_changes_nothing(api: ApiClient, world: World) -> None:
    visit_id = await request_visit(api, world, "A1", "agent_a")
    await world.pool.execute("UPDATE users SET active = false WHERE username = 'agent-b'")
    bad: list[tuple[Json, str]] = [
        (plan_body(world, "agent_a", "qa"), "field_visit.bad_collectors"),
        (plan_body(world, "agent_a", "admin"), "field_visit.bad_collectors"),
        (plan_body(world, "agent_a", "agent_b"), "field_visit.bad_collectors"),  # inactive
        ({**plan_body(world), "collectors": [world.users["agent_a"].id, 99999]},
         "field_visit.bad_collectors"),
        (plan_body(world, "agent_a", "agent_a"), "field_visit.invalid"),
        ({**plan_body(world), "planned_for": "2026-11-28"}, "field_visit.invalid"),
    ]
    for body, error_id in bad:
        status, answer = await call(api, world, "supervisor", "POST",
                                    f"/field-visits/{visit_id}/plan", json=body)
        assert (status, answer["error_id"]) == (400, error_id), body
    row = await world.pool.fetchrow("SELECT * FROM field_visit_requests WHERE id = $1",
                                    visit_id)
    assert row is not None and (row["status"], row["collector_a"]) == ("requested", None)
    assert await audit_rows(world, "field_visit.plan") == []


# --- who sees what -----------------------------------------------------------------------

VIEWERS = [("admin", 200), ("supervisor", 200), ("qa", 200), ("agent_a", 200),
           ("agent_b", 404), ("auditor_a", 200), ("auditor_b", 404), ("manager", 403)]


@pytest.mark.parametrize(("who", "status"), VIEWERS)
async def test_who_sees_a_visit(api: ApiClient, world: World, who: str, status: int) -> None:
    visit_id = await planned(api, world, collectors=("agent_a", "supervisor"))
    got, body = await call(api, world, who, "GET", f"/field-visits/{visit_id}")
    assert got == status
    if status == 200:
        assert body["address"] == "1 Gate Rd"
        [entry] = await audit_rows(world, "field_visit.view")
        assert (entry["username"], entry["record_id"]) == (who.replace("_", "-"),
                                                           str(visit_id))
    else:
        assert await audit_rows(world, "field_visit.view") == []
    if status == 404:
        assert body["error_id"] == "field_visit.not_found"


async def test_lists_are_scoped(api: ApiClient, world: World) -> None:
    a1 = await planned(api, world, collectors=("agent_a", "supervisor"))
    b1 = await planned(api, world, case="B1", agent="agent_b",
                       collectors=("agent_b", "supervisor"))

    async def ids(who: str, query: str = "") -> list[int]:
        status, body = await call(api, world, who, "GET", f"/field-visits{query}")
        assert status == 200, body
        return [v["id"] for v in body["items"]]

    assert await ids("supervisor") == [a1, b1]
    assert await ids("supervisor", f"?client_id={world.clients['BANKB']}") == [b1]
    assert await ids("qa", "?status=planned") == [a1, b1]
    assert await ids("admin", "?status=closed") == []
    assert await ids("agent_a") == [a1]
    assert await ids("agent_b") == [b1]
    assert await ids("auditor_a") == [a1]
    assert await ids("auditor_b") == [b1]
    status, body = await call(api, world, "auditor_b", "GET",
                              f"/field-visits?client_id={world.clients['BANKA']}")
    assert (status, body["error_id"]) == (404, "client.not_found")
    status, body = await call(api, world, "admin", "GET", "/field-visits?status=lost")
    assert status == 400
    seen = await audit_rows(world, "field_visit.list")
    assert json.loads(seen[-1]["details"]) == {"visits": [b1]}  # auditor_b's own list


# --- results -----------------------------------------------------------------------------

async def test_only_the_collectors_record_the_result(api: ApiClient, world: World) -> None:
    visit_id = await planned(api, world, collectors=("agent_a", "supervisor"))
    path = f"/field-visits/{visit_id}/result"
    result = {"result": "met_debtor", "notes": "will call the bank"}
    for who, status, error_id in [("cleared_supervisor", 403, "field_visit.not_collector"),
                                  ("agent_b", 404, "field_visit.not_found"),
                                  ("admin", 403, "auth.role"),
                                  ("auditor_a", 403, "auth.role")]:
        got, body = await call(api, world, who, "POST", path, json=result)
        assert (got, body["error_id"]) == (status, error_id), who
    got, body = await call(api, world, "agent_a", "POST", path, json={"result": "other"})
    assert (got, body["details"]) == (400, {"notes": "required"})
    got, body = await call(api, world, "agent_a", "POST", path, json=result)
    assert (got, body["status"], body["result"]) == (200, "visited", "met_debtor")
    assert body["visited_at"] == NOW.isoformat()
    got, body = await call(api, world, "supervisor", "POST", path,
                           json={"result": "promise", "visited_at": "2026-11-29T09:00:00+08:00"})
    assert (got, body["result"], body["visited_at"]) == (200, "promise",
                                                         "2026-11-29T01:00:00+00:00")
    rows = await audit_rows(world, "field_visit.result")
    assert [r["username"] for r in rows] == ["agent-a", "supervisor"]


# --- evidence ----------------------------------------------------------------------------

async def test_evidence_round_trip(api: ApiClient, world: World, evidence_root: Path) -> None:
    visit_id = await planned(api, world)
    status, body = await upload(api, world, visit_id, JPEG, "image/jpeg")
    assert status == 201, body
    digest = hashlib.sha256(JPEG).hexdigest()
    assert (body["kind"], body["file_name"], body["byte_size"], body["sha256"]) == (
        "photo", "门口.jpg", len(JPEG), digest)
    [stored] = stored_files(evidence_root)
    assert stored.read_bytes() == JPEG
    assert stored.relative_to(evidence_root).parts[:2] == (str(world.clients["BANKA"]),
                                                           str(visit_id))
    resp = await api.get(body["download_url"], headers=world.headers("auditor_a"))
    assert resp.status == 200
    data = await resp.read()
    assert data == JPEG and hashlib.sha256(data).hexdigest() == digest
    assert resp.headers["Content-Type"] == "image/jpeg"
    assert resp.headers["Repr-Digest"] == (
        f"sha-256=:{base64.b64encode(hashlib.sha256(JPEG).digest()).decode()}:")
    assert "filename*=UTF-8''%E9%97%A8%E5%8F%A3.jpg" in resp.headers["Content-Disposition"]
    for who in ("auditor_b", "manager"):
        other = await api.get(body["download_url"], headers=world.headers(who))
        assert other.status in (403, 404)
    [attached] = await audit_rows(world, "field_visit.evidence.attach")
    assert json.loads(attached["details"])["sha256"] == digest
    [downloaded] = await audit_rows(world, "field_visit.evidence.download")
    assert (downloaded["username"], downloaded["client_id"]) == ("auditor-a",
                                                                 world.clients["BANKA"])
    status, visit = await call(api, world, "agent_b", "GET", f"/field-visits/{visit_id}")
    assert [e["sha256"] for e in visit["evidence"]] == [digest]


async def test_evidence_of_another_visit_is_not_found(api: ApiClient, world: World) -> None:
    first = await planned(api, world)
    second = await planned(api, world, case="A2", agent="agent_b")
    _, body = await upload(api, world, first, PNG, "image/png", name="x.png")
    resp = await api.get(f"/field-visits/{second}/evidence/{body['id']}",
                         headers=world.headers("admin"))
    assert (resp.status, (await resp.json())["error_id"]) == (
        404, "field_visit.evidence_not_found")


async def chunks(total: int) -> AsyncIterator[bytes]:
    yield JPEG[:16]
    for _ in range(total // 4096):
        yield bytes(4096)


REFUSED: list[tuple[str, Any, str, str, str | None, str]] = [
    ("text", b"hello", "text/plain", "photo", "a.txt", "field_visit.evidence_type"),
    ("kind", JPEG, "image/jpeg", "recording", "a.jpg", "field_visit.evidence_type"),
    ("video", JPEG, "image/jpeg", "video", "a.jpg", "field_visit.evidence_kind"),
    ("no name", JPEG, "image/jpeg", "photo", None, "field_visit.evidence_name"),
    ("not a png", JPEG, "image/png", "photo", "a.png", "field_visit.evidence_content"),
    ("not a pdf", b"<html>", "application/pdf", "report", "a.pdf",
     "field_visit.evidence_content"),
    ("empty", b"", "image/jpeg", "photo", "a.jpg", "field_visit.evidence_content"),
    ("too large", JPEG + bytes(MAX_BYTES), "image/jpeg", "photo", "a.jpg",
     "field_visit.evidence_too_large"),
]


@pytest.mark.parametrize(("case", "data", "content_type", "kind", "name", "error_id"), REFUSED,
                         ids=[r[0] for r in REFUSED])
async def test_a_refused_upload_stores_nothing(
        api: ApiClient, world: World, evidence_root: Path, case: str, data: bytes,
        content_type: str, kind: str, name: str | None, error_id: str) -> None:
    visit_id = await planned(api, world)
    status, body = await upload(api, world, visit_id, data, content_type, kind=kind, name=name)
    assert (status, body["error_id"]) == (400, error_id)
    assert await world.pool.fetchval("SELECT count(*) FROM field_visit_evidence") == 0
    assert stored_files(evidence_root) == []
    assert await audit_rows(world, "field_visit.evidence.attach") == []


async def test_a_streamed_upload_over_the_limit_stores_nothing(
        api: ApiClient, world: World, evidence_root: Path) -> None:
    """No Content-Length (chunked): the limit is found while the file is written."""
    visit_id = await planned(api, world)
    status, body = await upload(api, world, visit_id, chunks(2 * MAX_BYTES), "image/jpeg")
    assert (status, body["error_id"]) == (400, "field_visit.evidence_too_large")
    assert stored_files(evidence_root) == []
    status, body = await upload(api, world, visit_id, chunks(MAX_BYTES // 2), "image/jpeg")
    assert status == 201 and body["byte_size"] == 16 + (MAX_BYTES // 2 // 4096) * 4096
    assert len(stored_files(evidence_root)) == 1


async def test_evidence_only_from_collectors_of_an_open_visit(
        api: ApiClient, world: World, evidence_root: Path) -> None:
    requested = await request_visit(api, world, "A2", "agent_b")
    for who, visit_id, status, error_id in [
        ("agent_a", requested, 404, "field_visit.not_found"),  # not a collector
        ("supervisor", requested, 403, "field_visit.not_collector"),  # none planned yet
        ("admin", requested, 403, "auth.role"),
    ]:
        got, body = await upload(api, world, visit_id, JPEG, "image/jpeg", who=who)
        assert (got, body["error_id"]) == (status, error_id), who
    assert stored_files(evidence_root) == []


# --- closing and cancelling --------------------------------------------------------------

async def test_a_visit_closes_only_with_its_evidence(api: ApiClient, world: World) -> None:
    visit_id = await planned(api, world)
    path = f"/field-visits/{visit_id}/close"
    status, body = await call(api, world, "agent_a", "POST", path)
    assert (status, body["error_id"]) == (409, "field_visit.illegal_transition")  # no result
    await call(api, world, "agent_a", "POST", f"/field-visits/{visit_id}/result",
               json={"result": "moved"})
    status, body = await call(api, world, "agent_a", "POST", path)
    assert (status, body["error_id"]) == (409, "field_visit.evidence_missing")
    assert body["details"]["missing"] == ["a photo", "a recording or a signed report"]
    await upload(api, world, visit_id, JPEG, "image/jpeg")
    status, body = await call(api, world, "agent_b", "POST", path)
    assert body["details"]["missing"] == ["a recording or a signed report"]
    status, body = await upload(api, world, visit_id, PDF, "application/pdf", kind="report",
                                name="report.pdf", who="agent_b")
    assert status == 201
    status, body = await call(api, world, "agent_b", "POST", path)
    assert (status, body["status"], body["closed_by"]) == (200, "closed",
                                                           world.users["agent_b"].id)
    assert body["missing_evidence"] == []
    [entry] = await audit_rows(world, "field_visit.close")
    assert json.loads(entry["details"])["evidence"] == ["photo", "report"]
    steps: list[tuple[str, Json | None]] = [("result", {"result": "moved"}), ("close", None),
                                            ("cancel", {"reason": "late"})]
    for action, sent in steps:
        who = "supervisor" if action == "cancel" else "agent_a"
        status, body = await call(api, world, who, "POST",
                                  f"/field-visits/{visit_id}/{action}", json=sent)
        assert (status, body["error_id"]) == (409, "field_visit.illegal_transition"), action
    status, body = await upload(api, world, visit_id, WAV, "audio/wav", kind="recording",
                                name="a.wav")
    assert (status, body["error_id"]) == (409, "field_visit.illegal_transition")


async def test_a_photo_and_a_recording_close_a_visit(api: ApiClient, world: World) -> None:
    visit_id = await visited(api, world)
    await upload(api, world, visit_id, PNG, "image/png", name="door.png")
    status, body = await upload(api, world, visit_id, WAV, "audio/wav", kind="recording",
                                name="talk.wav")
    assert status == 201
    status, body = await call(api, world, "agent_b", "POST", f"/field-visits/{visit_id}/close")
    assert (status, body["status"]) == (200, "closed")
    assert [e["kind"] for e in body["evidence"]] == ["photo", "recording"]


@pytest.mark.parametrize(("who", "status"), [("auditor_a", 403), ("qa", 403),
                                              ("supervisor", 200), ("admin", 200)])
async def test_who_closes(api: ApiClient, world: World, who: str, status: int) -> None:
    visit_id = await visited(api, world)
    await upload(api, world, visit_id, JPEG, "image/jpeg")
    await upload(api, world, visit_id, WAV, "audio/wav", kind="recording", name="a.wav")
    got, _ = await call(api, world, who, "POST", f"/field-visits/{visit_id}/close")
    assert got == status


async def test_a_supervisor_cancels_a_visit_not_made(api: ApiClient, world: World) -> None:
    visit_id = await planned(api, world)
    path = f"/field-visits/{visit_id}/cancel"
    for who, body, status in [("agent_a", {"reason": "x"}, 403), ("auditor_a", {"reason": "x"},
                                                                   403),
                              ("supervisor", {}, 400), ("supervisor", {"reason": " "}, 400)]:
        got, _ = await call(api, world, who, "POST", path, json=body)
        assert got == status, (who, body)
    got, body = await call(api, world, "supervisor", "POST", path,
                           json={"reason": "debtor called the bank"})
    assert (got, body["status"], body["cancel_reason"]) == (200, "cancelled",
                                                            "debtor called the bank")
    [entry] = await audit_rows(world, "field_visit.cancel")
    assert entry["username"] == "supervisor"
    # a new lost-contact finding may request a new visit now
    await world.pool.execute("INSERT INTO field_visit_requests (case_id, reason, created_at)"
                             " VALUES ($1, 'again', $2)", world.cases["A1"], NOW)
    assert await world.pool.fetchval("SELECT count(*) FROM field_visit_requests"
                                     " WHERE case_id = $1", world.cases["A1"]) == 2


async def test_a_visited_visit_cannot_be_cancelled(api: ApiClient, world: World) -> None:
    visit_id = await visited(api, world)
    got, body = await call(api, world, "admin", "POST", f"/field-visits/{visit_id}/cancel",
                           json={"reason": "no"})
    assert (got, body["error_id"]) == (409, "field_visit.illegal_transition")


async def test_an_agents_second_skip_adds_no_visit(api: ApiClient, world: World) -> None:
    visit_id = await planned(api, world)
    resp = await api.post(f"/cases/{world.cases['A1']}/actions", json={"code": "SKIP"},
                          headers={**world.headers("agent_a"), "Idempotency-Key": "skip-2"})
    assert resp.status == 201
    assert [r["id"] for r in await world.pool.fetch(
        "SELECT id FROM field_visit_requests WHERE case_id = $1", world.cases["A1"])] == [
        visit_id]


# --- the QA sample -----------------------------------------------------------------------

async def closed_visit(world: World, case: str, closed_at: datetime) -> int:
    visit_id: int = await world.pool.fetchval(
        "INSERT INTO field_visit_requests (case_id, reason, status, created_at, planned_for,"
        " address, collector_a, collector_b, result, visited_at, closed_at)"
        " VALUES ($1, 'lost', 'closed', $2, $3, 'addr', $4, $5, 'not_home', $2, $2)"
        " RETURNING id", world.cases[case], closed_at, closed_at.date(),
        world.users["agent_a"].id, world.users["agent_b"].id)
    return visit_id


async def november(world: World) -> dict[str, list[int]]:
    """8 visits of BANKA closed in November (Shanghai), 2 of BANKB; one after."""
    base = datetime(2026, 11, 10, 2, 0, tzinfo=UTC)
    a = [await closed_visit(world, "A1", base + timedelta(days=n)) for n in range(7)]
    a.append(await closed_visit(world, "A2", datetime(2026, 10, 31, 17, 0, tzinfo=UTC)))
    await closed_visit(world, "A2", datetime(2026, 11, 30, 17, 0, tzinfo=UTC))  # December
    b = [await closed_visit(world, "B1", base + timedelta(days=n)) for n in range(2)]
    return {"BANKA": a, "BANKB": b}


async def test_the_monthly_sample_is_30_percent_per_client(api: ApiClient,
                                                           world: World) -> None:
    visits = await november(world)
    a, b = world.clients["BANKA"], world.clients["BANKB"]
    status, body = await call(api, world, "qa", "POST", "/field-visits/qa-sample?month=2026-11",
                              json={"seed": "nov-26"})
    assert status == 201, body
    assert body["added"] == {str(a): 3, str(b): 1}
    assert body["coverage"] == [
        {"client_id": a, "visits": 8, "sampled": 3, "share": 0.375, "required": 3,
         "short": False},
        {"client_id": b, "visits": 2, "sampled": 1, "share": 0.5, "required": 1,
         "short": False}]
    status, sample = await call(api, world, "auditor_a", "GET",
                                "/field-visits/qa-sample?month=2026-11")
    assert status == 200
    picked = [s["visit_id"] for s in sample["items"]]
    assert picked == rules.draw(visits["BANKA"], [], seed="nov-26", month="2026-11",
                                client_id=a)
    assert {s["client_id"] for s in sample["items"]} == {a}
    assert [c["client_id"] for c in sample["coverage"]] == [a]
    audited = await audit_rows(world, "field_visit.sample")
    assert [(r["client_id"], r["username"]) for r in audited] == [(a, "qa"), (b, "qa")]


async def test_drawing_again_is_idempotent_and_keeps_its_seed(api: ApiClient,
                                                              world: World) -> None:
    await november(world)
    url = "/field-visits/qa-sample?month=2026-11"
    await call(api, world, "supervisor", "POST", url, json={"seed": "s1"})
    status, body = await call(api, world, "admin", "POST", url, json={"seed": "s1"})
    assert (status, set(body["added"].values())) == (201, {0})
    status, body = await call(api, world, "admin", "POST", url, json={"seed": "other"})
    assert (status, body["error_id"], body["details"]["seed"]) == (
        409, "field_visit.sample_seed", "s1")
    for day in (20, 21, 22):  # 11 visits now: 4 needed, one more drawn
        await closed_visit(world, "A1", datetime(2026, 11, day, 2, 0, tzinfo=UTC))
    status, body = await call(api, world, "qa", "POST", url, json={"seed": "s1"})
    assert body["added"][str(world.clients["BANKA"])] == 1
    assert await world.pool.fetchval("SELECT count(*) FROM field_visit_samples") == 5


async def test_the_sample_month_is_the_clients_calendar_month(api: ApiClient,
                                                              world: World) -> None:
    await november(world)
    status, body = await call(api, world, "qa", "POST", "/field-visits/qa-sample?month=2026-12",
                              json={"seed": "dec"})
    assert status == 201
    assert body["coverage"] == [{"client_id": world.clients["BANKA"], "visits": 1,
                                 "sampled": 1, "share": 1.0, "required": 1, "short": False}]


@pytest.mark.parametrize(("who", "method", "query", "status"), [
    ("agent_a", "GET", "month=2026-11", 403),
    ("manager", "GET", "month=2026-11", 403),
    ("auditor_a", "POST", "month=2026-11", 403),
    ("auditor_b", "GET", "month=2026-11&client_id={BANKA}", 404),
    ("auditor_a", "GET", "month=2026-11&client_id={BANKA}", 200),
    ("qa", "GET", "month=2026-13", 400),
    ("qa", "GET", "", 400),
    ("qa", "POST", "month=2026-11", 400),  # no seed
])
async def test_sample_access_and_bad_requests(api: ApiClient, world: World, who: str,
                                              method: str, query: str, status: int) -> None:
    url = "/field-visits/qa-sample?" + query.format(BANKA=world.clients["BANKA"])
    got, _ = await call(api, world, who, method, url, json={} if method == "POST" else None)
    assert got == status
