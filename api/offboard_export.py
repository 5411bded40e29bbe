"""What an offboarded client gets back: its data as CSV, its recordings and a manifest.

:func:`export` writes into an empty directory:

- one CSV per :data:`SHEETS` entry (cases with their debtor, phones, actions,
  promises, holds, the dialer's attempts; transcripts when the transcription tables
  are installed): UTF-8 with a byte order mark (Excel opens it as UTF-8), a header
  row, timestamps in ISO 8601, JSON columns as JSON text, empty for NULL;
- ``recordings/<call-id>.wav`` for every recording that still has audio, archived
  ones rebuilt from their FLAC, each checked against the SHA-256 in the chained
  catalogue as it is written; ``recordings/manifest.csv`` lists every recording of
  the client (deleted, failed and held ones too) with that SHA-256.

Attempts are read with plain SQL (the dialer's table; ``api`` does not import the
dialer for it). Every file is synced, and so is every directory, before
:func:`export` returns: offboarding deletes the originals next. A recording whose
audio is missing or does not match the catalogue stops the export with
:class:`ExportIncomplete` before anything is deleted (run ``callcase recordings
verify``; a recording marked ``failed`` is listed, not exported).
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

import asyncpg

from cases.errors import Conflict
from cases.store import Conn
from recording import archive
from recording.catalog import RecordingRow, recording_from_row
from recording.files import sync_directory
from recording.flac import ArchiveError
from recording.layout import safe_name
from recording.lifecycle import CatalogState
from recording.storage import FileStorage, Reader

FETCH = 1000  # rows per round trip and per write
BLOCK = 1 << 20  # audio bytes per read and write


@dataclass(frozen=True, slots=True)
class Sheet:
    name: str  # the file is <name>.csv
    table: str  # skipped when this table is not installed
    sql: str  # the client's rows ($1 = client id) in a stable order


SHEETS: tuple[Sheet, ...] = (
    Sheet("cases", "cases", """
        SELECT c.id AS case_id, c.account_no, c.debtor_id, d.name AS debtor_name,
               d.id_no AS debtor_id_no, d.address, d.city, d.employer, d.time_zone,
               c.product, c.account_type, c.currency, c.principal, c.balance,
               c.days_past_due, c.bucket, c.last_payment_date, c.last_payment_amount,
               c.note, c.status, c.assigned_agent_id, c.next_action_at, c.created_at,
               c.updated_at
        FROM cases c JOIN debtors d ON d.id = c.debtor_id
        WHERE c.client_id = $1 ORDER BY c.id"""),
    Sheet("phones", "phones", """
        SELECT p.id AS phone_id, p.case_id, c.account_no, p.e164, p.party, p.kind, p.name,
               p.relation, p.validity, p.consent, p.do_not_call, p.consent_notes,
               p.created_at
        FROM phones p JOIN cases c ON c.id = p.case_id
        WHERE c.client_id = $1 ORDER BY p.id"""),
    Sheet("actions", "actions", """
        SELECT a.id AS action_id, a.case_id, c.account_no, a.code, a.user_id, a.phone_id,
               a.attempt_id, a.note, a.fields, a.effect, a.created_at
        FROM actions a JOIN cases c ON c.id = a.case_id
        WHERE c.client_id = $1 ORDER BY a.id"""),
    Sheet("promises", "promises", """
        SELECT p.id AS promise_id, p.case_id, c.account_no, p.action_id, p.amount,
               p.due_date, p.status, p.created_at, p.resolved_at
        FROM promises p JOIN cases c ON c.id = p.case_id
        WHERE c.client_id = $1 ORDER BY p.id"""),
    Sheet("payments", "payments", """
        SELECT p.id AS payment_id, p.case_id, c.account_no, p.amount, p.paid_at,
               p.reference, p.import_id, p.created_at
        FROM payments p JOIN cases c ON c.id = p.case_id
        WHERE p.client_id = $1 ORDER BY p.id"""),
    Sheet("holds", "case_holds", """
        SELECT h.id AS hold_id, h.case_id, c.account_no, h.reason, h.note, h.placed_at,
               h.placed_by, h.released_at, h.released_by
        FROM case_holds h JOIN cases c ON c.id = h.case_id
        WHERE c.client_id = $1 ORDER BY h.id"""),
    Sheet("disputes", "disputes", """
        SELECT d.id AS dispute_id, d.case_id, c.account_no, d.action_id, d.kind,
               d.statement, d.status, d.opened_at, d.opened_by, d.resolution,
               d.old_balance, d.new_balance, d.resolved_by, d.resolved_at, d.note
        FROM disputes d JOIN cases c ON c.id = d.case_id
        WHERE d.client_id = $1 ORDER BY d.id"""),
    Sheet("approvals", "approval_requests", """
        SELECT a.id AS approval_id, a.case_id, c.account_no, a.kind, a.status, a.reason,
               a.description, a.requested_by, a.requested_at, a.decided_by, a.decided_at,
               a.decision_note, a.expires_at, a.used_by_action_id
        FROM approval_requests a JOIN cases c ON c.id = a.case_id
        WHERE a.client_id = $1 ORDER BY a.id"""),
    Sheet("field_visits", "field_visit_requests", """
        SELECT v.id AS visit_id, v.case_id, c.account_no, v.reason, v.status, v.planned_for,
               v.address, v.collector_a, v.collector_b, v.result, v.result_notes,
               v.visited_at, v.closed_at, v.cancel_reason, v.created_at
        FROM field_visit_requests v JOIN cases c ON c.id = v.case_id
        WHERE c.client_id = $1 ORDER BY v.id"""),
    Sheet("complaints", "complaints", """
        SELECT x.id AS complaint_id, x.case_id, c.account_no, x.received_at, x.channel,
               x.summary, x.recorded_by, x.recorded_at
        FROM complaints x JOIN cases c ON c.id = x.case_id
        WHERE x.client_id = $1 ORDER BY x.id"""),
    Sheet("attempts", "attempts", """
        SELECT t.id AS attempt_id, t.case_id, c.account_no, t.campaign_id, t.phone_id,
               t.number, t.party, t.agent_id, t.work_line, t.call_id, t.placed_at,
               t.answered_at, t.ended_at, t.result, t.cause, t.right_party, t.pack,
               t.pack_version, t.decision
        FROM attempts t JOIN cases c ON c.id = t.case_id
        WHERE c.client_id = $1 ORDER BY t.id"""),
    Sheet("transcripts", "transcripts", """
        SELECT t.recording_id, r.call_id, r.case_id, t.engine, t.model, t.duration_ms,
               t.text, t.dialogue, t.created_at
        FROM transcripts t JOIN recordings r ON r.id = t.recording_id
        WHERE r.client_id = $1 ORDER BY t.recording_id"""),
)  # fmt: skip

MANIFEST = ("recording_id", "call_id", "case_id", "account_no", "started_at", "duration_ms",
            "state", "legal_hold", "legal_hold_reason", "sha256", "size_bytes", "file",
            "note")


@dataclass(frozen=True, slots=True)
class ExportedFile:
    path: str  # relative to the export directory, with "/"
    size: int
    sha256: str


@dataclass(frozen=True, slots=True)
class Export:
    directory: Path
    files: tuple[ExportedFile, ...]
    rows: dict[str, int]  # data rows per sheet (and "recordings": audio files)


class ExportIncomplete(Conflict):
    """Recordings whose audio could not be exported as catalogued: nothing deleted."""


def cell(value: object) -> str:
    """A CSV cell: empty for NULL, ISO 8601 times, ``true``/``false``, lists as JSON."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, list | tuple):
        return json.dumps(list(value), ensure_ascii=False, default=str)
    return str(value)


