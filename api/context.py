"""Typed application keys and per-request helpers shared by the route modules."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from functools import wraps

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from api.settings import Settings
from cases.audit import Actor
from cases.domain import Role, User
from cases.errors import Forbidden, InvalidInput, Unauthenticated

Clock = Callable[[], datetime]
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]

SETTINGS = web.AppKey("settings", Settings)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
PG = web.AppKey("pg", asyncpg.Pool)
REDIS: web.AppKey[aioredis.Redis] = web.AppKey("redis")

USER_KEY = web.RequestKey("user", User)
TOKEN_KEY = web.RequestKey("token", str)
REQUEST_ID_KEY = web.RequestKey("request_id", str)


def current_user(request: web.Request) -> User:
    user: User | None = request.get(USER_KEY)
    if user is None:
        raise Unauthenticated("auth.required", "log in first")
    return user


def actor(request: web.Request) -> Actor:
    return Actor(
        user=request.get(USER_KEY), ip=request.remote, request_id=request.get(REQUEST_ID_KEY)
    )


def now(request: web.Request) -> datetime:
    return request.app[CLOCK]()


def requires(*roles: Role) -> Callable[[Handler], Handler]:
    """Allow the route to these roles only."""
    allowed = frozenset(roles)

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            if current_user(request).role not in allowed:
                raise Forbidden("auth.role", "your role may not do this")
            return await handler(request)

        checked.allowed_roles = allowed  # type: ignore[attr-defined]
        return checked

    return wrap


def int_param(request: web.Request, name: str, default: int | None = None, *,
              low: int = 0, high: int = 2**62) -> int | None:
    raw = request.query.get(name)
    if raw is None or raw == "":
        return default
    try:
        value = int(raw)
    except ValueError:
        raise InvalidInput("request.bad_param", f"{name} must be a whole number",
                           {name: raw}) from None
    if not low <= value <= high:
        raise InvalidInput("request.bad_param", f"{name} must be between {low} and {high}",
                           {name: raw})
    return value


def path_id(request: web.Request, name: str = "id") -> int:
    raw = request.match_info[name]
    if not raw.isdigit() or len(raw) > 18:
        raise InvalidInput("request.bad_id", f"{name} must be a positive whole number")
    return int(raw)


async def json_body(request: web.Request) -> dict[str, object]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("request.bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("request.bad_json", "the body must be a JSON object")
    return body
