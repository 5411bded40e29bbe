"""Field visits in PostgreSQL and their evidence files on disk.

Every step locks the visit row, checks the user's scope (out of scope: not found),
moves the state by :mod:`cases.field_visit_rules` and writes one audit row, all in
one transaction. `mark_lost_contact` is the system's step: it runs inside the
transaction of whoever found the case lost (the dialer ending an attempt).

Evidence files live under an evidence root as ``<client>/<visit>/<random>.<ext>``
(the uploaded name is kept in the row only). A file is received into a hidden
``.part`` file in that directory while its SHA-256 and size are computed, checked
(size limit, first bytes of the declared type), ``fsync``-ed, and renamed onto its
final name inside the transaction that inserts its row, then the directory is
``fsync``-ed; any failure removes the file, so no half-written file and no file of
a rolled-back row is left.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import re
import uuid
from collections.abc import AsyncIterable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import BinaryIO
from zoneinfo import ZoneInfo

import asyncpg

from cases import audit
from cases import field_visit_rules as rules
from cases.access import scope_for
from cases.domain import User
from cases.errors import Conflict, Forbidden, InvalidInput, NotFound
from cases.store import Conn, Db, get_user

logger = logging.getLogger(__name__)

DEFAULT_MAX_BYTES = 64 << 20
_STORED = re.compile(r"\d+/\d+/[0-9a-f]{32}\.(jpg|png|wav|mp3|pdf)")


@dataclass(frozen=True, slots=True)
class EvidenceStore:
    """Where evidence files are kept, and the largest one accepted."""

    root: Path
    max_bytes: int = DEFAULT_MAX_BYTES

    def path_of(self, stored_path: str) -> Path:
        if not _STORED.fullmatch(stored_path):
            raise ValueError(f"{stored_path!r} is not an evidence path")
        return self.root.joinpath(*stored_path.split("/"))


@dataclass(frozen=True, slots=True)
class Evidence:
    id: int
    visit_id: int
    kind: rules.EvidenceKind
    file_name: str
    content_type: str
    byte_size: int
    sha256: str
    stored_path: str
    uploaded_by: int
    uploaded_at: datetime


@dataclass(frozen=True, slots=True)
class FieldVisit:
    id: int
    case_id: int
    client_id: int
    account_no: str
    debtor_name: str
    action_id: int | None
    reason: str
    status: rules.VisitStatus
    created_at: datetime
    planned_for: date | None
    address: str | None
    collectors: tuple[int, int] | None
    planned_by: int | None
    planned_at: datetime | None
    result: rules.VisitResult | None
    result_notes: str | None
    visited_at: datetime | None
    closed_at: datetime | None
    closed_by: int | None
    cancelled_at: datetime | None
    cancelled_by: int | None
    cancel_reason: str | None
    evidence: tuple[Evidence, ...] = ()


@dataclass(frozen=True, slots=True)
class VisitFilter:
    status: rules.VisitStatus | None = None
    client_id: int | None = None
    after: int = 0
    limit: int = 50


_COPIED = ("id", "case_id", "client_id", "account_no", "debtor_name", "action_id", "reason",
           "created_at", "planned_for", "address", "planned_by", "planned_at",
           "result_notes", "visited_at", "closed_at", "closed_by", "cancelled_at",
           "cancelled_by", "cancel_reason")


def _evidence(row: asyncpg.Record) -> Evidence:
    return Evidence(row["id"], row["visit_id"], rules.EvidenceKind(row["kind"]),
                    row["file_name"], row["content_type"], row["byte_size"], row["sha256"],
                    row["stored_path"], row["uploaded_by"], row["uploaded_at"])


def _collectors(row: asyncpg.Record) -> tuple[int, int] | None:
    a, b = row["collector_a"], row["collector_b"]
    return None if a is None else (a, b)


def _visit(row: asyncpg.Record, evidence: tuple[Evidence, ...] = ()) -> FieldVisit:
    result = row["result"]
    return FieldVisit(
        **{name: row[name] for name in _COPIED}, status=rules.VisitStatus(row["status"]),
        collectors=_collectors(row), evidence=evidence,
        result=None if result is None else rules.VisitResult(result))


_SELECT = """
SELECT v.*, c.client_id, c.account_no, d.name AS debtor_name, d.address AS debtor_address,
       coalesce(d.time_zone, cl.time_zone) AS time_zone
  FROM field_visit_requests v JOIN cases c ON c.id = v.case_id
  JOIN debtors d ON d.id = c.debtor_id JOIN clients cl ON cl.id = c.client_id
