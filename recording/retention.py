"""Deleting recordings: when retention runs out, or when a client leaves.

Each deletion is one transaction: lock the row, check again that it may go (not on
legal hold, not deleted already, and for retention past its ``retention_until``),
mark the row ``deleted``, delete the file, log it in ``recording_deletions`` (what:
the SHA-256 and URI; why; when; by whom; whether the file was there), commit. A
file that cannot be deleted rolls the transaction back (nothing logged, the row
unchanged, retried at the next run); a file deleted whose commit is lost is found by
verification (``file_missing``) and logged as ``file_found = false`` by the next run.
The row itself stays, with its chained fields, so the chain verifies as before (see
:mod:`recording.chain`). A recording archived as FLAC (:mod:`recording.archive`) loses
its FLAC: the log names the FLAC's URI (what was deleted) and the chained SHA-256 of
the recording (what it held).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cases.store import Db
from recording.archive import get_archive
from recording.catalog import RecordingRow, recording_from_row
from recording.lifecycle import DELETABLE, CatalogState, DeletionReason, may_delete
from recording.storage import Storage

logger = logging.getLogger(__name__)

_DELETABLE = [str(state) for state in DELETABLE]


@dataclass(frozen=True, slots=True)
class Deletion:
    recording_id: int
    call_id: str
    client_id: int
    sha256: str
    reason: DeletionReason
    file_found: bool
    at: datetime


@dataclass(frozen=True, slots=True)
class DeletionRun:
    deleted: tuple[Deletion, ...]
    held: tuple[int, ...]  # ids that would go but are on legal hold
    failed: tuple[int, ...]  # ids whose file could not be deleted (logged; retried later)


async def due_for_deletion(db: asyncpg.Pool, now: datetime) -> list[RecordingRow]:
    """Recordings past retention and not on legal hold, oldest retention first."""
    rows = await db.fetch(
        "SELECT * FROM recordings WHERE state = ANY($1::text[]) AND retention_until <= $2"
        " AND NOT legal_hold ORDER BY retention_until, id", _DELETABLE, now,
    )
    return [recording_from_row(r) for r in rows]


async def held_past_retention(db: asyncpg.Pool, now: datetime) -> list[int]:
    """Ids past retention kept because of a legal hold."""
    rows = await db.fetch(
        "SELECT id FROM recordings WHERE state = ANY($1::text[]) AND retention_until <= $2"
        " AND legal_hold ORDER BY id", _DELETABLE, now,
    )
    return [r["id"] for r in rows]


async def delete(
    pool: asyncpg.Pool, storage: Storage, recording_id: int, reason: DeletionReason,
    now: datetime, by: int | None = None,
) -> Deletion | None:
    """Delete one recording's audio if it may go now; ``None`` if not (any more)."""
    async with pool.acquire() as conn, conn.transaction():
        row = await conn.fetchrow("SELECT * FROM recordings WHERE id = $1 FOR UPDATE",
                                  recording_id)
        if row is None:
            return None
        current = recording_from_row(row)
        ends = now if reason is DeletionReason.OFFBOARD else current.entry.retention_until
        if not may_delete(current.state, current.legal_hold is not None, ends, now):
            return None
        await conn.execute("UPDATE recordings SET state = $2 WHERE id = $1", recording_id,
                           str(CatalogState.DELETED))
        uri, found = await _delete_files(conn, storage, current)
        await conn.execute(
            "INSERT INTO recording_deletions (recording_id, sha256, storage_uri, reason,"
            " file_found, deleted_at, deleted_by) VALUES ($1, $2, $3, $4, $5, $6, $7)",
            recording_id, current.entry.sha256, uri, str(reason), found, now, by,
        )
    entry = current.entry
    logger.info("call_id=%s recording %s deleted (%s)%s", entry.call_id, recording_id, reason,
                "" if found else ": its file was already gone")
    return Deletion(recording_id, entry.call_id, entry.client_id, entry.sha256, reason, found,
                    now)


async def _delete_files(conn: Db, storage: Storage, row: RecordingRow) -> tuple[str, bool]:
    """Delete the recording's WAV and its archive, if any: the URI of the audio that
    was deleted (the archive's when archived) and whether it was there."""
    found = await storage.delete(row.entry.storage_uri)
    archived = await get_archive(conn, row.id)
    if archived is None:
        return row.entry.storage_uri, found
    return archived.storage_uri, await storage.delete(archived.storage_uri) or found


async def _delete_all(
    pool: asyncpg.Pool, storage: Storage, ids: list[int], reason: DeletionReason,
    now: datetime, by: int | None,
) -> tuple[list[Deletion], list[int]]:
    deleted: list[Deletion] = []
    failed: list[int] = []
    for recording_id in ids:
        try:
            done = await delete(pool, storage, recording_id, reason, now, by)
        except OSError as exc:
            logger.error("recording %s not deleted (%s): %s", recording_id, reason, exc)
            failed.append(recording_id)
            continue
        if done is not None:
            deleted.append(done)
    return deleted, failed


async def apply_retention(
    pool: asyncpg.Pool, storage: Storage, now: datetime, by: int | None = None
) -> DeletionRun:
    """Delete every recording past retention, except those on legal hold."""
    due = [row.id for row in await due_for_deletion(pool, now)]
    deleted, failed = await _delete_all(pool, storage, due, DeletionReason.RETENTION, now, by)
    held = await held_past_retention(pool, now)
    return DeletionRun(tuple(deleted), tuple(held), tuple(failed))


async def offboard_client(
    pool: asyncpg.Pool, storage: Storage, client_id: int, now: datetime, by: int | None = None
) -> DeletionRun:
    """Delete every recording of a client whose contract ended, except those on hold."""
    rows = await pool.fetch(
        "SELECT id, legal_hold FROM recordings WHERE client_id = $1"
        " AND state = ANY($2::text[]) ORDER BY id", client_id, _DELETABLE,
    )
    ids = [r["id"] for r in rows if not r["legal_hold"]]
    deleted, failed = await _delete_all(pool, storage, ids, DeletionReason.OFFBOARD, now, by)
    held = tuple(r["id"] for r in rows if r["legal_hold"])
    return DeletionRun(tuple(deleted), held, tuple(failed))
