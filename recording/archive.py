"""Archiving recordings: each WAV replaced by a lossless FLAC, its chained hash provable.

``callcase recordings compress`` runs :func:`compress_due`: the finished and recovered
recordings that started before a cut-off and have no archive yet, in id order, one
run at a time (an advisory lock). For each, :func:`compress`:

1. encodes the WAV to ``.<call-id>.flac.part`` beside it, syncs it, decodes it again
   and compares every sample byte with the WAV's (:func:`recording.flac.encode`); the
   WAV as read must still hash to the chained SHA-256 (a changed WAV is not archived:
   ``verify`` reports it);
2. keeps the WAV when the FLAC is not smaller (full-scale noise): ``no_saving``;
3. renames the FLAC onto ``<call-id>.flac`` and syncs the directory;
4. in one transaction: locks the row, checks it is still finished or recovered,
   inserts its ``recording_archives`` row, deletes the WAV, commits. A WAV that
   cannot be deleted rolls back (the FLAC is written again at the next run); a
   commit lost after the WAV went leaves a FLAC without its row, which the next run
   finds in the WAV's place, proves (it must rebuild the chained SHA-256) and adopts.

A legal hold does not stop compression. A hold keeps evidence from being deleted or
changed, and the evidence is the WAV's bytes: they come back from the FLAC exactly
(playback and export serve the rebuilt WAV, ETag the chained SHA-256), and ``verify``
proves them against the hash chained when the call was recorded, as it proved the
WAV. What changes is the encoding on disk, as a copy to another disk would change
the blocks. A file that cannot be proved is never swapped: step 1 compares sample
bytes before the WAV may go.

Playback reads through :func:`open_audio`, which gives the original WAV bytes of any
recording, archived or not; verification uses :func:`check_archive`.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import AsyncIterator, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path

import asyncpg

from cases.errors import Conflict
from cases.store import Db
from recording import flac
from recording.catalog import RecordingRow, recording_from_row
from recording.chain import Entry
from recording.files import sync_directory
from recording.layout import RecordingPaths, archive_paths
from recording.lifecycle import CatalogState
from recording.storage import FileStorage, Reader, Storage
from recording.wavfile import HEADER_SIZE

logger = logging.getLogger(__name__)

ARCHIVE_LOCK = 0x61726368  # "arch": one compress run at a time
PAGE = 200
COMPRESSIBLE = (CatalogState.FINISHED, CatalogState.RECOVERED)
_COMPRESSIBLE = [str(state) for state in COMPRESSIBLE]


@dataclass(frozen=True, slots=True)
class ArchiveRow:
    """A ``recording_archives`` row: the FLAC that replaced a recording's WAV."""

    recording_id: int
    format: str
    storage_uri: str
    size_bytes: int  # of the FLAC
    sha256: str  # of the FLAC
    pcm_sha256: str  # of the samples (the WAV's data chunk)
    encoder: str
    compressed_at: datetime


def archive_from_row(row: asyncpg.Record) -> ArchiveRow:
    return ArchiveRow(row["recording_id"], row["format"], row["storage_uri"],
                      row["size_bytes"], row["sha256"], row["pcm_sha256"], row["encoder"],
                      row["compressed_at"])


async def get_archive(db: Db, recording_id: int) -> ArchiveRow | None:
    row = await db.fetchrow("SELECT * FROM recording_archives WHERE recording_id = $1",
                            recording_id)
    return None if row is None else archive_from_row(row)


async def archives_of(db: Db, recording_ids: Iterable[int]) -> dict[int, ArchiveRow]:
    rows = await db.fetch("SELECT * FROM recording_archives WHERE recording_id = ANY($1)",
                          list(recording_ids))
    return {r["recording_id"]: archive_from_row(r) for r in rows}


class Outcome(StrEnum):
    COMPRESSED = "compressed"
    ADOPTED = "adopted"  # the FLAC of a run whose commit was lost, proved and catalogued
    NO_SAVING = "no_saving"  # the FLAC was not smaller: the WAV stays


@dataclass(frozen=True, slots=True)
class Compressed:
    recording_id: int
    call_id: str
    outcome: Outcome
    duration_ms: int
    wav_bytes: int
    flac_bytes: int
    seconds: float  # wall time of encoding, proving and the swap


@dataclass(frozen=True, slots=True)
class CompressRun:
    done: tuple[Compressed, ...]
    failed: tuple[tuple[int, str], ...]  # recording id, why (logged; retried next run)

    @property
    def archived(self) -> tuple[Compressed, ...]:
        return tuple(c for c in self.done if c.outcome is not Outcome.NO_SAVING)

    @property
    def skipped(self) -> tuple[Compressed, ...]:
        return tuple(c for c in self.done if c.outcome is Outcome.NO_SAVING)


