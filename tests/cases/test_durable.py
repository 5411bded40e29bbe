"""`until_stored`: an outage is waited out, anything else is the caller's at once."""

from __future__ import annotations

import asyncpg
import pytest
from asyncpg import exceptions as pg

from cases.durable import storage_down, until_stored


@pytest.mark.parametrize(("error", "down"), [
    (ConnectionRefusedError(111, "refused"), True),
    (ConnectionResetError(104, "reset"), True),
    (pg.ConnectionDoesNotExistError("closed in the middle of operation"), True),
    (pg.CannotConnectNowError("the database system is starting up"), True),
    (pg.AdminShutdownError("terminating connection due to administrator command"), True),
    (pg.TooManyConnectionsError("too many clients"), True),
    (asyncpg.InterfaceError("connection is closed"), True),
    (pg.QueryCanceledError("canceling statement due to statement timeout"), False),
    (asyncpg.InterfaceError("pool is closing"), False),
    (asyncpg.InterfaceError("pool is closed"), False),
    (asyncpg.UniqueViolationError("duplicate key"), False),
    (ValueError("bad"), False),
])  # fmt: skip
def test_what_counts_as_the_database_being_away(error: Exception, down: bool) -> None:
    assert storage_down(error) is down


async def test_an_outage_is_waited_out_with_growing_pauses() -> None:
    pauses: list[float] = []
    failures = [ConnectionRefusedError(111, "refused")] * 6

    async def write() -> str:
        if failures:
            raise failures.pop()
        return "stored"

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)

    assert await until_stored(write, "attempt 1: result", sleep=sleep) == "stored"
    assert pauses == [0.25, 0.5, 1.0, 2.0, 4.0, 5.0]


async def test_a_bad_write_is_raised_at_once() -> None:
    tries = 0

    async def write() -> None:
        nonlocal tries
        tries += 1
        raise asyncpg.UniqueViolationError("duplicate key")

    async def sleep(seconds: float) -> None:
        raise AssertionError("no pause for a bad write")

    with pytest.raises(asyncpg.UniqueViolationError):
        await until_stored(write, "x", sleep=sleep)
    assert tries == 1


async def test_a_write_on_a_closed_pool_is_raised_at_once(database_url: str) -> None:
    """A pool this process closed (a shutdown) never comes back: waiting for it would
    hold the write's task, and the process, for ever."""
    db = await asyncpg.create_pool(database_url, min_size=1, max_size=1)
    await db.close()

    async def sleep(seconds: float) -> None:
        raise AssertionError("no pause for a closed pool")

    with pytest.raises(asyncpg.InterfaceError, match="pool is closed"):
        await until_stored(lambda: db.execute("SELECT 1"), "attempt 1: result", sleep=sleep)