"""


# --- the system's step: a case found lost ------------------------------------------

async def mark_lost_contact(conn: Conn, case_id: int, *, reason: str,
                            attempt_ids: tuple[int, ...], request_visit: bool,
                            now: datetime) -> int | None:
    """Mark the case lost-contact, note why on the case (a SKIP action by the system),
    request a field visit when asked (none while one is open) and audit it, in the
    caller's transaction with the case row locked. The visit's id, if one was made."""
    client_id = await conn.fetchval(
        "UPDATE cases SET status = 'lost_contact', updated_at = $2 WHERE id = $1"
        " RETURNING client_id", case_id, now)
    effect = {"status": "lost_contact", "next_action_at": "", "hold_reason": None,
              "promise": None, "invalidate_phone": False, "notify_client": None,
              "field_visit_reason": reason if request_visit else None}
    action_id = await conn.fetchval(
        "INSERT INTO actions (case_id, code, idempotency_key, note, effect, created_at)"
        " VALUES ($1, 'SKIP', $2, $3, $4, $5) ON CONFLICT (case_id, idempotency_key)"
        " DO NOTHING RETURNING id", case_id, f"system:lost-contact:{attempt_ids[-1]}",
        reason, json.dumps(effect), now)
    visit_id = None
    if request_visit:
        visit_id = await conn.fetchval(
            "INSERT INTO field_visit_requests (case_id, action_id, reason, created_at)"
            " VALUES ($1, $2, $3, $4) RETURNING id", case_id, action_id, reason, now)
    await audit.record(conn, audit.SYSTEM, "case.lost_contact", record_type="case",
                       record_id=case_id, client_id=client_id,
                       details={"reason": reason, "attempt_ids": list(attempt_ids),
                                "action_id": action_id, "field_visit_id": visit_id})
    logger.info("case %s lost contact (attempts %s); field visit %s", case_id,
                list(attempt_ids), visit_id)
    return visit_id


# --- reads ---------------------------------------------------------------------------

async def _evidence_of(db: Db, visit_ids: list[int]) -> dict[int, tuple[Evidence, ...]]:
    rows = await db.fetch("SELECT * FROM field_visit_evidence WHERE visit_id = ANY($1)"
                          " ORDER BY id", visit_ids)
    found: dict[int, list[Evidence]] = {v: [] for v in visit_ids}
    for row in rows:
        found[row["visit_id"]].append(_evidence(row))
    return {v: tuple(items) for v, items in found.items()}


async def list_visits(db: Db, user: User, flt: VisitFilter) -> list[FieldVisit]:
    """One page of the visits the user may see, in id order after `flt.after`."""
    scope = scope_for(user)
    rows = await db.fetch(_SELECT + """
         WHERE v.id > $1 AND ($2::text IS NULL OR v.status = $2)
           AND ($3::bigint IS NULL OR c.client_id = $3)
           AND ($4::bigint IS NULL OR c.client_id = $4)
           AND ($5::bigint IS NULL OR $5 IN (v.collector_a, v.collector_b))
         ORDER BY v.id LIMIT $6""",
        flt.after, flt.status and str(flt.status), flt.client_id, scope.client_id,
        scope.agent_id, flt.limit)
    evidence = await _evidence_of(db, [r["id"] for r in rows])
    return [_visit(r, evidence[r["id"]]) for r in rows]


async def get_visit(db: Db, user: User, visit_id: int) -> FieldVisit:
    row = await _locked(db, user, visit_id, lock=False)
    return _visit(row, (await _evidence_of(db, [visit_id]))[visit_id])


async def _locked(conn: Db, user: User, visit_id: int, *,
                  lock: bool = True) -> asyncpg.Record:
    """The visit's row (locked), with its case's client; NotFound outside the scope."""
    row = await conn.fetchrow(_SELECT + " WHERE v.id = $1" + " FOR UPDATE OF v" * lock,
                              visit_id)
    if row is None:
        raise NotFound("field_visit.not_found", "no such field visit")
    rules.check_visible(user, row["client_id"], _collectors(row))
    return row


def _user(actor: audit.Actor) -> User:
    if actor.user is None:
        raise Forbidden("auth.role", "a person must do this")
    return actor.user


async def _audit(conn: Conn, actor: audit.Actor, action: str, row: asyncpg.Record,
                 details: dict[str, object]) -> None:
    await audit.record(conn, actor, action, record_type="field_visit", record_id=row["id"],
                       client_id=row["client_id"], details={"case_id": row["case_id"],
                                                             **details})


# --- the steps of a visit ------------------------------------------------------------

async def plan(pool: asyncpg.Pool, actor: audit.Actor, visit_id: int,
               raw: dict[str, object], now: datetime) -> FieldVisit:
    """Plan (or re-plan) a visit: `{"planned_for", "address"?, "collectors"}`; the date
    is checked against the debtor's local day, the address defaults to the debtor's."""
    user = _user(actor)
    if user.role not in rules.PLANNERS:
        raise Forbidden("field_visit.role", "only supervisors and admins plan visits")
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, user, visit_id)
        today = now.astimezone(ZoneInfo(row["time_zone"])).date()
        event = rules.parse_plan(raw, today=today)
        rules.step(rules.VisitStatus(row["status"]), event)
        await _check_collectors(conn, event.collectors)
        address = event.address or row["debtor_address"]
        if not address:
            raise InvalidInput("field_visit.invalid", "the debtor has no address on file",
                               {"address": "required"})
        await conn.execute(
            "UPDATE field_visit_requests SET status = 'planned', planned_for = $2,"
            " address = $3, collector_a = $4, collector_b = $5, planned_by = $6,"
            " planned_at = $7 WHERE id = $1", visit_id, event.planned_for, address,
            *event.collectors, user.id, now)
        await _audit(conn, actor, "field_visit.plan", row, {
            "planned_for": event.planned_for.isoformat(), "collectors": list(event.collectors),
            "replanned": row["status"] == "planned"})
        return await get_visit(conn, user, visit_id)


async def _check_collectors(conn: Conn, ids: tuple[int, int]) -> None:
    users = []
    for user_id in ids:
        try:
            users.append(await get_user(conn, user_id))
        except NotFound:
            raise InvalidInput("field_visit.bad_collectors", "collectors must be users",
                               {str(user_id): "no such user"}) from None
    rules.check_collectors(users)


async def record_result(pool: asyncpg.Pool, actor: audit.Actor, visit_id: int,
                        event: rules.RecordResult) -> FieldVisit:
    """The collectors' result of the visit (again, to correct it before closing)."""
    user = _user(actor)
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, user, visit_id)
        rules.check_collector(user, _collectors(row))
        rules.step(rules.VisitStatus(row["status"]), event)
        await conn.execute(
            "UPDATE field_visit_requests SET status = 'visited', result = $2,"
            " result_notes = $3, visited_at = $4, result_by = $5 WHERE id = $1",
            visit_id, str(event.result), event.notes, event.visited_at, user.id)
        await _audit(conn, actor, "field_visit.result", row, {
            "result": str(event.result), "visited_at": event.visited_at.isoformat()})
        return await get_visit(conn, user, visit_id)


