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
    """Allow the route to these roles only; its path and query must be storable text."""
    allowed = frozenset(roles)

    def wrap(handler: Handler) -> Handler:
        @wraps(handler)
        async def checked(request: web.Request) -> web.StreamResponse:
            if current_user(request).role not in allowed:
                raise Forbidden("auth.role", "your role may not do this")
            url_text = [*request.match_info.values(), *request.query.keys(),
                        *request.query.values()]
            check_storable(url_text, "the path or query")
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
    if not (raw.isascii() and raw.isdigit()) or len(raw) > 18:  # not "²", which int() refuses
        raise InvalidInput("request.bad_id", f"{name} must be a positive whole number")
    return int(raw)


async def json_body(request: web.Request) -> dict[str, object]:
    try:
        body = await request.json()
    except ValueError:
        raise InvalidInput("request.bad_json", "the body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidInput("request.bad_json", "the body must be a JSON object")
    check_storable(body, "the body")
    return body


def _unstorable(value: object) -> bool:
    """A value no column can store: text with a NUL character or an unpaired surrogate
    (which JSON's ``\\udxxx`` escapes can carry), a whole number beyond 64 bits;
    anywhere in a JSON value."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")  # an unpaired surrogate has no UTF-8
        except UnicodeEncodeError:
            return True
        return "\x00" in value
    if isinstance(value, int):
        return not -2**63 <= value < 2**63
    if isinstance(value, dict):
        return any(_unstorable(k) or _unstorable(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_unstorable(v) for v in value)
    return False


def check_storable(value: object, where: str) -> None:
    """Refuse (400 ``request.unstorable``) what no column can store, before a query
    fails on it."""
    if _unstorable(value):
        raise InvalidInput("request.unstorable", f"{where} holds a NUL character, an"
                           " unpaired surrogate or a number beyond 64 bits")
