"""The API process's periodic jobs, for `callcase serve api|all` (not for every app
built, so tests run none of them unasked):

- promises to pay resolved every 5 minutes: kept, broken (the case's priority
  raised), the case paid (`cases.promises`);
- approval requests past their deadline or validity written down as expired every
  hour (`cases.approvals`).

Both are idempotent and lock what they change, so several API processes may run them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import asyncpg

from api.settings import Settings
from cases import approvals, promises

logger = logging.getLogger(__name__)

PROMISES_S = 300.0
APPROVALS_S = 3600.0
Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


async def expire_approvals(pool: asyncpg.Pool, clock: Clock, interval_s: float) -> None:
    while True:
        try:
            expired = await approvals.expire(pool, clock())
            if expired:
                logger.info("approval requests expired: %s", expired)
        except Exception:  # the task's boundary: log it and try again next time
            logger.exception("expiring approval requests failed; trying again later")
        await asyncio.sleep(interval_s)


@contextlib.asynccontextmanager
async def housekeeping(settings: Settings, clock: Clock = utc_now) -> AsyncIterator[None]:
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    tasks = [
        asyncio.create_task(promises.run_promise_resolver(pool, clock, PROMISES_S),
                            name="promise resolver"),
        asyncio.create_task(expire_approvals(pool, clock, APPROVALS_S),
                            name="approval expiry"),
    ]
    try:
        yield
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pool.close()
