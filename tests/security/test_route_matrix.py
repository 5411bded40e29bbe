"""The authorization matrix over every route of the app, every role, own and other
client's records, with the personal data each answer and each log line may carry.

For each route (`tests.security.matrix.app_routes`: all but HEAD/OPTIONS and the
public ones) on a fresh estate (`tests.security.estate`):

- without a token: 401 (on a websocket route, on the upgrade request);
- a role the route does not allow: 403, whichever side's record it names;
- an allowed role on its own side's records: anything but a server error, and at least
  one allowed role succeeds (unless `NO_SUCCESS_HERE` says why none can);
- an allowed role on the other side's records it may not see: 404 (or 403), and the
  same 404, ids aside, as for a record that does not exist (else it tells the record
  exists); two records that do not belong together (evidence of another visit,
  another client's campaign or phone): 404 (or 400);
- ids that name nothing, and path parameters that are not ids: 4xx;
- no answer is a server error; no answer and no log line written meanwhile carries
  personal data its reader may not see there, and no successful answer names a record
  out of its reader's scope (`tests.security.pii`).

Websocket routes are checked on the upgrade only (401, 403); `tests/api` opens them.
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from itertools import count
from pathlib import Path

import asyncpg
import pytest
import redis.asyncio as aioredis

from api.app import PUBLIC_PATHS
from api.settings import Settings
from recording.writer import RecorderPool
from tests.api.conftest import ApiClient
from tests.api.world import USERS, World, build_world
from tests.conftest import TEST_REDIS_URL
from tests.security.estate import (
    AGENT,
    SIDES,
    Estate,
    build_estate,
    call,
    estate_app,
    estate_settings,
    stand_in_call_path,
)
from tests.security.matrix import (
    ROLE,
    Route,
    Target,
    fill_path,
    malformed_values,
    named_kinds,
    routes_under_test,
    send_of,
    variants,
    verdict,
)
from tests.security.pii import IDS, Seen, foreign_records, leaks, log_leaks, may_reveal, sees_case

FORMAT = logging.Formatter("%(name)s %(levelname)s %(message)s")
LOGGERS = ("api", "cases", "dialer", "routing", "recording", "transcription")
UPGRADE = {"Connection": "Upgrade", "Upgrade": "websocket", "Sec-WebSocket-Version": "13",
           "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ=="}
PDF = b"%PDF-1.4\n" + b"signed report\n" * 20
# Routes no role can succeed on in the estate, and why.
NO_SUCCESS_HERE = {
    "POST /agent/dial": "the stand-in call path refuses every dial (409 dial.refused)",
    "POST /agent/login": "both agents are logged in already, talking on a call (409)",
}
ROUTES = routes_under_test()
# Reads change nothing a later read depends on: they share one estate; every other
# route gets its own.
GROUPS = [[r for r in ROUTES if r.method == "GET"],
          *([r] for r in ROUTES if r.method != "GET")]


@dataclass
class Matrix:
    api: ApiClient
    estate: Estate
    caplog: pytest.LogCaptureFixture
    numbers: Iterator[int] = field(default_factory=lambda: count(1))
    problems: list[str] = field(default_factory=list)
    succeeded: bool = False

    @property
    def world(self) -> World:
        return self.estate.world

    def log_lines(self) -> list[str]:
        """Every line logged since the estate was built, with its traceback."""
        return [FORMAT.format(r) for r in self.caplog.records]


@pytest.fixture
async def matrix(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
                 pool: asyncpg.Pool, tmp_path: Path, caplog: pytest.LogCaptureFixture
                 ) -> AsyncIterator[Matrix]:
    for name in LOGGERS:
        caplog.set_level(logging.DEBUG, logger=name)
    world = await build_world(pool)
    settings = estate_settings(settings, tmp_path)
    api = await aiohttp_client(estate_app(settings))
    redis = aioredis.from_url(TEST_REDIS_URL)
    await redis.flushdb()
    try:
        async with RecorderPool(settings.recording.root, min_free_bytes=0) as recorder:
            estate = await build_estate(api, world, redis, recorder)
        async with stand_in_call_path(redis):
            yield Matrix(api, estate, caplog)
    finally:
        await redis.aclose()


async def send(m: Matrix, t: Target, malformed: tuple[str, str] | None = None
               ) -> tuple[int, str]:
    """Send the target's request as its user; judge the answer."""
    path = fill_path(t, malformed)
    kwargs = send_of(t.route)(t)
    headers = {**m.world.headers(t.who), "Idempotency-Key": f"matrix-{t.n}",
               **kwargs.pop("headers", {})}
    resp = await m.api.request(t.route.method, path, headers=headers, **kwargs)
    text = await resp.text(errors="replace")
    wrong = verdict(t, resp.status)
    if wrong:
        m.problems.append(f"{t.route} as {t.who} ({t.variant}: {path}) -> {resp.status}:"
                          f" {wrong}; {text[:200]}")
    query = {k: str(v) for k, v in kwargs.get("params", {}).items()}
    seen = Seen(t.who, str(t.route), path, query, resp.status, text)
    m.problems.extend(leaks(seen, m.world) + foreign_records(seen, m.world))
    allowed = t.route.allowed is None or ROLE[t.who] in t.route.allowed
    m.succeeded |= allowed and t.variant == "own" and resp.status < 300
    return resp.status, text


