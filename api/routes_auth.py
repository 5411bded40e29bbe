"""Login, logout, who am I; clients and users (admin)."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web

from api import auth
from api.context import (
    PG,
    SETTINGS,
    TOKEN_KEY,
    actor,
    current_user,
    json_body,
    now,
    path_id,
    requires,
)
from api.views import client_json, user_json
from cases import audit, store
from cases.access import scope_for
from cases.domain import Role
from cases.errors import InvalidInput

routes = web.RouteTableDef()
ALL_ROLES = tuple(Role)


def _text(body: dict[str, object], name: str, default: str | None = None) -> str:
    value = body.get(name, default)
    if not isinstance(value, str) or not value.strip():
        raise InvalidInput("request.missing_field", f"{name} is required", {name: "required"})
    return value.strip()


@routes.post("/auth/login")
async def login(request: web.Request) -> web.Response:
    body = await json_body(request)
    ttl = timedelta(minutes=request.app[SETTINGS].http.session_ttl_minutes)
    token, user, expires = await auth.login(
        request.app[PG], _text(body, "username"), _text(body, "password"),
        now=now(request), ttl=ttl, ip=request.remote,
    )
    await audit.record(request.app[PG], audit.Actor(user, request.remote), "auth.login",
                       record_type="user", record_id=user.id, client_id=user.client_id)
    return web.json_response(
        {"token": token, "expires_at": expires.isoformat(), "user": user_json(user)}
    )


@routes.post("/auth/logout")
@requires(*ALL_ROLES)
async def logout(request: web.Request) -> web.Response:
    await auth.logout(request.app[PG], request[TOKEN_KEY], now(request))
    return web.json_response({"ok": True})


@routes.get("/me")
@requires(*ALL_ROLES)
async def me(request: web.Request) -> web.Response:
    return web.json_response(user_json(current_user(request)))


@routes.get("/clients")
@requires(Role.ADMIN, Role.CAMPAIGN_MANAGER, Role.SUPERVISOR, Role.QA, Role.CLIENT_AUDITOR)
async def list_clients(request: web.Request) -> web.Response:
    clients = await store.list_clients(request.app[PG], scope_for(current_user(request)))
    return web.json_response({"items": [client_json(c) for c in clients]})


@routes.post("/clients")
@requires(Role.ADMIN)
async def add_client(request: web.Request) -> web.Response:
    body = await json_body(request)
    client = await store.add_client(
        request.app[PG], code=_text(body, "code"), name=_text(body, "name"),
        time_zone=_text(body, "time_zone", "Asia/Shanghai"),
        default_region=_text(body, "default_region", "CN").upper(),
        rule_pack=_text(body, "rule_pack", "cn-bank"),
        retention_years=int_field(body, "retention_years", 5, low=1, high=30),
    )
    await audit.record(request.app[PG], actor(request), "client.add", record_type="client",
                       record_id=client.id, client_id=client.id)
    return web.json_response(client_json(client), status=201)


@routes.post("/users")
@requires(Role.ADMIN)
async def add_user(request: web.Request) -> web.Response:
    body = await json_body(request)
    try:
        role = Role(_text(body, "role"))
        password_hash = auth.hash_password(_text(body, "password"))
    except ValueError as exc:
        raise InvalidInput("user.invalid", str(exc)) from None
    client_id = None
    if body.get("client") is not None:
        client_id = (await store.get_client(request.app[PG], code=_text(body, "client"))).id
    user = await store.add_user(request.app[PG], store.NewUser(
        username=_text(body, "username"), display_name=_text(body, "display_name",
                                                               str(body.get("username"))),
        role=role, password_hash=password_hash, client_id=client_id,
        team=team if isinstance(team := body.get("team"), str) else None,
        pii_clearance=body.get("pii_clearance") is True,
    ))
    await audit.record(request.app[PG], actor(request), "user.add", record_type="user",
                       record_id=user.id, details={"role": str(role)})
    return web.json_response(user_json(user), status=201)


@routes.get("/users/{id}")
@requires(Role.ADMIN, Role.SUPERVISOR)
async def get_user(request: web.Request) -> web.Response:
    return web.json_response(user_json(await store.get_user(request.app[PG], path_id(request))))


def int_field(body: dict[str, object], name: str, default: int, *, low: int = -2**31,
              high: int = 2**31 - 1) -> int:
    value = body.get(name, default)
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput("request.bad_field", f"{name} must be a whole number")
    if not low <= value <= high:
        raise InvalidInput("request.bad_field", f"{name} must be from {low} to {high}",
                           {name: value})
    return value