async def close(pool: asyncpg.Pool, actor: audit.Actor, visit_id: int,
                now: datetime) -> FieldVisit:
    """Close a visited visit that has its evidence (collectors, supervisors, admins)."""
    user = _user(actor)
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, user, visit_id)
        rules.check_may_close(user, _collectors(row))
        kinds = await conn.fetch("SELECT DISTINCT kind FROM field_visit_evidence"
                                 " WHERE visit_id = $1", visit_id)
        have = frozenset(rules.EvidenceKind(k["kind"]) for k in kinds)
        rules.step(rules.VisitStatus(row["status"]), rules.Close(have))
        await conn.execute("UPDATE field_visit_requests SET status = 'closed',"
                           " closed_at = $2, closed_by = $3 WHERE id = $1",
                           visit_id, now, user.id)
        await _audit(conn, actor, "field_visit.close", row,
                     {"result": row["result"], "evidence": sorted(have)})
        return await get_visit(conn, user, visit_id)


async def cancel(pool: asyncpg.Pool, actor: audit.Actor, visit_id: int,
                 event: rules.Cancel, now: datetime) -> FieldVisit:
    """Cancel a visit not yet made (supervisors and admins), with a reason."""
    user = _user(actor)
    if user.role not in rules.PLANNERS:
        raise Forbidden("field_visit.role", "only supervisors and admins cancel visits")
    async with pool.acquire() as conn, conn.transaction():
        row = await _locked(conn, user, visit_id)
        rules.step(rules.VisitStatus(row["status"]), event)
        await conn.execute(
            "UPDATE field_visit_requests SET status = 'cancelled', cancelled_at = $2,"
            " cancelled_by = $3, cancel_reason = $4 WHERE id = $1",
            visit_id, now, user.id, event.reason)
        await _audit(conn, actor, "field_visit.cancel", row, {"reason": event.reason})
        return await get_visit(conn, user, visit_id)


