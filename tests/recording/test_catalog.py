"""The catalogue on a real PostgreSQL: registering, the chain, legal hold, verification."""

from __future__ import annotations

import asyncio
import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import cast

import asyncpg
import pytest

from cases import audit
from cases.access import Scope
from cases.errors import Conflict, NotFound
from recording import catalog
from recording.chain import GENESIS, row_hash
from recording.files import RecordingState
from recording.integrity import ProblemKind, verify
from recording.lifecycle import CatalogState
from recording.spans import Mark, MarkKind, Span
from recording.storage import LocalStorage
from recording.writer import RecorderPool
from tests.api.world import NOW, World
from tests.recording.catalogued import STARTED, catalogued, facts, recorded, tamper


def kinds(problems: object) -> list[tuple[int, str]]:
    assert isinstance(problems, tuple)
    return [(p.recording_id, str(p.kind)) for p in problems]


async def test_a_finished_recording_is_catalogued_with_its_facts(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    result = await recorded(pool, "call-1", "BANKA", ticks=75)
    result = result.with_pauses((Span(200, 600),))
    marks = (Mark(MarkKind.WHISPER, Span(0, 400), world.users["supervisor"].id),)
    call = dataclasses.replace(facts(world, "call-1", "A1"), marks=marks, campaign_id=42)
    row = await catalog.register(db, LocalStorage(pool.root), result, call, NOW)
    e = row.entry
    assert (row.state, row.legal_hold, row.prev_hash) == (CatalogState.FINISHED, None, GENESIS)
    assert (e.call_id, e.case_id, e.client_id, e.agent_id, e.campaign_id) == (
        "call-1", world.cases["A1"], world.clients["BANKA"], world.users["agent_a"].id, 42)
    assert (e.duration_ms, e.size_bytes, e.sha256) == (1500, result.size, result.sha256)
    assert (e.channels, e.sample_rate) == (2, 8000)
    assert e.storage_uri == "local:BANKA/2026/11/28/call-1.wav"
    assert e.retention_until == datetime(2031, 11, 28, 2, 0, tzinfo=UTC)  # BANKA: 5 years
    assert (e.pci_pauses, e.marks, e.created_at) == ((Span(200, 600),), marks, NOW)
    assert row.row_hash == row_hash(e, GENESIS)
    assert await catalog.get(db, row.id) == row  # read back, the same to the microsecond


async def test_retention_follows_the_client_and_recovered_files_say_so(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    await db.execute("UPDATE clients SET retention_years = 3 WHERE code = 'BANKB'")
    result = await recorded(pool, "call-b", "BANKB")
    result = dataclasses.replace(result, state=RecordingState.RECOVERED)
    row = await catalog.register(db, LocalStorage(pool.root), result,
                                 facts(world, "call-b", "B1", agent=None), NOW)
    assert row.entry.retention_until == datetime(2029, 11, 28, 2, 0, tzinfo=UTC)
    assert (row.state, row.entry.agent_id) == (CatalogState.RECOVERED, None)


async def test_one_recording_per_call(db: asyncpg.Pool, pool: RecorderPool, world: World) -> None:
    row = await catalogued(db, pool, world, "call-1")
    result = await recorded(pool, "call-2", "BANKA")
    with pytest.raises(Conflict) as caught:
        await catalog.register(db, LocalStorage(pool.root), result,
                               facts(world, "call-1", "A1"), NOW)
    assert caught.value.error_id == "recording.exists"
    assert [r.id for r in await catalog.list_recordings(db, Scope(), catalog.RecordingFilter())
            ] == [row.id]


async def test_concurrent_appends_make_one_chain(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    results = await asyncio.gather(*(recorded(pool, f"c{n}", "BANKA") for n in range(20)))
    storage = LocalStorage(pool.root)
    rows = await asyncio.gather(*(
        catalog.register(db, storage, result, facts(world, f"c{n}", "A1"), NOW)
        for n, result in enumerate(results)
    ))
    by_id = sorted(rows, key=lambda r: r.id)
    assert [r.prev_hash for r in by_id] == [GENESIS] + [r.row_hash for r in by_id[:-1]]
    report = await verify(db, storage)
    assert report.ok and report.chain.rows == 20 and report.chain.head == by_id[-1].row_hash
    assert report.files_hashed == 20 and report.bytes_hashed == sum(r.size for r in results)


async def test_the_database_refuses_to_change_chained_columns_or_drop_rows(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await catalogued(db, pool, world, "call-1")
    for sql in ("UPDATE recordings SET sha256 = repeat('0', 64) WHERE id = $1",
                "UPDATE recordings SET pci_pauses = '[]', duration_ms = 1 WHERE id = $1",
                "DELETE FROM recordings WHERE id = $1"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await db.execute(sql, row.id)
    await db.execute("UPDATE recordings SET state = 'failed' WHERE id = $1", row.id)


async def test_legal_hold_is_set_once_released_once_and_audited(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await catalogued(db, pool, world, "call-1")
    auditor = audit.Actor(world.users["auditor_a"], ip="127.0.0.1")
    held = await catalog.set_legal_hold(db, auditor, row.id, "court order 17", NOW)
    assert held.legal_hold == catalog.LegalHold(world.users["auditor_a"].id, NOW, "court order 17")
    assert held.row_hash == row.row_hash  # not part of the chain
    with pytest.raises(Conflict, match="on legal hold already"):
        await catalog.set_legal_hold(db, auditor, row.id, "again", NOW)
    released = await catalog.release_legal_hold(db, auditor, row.id, "case closed")
    assert released.legal_hold is None
    with pytest.raises(Conflict, match="not on legal hold"):
        await catalog.release_legal_hold(db, auditor, row.id, None)
    entries = await audit.query(db, Scope(), audit.AuditFilter(record_type="recording"))
    assert [(e.action, e.username, e.details.get("reason")) for e in entries] == [
        ("recording.legal_hold.set", "auditor-a", "court order 17"),
        ("recording.legal_hold.release", "auditor-a", "case closed"),
    ]
    assert entries[1].details["held_for"] == "court order 17"
    with pytest.raises(NotFound):
        await catalog.set_legal_hold(db, auditor, 999, "x", NOW)


async def test_state_changes_follow_the_table(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    row = await catalogued(db, pool, world, "call-1")
    failed = await catalog.mark_state(db, row.id, CatalogState.FAILED)
    assert failed.state is CatalogState.FAILED
    with pytest.raises(Conflict, match="a failed recording cannot become finished"):
        await catalog.mark_state(db, row.id, CatalogState.FINISHED)
    with pytest.raises(Conflict, match="deleted by retention"):
        await catalog.mark_state(db, row.id, CatalogState.DELETED)


async def test_lists_filter_and_page(db: asyncpg.Pool, pool: RecorderPool, world: World) -> None:
    a1 = await catalogued(db, pool, world, "a1")
    a2 = await catalogued(db, pool, world, "a2", "A2", agent="agent_b",
                          started_at=STARTED.replace(day=29))
    b1 = await catalogued(db, pool, world, "b1", "B1", agent="agent_b")

    async def ids(flt: catalog.RecordingFilter, scope: Scope | None = None) -> list[int]:
        found = await catalog.list_recordings(db, scope or Scope(), flt)
        return [r.id for r in found]

    flt = catalog.RecordingFilter
    assert await ids(flt()) == [a1.id, a2.id, b1.id]
    assert await ids(flt(case_id=world.cases["A2"])) == [a2.id]
    assert await ids(flt(agent_id=world.users["agent_b"].id)) == [a2.id, b1.id]
    assert await ids(flt(since=STARTED.replace(day=29))) == [a2.id]
    assert await ids(flt(until=STARTED.replace(day=29))) == [a1.id, b1.id]
    assert await ids(flt(), Scope(client_id=world.clients["BANKB"])) == [b1.id]
    assert await ids(flt(after=a1.id, limit=1)) == [a2.id]


# -- verification ----------------------------------------------------------------------


async def three(db: asyncpg.Pool, pool: RecorderPool, world: World) -> list[catalog.RecordingRow]:
    return [await catalogued(db, pool, world, f"call-{n}") for n in (1, 2, 3)]


def path(pool: RecorderPool, row: catalog.RecordingRow) -> Path:
    return LocalStorage(pool.root).path_of(row.entry.storage_uri)


async def test_a_changed_missing_or_cut_file_is_found(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    rows = await three(db, pool, world)
    data = bytearray(path(pool, rows[0]).read_bytes())
    data[1000] ^= 1  # one bit of audio
    path(pool, rows[0]).write_bytes(bytes(data))
    path(pool, rows[1]).unlink()
    with path(pool, rows[2]).open("r+b") as file:
        file.truncate(rows[2].entry.size_bytes - 4)
    report = await verify(db, LocalStorage(pool.root))
    assert kinds(report.problems) == [
        (rows[0].id, "file_changed"), (rows[1].id, "file_missing"), (rows[2].id, "file_changed"),
    ]
    assert "catalogued " + rows[0].entry.sha256 in report.problems[0].detail
    assert report.chain.intact and report.files_hashed == 1


async def test_a_row_changed_behind_the_database_is_found(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    rows = await three(db, pool, world)
    await tamper(db, "UPDATE recordings SET duration_ms = 10 WHERE id = $1", rows[1].id)
    report = await verify(db, LocalStorage(pool.root))
    assert kinds(report.problems) == [(rows[1].id, "row_changed")]
    assert report.chain.mismatched == (rows[1].id,) and report.chain.first_broken is None


async def test_a_rehashed_or_removed_row_breaks_the_chain(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    rows = await three(db, pool, world)
    forged = dataclasses.replace(rows[0].entry, agent_id=None)
    await tamper(db, "UPDATE recordings SET agent_id = NULL, row_hash = $2 WHERE id = $1",
                 rows[0].id, row_hash(forged, GENESIS))
    report = await verify(db, LocalStorage(pool.root))
    assert kinds(report.problems) == [(rows[1].id, "chain_broken")]
    await tamper(db, "DELETE FROM recordings WHERE id = $1", rows[1].id)
    report = await verify(db, LocalStorage(pool.root))
    assert kinds(report.problems) == [(rows[2].id, "chain_broken")]


async def test_unreadable_rows_and_unlogged_deletions_are_found(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    rows = await three(db, pool, world)
    await tamper(db, """UPDATE recordings SET pci_pauses = '[{"start_ms": 5, "end_ms": 1}]'
                 WHERE id = $1""", rows[0].id)
    await db.execute("UPDATE recordings SET state = 'deleted' WHERE id = $1", rows[2].id)
    report = await verify(db, LocalStorage(pool.root))
    assert kinds(report.problems) == [
        (rows[0].id, "row_changed"),
        (rows[2].id, "deleted_file_present"), (rows[2].id, "deletion_unlogged"),
    ]
    assert "unreadable: span 5-1 ms" in report.problems[0].detail
    assert report.chain.mismatched == (rows[0].id,)
    assert json.loads(json.dumps(report.as_json()))["ok"] is False
    assert {p.kind for p in report.problems} <= set(ProblemKind)


async def test_the_call_paths_register_tried_again_after_a_lost_answer_returns_the_entry(
    db: asyncpg.Pool, pool: RecorderPool, world: World
) -> None:
    """An earlier try committed, then its connection died before the answer: the try
    after the outage finds this very file's entry; another file for the call is still
    refused."""
    from recording.service import CallRecordings
    from telephony.control import CallControl

    recordings = CallRecordings(pool, db, LocalStorage(pool.root), cast(CallControl, None),
                                lambda: NOW)  # fmt: skip
    result = await recorded(pool, "call-1", "BANKA")
    first = await recordings.register(result, facts(world, "call-1", "A1"))
    again = await recordings.register(result, facts(world, "call-1", "A1"))
    assert again == first
    other = await recorded(pool, "call-x", "BANKA", ticks=90)  # other bytes
    with pytest.raises(Conflict):
        await recordings.register(other, facts(world, "call-1", "A1"))