def _anonymous(text: str) -> str:
    return re.sub(r"\d+", "#", text)


async def existence_told(m: Matrix, route: Route, who: str, hidden: str) -> None:
    """The 404 for a record out of the user's scope must be the 404 for a record that
    does not exist, ids aside: else it tells the record exists."""
    _, missing = await send(m, target(m, route, who, "nowhere"))
    if _anonymous(hidden) != _anonymous(missing):
        m.problems.append(f"{route} as {who}: out of scope {hidden[:150]} but missing"
                          f" {missing[:150]}: tells the record exists")


def target(m: Matrix, route: Route, who: str, variant: str) -> Target:
    strict, _ = named_kinds(route, m.estate)
    return Target(m.estate, route, who, variant, next(m.numbers),
                  first=strict[0] if strict else "")


async def no_token(m: Matrix, route: Route) -> None:
    t = target(m, route, "admin", "own")
    headers = UPGRADE if route.websocket else {}
    resp = await m.api.request(route.method, fill_path(t), headers=headers)
    if resp.status != 401:
        m.problems.append(f"{route} without a token -> {resp.status}, want 401")


async def upgrade_refused(m: Matrix, route: Route, who: str) -> None:
    t = target(m, route, who, "own")
    resp = await m.api.request(route.method, fill_path(t),
                               headers={**UPGRADE, **m.world.headers(who)})
    if resp.status != 403:
        m.problems.append(f"{route} upgrade as {who} -> {resp.status}, want 403")


async def bad_ids(m: Matrix, route: Route) -> None:
    """Ids that name nothing, and parameters that are not ids, from an allowed user."""
    allowed = [w for w in USERS if route.allowed is None or ROLE[w] in route.allowed]
    if not route.params or not allowed:
        return
    await send(m, target(m, route, allowed[0], "nowhere"))
    for param, value in malformed_values(route):
        await send(m, target(m, route, allowed[0], "malformed"), (param, value))


async def probe(m: Matrix, route: Route) -> None:
    await no_token(m, route)
    for who in USERS:
        if route.websocket:
            if route.allowed is not None and ROLE[who] not in route.allowed:
                await upgrade_refused(m, route, who)
            continue
        for variant in variants(route, m.estate):
            t = target(m, route, who, variant)
            status, text = await send(m, t)
            if variant == "other" and status == 404 and t.out_of_scope():
                await existence_told(m, route, who, text)
    if not route.websocket:
        await bad_ids(m, route)
        if not m.succeeded and str(route) not in NO_SUCCESS_HERE:
            m.problems.append(f"{route}: no allowed role succeeded on its own records")


async def _started(m: Matrix, *commands: str) -> None:
    for side in SIDES:
        for command in commands:
            await call(m.api, m.world, "admin", "POST",
                       f"/campaigns/{m.estate.id(side, 'campaign')}/{command}")


async def _held(m: Matrix) -> None:
    for side in SIDES:
        await call(m.api, m.world, "admin", "POST",
                   f"/recordings/{m.estate.id(side, 'recording')}/legal-hold",
                   json={"reason": "litigation"})


