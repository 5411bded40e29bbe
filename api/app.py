"""The composition root: builds pools and services and hands them to the routes.

`create_app(settings)` returns an aiohttp application whose `cleanup_ctx`
opens and closes every resource (PostgreSQL pool, Redis client).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from importlib import resources

import asyncpg
import redis.asyncio as aioredis
import yaml
from aiohttp import web
from aiohttp.typedefs import Handler
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from api import (
    auth,
    desk,
    routes_agent_dial,
    routes_agents,
    routes_approvals,
    routes_auth,
    routes_batches,
    routes_campaigns,
    routes_cases,
    routes_client,
    routes_evaluations,
    routes_monitor,
    routes_payments,
    routes_pci,
    routes_reports,
    routes_roster,
    routes_supervisor,
    routes_transcripts,
    webhooks,
)
from api.context import CLOCK, PG, REDIS, REQUEST_ID_KEY, SETTINGS, TOKEN_KEY, USER_KEY, Clock
from api.errors import error_middleware
from api.logs import log_context
from api.routes_console import setup_console
from api.routes_field_visits import setup_field_visit_routes
from api.routes_recordings import setup_recording_routes
from api.settings import Settings
from cases.errors import Unauthenticated

PUBLIC_PATHS = frozenset({"/auth/login", "/healthz", "/metrics", "/openapi.json"})
METRICS = web.AppKey("metrics", CollectorRegistry)
REQUESTS = web.AppKey("requests", Counter)
LATENCY = web.AppKey("latency", Histogram)


def utc_now() -> datetime:
    return datetime.now(UTC)


@web.middleware
async def request_id_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    request_id = request.headers.get("X-Request-Id", "")[:64] or uuid.uuid4().hex
    request[REQUEST_ID_KEY] = request_id
    with log_context(request_id=request_id):
        response = await handler(request)
    response.headers["X-Request-Id"] = request_id
    return response


@web.middleware
async def metrics_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    started = time.perf_counter()
    route = request.match_info.route.resource
    name = route.canonical if route is not None else "unmatched"
    response = await handler(request)
    request.app[REQUESTS].labels(request.method, name, str(response.status)).inc()
    request.app[LATENCY].labels(name).observe(time.perf_counter() - started)
    return response


def _bearer_token(request: web.Request) -> str:
    """The Authorization bearer token; a websocket upgrade may send it as ``?token=``
    instead (browsers cannot set headers on a WebSocket); no other request may."""
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return token.strip()
    query = request.query.get("token", "")
    if query and request.headers.get("Upgrade", "").lower() == "websocket":
        return query
    raise Unauthenticated("auth.required", "send Authorization: Bearer <token>")


@web.middleware
async def auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    if request.path in PUBLIC_PATHS:
        return await handler(request)
    token = _bearer_token(request)
    user = await auth.user_for_token(request.app[PG], token, request.app[CLOCK]())
    request[USER_KEY] = user
    request[TOKEN_KEY] = token
    with log_context(user_id=user.id):
        return await handler(request)


async def healthz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        await request.app[PG].fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
        checks["postgres"] = f"error: {exc}"
    try:
        await request.app[REDIS].ping()
        checks["redis"] = "ok"
    except (OSError, aioredis.RedisError) as exc:
        checks["redis"] = f"error: {exc}"
    healthy = all(v == "ok" for v in checks.values())
    return web.json_response({"status": "ok" if healthy else "unhealthy", "checks": checks},
                             status=200 if healthy else 503)


async def metrics(request: web.Request) -> web.Response:
    body = generate_latest(request.app[METRICS])
    return web.Response(body=body, headers={"Content-Type": CONTENT_TYPE_LATEST})


def openapi_document() -> dict[str, object]:
    text = resources.files("api").joinpath("openapi.yaml").read_text("utf-8")
    document: dict[str, object] = yaml.safe_load(text)
    return document


async def openapi(request: web.Request) -> web.Response:
    return web.json_response(openapi_document(), dumps=lambda o: json.dumps(o, default=str))


def _register_metrics(app: web.Application) -> None:
    registry = CollectorRegistry()
    app[METRICS] = registry
    app[REQUESTS] = Counter("callcase_http_requests_total", "HTTP requests",
                            ["method", "route", "status"], registry=registry)
    app[LATENCY] = Histogram("callcase_http_request_seconds", "HTTP request latency",
                             ["route"], registry=registry)


async def _postgres(app: web.Application) -> AsyncIterator[None]:
    db = app[SETTINGS].database
    app[PG] = await asyncpg.create_pool(db.url, min_size=db.min_pool, max_size=db.max_pool)
    yield
    await app[PG].close()


async def _redis(app: web.Application) -> AsyncIterator[None]:
    app[REDIS] = aioredis.from_url(app[SETTINGS].redis.url, socket_timeout=2)
    yield
    await app[REDIS].aclose()


def create_app(settings: Settings, *, clock: Clock = utc_now) -> web.Application:
    app = web.Application(
        middlewares=[request_id_middleware, metrics_middleware, error_middleware,
                     auth_middleware],
        client_max_size=settings.http.max_upload_mb * 1024 * 1024,
    )
    app[SETTINGS] = settings
    app[CLOCK] = clock
    _register_metrics(app)
    app.cleanup_ctx.extend([_postgres, _redis])
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/openapi.json", openapi)
    app.router.add_routes(routes_auth.routes)
    app.router.add_routes(routes_batches.routes)
    app.router.add_routes(routes_cases.routes)
    app.router.add_routes(routes_approvals.routes)
    app.router.add_routes(routes_campaigns.routes)
    setup_recording_routes(app)
    setup_field_visit_routes(app)
    desk.setup_routing(app)
    app.router.add_routes(routes_agents.routes)
    app.router.add_routes(routes_agent_dial.routes)
    app.router.add_routes(routes_pci.routes)
    app.router.add_routes(routes_supervisor.routes)
    app.router.add_routes(routes_monitor.routes)
    app.router.add_routes(routes_roster.routes)
    app.router.add_routes(routes_transcripts.routes)
    app.router.add_routes(routes_client.routes)
    app.router.add_routes(routes_payments.routes)
    app.router.add_routes(routes_evaluations.routes)
    app.router.add_routes(routes_reports.routes)
    app.cleanup_ctx.append(webhooks.delivery_worker)
    setup_console(app)
    return app
