"""Real recordings, written by the recorder and catalogued, for catalogue and API tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import asyncpg

from recording import catalog
from recording.catalog import CallFacts, RecordingRow
from recording.files import RecordingResult
from recording.storage import LocalStorage
from recording.writer import RecorderPool
from tests.api.world import NOW, World
from tests.recording.frames import feed

STARTED = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)


async def recorded(recorder: RecorderPool, call_id: str, client: str,
                   started_at: datetime = STARTED, ticks: int = 50) -> RecordingResult:
    recording = recorder.record(call_id, client, started_at)
    feed([recording], range(ticks))
    async with asyncio.timeout(10):
        return await recording.finish()


def facts(world: World, call_id: str, account: str, started_at: datetime = STARTED,
          agent: str | None = "agent_a") -> CallFacts:
    client = "BANKA" if account.startswith("A") else "BANKB"
    return CallFacts(
        call_id=call_id, case_id=world.cases[account], client_id=world.clients[client],
        started_at=started_at, attempt_id=len(call_id), campaign_id=None,
        agent_id=world.users[agent].id if agent else None,
    )


async def catalogued(db: asyncpg.Pool, recorder: RecorderPool, world: World, call_id: str,
                     account: str = "A1", *, started_at: datetime = STARTED,
                     ticks: int = 50, agent: str | None = "agent_a") -> RecordingRow:
    call = facts(world, call_id, account, started_at, agent)
    client = "BANKA" if account.startswith("A") else "BANKB"
    result = await recorded(recorder, call_id, client, started_at, ticks)
    return await catalog.register(db, LocalStorage(recorder.root), result, call, NOW)


async def tamper(db: asyncpg.Pool, sql: str, *args: object) -> None:
    """Run ``sql`` with the triggers off, as someone with the database's keys could."""
    async with db.acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(sql, *args)
