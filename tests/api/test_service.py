"""Login sessions, health, metrics and the OpenAPI document."""

from __future__ import annotations

from datetime import timedelta

import pytest
from aiohttp import web
from openapi_spec_validator import validate

from api import auth
from api.app import create_app, openapi_document
from api.settings import Settings
from tests.api.conftest import ApiClient
from tests.api.world import NOW, PASSWORD, World


async def test_login_logout(api: ApiClient, world: World) -> None:
    resp = await api.post("/auth/login", json={"username": "qa", "password": PASSWORD})
    assert resp.status == 200
    body = await resp.json()
    headers = {"Authorization": f"Bearer {body['token']}"}
    assert body["user"]["role"] == "qa"
    assert (await api.get("/me", headers=headers)).status == 200
    assert (await api.post("/auth/logout", headers=headers)).status == 200
    assert (await api.get("/me", headers=headers)).status == 401
    stored = await world.pool.fetchval("SELECT count(*) FROM api_sessions WHERE token_sha256"
                                       " = $1", body["token"])
    assert stored == 0  # only the hash of a token is kept


@pytest.mark.parametrize(("username", "password"), [("qa", "wrong password!"),
                                                    ("nobody", PASSWORD)])
async def test_bad_login_gives_one_answer(api: ApiClient, world: World, username: str,
                                          password: str) -> None:
    resp = await api.post("/auth/login", json={"username": username, "password": password})
    assert resp.status == 401
    assert await resp.json() == {"error_id": "auth.bad_credentials",
                                 "message": "wrong username or password", "details": {}}


async def test_disabled_user_cannot_log_in(api: ApiClient, world: World) -> None:
    await world.pool.execute("UPDATE users SET active = false WHERE username = 'qa'")
    resp = await api.post("/auth/login", json={"username": "qa", "password": PASSWORD})
    assert resp.status == 401
    assert (await api.get("/me", headers=world.headers("qa"))).status == 401


async def test_sessions_expire(api: ApiClient, world: World) -> None:
    token, _ = await auth.issue_session(world.pool, world.users["qa"].id,
                                        now=NOW - timedelta(hours=9), ttl=timedelta(hours=8),
                                        ip=None)
    resp = await api.get("/me", headers={"Authorization": f"Bearer {token}"})
    assert resp.status == 401


async def test_healthz(api: ApiClient) -> None:
    resp = await api.get("/healthz")
    assert resp.status == 200
    assert await resp.json() == {"status": "ok",
                                 "checks": {"postgres": "ok", "redis": "ok"}}


async def test_healthz_reports_redis_down(settings: Settings, aiohttp_client: object,
                                          pool: object) -> None:
    broken = Settings.from_env({"CALLCASE_DATABASE_URL": settings.database.url,
                                "CALLCASE_REDIS_URL": "redis://127.0.0.1:1/0"})
    client = await aiohttp_client(create_app(broken))  # type: ignore[operator]
    resp = await client.get("/healthz")
    assert resp.status == 503
    body = await resp.json()
    assert body["checks"]["postgres"] == "ok"
    assert body["checks"]["redis"].startswith("error")


async def test_metrics_count_requests(api: ApiClient, world: World) -> None:
    await api.get("/cases", headers=world.headers("admin"))
    text = await (await api.get("/metrics")).text()
    assert 'callcase_http_requests_total{method="GET",route="/cases",status="200"} 1.0' in text


async def test_request_id_is_echoed(api: ApiClient) -> None:
    resp = await api.get("/healthz", headers={"X-Request-Id": "abc123"})
    assert resp.headers["X-Request-Id"] == "abc123"


def test_openapi_is_valid_and_matches_the_routes(settings: Settings) -> None:
    document = openapi_document()
    validate(document)
    app = create_app(settings)
    served = set()
    for route in app.router.routes():
        if route.method in ("HEAD", "OPTIONS"):
            continue
        if route.resource is not None and (route.resource.name or "").startswith("console."):
            continue  # the web console's static files, not API operations
        info = route.resource.get_info() if route.resource else {}
        path = info.get("path") or info.get("formatter")
        served.add((route.method.lower(), path))
    paths = document["paths"]
    assert isinstance(paths, dict)
    documented = {(method, path) for path, ops in paths.items() for method in ops
                  if method in ("get", "post", "put", "delete", "patch")}
    assert served == documented


async def test_unknown_route_is_json_404(api: ApiClient, world: World) -> None:
    resp = await api.get("/nope", headers=world.headers("admin"))
    assert resp.status == 404
    assert (await resp.json())["error_id"] == "http.404"


def test_app_keys_are_typed() -> None:
    assert isinstance(create_app(Settings.from_env({})), web.Application)
