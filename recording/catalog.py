"""The recordings catalogue: thin SQL over asyncpg returning :class:`RecordingRow`.

:func:`register` adds a finished (or recovered) recording with the call's facts: it
computes ``retention_until`` from the client's retention years and appends the row
to the tamper-evident chain (:mod:`recording.chain`). Appends are serialised by a
transaction-scoped advisory lock; the id is drawn under it, so ids, commits and the
chain have one order and a reader never sees a later link before an earlier one.

Only ``state`` and the legal hold ever change (the database refuses changes to the
chained columns). Legal holds are written to the audit log in the same transaction.
Verification is :mod:`recording.integrity`, deletion :mod:`recording.retention`.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cases import audit
from cases.access import Scope
from cases.errors import Conflict, NotFound
from cases.store import Db
from recording.chain import GENESIS, Entry, Link, row_hash
from recording.files import RecordingResult, RecordingState
from recording.lifecycle import (
    CatalogState,
    IllegalTransition,
    check_transition,
    retention_until,
)
from recording.spans import Mark, as_json, marks_from_json, spans_from_json
from recording.storage import Storage
from recording.wavfile import CHANNELS, SAMPLE_RATE

logger = logging.getLogger(__name__)

CHAIN_LOCK = 0x7265636F  # "reco": appends to the chain, one at a time


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What the call path knows about a recorded call."""

    call_id: str
    case_id: int
    client_id: int
    started_at: datetime
    attempt_id: int | None = None
    agent_id: int | None = None
    campaign_id: int | None = None
    marks: tuple[Mark, ...] = ()


@dataclass(frozen=True, slots=True)
class LegalHold:
    by: int | None
    at: datetime
    reason: str


@dataclass(frozen=True, slots=True)
class RecordingRow:
    entry: Entry
    state: CatalogState
    legal_hold: LegalHold | None
    prev_hash: str
    row_hash: str

    @property
    def id(self) -> int:
        return self.entry.id

    @property
    def link(self) -> Link:
        return Link(self.entry, self.prev_hash, self.row_hash)


def entry_from_row(row: asyncpg.Record) -> Entry:
    return Entry(
        id=row["id"], call_id=row["call_id"], attempt_id=row["attempt_id"],
        case_id=row["case_id"], client_id=row["client_id"], agent_id=row["agent_id"],
        campaign_id=row["campaign_id"], started_at=row["started_at"],
        duration_ms=row["duration_ms"], size_bytes=row["size_bytes"],
        channels=row["channels"], sample_rate=row["sample_rate"], sha256=row["sha256"],
        storage_uri=row["storage_uri"], retention_until=row["retention_until"],
        pci_pauses=spans_from_json(json.loads(row["pci_pauses"])),
        marks=marks_from_json(json.loads(row["marks"])), created_at=row["created_at"],
    )


def recording_from_row(row: asyncpg.Record) -> RecordingRow:
    hold = None
    if row["legal_hold"]:
        hold = LegalHold(row["legal_hold_by"], row["legal_hold_at"], row["legal_hold_reason"])
    return RecordingRow(
        entry_from_row(row), CatalogState(row["state"]), hold, row["prev_hash"], row["row_hash"]
    )


def _entry(new_id: int, result: RecordingResult, call: CallFacts, uri: str, years: int,
           now: datetime) -> Entry:
    return Entry(
        id=new_id, call_id=call.call_id, attempt_id=call.attempt_id, case_id=call.case_id,
        client_id=call.client_id, agent_id=call.agent_id, campaign_id=call.campaign_id,
        started_at=call.started_at, duration_ms=result.duration_ms, size_bytes=result.size,
        channels=CHANNELS, sample_rate=SAMPLE_RATE, sha256=result.sha256, storage_uri=uri,
        retention_until=retention_until(call.started_at, years),
        pci_pauses=result.pci_pauses, marks=call.marks, created_at=now,
    )


_INSERT = """
INSERT INTO recordings (id, call_id, attempt_id, case_id, client_id, agent_id, campaign_id,
    started_at, duration_ms, size_bytes, channels, sample_rate, sha256, storage_uri, state,
    retention_until, pci_pauses, marks, prev_hash, row_hash, created_at)
VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18,
    $19, $20, $21)
RETURNING *
"""


async def register(
    pool: asyncpg.Pool, storage: Storage, result: RecordingResult, call: CallFacts,
    now: datetime,
) -> RecordingRow:
    """Catalogue ``result``, the recording of ``call``; ``Conflict`` if the call has one."""
    uri = await storage.adopt(result.path)
    state = CatalogState.FINISHED
    if result.state is RecordingState.RECOVERED:
        state = CatalogState.RECOVERED
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", CHAIN_LOCK)
        years = await conn.fetchval(
            "SELECT retention_years FROM clients WHERE id = $1", call.client_id
        )
        if years is None:
            raise NotFound("client.not_found", f"no client {call.client_id}")
        head = await conn.fetchval("SELECT row_hash FROM recordings ORDER BY id DESC LIMIT 1")
        new_id = await conn.fetchval("SELECT nextval('recordings_id_seq')")
        entry = _entry(new_id, result, call, uri, years, now)
        row = await _insert(conn, entry, state, head or GENESIS)
    logger.info("call_id=%s case_id=%s recording %s catalogued as %s",
                call.call_id, call.case_id, entry.id, state)
    return recording_from_row(row)