async def candidates(db: Db, before: datetime, after: int = 0,
                     limit: int = PAGE) -> list[RecordingRow]:
    """Recordings that may be compressed: finished or recovered, started before
    ``before``, with samples, not archived; ids above ``after``, in id order."""
    rows = await db.fetch(
        "SELECT r.* FROM recordings r WHERE r.id > $1 AND r.state = ANY($2::text[])"
        " AND r.started_at < $3 AND r.size_bytes > $4 AND NOT EXISTS"
        " (SELECT 1 FROM recording_archives a WHERE a.recording_id = r.id)"
        " ORDER BY r.id LIMIT $5", after, _COMPRESSIBLE, before, HEADER_SIZE, limit,
    )
    return [recording_from_row(r) for r in rows]


async def compress_due(pool: asyncpg.Pool, storage: FileStorage, before: datetime,
                       now: datetime) -> CompressRun:
    """Compress every candidate (see :func:`candidates`); one run at a time."""
    done: list[Compressed] = []
    failed: list[tuple[int, str]] = []
    async with _exclusive(pool):
        after = 0
        while page := await candidates(pool, before, after):
            for row in page:
                try:
                    done.append(await compress(pool, storage, row, now))
                except (flac.ArchiveError, OSError, Conflict) as exc:
                    logger.error("call_id=%s recording %s not compressed: %s",
                                 row.entry.call_id, row.id, exc)
                    failed.append((row.id, str(exc)))
            after = page[-1].id
    return CompressRun(tuple(done), tuple(failed))


@asynccontextmanager
async def _exclusive(pool: asyncpg.Pool) -> AsyncIterator[None]:
    async with pool.acquire() as conn:
        if not await conn.fetchval("SELECT pg_try_advisory_lock($1)", ARCHIVE_LOCK):
            raise Conflict("recording.compress_running", "another compress run is under way")
        try:
            yield
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", ARCHIVE_LOCK)


async def compress(pool: asyncpg.Pool, storage: FileStorage, row: RecordingRow,
                   now: datetime) -> Compressed:
    """Replace the WAV of ``row`` by a proved FLAC; see the module docstring.

    Raises :class:`recording.flac.ArchiveError` when the WAV is not the catalogued one
    or cannot be archived losslessly, ``OSError`` on a disk error, ``Conflict`` when
    the recording may no longer be compressed (deleted meanwhile).
    """
    started = time.monotonic()
    wav = storage.path_of(row.entry.storage_uri)
    target = archive_paths(wav)
    try:
        encoded = await _encode(row, wav, target.part)
    except FileNotFoundError:
        if not target.final.exists():
            raise
        return await _adopt(pool, storage, row, target.final, now, started)
    if encoded.flac_size >= row.entry.size_bytes:
        await asyncio.to_thread(_discard, target.part)
        return _result(row, Outcome.NO_SAVING, encoded.flac_size, started)
    await asyncio.to_thread(_place, target)
    archive = ArchiveRow(row.id, flac.FORMAT, storage.uri_for(target.final),
                         encoded.flac_size, encoded.flac_sha256, encoded.pcm_sha256,
                         flac.ENCODER, now)
    await _swap(pool, storage, row, archive, target.final)
    return _result(row, Outcome.COMPRESSED, encoded.flac_size, started)


async def _encode(row: RecordingRow, wav: Path, part: Path) -> flac.Encoded:
    """Encode and prove the WAV into ``part``; removed again unless it is the catalogued
    recording's lossless archive."""
    try:
        encoded = await asyncio.to_thread(flac.encode, wav, part)
    except BaseException:
        await asyncio.to_thread(_discard, part)
        raise
    if encoded.wav_sha256 != row.entry.sha256:
        await asyncio.to_thread(_discard, part)
        raise flac.ArchiveError(f"the WAV hashes to {encoded.wav_sha256}, catalogued"
                                f" {row.entry.sha256}: run `callcase recordings verify`")
    return encoded


async def _adopt(pool: asyncpg.Pool, storage: FileStorage, row: RecordingRow, path: Path,
                 now: datetime, started: float) -> Compressed:
    """Catalogue the FLAC left in place of a missing WAV, once it proves the WAV."""
    rebuilt = await asyncio.to_thread(flac.rebuild_hashes, path)
    if rebuilt.wav_sha256 != row.entry.sha256:
        raise flac.ArchiveError(f"the WAV is missing and {path.name} rebuilds sha256"
                                f" {rebuilt.wav_sha256}, catalogued {row.entry.sha256}")
    size, sha256 = await asyncio.to_thread(flac.file_hash, path)
    archive = ArchiveRow(row.id, flac.FORMAT, storage.uri_for(path), size, sha256,
                         rebuilt.pcm_sha256, flac.ENCODER, now)
    await _swap(pool, storage, row, archive, path)
    logger.warning("call_id=%s recording %s: its WAV was gone; the FLAC left by an earlier"
                   " run proved it and was adopted", row.entry.call_id, row.id)
    return _result(row, Outcome.ADOPTED, size, started)


_INSERT = """
INSERT INTO recording_archives (recording_id, format, storage_uri, size_bytes, sha256,
    pcm_sha256, encoder, compressed_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
"""


