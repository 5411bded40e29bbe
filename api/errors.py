"""One middleware turns domain errors into `{error_id, message, details}` bodies."""

from __future__ import annotations

import logging

import asyncpg
from aiohttp import web
from aiohttp.typedefs import Handler

from cases.errors import DomainError

logger = logging.getLogger(__name__)

STATUS = {
    "invalid": 400,
    "unauthenticated": 401,
    "forbidden": 403,
    "not_found": 404,
    "conflict": 409,
}


def error_response(
    status: int, error_id: str, message: str, details: dict[str, object] | None = None
) -> web.Response:
    return web.json_response(
        {"error_id": error_id, "message": message, "details": details or {}}, status=status
    )


@web.middleware
async def error_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except DomainError as exc:
        return error_response(STATUS[exc.kind], exc.error_id, exc.message, exc.details)
    except web.HTTPException as exc:
        if exc.status < 400:
            raise
        return error_response(exc.status, f"http.{exc.status}", exc.reason)
    except (OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError) as exc:
        logger.warning("storage unavailable: %s", exc)
        response = error_response(
            503, "service.unavailable", "storage is unavailable, retry shortly"
        )
        response.headers["Retry-After"] = "5"
        return response
    except Exception:
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; see the server log")