async def _insert(conn: Db, entry: Entry, state: CatalogState, prev: str) -> asyncpg.Record:
    e = entry
    try:
        row = await conn.fetchrow(
            _INSERT, e.id, e.call_id, e.attempt_id, e.case_id, e.client_id, e.agent_id,
            e.campaign_id, e.started_at, e.duration_ms, e.size_bytes, e.channels,
            e.sample_rate, e.sha256, e.storage_uri, str(state), e.retention_until,
            json.dumps(as_json(e.pci_pauses)), json.dumps(as_json(e.marks)), prev,
            row_hash(e, prev), e.created_at,
        )
    except asyncpg.UniqueViolationError as exc:
        raise Conflict("recording.exists",
                       f"call {e.call_id} already has a recording ({exc.constraint_name})") from exc
    assert row is not None
    return row


async def get(db: Db, recording_id: int) -> RecordingRow:
    row = await db.fetchrow("SELECT * FROM recordings WHERE id = $1", recording_id)
    if row is None:
        raise NotFound("recording.not_found", "no such recording")
    return recording_from_row(row)


@dataclass(frozen=True, slots=True)
class RecordingFilter:
    case_id: int | None = None
    agent_id: int | None = None
    client_id: int | None = None
    since: datetime | None = None  # started at or after
    until: datetime | None = None  # started before
    after: int = 0  # keyset cursor: ids above it
    limit: int = 50


async def list_recordings(db: Db, scope: Scope, flt: RecordingFilter) -> list[RecordingRow]:
    """One page of recordings in id order, after the keyset cursor ``flt.after``."""
    rows = await db.fetch(
        """SELECT * FROM recordings
        WHERE id > $1
          AND ($2::bigint IS NULL OR case_id = $2)
          AND ($3::bigint IS NULL OR agent_id = $3)
          AND ($4::bigint IS NULL OR client_id = $4)
          AND ($5::timestamptz IS NULL OR started_at >= $5)
          AND ($6::timestamptz IS NULL OR started_at < $6)
          AND ($7::bigint IS NULL OR client_id = $7)
          AND ($8::bigint IS NULL OR agent_id = $8)
        ORDER BY id LIMIT $9""",
        flt.after, flt.case_id, flt.agent_id, flt.client_id, flt.since, flt.until,
        scope.client_id, scope.agent_id, flt.limit,
    )
    return [recording_from_row(r) for r in rows]


async def _locked(conn: Db, recording_id: int) -> RecordingRow:
    row = await conn.fetchrow("SELECT * FROM recordings WHERE id = $1 FOR UPDATE", recording_id)
    if row is None:
        raise NotFound("recording.not_found", "no such recording")
    return recording_from_row(row)


async def mark_state(pool: asyncpg.Pool, recording_id: int, state: CatalogState) -> RecordingRow:
    """Change the state (``failed``, say); ``deleted`` only through retention."""
    if state is CatalogState.DELETED:
        raise Conflict("recording.delete_via_retention", "recordings are deleted by retention")
    async with pool.acquire() as conn, conn.transaction():
        current = await _locked(conn, recording_id)
        try:
            check_transition(current.state, state)
        except IllegalTransition as exc:
            raise Conflict("recording.bad_state", str(exc)) from None
        row = await conn.fetchrow(
            "UPDATE recordings SET state = $2 WHERE id = $1 RETURNING *", recording_id, str(state)
        )
    assert row is not None
    return recording_from_row(row)


async def set_legal_hold(
    pool: asyncpg.Pool, actor: audit.Actor, recording_id: int, reason: str, now: datetime
) -> RecordingRow:
    """Block deletion of the recording until released; audited."""
    async with pool.acquire() as conn, conn.transaction():
        current = await _locked(conn, recording_id)
        if current.state is CatalogState.DELETED:
            raise Conflict("recording.deleted", "the recording was deleted already")
        if current.legal_hold is not None:
            raise Conflict("recording.on_hold", "the recording is on legal hold already")
        row = await conn.fetchrow(
            "UPDATE recordings SET legal_hold = true, legal_hold_by = $2, legal_hold_at = $3,"
            " legal_hold_reason = $4 WHERE id = $1 RETURNING *",
            recording_id, actor.user.id if actor.user else None, now, reason,
        )
        await audit.record(conn, actor, "recording.legal_hold.set", record_type="recording",
                           record_id=recording_id, client_id=current.entry.client_id,
                           details={"reason": reason})
    assert row is not None
    return recording_from_row(row)


async def release_legal_hold(
    pool: asyncpg.Pool, actor: audit.Actor, recording_id: int, reason: str | None
) -> RecordingRow:
    """Let retention delete the recording again once due; audited with the hold released."""
    async with pool.acquire() as conn, conn.transaction():
        current = await _locked(conn, recording_id)
        hold = current.legal_hold
        if hold is None:
            raise Conflict("recording.not_on_hold", "the recording is not on legal hold")
        row = await conn.fetchrow(
            "UPDATE recordings SET legal_hold = false, legal_hold_by = NULL,"
            " legal_hold_at = NULL, legal_hold_reason = NULL WHERE id = $1 RETURNING *",
            recording_id,
        )
        await audit.record(
            conn, actor, "recording.legal_hold.release", record_type="recording",
            record_id=recording_id, client_id=current.entry.client_id,
            details={"reason": reason, "held_by": hold.by, "held_at": hold.at,
                     "held_for": hold.reason},
        )
    assert row is not None
    return recording_from_row(row)