async def _swap(pool: asyncpg.Pool, storage: Storage, row: RecordingRow, archive: ArchiveRow,
                path: Path) -> None:
    """Catalogue ``archive`` and delete the WAV, in one transaction."""
    a = archive
    async with pool.acquire() as conn, conn.transaction():
        state = await conn.fetchval("SELECT state FROM recordings WHERE id = $1 FOR UPDATE",
                                    row.id)
        archived = await get_archive(conn, row.id)
        if state not in _COMPRESSIBLE or archived is not None:
            if archived is None:  # nothing refers to the FLAC: it goes
                await asyncio.to_thread(_discard, path)
            raise Conflict("recording.not_compressible", f"recording {row.id} is {state}"
                           " or archived already")
        await conn.execute(_INSERT, a.recording_id, a.format, a.storage_uri, a.size_bytes,
                           a.sha256, a.pcm_sha256, a.encoder, a.compressed_at)
        if not await storage.delete(row.entry.storage_uri):
            logger.warning("call_id=%s recording %s: no WAV to delete", row.entry.call_id,
                           row.id)
    logger.info("call_id=%s recording %s archived: %d bytes of WAV, %d of FLAC",
                row.entry.call_id, row.id, row.entry.size_bytes, a.size_bytes)


def _result(row: RecordingRow, outcome: Outcome, flac_bytes: int,
            started: float) -> Compressed:
    e = row.entry
    return Compressed(row.id, e.call_id, outcome, e.duration_ms, e.size_bytes, flac_bytes,
                      time.monotonic() - started)


def _place(target: RecordingPaths) -> None:
    os.replace(target.part, target.final)
    sync_directory(target.final.parent)


def _discard(path: Path) -> None:
    path.unlink(missing_ok=True)


class _RebuiltReader:
    """A :class:`recording.storage.Reader` of the WAV an archive rebuilds."""

    def __init__(self, wav: flac.RebuiltWav) -> None:
        self._wav: flac.RebuiltWav | None = wav
        self.size = wav.size

    async def read(self, offset: int, size: int) -> bytes:
        if self._wav is None:
            raise ValueError("read from a closed recording")
        return await asyncio.to_thread(self._wav.read, offset, size)

    async def close(self) -> None:
        wav, self._wav = self._wav, None
        if wav is not None:
            await asyncio.to_thread(wav.close)


async def open_archive(storage: FileStorage, archive: ArchiveRow) -> Reader:
    """The rebuilt WAV of ``archive``, open for reads; ``ArchiveError`` if it does not
    decode, ``FileNotFoundError`` if it is gone."""
    path = storage.path_of(archive.storage_uri)
    return _RebuiltReader(await asyncio.to_thread(flac.RebuiltWav, path))


async def open_audio(db: Db, storage: FileStorage, row: RecordingRow) -> Reader:
    """The original WAV bytes of ``row``: its file, or rebuilt from its archive."""
    archive = await get_archive(db, row.id)
    if archive is None:
        try:
            return await storage.open(row.entry.storage_uri)
        except FileNotFoundError:
            archive = await get_archive(db, row.id)  # archived while we looked?
            if archive is None:
                raise
    return await open_archive(storage, archive)


@dataclass(frozen=True, slots=True)
class ArchiveCheck:
    """What :func:`check_archive` found: problems are ``None`` when there are none."""

    flac_bytes: int
    flac_changed: str | None  # the FLAC is not the file archived (maybe still lossless)
    rebuilt_changed: str | None  # the FLAC does not rebuild the chained WAV


async def check_archive(storage: FileStorage, archive: ArchiveRow, entry: Entry) -> ArchiveCheck:
    """Hash the FLAC and decode it: does it rebuild the WAV whose SHA-256 is chained?
    ``FileNotFoundError`` if it is gone."""
    path = storage.path_of(archive.storage_uri)
    size, sha256 = await asyncio.to_thread(flac.file_hash, path)
    flac_changed = None
    if (size, sha256) != (archive.size_bytes, archive.sha256):
        flac_changed = (f"{size} bytes sha256 {sha256}, archived {archive.size_bytes}"
                        f" bytes sha256 {archive.sha256}")
    try:
        rebuilt = await asyncio.to_thread(flac.rebuild_hashes, path)
    except flac.ArchiveError as exc:
        return ArchiveCheck(size, flac_changed, f"the archive does not decode: {exc}")
    if rebuilt.wav_sha256 != entry.sha256:
        return ArchiveCheck(size, flac_changed, f"the archive rebuilds sha256"
                            f" {rebuilt.wav_sha256}, catalogued {entry.sha256}")
    if rebuilt.pcm_sha256 != archive.pcm_sha256 and flac_changed is None:
        flac_changed = f"samples sha256 {rebuilt.pcm_sha256}, archived {archive.pcm_sha256}"
    return ArchiveCheck(size, flac_changed, None)
