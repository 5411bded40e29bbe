"""Bad input the route matrix and the fuzzer found answering 500 (or telling too much),
each now a clear 4xx with its error_id; one request per finding, on the API test world.

Found by `test_route_matrix` (malformed ids, ids of nothing, another client's records)
and `test_api_fuzz` (schemathesis); the fix is named beside each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import asyncpg
import pytest

from api.app import create_app
from api.settings import Settings
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World, build_world

Request = Callable[["Known"], tuple[str, str, dict[str, Any]]]
MULTIPART = "multipart/form-data; boundary=x"
BROKEN_PART = b"--x\r\nno colon in this header line\r\n\r\nBANKA\r\n--x--\r\n"


@dataclass(frozen=True)
class Known:
    """The world's records a request names."""

    world: World
    batches: dict[str, int]

    def case(self, account: str) -> int:
        return self.world.cases[account]

    def client(self, code: str = "BANKA") -> int:
        return self.world.clients[code]


CASES: list[tuple[str, str, Request, int, str]] = [
    # api/context.py path_id: "²".isdigit() is true but int() refuses it.
    ("superscript id", "admin", lambda w: ("GET", "/cases/²", {}), 400, "request.bad_id"),
    # api/routes_campaigns.py _campaign_id: the same, and 20 digits overflow bigint.
    ("superscript campaign", "admin", lambda w: (
        "GET", f"/cases/{w.case('A1')}/dialability", {"params": {"campaign_id": "²"}}),
     400, "request.bad_param"),
    ("huge campaign", "admin", lambda w: (
        "GET", f"/cases/{w.case('A1')}/dialability", {"params": {"campaign_id": "9" * 20}}),
     400, "request.bad_param"),
    # api/routes_campaigns.py contact_floor: a client that does not exist was a 200.
    ("contact floor of nothing", "admin", lambda w: (
        "GET", "/clients/424242/contact-floor", {}), 404, "client.not_found"),
    # api/routes_batches.py: another client's batch said client.not_found (it exists).
    ("another client's batch", "auditor_a", lambda w: (
        "GET", f"/batches/{w.batches['BANKB']}/confirmation", {}), 404, "batch.not_found"),
    # cases/payments.py list_imports: `$2 = 0` typed the cursor int4.
    ("cursor past int4", "admin", lambda w: (
        "GET", f"/clients/{w.client()}/payment-imports", {"params": {"after": "34359738368"}}),
     200, ""),
    # api/routes_batches.py, api/routes_payments.py: a multipart body that cannot be read.
    ("broken multipart batch", "admin", lambda w: (
        "POST", "/batches", {"data": BROKEN_PART, "headers": {"Content-Type": MULTIPART}}),
     400, "batch.bad_multipart"),
    ("broken multipart payments", "admin", lambda w: (
        "POST", f"/clients/{w.client()}/payments",
        {"data": BROKEN_PART, "headers": {"Content-Type": MULTIPART}}),
     400, "payments.bad_multipart"),
    # api/context.py check_storable: what no text or bigint column can store.
    ("NUL in a file name", "admin", lambda w: (
        "POST", f"/clients/{w.client()}/payments",
        {"data": b"account_no,amount,paid_at\n", "headers": {"Content-Type": "text/csv",
                                                             "X-File-Name": "a%00.csv"}}),
     400, "request.unstorable"),
    ("NUL in JSON", "admin", lambda w: (
        "POST", "/clients", {"json": {"code": "N\x00", "name": "New bank"}}),
     400, "request.unstorable"),
    ("lone surrogate in JSON", "admin", lambda w: (
        "POST", "/clients", {"json": {"code": "N\ud800", "name": "New bank"}}),
     400, "request.unstorable"),
    ("number past bigint", "admin", lambda w: (
        "POST", "/clients", {"json": {"code": "NEW", "name": "New bank",
                                      "retention_years": 2**70}}),
     400, "request.unstorable"),
    ("NUL in a query", "admin", lambda w: (
        "GET", "/audit", {"params": {"action": "case.view\x00"}}), 400, "request.unstorable"),
    # api/routes_auth.py add_client: retention_years is an int4 of 1-30.
    ("retention past int4", "admin", lambda w: (
        "POST", "/clients", {"json": {"code": "NEW", "name": "New bank",
                                      "retention_years": 2**40}}),
     400, "request.bad_field"),
    # cases/approval_rules.py, cases/evaluation.py, cases/field_visit_rules.py: an object
    # where a name was expected was looked up in a set (unhashable).
    ("object as approval kind", "admin", lambda w: (
        "POST", f"/cases/{w.case('A1')}/approvals", {"json": {"kind": {}, "reason": "x"}}),
     400, "approval.invalid"),
    ("object as tiering", "admin", lambda w: (
        "PUT", f"/clients/{w.client()}/evaluation-settings", {"json": {"tiering": {}}}),
     400, "evaluation.invalid_parameters"),
    ("object as visit result", "supervisor", lambda w: (
        "POST", "/field-visits/1/result", {"json": {"result": {}}}),
     400, "field_visit.invalid"),
    # cases/field_visit_rules.py, transcription/sampling.py, cases/evaluation.py: months
    # with no first day (year 0) or no next month (9999-12).
    ("year 0 visit sample", "admin", lambda w: (
        "POST", "/field-visits/qa-sample", {"params": {"month": "0000-01", "seed": "8"}}),
     400, "field_visit.bad_month"),
    ("last month QA sample", "admin", lambda w: (
        "POST", "/qa/samples", {"json": {"month": "9999-12", "seed": "s"}}),
     400, "qa.bad_month"),
    ("last month evaluation", "admin", lambda w: (
        "POST", f"/clients/{w.client()}/evaluations/9999-12", {"json": {"results": []}}),
     400, "evaluation.bad_month"),
]


@pytest.fixture
async def world_api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
                    pool: asyncpg.Pool) -> tuple[Known, ApiClient]:
    world = await build_world(pool)
    batches = {code: await pool.fetchval("SELECT id FROM batches WHERE client_id = $1", id_)
               for code, id_ in world.clients.items()}
    return Known(world, batches), await aiohttp_client(create_app(settings, clock=lambda: NOW))


@pytest.mark.parametrize(("who", "request_of", "status", "error_id"),
                         [c[1:] for c in CASES], ids=[c[0] for c in CASES])
async def test_bad_input_is_a_clear_4xx(world_api: tuple[Known, ApiClient], who: str,
                                        request_of: Request, status: int,
                                        error_id: str) -> None:
    known, api = world_api
    method, path, kwargs = request_of(known)
    headers = {**known.world.headers(who), **kwargs.pop("headers", {})}
    resp = await api.request(method, path, headers=headers, **kwargs)
    body = await resp.json()
    assert (resp.status, body.get("error_id", "")) == (status, error_id), body
