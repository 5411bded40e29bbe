"""Pushing the bank's notifications to its webhook: one pass, and the worker.

`deliver_due(pool, session, now)` claims the due notifications (cases.outbox) and
POSTs each, signed (cases.webhook_rules), to its client's URL, all concurrently.
A 2xx answer marks it delivered. Anything else marks the try failed and schedules
the next by the retry table: another status, a redirect (never followed: the bank
configures the final URL), no answer within the timeout, a refused connection.
It returns what happened to each notification.

`delivery_worker(app)` is a cleanup_ctx: one ClientSession for the app's life and
a `DeliveryWorker` task that runs a pass with the app's clock every `POLL_SECONDS`
(at once again after a full pass), until shutdown cancels it. A pass that fails
(storage down, a bug) is logged and the next one runs as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime

import aiohttp
import asyncpg
from aiohttp import web

from api.context import CLOCK, PG, Clock
from cases import outbox
from cases.durable import storage_down
from cases.outbox import Due
from cases.webhook_rules import encode_body, is_delivered, signed_headers

logger = logging.getLogger(__name__)

POLL_SECONDS = 5.0
BATCH = 20
TIMEOUT_SECONDS = 10.0
USER_AGENT = "callcase-webhook/1"

WEBHOOK_POLL = web.AppKey("webhook_poll", float)  # optional: seconds between passes


@dataclass(frozen=True, slots=True)
class Tried:
    """One try of one notification."""

    notification_id: int
    attempt: int
    delivered: bool
    status: int | None  # the HTTP status, None when there was no answer
    error: str | None
    next_attempt_at: datetime | None  # None once delivered or dead


async def deliver_due(
    pool: asyncpg.Pool, session: aiohttp.ClientSession, now: datetime, *,
    limit: int = BATCH, answer_s: float = TIMEOUT_SECONDS,
) -> list[Tried]:
    """Try every notification due at `now` (up to `limit`) once; a try without an
    answer within `answer_s` seconds fails."""
    claimed = await outbox.claim_due(pool, now, limit)
    return list(await asyncio.gather(
        *(_deliver(pool, session, due, now, answer_s) for due in claimed)
    ))


async def _deliver(
    pool: asyncpg.Pool, session: aiohttp.ClientSession, due: Due, now: datetime,
    answer_s: float,
) -> Tried:
    n = due.notification
    status, error = await _post(session, due, now, answer_s)
    if error is None and status is not None:
        await outbox.mark_delivered(pool, n.id, status, now)
        logger.info("notification %s (client %s, case %s) delivered on try %s",
                    n.id, n.client_id, n.case_id, due.attempt)
        return Tried(n.id, due.attempt, True, status, None, None)
    error = error or "no answer"
    nxt = await outbox.mark_failed(pool, due, status, error, now)
    logger.warning("notification %s (client %s) try %s failed: %s; %s", n.id, n.client_id,
                   due.attempt, error, f"next at {nxt.isoformat()}" if nxt else "giving up")
    return Tried(n.id, due.attempt, False, status, error, nxt)


async def _post(
    session: aiohttp.ClientSession, due: Due, now: datetime, answer_s: float
) -> tuple[int | None, str | None]:
    """The answer's status, and what went wrong (None when delivered)."""
    n = due.notification
    body = encode_body(n.event())
    headers = signed_headers(due.secret, delivery_id=n.delivery_id, event=n.kind, body=body,
                             now=now)
    try:
        async with session.post(due.url, data=body, headers=headers, allow_redirects=False,
                                timeout=aiohttp.ClientTimeout(total=answer_s)) as resp:
            if is_delivered(resp.status):
                return resp.status, None
            if 300 <= resp.status < 400:
                return resp.status, f"answered {resp.status}: redirects are not followed"
            return resp.status, f"answered {resp.status}"
    except TimeoutError:
        return None, f"no answer within {answer_s:g} s"
    except aiohttp.ClientError as exc:
        return None, f"{type(exc).__name__}: {exc}"[:300]


class DeliveryWorker:
    """Runs `deliver_due` over and over; `next_pass()` awaits the next pass's result."""

    def __init__(self, pool: asyncpg.Pool, session: aiohttp.ClientSession, clock: Clock,
                 poll: float = POLL_SECONDS) -> None:
        self.pool, self.session, self.clock, self.poll = pool, session, clock, poll
        self._waiters: list[asyncio.Future[list[Tried]]] = []

    async def run(self) -> None:
        while True:
            tried = await self._pass()
            for waiter in self._waiters:
                if not waiter.done():
                    waiter.set_result(tried)
            self._waiters.clear()
            if len(tried) < BATCH:
                await asyncio.sleep(self.poll)

    async def _pass(self) -> list[Tried]:
        try:
            return await deliver_due(self.pool, self.session, self.clock())
        except Exception as error:  # a task boundary: one failed pass must not stop pushes
            if storage_down(error):  # the outbox waits in PostgreSQL: the next pass sends
                logger.warning("webhook delivery paused: database unavailable (%s)", error)
            else:
                logger.exception("webhook delivery pass failed")
            return []

    async def next_pass(self) -> list[Tried]:
        waiter: asyncio.Future[list[Tried]] = asyncio.get_running_loop().create_future()
        self._waiters.append(waiter)
        return await waiter


WEBHOOK_WORKER = web.AppKey("webhook_worker", DeliveryWorker)


async def delivery_worker(app: web.Application) -> AsyncIterator[None]:
    """cleanup_ctx: the webhook worker for the app's life (after the PostgreSQL one)."""
    session = aiohttp.ClientSession(
        timeout=aiohttp.ClientTimeout(total=TIMEOUT_SECONDS),
        headers={"User-Agent": USER_AGENT},
    )
    worker = DeliveryWorker(app[PG], session, app[CLOCK], app.get(WEBHOOK_POLL, POLL_SECONDS))
    app[WEBHOOK_WORKER] = worker
    task = asyncio.create_task(worker.run(), name="webhook delivery")
    try:
        yield
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await session.close()
