"""Verification of the recordings catalogue against the chain and the stored bytes.

:func:`verify` reads every row in id order and reports every problem it finds:

- ``row_changed``: a row's chained fields no longer hash to its ``row_hash``
  (its metadata was edited behind the database's back);
- ``chain_broken``: the first row whose ``prev_hash`` is not the ``row_hash`` of the
  row before it (a row was removed, inserted, or rehashed to hide an edit);
- ``file_missing`` / ``file_changed``: a recording's audio is gone, or its size or
  SHA-256 is not the one catalogued (every byte is read and hashed);
- ``deleted_file_present`` / ``deletion_unlogged``: a row marked ``deleted`` whose
  audio (WAV or archive) is still there, or whose deletion has no
  ``recording_deletions`` entry.

A recording archived as FLAC (:mod:`recording.archive`) has no WAV any more: its
archive is hashed (``archive_changed`` when it is not the file archived) and decoded,
and the WAV it rebuilds must hash to the chained SHA-256 (else ``file_changed``): the
chain proves the archived audio as it proved the WAV. ``file_missing`` then means the
FLAC is gone.

Rows in state ``failed`` (known broken, kept as evidence) and ``recording`` have no
file to check. The report's chain head is worth keeping outside the database: a
rewrite of the whole tail of the chain is only visible against such a copy.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from enum import StrEnum

import asyncpg

from cases.store import Db
from recording.archive import ArchiveRow, archives_of, check_archive
from recording.catalog import RecordingRow, recording_from_row
from recording.chain import ChainCheck, ChainReport
from recording.lifecycle import CatalogState
from recording.storage import FileStorage

logger = logging.getLogger(__name__)

PAGE = 500
HASHING_AT_ONCE = 4  # files hashed concurrently (hashlib releases the GIL)


class ProblemKind(StrEnum):
    ROW_CHANGED = "row_changed"
    CHAIN_BROKEN = "chain_broken"
    FILE_MISSING = "file_missing"
    FILE_CHANGED = "file_changed"
    DELETED_FILE_PRESENT = "deleted_file_present"
    DELETION_UNLOGGED = "deletion_unlogged"
    ARCHIVE_CHANGED = "archive_changed"


@dataclass(frozen=True, slots=True)
class Problem:
    kind: ProblemKind
    recording_id: int
    call_id: str
    detail: str

    def as_json(self) -> dict[str, object]:
        return {"kind": str(self.kind), "recording_id": self.recording_id,
                "call_id": self.call_id, "detail": self.detail}


@dataclass(frozen=True, slots=True)
class VerifyReport:
    chain: ChainReport
    files_hashed: int
    bytes_hashed: int
    problems: tuple[Problem, ...]
    archives_proved: int = 0  # FLACs that rebuilt their chained WAV

    @property
    def ok(self) -> bool:
        return not self.problems

    def as_json(self) -> dict[str, object]:
        return {"ok": self.ok, "recordings": self.chain.rows, "chain_head": self.chain.head,
                "files_hashed": self.files_hashed, "bytes_hashed": self.bytes_hashed,
                "archives_proved": self.archives_proved,
                "problems": [p.as_json() for p in self.problems]}


class _Run:
    def __init__(self, storage: FileStorage) -> None:
        self.storage = storage
        self.chain = ChainCheck()
        self.files_hashed = 0
        self.bytes_hashed = 0
        self.archives_proved = 0
        self.problems: list[Problem] = []
        self.hashing = asyncio.Semaphore(HASHING_AT_ONCE)

    def problem(self, kind: ProblemKind, row: RecordingRow, detail: str) -> None:
        self.problems.append(Problem(kind, row.id, row.entry.call_id, detail))

    async def check_file(self, row: RecordingRow, deletion_logged: bool,
                         archived: ArchiveRow | None) -> None:
        if row.state is CatalogState.DELETED:
            await self._check_deleted(row, deletion_logged, archived)
        elif row.state in (CatalogState.FINISHED, CatalogState.RECOVERED):
            async with self.hashing:
                if archived is None:
                    await self._check_bytes(row)
                else:
                    await self._check_archive(row, archived)

    async def _check_deleted(self, row: RecordingRow, deletion_logged: bool,
                             archived: ArchiveRow | None) -> None:
        if not deletion_logged:
            self.problem(ProblemKind.DELETION_UNLOGGED, row, "state deleted, no deletion log")
        uris = [row.entry.storage_uri] + ([archived.storage_uri] if archived else [])
        for uri in uris:
            try:
                await self.storage.size(uri)
            except FileNotFoundError:
                continue
            self.problem(ProblemKind.DELETED_FILE_PRESENT, row, uri)

    async def _check_archive(self, row: RecordingRow, archived: ArchiveRow) -> None:
        try:
            found = await check_archive(self.storage, archived, row.entry)
        except FileNotFoundError:
            self.problem(ProblemKind.FILE_MISSING, row, f"archive {archived.storage_uri}")
            return
        self.files_hashed += 1
        self.bytes_hashed += found.flac_bytes
        if found.flac_changed is not None:
            self.problem(ProblemKind.ARCHIVE_CHANGED, row, found.flac_changed)
        if found.rebuilt_changed is not None:
            self.problem(ProblemKind.FILE_CHANGED, row, found.rebuilt_changed)
        else:
            self.archives_proved += 1

    async def _check_bytes(self, row: RecordingRow) -> None:
        entry = row.entry
        try:
            size = await self.storage.size(entry.storage_uri)
            if size != entry.size_bytes:
                self.problem(ProblemKind.FILE_CHANGED, row,
                             f"{size} bytes, catalogued {entry.size_bytes}")
                return
            digest = await self.storage.sha256(entry.storage_uri)
        except FileNotFoundError:
            self.problem(ProblemKind.FILE_MISSING, row, entry.storage_uri)
            return
        self.files_hashed += 1
        self.bytes_hashed += size
        if digest != entry.sha256:
            self.problem(ProblemKind.FILE_CHANGED, row,
                         f"sha256 {digest}, catalogued {entry.sha256}")

    def add_row(self, raw: asyncpg.Record) -> RecordingRow | None:
        """Check the row's place in the chain; the row, or ``None`` if unreadable."""
        row: RecordingRow | None = None
        try:
            row = recording_from_row(raw)
        except ValueError as exc:  # hand-edited JSON or values the code cannot read
            self.chain.add_hashes(raw["id"], raw["prev_hash"], raw["row_hash"], matches=False)
            self._raw_problem(ProblemKind.ROW_CHANGED, raw, f"unreadable: {exc}")
        else:
            self.chain.add(row.link)
            if self.chain.mismatched[-1:] == [row.id]:
                self.problem(ProblemKind.ROW_CHANGED, row, "chained fields do not match row_hash")
        broken = self.chain.first_broken
        if broken is not None and broken.id == raw["id"]:
            self._raw_problem(ProblemKind.CHAIN_BROKEN, raw,
                              f"prev_hash {broken.found}, the row before has {broken.expected}")
        return row

    def _raw_problem(self, kind: ProblemKind, raw: asyncpg.Record, detail: str) -> None:
        self.problems.append(Problem(kind, raw["id"], raw["call_id"], detail))

    def report(self) -> VerifyReport:
        problems = sorted(self.problems, key=lambda p: (p.recording_id, p.kind))
        return VerifyReport(self.chain.report(), self.files_hashed, self.bytes_hashed,
                            tuple(problems), self.archives_proved)