def _csv_text(rows: Sequence[Sequence[object]]) -> str:
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerows([cell(v) for v in row] for row in rows)
    return out.getvalue()


def _write(path: Path, text: str, *, first: bool) -> None:
    with path.open("w" if first else "a", encoding="utf-8-sig" if first else "utf-8",
                   newline="") as file:
        file.write(text)


async def write_csv(path: Path, header: Sequence[str],
                    rows: Sequence[Sequence[object]] = ()) -> None:
    await asyncio.to_thread(_write, path, _csv_text([header, *rows]), first=True)


async def _sheet(conn: Conn, sheet: Sheet, client_id: int, path: Path) -> int:
    """Write the sheet's rows to ``path``; how many."""
    statement = await conn.prepare(sheet.sql)
    await write_csv(path, [a.name for a in statement.get_attributes()])
    count = 0
    async with conn.transaction():
        cursor = await statement.cursor(client_id)
        while rows := await cursor.fetch(FETCH):
            await asyncio.to_thread(_write, path, _csv_text([tuple(r) for r in rows]),
                                    first=False)
            count += len(rows)
    return count


async def _installed(conn: Conn, table: str) -> bool:
    return await conn.fetchval("SELECT to_regclass($1) IS NOT NULL", table) is True


async def export_sheets(pool: asyncpg.Pool, client_id: int, directory: Path) -> dict[str, int]:
    rows: dict[str, int] = {}
    async with pool.acquire() as conn:
        for sheet in SHEETS:
            if await _installed(conn, sheet.table):
                rows[sheet.name] = await _sheet(conn, sheet, client_id,
                                                directory / f"{sheet.name}.csv")
    return rows


_RECORDINGS = """
SELECT r.*, c.account_no, d.reason AS deletion_reason, d.deleted_at
FROM recordings r JOIN cases c ON c.id = r.case_id
LEFT JOIN recording_deletions d ON d.recording_id = r.id
WHERE r.client_id = $1 ORDER BY r.id
"""


