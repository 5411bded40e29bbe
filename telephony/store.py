"""Work lines in PostgreSQL."""

from __future__ import annotations

from decimal import Decimal

import asyncpg
from asyncpg.pool import PoolConnectionProxy

from telephony.lines import WorkLine, WorkLines

Db = asyncpg.Pool | asyncpg.Connection | PoolConnectionProxy


def _line(row: asyncpg.Record) -> WorkLine:
    return WorkLine(
        name=row["name"], trunk_host=row["trunk_host"], trunk_port=row["trunk_port"],
        caller_id=row["caller_id"], transport=row["transport"], username=row["username"],
        password=row["password"], max_channels=row["max_channels"], active=row["active"],
        calls_per_second=None if row["calls_per_second"] is None
        else float(row["calls_per_second"]),
    )


async def load_lines(db: Db) -> WorkLines:
    rows = await db.fetch("SELECT * FROM work_lines ORDER BY name")
    return WorkLines(tuple(_line(r) for r in rows))


async def add_line(db: Db, line: WorkLine) -> WorkLine:
    row = await db.fetchrow(
        "INSERT INTO work_lines (name, trunk_host, trunk_port, transport, username, password,"
        " caller_id, max_channels, active, calls_per_second)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10) RETURNING *",
        line.name, line.trunk_host, line.trunk_port, line.transport, line.username,
        line.password, line.caller_id, line.max_channels, line.active,
        None if line.calls_per_second is None else Decimal(str(line.calls_per_second)),
    )
    assert row is not None
    return _line(row)
