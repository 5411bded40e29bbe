"""The audit log's hash chain against real PostgreSQL: rows written one by one or
many at once chain in id order; a changed row is found, with the row it broke."""

from __future__ import annotations

import argparse
import asyncio
import itertools

import asyncpg
import pytest

from cases import audit


async def write(pool: asyncpg.Pool, n: int) -> None:
    await audit.record(pool, audit.SYSTEM, "case.view", record_type="case", record_id=n,
                       client_id=None, details={"n": n, "name": "王伟"})


async def test_rows_chain_and_verify(pool: asyncpg.Pool) -> None:
    for n in range(5):
        await write(pool, n)
    await asyncio.gather(*(write(pool, n) for n in range(5, 45)))  # racing writers
    report = await audit.verify_chain(pool, batch=7)  # batches cross the links
    assert (report.intact, report.rows) == (True, 45)
    rows = await pool.fetch("SELECT prev_hash, row_hash FROM audit_log ORDER BY id")
    assert rows[0]["prev_hash"] == audit.GENESIS
    assert all(b["prev_hash"] == a["row_hash"] for a, b in itertools.pairwise(rows))
    assert report.head == rows[-1]["row_hash"]


async def test_a_changed_row_breaks_the_chain_there(pool: asyncpg.Pool) -> None:
    for n in range(6):
        await write(pool, n)
    target = await pool.fetchval("SELECT id FROM audit_log ORDER BY id OFFSET 3 LIMIT 1")
    async with pool.acquire() as conn:  # what only someone bypassing the triggers can do
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        try:
            await conn.execute("UPDATE audit_log SET details = '{\"n\": 99}' WHERE id = $1",
                               target)
        finally:
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    report = await audit.verify_chain(pool)
    assert (report.intact, report.first_broken, report.rows) == (False, target, 3)
    assert "changed" in (report.why or "")


async def test_rehashing_a_changed_row_breaks_the_next_link(pool: asyncpg.Pool) -> None:
    for n in range(4):
        await write(pool, n)
    ids = [r["id"] for r in await pool.fetch("SELECT id FROM audit_log ORDER BY id")]
    async with pool.acquire() as conn:
        await conn.execute("ALTER TABLE audit_log DISABLE TRIGGER audit_log_append_only")
        try:
            await conn.execute(
                "UPDATE audit_log a SET details = '{\"n\": 7}' WHERE id = $1", ids[1])
            await conn.execute(
                "UPDATE audit_log a SET row_hash = audit_row_digest(a.prev_hash, a)"
                " WHERE id = $1", ids[1])
        finally:
            await conn.execute("ALTER TABLE audit_log ENABLE TRIGGER audit_log_append_only")
    report = await audit.verify_chain(pool)
    assert (report.intact, report.first_broken) == (False, ids[2])
    assert "link" in (report.why or "")


async def test_the_log_stays_append_only(pool: asyncpg.Pool) -> None:
    await write(pool, 1)
    try:
        await pool.execute("UPDATE audit_log SET action = 'x'")
    except asyncpg.InsufficientPrivilegeError:
        pass
    else:
        raise AssertionError("an audit row was changed")


async def test_the_command_reports_the_head(pool: asyncpg.Pool, database_url: str,
                                            capsys: pytest.CaptureFixture[str]) -> None:
    from api.cli import cmd_audit
    from api.settings import Settings

    await write(pool, 1)
    settings = Settings.from_env({"CALLCASE_DATABASE_URL": database_url})
    assert await cmd_audit(argparse.Namespace(audit_command="verify"), settings) == 0
    head = await pool.fetchval("SELECT row_hash FROM audit_log")
    assert f"1 rows checked; head {head}" in capsys.readouterr().out
