"""Fuzzing the HTTP API with schemathesis, from the document it serves.

The app runs on 127.0.0.1 with the security estate (`tests.security.live_api`).
schemathesis takes the document the app serves at ``/openapi.json`` (loaded from
`api.app.openapi_document` when the module is, so that each operation is a test of
its own; `test_the_fuzzed_document_is_the_served_one` holds the two equal. Its lazy
``from_fixture`` loader fails under pytest 9) and, for every operation but
``POST /auth/logout`` (it would end the session the rest of the run uses), sends
generated requests as the admin: the document's examples, its boundary values
(coverage phase) and random ones (fuzzing phase), valid and invalid. Each answer must
not be a server error (``not_a_server_error``) and must match the response schema the
document gives for its status (``response_schema_conformance``). About half the
operations document no success body, so only their errors are checked against it.

The budget suits CI: ``CALLCASE_API_FUZZ_EXAMPLES`` (default 5) random examples per
operation; raise it for a long session (docs/security.md). Runs are derandomized: the
same examples each run, until the document or the budget changes.

`test_documented_answers_on_real_records` then sends each operation once on records
that exist (the matrix's requests of `tests.security.matrix`, as the admin or the first
role that may), so the success answers are checked against the document too, which
random ids seldom reach.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from typing import Any

import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis import Case
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import response_schema_conformance

from api.app import openapi_document
from tests.api.world import USERS, batch_csv, resident_id
from tests.security.live_api import LiveApi
from tests.security.matrix import (
    ROLE,
    UPLOADED_PHONE,
    Route,
    Target,
    kind_of,
    routes_under_test,
    send_of,
)

EXAMPLES = int(os.environ.get("CALLCASE_API_FUZZ_EXAMPLES", "5"))
CHECKS = [not_a_server_error, response_schema_conformance]
EXCLUDED = ("/auth/logout",)
ROUTES = routes_under_test()


@pytest.fixture(scope="module")
def live_api(database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    served = LiveApi(database_url, tmp_path_factory.mktemp("live-api"))
    served.start()
    try:
        yield served
    finally:
        served.stop()


# Evidence files are sent as the raw body, like any file.
schemathesis.serializer.alias(["application/pdf", "audio/wav", "audio/mpeg"],
                              "application/octet-stream")
schema = schemathesis.openapi.from_dict(openapi_document()).exclude(path=list(EXCLUDED))


def test_the_fuzzed_document_is_the_served_one(live_api: LiveApi) -> None:
    served = requests.get(f"{live_api.base_url}/openapi.json", timeout=10)
    assert served.status_code == 200
    assert served.json() == json.loads(json.dumps(openapi_document(), default=str))


def _documented_case(live_api: LiveApi, route: Route, n: int) -> tuple[str, Case[Any]]:
    """The matrix's request of `route` on the first side's records, by the admin or the
    first role that may send it, as a schemathesis case."""
    assert live_api.estate is not None
    who = next(w for w in ("admin", *USERS) if route.allowed is None or ROLE[w] in route.allowed)
    t = Target(live_api.estate, route, who, "own", n)
    params = {p: t.id(kind_of(route.path, p)) for p in route.params}
    sent = send_of(route)(t)
    media_type = sent.pop("headers", {}).get("Content-Type", "application/json")
    body = sent.get("json", sent.get("data"))
    if route.path == "/batches":  # the matrix sends a FormData: the same fields here
        media_type, body = "multipart/form-data", {
            "client": "BANKA", "file": batch_csv([("U1", "赵强", resident_id("19800101", 1),
                                                    "100", 5, UPLOADED_PHONE, "", "")])}
    case = schema[route.path][route.method].Case(
        path_parameters=params, query=sent.get("params"), media_type=media_type,
        **({} if body is None else {"body": body}))
    return who, case


def test_documented_answers_on_real_records(live_api: LiveApi) -> None:
    """Every operation once on records that exist: its answer is not a server error and
    matches the document (random ids seldom reach the success answers)."""
    problems = []
    for n, route in enumerate(r for r in ROUTES if r.path not in EXCLUDED):
        who, case = _documented_case(live_api, route, n)
        headers = {**live_api.headers(who), "Idempotency-Key": f"documented-{n}"}
        try:
            case.call_and_validate(base_url=live_api.base_url, headers=headers, checks=CHECKS)
        except (AssertionError, FailureGroup) as failure:
            problems.append(f"{route} as {who}: {failure}"[:1500])
    assert not problems, "\n\n".join(problems)


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, database=None,
          suppress_health_check=list(HealthCheck))
def test_api_fuzz(case: Case[Any], live_api: LiveApi) -> None:
    case.call_and_validate(base_url=live_api.base_url, headers=live_api.headers(),
                           checks=CHECKS)