# --- evidence ------------------------------------------------------------------------

async def attach_evidence(pool: asyncpg.Pool, actor: audit.Actor, store: EvidenceStore,
                          visit_id: int, upload: rules.Upload,
                          body: AsyncIterable[bytes], now: datetime) -> Evidence:
    """Receive one evidence file from a collector (see the module docstring)."""
    user = _user(actor)
    row = await _check_attach(pool, user, visit_id, upload)
    stored = f"{row['client_id']}/{visit_id}/{uuid.uuid4().hex}.{upload.extension}"
    final = store.path_of(stored)
    part, size, digest = await _receive(store, final, upload, body)
    committed = False
    try:
        async with pool.acquire() as conn, conn.transaction():
            row = await _check_attach(conn, user, visit_id, upload, lock=True)
            evidence_id = await conn.fetchval(
                "INSERT INTO field_visit_evidence (visit_id, kind, file_name, content_type,"
                " byte_size, sha256, stored_path, uploaded_by, uploaded_at) VALUES"
                " ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id", visit_id,
                str(upload.kind), upload.file_name, upload.content_type, size, digest,
                stored, user.id, now)
            await _audit(conn, actor, "field_visit.evidence.attach", row, {
                "evidence_id": evidence_id, "kind": str(upload.kind), "bytes": size,
                "sha256": digest, "content_type": upload.content_type})
            await asyncio.to_thread(_place, part, final)
        committed = True
    finally:
        if not committed:
            await asyncio.to_thread(_discard, part, final)
    return Evidence(evidence_id, visit_id, upload.kind, upload.file_name,
                    upload.content_type, size, digest, stored, user.id, now)


async def _check_attach(db: Db, user: User, visit_id: int, upload: rules.Upload,
                        *, lock: bool = False) -> asyncpg.Record:
    row = await _locked(db, user, visit_id, lock=lock)
    rules.check_collector(user, _collectors(row))
    rules.step(rules.VisitStatus(row["status"]), rules.AttachEvidence(upload.kind))
    return row


async def _receive(store: EvidenceStore, final: Path, upload: rules.Upload,
                   body: AsyncIterable[bytes]) -> tuple[Path, int, str]:
    """The body in a synced ``.part`` file next to `final`: its path, size and SHA-256."""
    part = final.with_name(f".{final.stem}.part")
    file = await asyncio.to_thread(_open_part, part)
    digest, size, head = hashlib.sha256(), 0, b""
    done = False
    try:
        async for chunk in body:
            size += len(chunk)
            rules.check_size(size, store.max_bytes)
            head = (head + chunk)[:rules.SNIFF_BYTES] if len(head) < rules.SNIFF_BYTES \
                else head
            digest.update(chunk)
            await asyncio.to_thread(file.write, chunk)
        rules.check_content(upload.content_type, head, size)
        await asyncio.to_thread(_sync_close, file)
        done = True
    finally:
        if not done:
            await asyncio.to_thread(_abandon, file, part)
    return part, size, digest.hexdigest()


def _open_part(part: Path) -> BinaryIO:
    part.parent.mkdir(parents=True, exist_ok=True)
    return part.open("xb")


def _sync_close(file: BinaryIO) -> None:
    file.flush()
    os.fsync(file.fileno())
    file.close()


def _abandon(file: BinaryIO, part: Path) -> None:
    file.close()
    part.unlink(missing_ok=True)