@dataclass(frozen=True, slots=True)
class _Listed:
    """A recording's line in the manifest: its file, if exported, and a note."""

    file: str | None
    note: str
    problem: bool = False  # it should have been exported and could not be


def _manifest_row(row: RecordingRow, raw: asyncpg.Record, listed: _Listed) -> list[object]:
    e, hold = row.entry, row.legal_hold
    return [e.id, e.call_id, e.case_id, raw["account_no"], e.started_at, e.duration_ms,
            str(row.state), hold is not None, hold.reason if hold else None, e.sha256,
            e.size_bytes, listed.file, listed.note]


async def export_recordings(pool: asyncpg.Pool, storage: FileStorage, client_id: int,
                            directory: Path) -> int:
    """Write the audio and ``manifest.csv`` under ``directory``; audio files written."""
    await asyncio.to_thread(directory.mkdir)
    raws = await pool.fetch(_RECORDINGS, client_id)
    archived = await archive.archives_of(pool, (raw["id"] for raw in raws))
    manifest: list[list[object]] = []
    problems: dict[str, object] = {}
    for raw in raws:
        row = recording_from_row(raw)
        listed = await _recording(pool, storage, row, raw, directory, row.id in archived)
        if listed.problem:
            problems[f"recording {row.id}"] = listed.note
        manifest.append(_manifest_row(row, raw, listed))
    if problems:
        raise ExportIncomplete("offboard.export_incomplete", "recordings could not be exported"
                               " as catalogued: nothing was deleted; run `callcase recordings"
                               " verify`", problems)
    await write_csv(directory / "manifest.csv", MANIFEST, manifest)
    return sum(1 for line in manifest if line[11])


async def _recording(pool: asyncpg.Pool, storage: FileStorage, row: RecordingRow,
                     raw: asyncpg.Record, directory: Path, archived: bool) -> _Listed:
    if row.state is CatalogState.DELETED:
        return _Listed(None, f"audio deleted ({raw['deletion_reason']})"
                             f" {cell(raw['deleted_at'])}")
    if row.state not in archive.COMPRESSIBLE:
        return _Listed(None, f"no audio: the recording is {row.state}")
    name = f"{safe_name(row.entry.call_id)}.wav"
    try:
        reader = await archive.open_audio(pool, storage, row)
    except (FileNotFoundError, ArchiveError) as exc:
        return _Listed(None, f"not exported: {exc}", problem=True)
    try:
        size, sha256 = await _copy(reader, directory / name)
    finally:
        await reader.close()
    if (size, sha256) != (row.entry.size_bytes, row.entry.sha256):
        await asyncio.to_thread((directory / name).unlink)
        return _Listed(None, f"not exported: {size} bytes sha256 {sha256}, catalogued"
                             f" {row.entry.size_bytes} bytes sha256 {row.entry.sha256}",
                       problem=True)
    return _Listed(f"recordings/{name}", "rebuilt from its FLAC archive" if archived else "")


async def _copy(reader: Reader, path: Path) -> tuple[int, str]:
    """Copy the reader's bytes to a new file, synced; their size and SHA-256."""
    fd = await asyncio.to_thread(os.open, path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o640)
    digest, offset = hashlib.sha256(), 0
    try:
        while data := await reader.read(offset, BLOCK):
            digest.update(data)
            await asyncio.to_thread(_write_all, fd, data)
            offset += len(data)
        await asyncio.to_thread(os.fsync, fd)
    finally:
        os.close(fd)
    return offset, digest.hexdigest()


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def _hash_tree(directory: Path) -> list[ExportedFile]:
    """Every file under ``directory`` with its size and SHA-256; each synced, and the
    directories too."""
    files = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        digest = hashlib.sha256()
        with path.open("rb") as file:
            while block := file.read(BLOCK):
                digest.update(block)
            os.fsync(file.fileno())
        files.append(ExportedFile(path.relative_to(directory).as_posix(), path.stat().st_size,
                                  digest.hexdigest()))
    for folder in sorted({p.parent for p in directory.rglob("*")} | {directory}):
        sync_directory(folder)
    return files


async def export(pool: asyncpg.Pool, storage: FileStorage, client_id: int,
                 directory: Path) -> Export:
    """Export the client's data into ``directory`` (created; it must not exist or be
    empty); see the module docstring."""
    await asyncio.to_thread(_prepare, directory)
    rows = await export_sheets(pool, client_id, directory)
    rows["recordings"] = await export_recordings(pool, storage, client_id,
                                                 directory / "recordings")
    files = await asyncio.to_thread(_hash_tree, directory)
    return Export(directory, tuple(files), rows)


def _prepare(directory: Path) -> None:
    directory.mkdir(parents=True, exist_ok=True)
    if any(directory.iterdir()):
        raise FileExistsError(17, "the export directory is not empty", str(directory))
