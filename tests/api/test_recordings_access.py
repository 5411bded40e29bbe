"""Who may list, read, play and hold recordings; the list's filters; legal hold."""

from __future__ import annotations

import pytest

from cases.access import Scope
from cases.audit import AuditFilter, query
from recording.catalog import RecordingRow
from recording.writer import RecorderPool
from tests.api.conftest import ApiClient
from tests.api.test_recordings_api import LISTENERS, a1, api, recorder
from tests.api.world import NOW, USERS, World
from tests.recording.catalogued import STARTED, catalogued

__all__ = ["a1", "api", "recorder"]  # fixtures, used by name


def expected(ok: set[str], ok_status: int) -> dict[str, int]:
    """``ok`` get ``ok_status``; the other client's auditor 404 (not told it exists);
    every other role 403."""
    return {who: ok_status if who in ok else 404 if who == "auditor_b" else 403
            for who in USERS}


MATRIX = [
    ("GET", "/recordings/{id}", None, expected(LISTENERS, 200)),
    ("GET", "/recordings/{id}/audio", None, expected(LISTENERS, 200)),
    ("HEAD", "/recordings/{id}/audio", None, expected(LISTENERS, 200)),
    ("POST", "/recordings/{id}/legal-hold", {"reason": "dispute"},
     expected({"admin", "auditor_a"}, 200)),
    ("DELETE", "/recordings/{id}/legal-hold", None, expected({"admin", "auditor_a"}, 200)),
]


@pytest.mark.parametrize(("method", "path", "body", "want"), MATRIX,
                         ids=[f"{m} {p}" for m, p, _, _ in MATRIX])
async def test_route_matrix(api: ApiClient, world: World, a1: RecordingRow, method: str,
                            path: str, body: dict[str, object] | None,
                            want: dict[str, int]) -> None:
    got = {}
    for who in USERS:
        if method == "DELETE":  # something to release, each time
            await world.pool.execute(
                "UPDATE recordings SET legal_hold = true, legal_hold_at = $2,"
                " legal_hold_reason = 'x' WHERE id = $1", a1.id, NOW)
        elif method == "POST":
            await world.pool.execute(
                "UPDATE recordings SET legal_hold = false, legal_hold_at = NULL,"
                " legal_hold_reason = NULL, legal_hold_by = NULL WHERE id = $1", a1.id)
        resp = await api.request(method, path.replace("{id}", str(a1.id)), json=body,
                                 headers=world.headers(who))
        got[who] = resp.status
    assert got == want


async def test_lists_are_scoped_filtered_and_paged(
    api: ApiClient, world: World, recorder: RecorderPool
) -> None:
    a1 = await catalogued(world.pool, recorder, world, "a1")
    a2 = await catalogued(world.pool, recorder, world, "a2", "A2", agent="agent_b",
                          started_at=STARTED.replace(day=29))
    b1 = await catalogued(world.pool, recorder, world, "b1", "B1", agent="agent_b")

    async def ids(who: str, query: str = "") -> list[int]:
        resp = await api.get(f"/recordings{query}", headers=world.headers(who))
        assert resp.status == 200, await resp.text()
        return [item["id"] for item in (await resp.json())["items"]]

    assert await ids("qa") == [a1.id, a2.id, b1.id]
    assert await ids("auditor_a") == [a1.id, a2.id]
    assert await ids("auditor_b") == [b1.id]
    assert await ids("qa", f"?case_id={world.cases['A1']}") == [a1.id]
    assert await ids("qa", f"?agent_id={world.users['agent_b'].id}") == [a2.id, b1.id]
    assert await ids("qa", "?from=2026-11-29T00:00:00%2B00:00") == [a2.id]
    assert await ids("qa", "?to=2026-11-29T08:00:00%2B08:00") == [a1.id, b1.id]
    resp = await api.get("/recordings?limit=2", headers=world.headers("qa"))
    page = await resp.json()
    assert ([i["id"] for i in page["items"]], page["next_after"]) == ([a1.id, a2.id], a2.id)
    assert await ids("qa", f"?after={a2.id}&limit=2") == [b1.id]
    for who in ("agent_a", "manager"):
        assert (await api.get("/recordings", headers=world.headers(who))).status == 403


@pytest.mark.parametrize("query", ["?from=yesterday", "?to=2026-11-29T00:00:00",
                                   "?limit=0", "?case_id=x"])
async def test_bad_filters_are_a_clear_400(api: ApiClient, world: World, query: str) -> None:
    resp = await api.get(f"/recordings{query}", headers=world.headers("qa"))
    assert resp.status == 400
    assert (await resp.json())["error_id"] == "request.bad_param"


async def test_metadata_is_what_was_catalogued_and_viewing_is_audited(
    api: ApiClient, world: World, a1: RecordingRow
) -> None:
    resp = await api.get(f"/recordings/{a1.id}", headers=world.headers("auditor_a"))
    body = await resp.json()
    assert body["call_id"] == "call-a1" and body["sha256"] == a1.entry.sha256
    assert (body["duration_ms"], body["size_bytes"], body["channels"]) == (2000, 64044, 2)
    assert (body["state"], body["legal_hold"], body["pci_pauses"]) == ("finished", None, [])
    assert body["retention_until"] == "2031-11-28T02:00:00+00:00"
    assert body["audio_url"] == f"/recordings/{a1.id}/audio"
    assert "storage_uri" not in body
    entries = await query(world.pool, Scope(), AuditFilter(action="recording.view"))
    assert [(e.username, e.record_id) for e in entries] == [("auditor-a", str(a1.id))]
    resp = await api.get("/recordings/999", headers=world.headers("qa"))
    assert (resp.status, (await resp.json())["error_id"]) == (404, "recording.not_found")


async def test_legal_hold_over_http(api: ApiClient, world: World, a1: RecordingRow) -> None:
    url, admin = f"/recordings/{a1.id}/legal-hold", world.headers("auditor_a")
    for body in ({}, {"reason": ""}, {"reason": 5}, {"reason": "x" * 501}):
        resp = await api.post(url, json=body, headers=admin)
        assert (resp.status, (await resp.json())["error_id"]) == (400, "recording.hold_reason")
    resp = await api.post(url, json={"reason": " court order 17 "}, headers=admin)
    assert resp.status == 200
    hold = (await resp.json())["legal_hold"]
    assert hold == {"by": world.users["auditor_a"].id, "at": NOW.isoformat(),
                    "reason": "court order 17"}
    resp = await api.post(url, json={"reason": "again"}, headers=world.headers("admin"))
    assert (resp.status, (await resp.json())["error_id"]) == (409, "recording.on_hold")
    resp = await api.delete(url, headers=world.headers("admin"))  # no body: no reason
    assert resp.status == 200 and (await resp.json())["legal_hold"] is None
    resp = await api.delete(url, json={"reason": "done"}, headers=admin)
    assert (resp.status, (await resp.json())["error_id"]) == (409, "recording.not_on_hold")
    entries = await query(world.pool, Scope(), AuditFilter(record_type="recording"))
    assert [(e.action, e.username, e.details.get("reason")) for e in entries] == [
        ("recording.legal_hold.set", "auditor-a", "court order 17"),
        ("recording.legal_hold.release", "admin", None),
    ]
