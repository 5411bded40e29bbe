"""Writes that must land: tried again while PostgreSQL is unreachable or restarting.

A call in progress when the database goes away still ends, and its ending (the
attempt's result, the recording's catalogue entry) is what an auditor asks for
later; a process that keeps running keeps trying until the database answers, and
one that dies leaves the rows its start-up recovery closes. Only an outage is
tried again (`storage_down`): refused connections, connections lost mid-query,
a server shutting down or starting up, too many connections. A constraint, a
syntax error or a query cancelled by its timeout is the caller's, at once, and so
is a pool that this process has closed: no outage ends that, and a write that waited
for it would hold its task (and the process's shutdown) for ever.

Every write passed here must be safe to run twice: the first try may have
committed before its connection was lost.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
from asyncpg import exceptions as pg

logger = logging.getLogger(__name__)

T = TypeVar("T")

FIRST_PAUSE_S = 0.25
MAX_PAUSE_S = 5.0
LOG_EVERY_S = 30.0
POOL_GONE = ("pool is closing", "pool is closed", "pool is not initialized")


def storage_down(error: BaseException) -> bool:
    """True for the errors of a database that is away, not of a bad query."""
    if isinstance(error, pg.QueryCanceledError):  # a statement timeout: the query's own
        return False
    if isinstance(error, asyncpg.InterfaceError) and str(error).startswith(POOL_GONE):
        return False  # asyncpg has no type of its own for a closed pool, only the words
    return isinstance(error, (
        OSError, asyncpg.PostgresConnectionError, asyncpg.InterfaceError,
        pg.OperatorInterventionError, pg.TooManyConnectionsError,
    ))  # fmt: skip


async def until_stored(
    write: Callable[[], Awaitable[T]], what: str, *,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    monotonic: Callable[[], float] = time.monotonic,
) -> T:  # fmt: skip
    """`write()`, tried again with growing pauses (0.25 s to 5 s) for as long as the
    database is down; any other error is raised. Logs the outage when it starts,
    every 30 s while it lasts, and when the write lands."""
    pause, failed_since, logged_at = FIRST_PAUSE_S, None, 0.0
    while True:
        try:
            done = await write()
        except Exception as error:
            if not storage_down(error):
                raise
            now = monotonic()
            if failed_since is None or now - logged_at >= LOG_EVERY_S:
                logger.warning("%s: database unavailable (%s: %s); trying again",
                               what, type(error).__name__, error)  # fmt: skip
                logged_at = now
            failed_since = now if failed_since is None else failed_since
        else:
            if failed_since is not None:
                logger.warning("%s: stored after %.1f s of database outage", what,
                               monotonic() - failed_since)  # fmt: skip
            return done
        await sleep(pause)
        pause = min(MAX_PAUSE_S, pause * 2)
