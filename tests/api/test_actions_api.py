"""Filing action codes: the effect of every seeded code, idempotency, concurrency."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from typing import Any

import pytest

from tests.api.conftest import ApiClient
from tests.api.world import NOW, World

TOMORROW = (NOW + timedelta(days=1)).date().isoformat()
CALLBACK = (NOW + timedelta(hours=5)).isoformat()


async def file(api: ApiClient, world: World, case: str, key: str, **body: Any
               ) -> tuple[int, dict[str, Any]]:
    resp = await api.post(f"/cases/{world.cases[case]}/actions", json=body,
                          headers={**world.headers("agent_a"), "Idempotency-Key": key})
    return resp.status, await resp.json()


async def debtor_phone(world: World, case: str) -> int:
    phone_id: int = await world.pool.fetchval(
        "SELECT id FROM phones WHERE case_id = $1 AND party = 'debtor'", world.cases[case])
    return phone_id


async def state(world: World, case: str) -> dict[str, Any]:
    cid = world.cases[case]
    row = await world.pool.fetchrow("SELECT status, next_action_at FROM cases WHERE id = $1",
                                    cid)
    assert row is not None
    count = "SELECT count(*) FROM {} WHERE case_id = $1"
    return {
        "status": row["status"],
        "next_action_at": row["next_action_at"],
        "holds": [r["reason"] for r in await world.pool.fetch(
            "SELECT reason FROM case_holds WHERE case_id = $1 AND released_at IS NULL", cid)],
        "promises": await world.pool.fetchval(count.format("promises"), cid),
        "visits": await world.pool.fetchval(count.format("field_visit_requests"), cid),
        "notices": [r["kind"] for r in await world.pool.fetch(
            "SELECT kind FROM client_notifications WHERE case_id = $1", cid)],
        "invalid": await world.pool.fetchval(
            "SELECT count(*) FROM phones WHERE case_id = $1 AND validity = 'invalid'", cid),
    }


H = timedelta(hours=1)
# code, extra fields, expected status, next action, holds, promises, visits, notices, invalid
SEEDED = [
    ("PTP", {"amount": "1500", "due_date": TOMORROW}, "promised", "due", [], 1, 0, [], 0),
    ("RPC", {}, "in_progress", 72 * H, [], 0, 0, [], 0),
    ("PAID", {}, "in_progress", 48 * H, [], 0, 0, ["payment_claim"], 0),
    ("TPC", {}, "in_progress", 24 * H, [], 0, 0, [], 0),
    ("WN", {"phone": True}, "in_progress", 0 * H, [], 0, 0, [], 1),
    ("NA", {}, "open", 4 * H, [], 0, 0, [], 0),
    ("BUSY", {}, "open", 1 * H, [], 0, 0, [], 0),
    ("VM", {}, "open", 24 * H, [], 0, 0, [], 0),
    ("HU", {}, "in_progress", 24 * H, [], 0, 0, [], 0),
    ("DSP", {"statement": "never had this card"}, "on_hold", None, ["dispute"], 0, 0,
     ["dispute"], 0),
    ("FRD", {"statement": "card stolen in 2025"}, "on_hold", None, ["fraud"], 0, 0,
     ["fraud"], 0),
    ("SKIP", {}, "lost_contact", None, [], 0, 1, [], 0),
    ("CB", {"callback_at": CALLBACK}, "in_progress", "callback", [], 0, 0, [], 0),
    ("REF", {}, "in_progress", 72 * H, [], 0, 0, [], 0),
    ("DEC", {"note": "family reports death"}, "on_hold", None, ["deceased"], 0, 0,
     ["deceased"], 0),
    ("LEG", {"note": "refer to counsel"}, "legal", None, ["legal"], 0, 0, ["legal_review"], 0),
]


@pytest.mark.parametrize(("code", "fields", "status", "nxt", "holds", "promises", "visits",
                          "notices", "invalid"), SEEDED, ids=[s[0] for s in SEEDED])
async def test_effect_of_every_seeded_code(
    api: ApiClient, world: World, code: str, fields: dict[str, Any], status: str, nxt: Any,
    holds: list[str], promises: int, visits: int, notices: list[str], invalid: int,
) -> None:
    body = dict(fields)
    if body.pop("phone", False):
        body["phone_id"] = await debtor_phone(world, "A1")
    http, action = await file(api, world, "A1", f"k-{code}", code=code, **body)
    assert http == 201, action
    got = await state(world, "A1")
    if nxt == "due":
        assert got["next_action_at"].date() > NOW.date()
    elif nxt == "callback":
        assert got["next_action_at"] == NOW + timedelta(hours=5)
    elif nxt is None:
        assert got["next_action_at"] is None
    else:
        assert got["next_action_at"] == NOW + nxt
    assert (got["status"], got["holds"], got["promises"], got["visits"], got["notices"],
            got["invalid"]) == (status, holds, promises, visits, notices, invalid)
    assert action["effect"]["status"] == status


async def test_catalogue_covers_the_table() -> None:
    assert len({s[0] for s in SEEDED}) == 16


async def test_same_key_five_times_concurrently_has_one_effect(api: ApiClient,
                                                               world: World) -> None:
    results = await asyncio.gather(*[
        file(api, world, "A1", "same-key", code="PTP", amount="900", due_date=TOMORROW)
        for _ in range(5)
    ])
    statuses = sorted(status for status, _ in results)
    assert statuses == [200, 200, 200, 200, 201]
    assert len({body["id"] for _, body in results}) == 1
    got = await state(world, "A1")
    assert got["promises"] == 1
    assert await world.pool.fetchval("SELECT count(*) FROM actions") == 1


async def test_key_reused_for_another_code_is_a_conflict(api: ApiClient, world: World) -> None:
    await file(api, world, "A1", "k", code="NA")
    status, body = await file(api, world, "A1", "k", code="RPC")
    assert status == 409
    assert body["error_id"] == "action.key_reused"


async def test_missing_and_bad_fields(api: ApiClient, world: World) -> None:
    status, body = await file(api, world, "A1", "k1", code="PTP", amount="1500")
    assert (status, body["error_id"], body["details"]) == (
        400, "action.missing_fields", {"due_date": "required"})
    status, body = await file(api, world, "A1", "k2", code="PTP", amount="-1",
                              due_date="2020-01-01")
    assert status == 400
    assert set(body["details"]) == {"amount", "due_date"}
    status, body = await file(api, world, "A1", "k3", code="ZZZ")
    assert (status, body["error_id"]) == (400, "action.unknown_code")
    assert await world.pool.fetchval("SELECT count(*) FROM actions") == 0


async def test_missing_idempotency_key(api: ApiClient, world: World) -> None:
    resp = await api.post(f"/cases/{world.cases['A1']}/actions", json={"code": "NA"},
                          headers=world.headers("agent_a"))
    assert resp.status == 400
    assert (await resp.json())["error_id"] == "action.idempotency_key"


async def test_hold_survives_later_contact_codes(api: ApiClient, world: World) -> None:
    await file(api, world, "A1", "d", code="DSP", statement="amount is wrong")
    await file(api, world, "A1", "r", code="RPC")
    got = await state(world, "A1")
    assert got["status"] == "on_hold"
    assert got["holds"] == ["dispute"]


async def test_last_invalid_number_makes_the_case_lost_contact(api: ApiClient,
                                                               world: World) -> None:
    phones = await world.pool.fetch("SELECT id FROM phones WHERE case_id = $1 ORDER BY id",
                                    world.cases["A1"])
    for n, phone in enumerate(phones):
        status, _ = await file(api, world, "A1", f"wn{n}", code="WN", phone_id=phone["id"])
        assert status == 201
    got = await state(world, "A1")
    assert (got["status"], got["visits"], got["invalid"]) == ("lost_contact", 1, 2)


async def test_phone_of_another_case_is_refused(api: ApiClient, world: World) -> None:
    other = await debtor_phone(world, "B1")
    status, body = await file(api, world, "A1", "x", code="WN", phone_id=other)
    assert (status, body["error_id"]) == (400, "action.phone")


async def test_bad_json_body(api: ApiClient, world: World) -> None:
    resp = await api.post(f"/cases/{world.cases['A1']}/actions", data=b"{not json",
                          headers={**world.headers("agent_a"), "Idempotency-Key": "j"})
    assert resp.status == 400
    assert (await resp.json())["error_id"] == "request.bad_json"
