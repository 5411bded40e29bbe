"""One middleware turns domain errors into `{error_id, message, details}` bodies."""

from __future__ import annotations

import logging

from aiohttp import web
from aiohttp.typedefs import Handler

from cases.durable import storage_down
from cases.errors import DomainError

logger = logging.getLogger(__name__)

RETRY_AFTER_S = 5

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
    except Exception as exc:
        if storage_down(exc):  # nothing was written: the request may be sent again
            logger.warning("storage unavailable on %s %s: %s", request.method, request.path,
                           exc)  # fmt: skip
            response = error_response(
                503, "service.unavailable",
                "storage is unavailable; send the request again (with the same "
                "Idempotency-Key where it takes one) after Retry-After seconds",
            )  # fmt: skip
            response.headers["Retry-After"] = str(RETRY_AFTER_S)
            return response
        logger.exception("unhandled error on %s %s", request.method, request.path)
        return error_response(500, "internal", "internal error; see the server log")