def _place(part: Path, final: Path) -> None:
    os.replace(part, final)
    fd = os.open(final.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _discard(part: Path, final: Path) -> None:
    part.unlink(missing_ok=True)
    final.unlink(missing_ok=True)


async def open_evidence(pool: asyncpg.Pool, actor: audit.Actor, store: EvidenceStore,
                        visit_id: int, evidence_id: int) -> tuple[Evidence, Path]:
    """An evidence file to send, after its audit row (who downloaded which file)."""
    user = _user(actor)
    visit = await get_visit(pool, user, visit_id)
    found = [e for e in visit.evidence if e.id == evidence_id]
    if not found:
        raise NotFound("field_visit.evidence_not_found", "no such evidence on this visit")
    evidence, path = found[0], store.path_of(found[0].stored_path)
    size = await asyncio.to_thread(_size, path)
    if size != evidence.byte_size:
        logger.error("field visit %s evidence %s: %s bytes on disk, %s recorded", visit_id,
                     evidence_id, size, evidence.byte_size)
        raise Conflict("field_visit.evidence_changed", "the evidence file is missing or"
                       " is not the one stored", {"evidence_id": evidence_id})
    await audit.record(pool, actor, "field_visit.evidence.download", record_type="field_visit",
                       record_id=visit_id, client_id=visit.client_id,
                       details={"evidence_id": evidence_id, "bytes": size,
                                "sha256": evidence.sha256})
    return evidence, path


def _size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except FileNotFoundError:
        return None


# --- the monthly QA sample -----------------------------------------------------------

_CLOSED_IN_MONTH = """
SELECT v.id, c.client_id FROM field_visit_requests v
  JOIN cases c ON c.id = v.case_id JOIN clients cl ON cl.id = c.client_id
 WHERE v.status = 'closed' AND (v.closed_at AT TIME ZONE cl.time_zone) >= $1::date
   AND (v.closed_at AT TIME ZONE cl.time_zone) < $2::date
   AND ($3::bigint IS NULL OR c.client_id = $3)
"""


@dataclass(frozen=True, slots=True)
class SampledVisit:
    visit_id: int
    case_id: int
    client_id: int
    closed_at: datetime
    seed: str
    sampled_at: datetime


async def draw_sample(pool: asyncpg.Pool, actor: audit.Actor, month: str, seed: str,
                      now: datetime) -> dict[int, int]:
    """Draw (or top up) each client's sample of `month`; how many were added per client.
    A client's month keeps the seed of its first draw: another seed is a conflict."""
    first, after = rules.month_bounds(month)
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock(hashtext('field_visit_sample'))")
        visits = await conn.fetch(_CLOSED_IN_MONTH, first, after, None)
        done = await conn.fetch("SELECT client_id, visit_id, seed FROM field_visit_samples"
                                " WHERE month = $1", first)
        added: dict[int, int] = {}
        for client_id in sorted({r["client_id"] for r in visits}):
            picks = _client_draw(client_id, visits, done, seed, month)
            await conn.executemany(
                "INSERT INTO field_visit_samples (month, client_id, visit_id, seed,"
                " sampled_at, sampled_by) VALUES ($1, $2, $3, $4, $5, $6)",
                [(first, client_id, v, seed, now, actor.user and actor.user.id) for v in picks])
            added[client_id] = len(picks)
            await audit.record(conn, actor, "field_visit.sample", record_type="field_visits",
                               client_id=client_id, details={"month": month, "seed": seed,
                                                             "added": picks})
    return added


def _client_draw(client_id: int, visits: list[asyncpg.Record], done: list[asyncpg.Record],
                 seed: str, month: str) -> list[int]:
    mine = [r for r in done if r["client_id"] == client_id]
    seeds = {r["seed"] for r in mine}
    if seeds and seeds != {seed}:
        raise Conflict("field_visit.sample_seed", "this month was drawn with another seed;"
                       " draw again with it", {"client_id": client_id, "seed": min(seeds)})
    return rules.draw([r["id"] for r in visits if r["client_id"] == client_id],
                      [r["visit_id"] for r in mine], seed=seed, month=month,
                      client_id=client_id)


async def sample_of(db: Db, month: str, client_id: int | None) -> list[SampledVisit]:
    first, _ = rules.month_bounds(month)
    rows = await db.fetch(
        "SELECT s.visit_id, v.case_id, s.client_id, v.closed_at, s.seed, s.sampled_at"
        " FROM field_visit_samples s JOIN field_visit_requests v ON v.id = s.visit_id"
        " WHERE s.month = $1 AND ($2::bigint IS NULL OR s.client_id = $2)"
        " ORDER BY s.client_id, s.visit_id", first, client_id)
    return [SampledVisit(*r.values()) for r in rows]


async def coverage(db: Db, month: str, client_id: int | None) -> list[rules.SampleCoverage]:
    """Per client: the visits closed in `month`, and how many of them are sampled."""
    first, after = rules.month_bounds(month)
    rows = await db.fetch(
        "SELECT m.client_id, count(*) AS visits, count(s.id) AS sampled FROM ("
        + _CLOSED_IN_MONTH + ") m LEFT JOIN field_visit_samples s ON s.visit_id = m.id"
        " GROUP BY m.client_id ORDER BY m.client_id", first, after, client_id)
    return [rules.SampleCoverage(r["client_id"], r["visits"], r["sampled"]) for r in rows]