_PAGE_SQL = """
SELECT r.*, EXISTS (SELECT 1 FROM recording_deletions d WHERE d.recording_id = r.id)
       AS deletion_logged
FROM recordings r WHERE r.id > $1 ORDER BY r.id LIMIT $2
"""


async def verify(db: Db, storage: FileStorage, *, page: int = PAGE) -> VerifyReport:
    """Check every row and every file; see the module docstring."""
    run = _Run(storage)
    after = 0
    while rows := await db.fetch(_PAGE_SQL, after, page):
        checks = []
        archived = await archives_of(db, (raw["id"] for raw in rows))
        for raw in rows:
            row = run.add_row(raw)
            if row is not None:
                checks.append(run.check_file(row, raw["deletion_logged"],
                                             archived.get(row.id)))
        await asyncio.gather(*checks)
        after = rows[-1]["id"]
    report = run.report()
    _log(report)
    return report


def _log(report: VerifyReport) -> None:
    for p in report.problems:
        logger.error("call_id=%s recording %s: %s: %s", p.call_id, p.recording_id, p.kind,
                     p.detail)
    logger.info("verified %d recordings, %d files (%d bytes, %d archives proved): %d problems,"
                " chain head %s", report.chain.rows, report.files_hashed, report.bytes_hashed,
                report.archives_proved, len(report.problems), report.chain.head)