async def _visited(m: Matrix) -> None:
    """Each side's visit made, with its signed report: it may be closed."""
    for side in SIDES:
        visit = f"/field-visits/{m.estate.id(side, 'visit')}"
        await call(m.api, m.world, AGENT[side], "POST", f"{visit}/result",
                   json={"result": "not_home", "notes": "neighbours say moved"})
        await call(m.api, m.world, AGENT[side], "POST", f"{visit}/evidence", data=PDF,
                   params={"kind": "report", "name": "report.pdf"},
                   headers={"Content-Type": "application/pdf"})


# What a route needs beyond the estate for its own requests to be able to succeed.
PREPARE: dict[str, Callable[[Matrix], Awaitable[None]]] = {
    "POST /campaigns/{id}/pause": lambda m: _started(m, "start"),
    "POST /campaigns/{id}/stop": lambda m: _started(m, "start"),
    "POST /campaigns/{id}/resume": lambda m: _started(m, "start", "pause"),
    "DELETE /recordings/{id}/legal-hold": _held,
    "POST /field-visits/{id}/close": _visited,
}


def _group_id(group: list[Route]) -> str:
    return str(group[0]) if len(group) == 1 else f"{len(group)} GET routes"


@pytest.mark.parametrize("group", GROUPS, ids=_group_id)
async def test_route(matrix: Matrix, group: list[Route]) -> None:
    for route in group:
        if str(route) in PREPARE:
            await PREPARE[str(route)](matrix)
        matrix.succeeded = False
        await probe(matrix, route)
    problems = matrix.problems + log_leaks(matrix.log_lines())
    assert not problems, "\n".join(problems)


def test_every_route_states_its_roles() -> None:
    """A route without `requires` would be open to every signed-in user."""
    assert [str(r) for r in ROUTES if r.allowed is None] == []
    assert {"/auth/login", "/healthz", "/metrics", "/openapi.json"} == PUBLIC_PATHS


def test_the_matrix_knows_what_it_exempts_and_prepares() -> None:
    assert set(NO_SUCCESS_HERE) | set(PREPARE) <= {str(r) for r in ROUTES}


async def test_only_cleared_roles_reveal_an_id_and_each_reveal_is_audited(
        matrix: Matrix) -> None:
    """Unmasked, the national ID is for admins, supervisors and client auditors with
    PII clearance, on cases they may see, with ``?reveal=id_no``; every reveal leaves a
    ``pii.reveal`` row; others get 403 ``pii.no_clearance`` (404 out of scope)."""
    revealed, problems = set(), []
    for who in USERS:
        for account in ("A1", "A2", "B1"):
            case_id = matrix.world.cases[account]
            resp = await matrix.api.get(f"/cases/{case_id}", params={"reveal": "id_no"},
                                        headers=matrix.world.headers(who))
            text = await resp.text()
            want = (404 if not sees_case(who, account) else 200 if may_reveal(who) else 403)
            if resp.status != want:
                problems.append(f"{who} reveals {account}: {resp.status}, want {want}")
            elif want == 200:
                assert (await resp.json())["debtor"]["id_no"] == IDS[account]
                revealed.add((matrix.world.users[who].id, str(case_id)))
            seen = Seen(who, "GET /cases/{id}", f"/cases/{case_id}", {"reveal": "id_no"},
                        resp.status, text)
            problems += leaks(seen, matrix.world)
    rows = await matrix.world.pool.fetch(
        "SELECT user_id, record_id FROM audit_log WHERE action = 'pii.reveal'")
    assert not problems, "\n".join(problems)
    assert sorted((r["user_id"], r["record_id"]) for r in rows) == sorted(revealed)
    assert {u for u, _ in revealed} == {matrix.world.users[w].id for w in
                                        ("admin", "cleared_supervisor", "auditor_a")}


async def test_public_routes_need_no_token(matrix: Matrix) -> None:
    got = {path: (await matrix.api.get(path)).status
           for path in ("/healthz", "/metrics", "/openapi.json", "/console/")}
    got["/auth/login"] = (await matrix.api.post("/auth/login", json={})).status
    assert got == {"/healthz": 200, "/metrics": 200, "/openapi.json": 200, "/console/": 200,
                   "/auth/login": 400}
