"""Offboarding a client at the end of its contract: export, then delete its data.

The contract (cn-bank, compliance.md "retention") asks that all the client's data be
returned and deleted within 30 days of the contract's end, and that a legal hold
block deletion. :func:`offboard` does it in this order, each step only after the one
before succeeded:

1. refuse while a campaign of the client is running or paused (it would dial on);
2. export (:mod:`api.offboard_export`): CSV of cases with their debtors, phones,
   actions, promises, holds, the dialer's attempts (and transcripts), and the audio
   of every recording (archived ones rebuilt from FLAC) with a manifest, each checked
   against the catalogued SHA-256 and synced to disk. A recording that cannot be
   exported as catalogued stops here: nothing is deleted;
3. delete the recordings' audio (:func:`recording.retention.offboard_client`), each
   deletion logged; recordings on legal hold are kept;
4. erase the personal data of the case records (:mod:`api.offboard_erase`).

What "delete" can mean here. The audit log and the actions log are append-only, and
the recordings catalogue is a hash chain: they are the evidence of what was done,
and rewriting them would destroy it. So the audio is deleted (the catalogue row
stays with the SHA-256 of what was deleted), while the case records are
pseudonymised, not deleted: every name, ID number, phone number, address, employer,
account number and free text typed about the debtor is replaced or erased, and the
rows stay as anonymised skeletons (ids, amounts, dates, statuses, action codes, who
worked the case) so the audit log and the actions still point at something. The
audit log itself holds no debtor data and is kept as it is. Cases with a recording
on legal hold are kept whole, with their debtor.

5. write the certificate of deletion (:mod:`api.offboard_certificate`) into the export
   directory, ``certificate.json`` and ``certificate.txt``, and its SHA-256 into the
   audit log.

:func:`plan` counts what an offboarding would do and changes nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import asyncpg

from api import offboard_certificate as certificate
from api import offboard_erase, offboard_export
from cases import audit, store
from cases.domain import Client
from cases.errors import Conflict
from cases.field_visits import EvidenceStore
from recording import retention
from recording.chain import GENESIS
from recording.files import sync_directory
from recording.retention import DeletionRun
from recording.storage import FileStorage

logger = logging.getLogger(__name__)

ACTIVE_CAMPAIGNS = ("running", "paused")
_COUNTS = """
SELECT
  (SELECT count(*) FROM cases WHERE client_id = $1) AS cases,
  (SELECT count(*) FROM debtors WHERE client_id = $1) AS debtors,
  (SELECT count(*) FROM phones p JOIN cases c ON c.id = p.case_id
   WHERE c.client_id = $1) AS phones,
  (SELECT count(*) FROM actions a JOIN cases c ON c.id = a.case_id
   WHERE c.client_id = $1) AS actions,
  (SELECT count(*) FROM attempts t JOIN cases c ON c.id = t.case_id
   WHERE c.client_id = $1) AS attempts,
  (SELECT count(*) FROM users WHERE client_id = $1 AND active) AS client_users
"""
_RECORDINGS = """
SELECT count(*) FILTER (WHERE state IN ('finished', 'recovered')) AS with_audio,
       count(*) FILTER (WHERE state IN ('finished', 'recovered', 'failed')
                        AND NOT legal_hold) AS to_delete,
       count(*) FILTER (WHERE state <> 'deleted' AND legal_hold) AS on_legal_hold,
       count(*) FILTER (WHERE state = 'deleted') AS deleted_already
FROM recordings WHERE client_id = $1
"""


@dataclass(frozen=True, slots=True)
class Plan:
    client: Client
    records: dict[str, int]  # rows per kind
    recordings: dict[str, int]  # with_audio, to_delete, on_legal_hold, deleted_already
    held_cases: tuple[int, ...]
    active_campaigns: tuple[int, ...]  # running or paused: offboarding is refused


async def plan(pool: asyncpg.Pool, code: str) -> Plan:
    """What offboarding the client ``code`` would do; changes nothing."""
    client = await store.get_client(pool, code=code)
    records = await pool.fetchrow(_COUNTS, client.id)
    recordings = await pool.fetchrow(_RECORDINGS, client.id)
    campaigns = await pool.fetch("SELECT id FROM campaigns WHERE client_id = $1 AND"
                                 " state = ANY($2::text[]) ORDER BY id", client.id,
                                 list(ACTIVE_CAMPAIGNS))
    assert records is not None and recordings is not None
    return Plan(client, dict(records), dict(recordings),
                await offboard_erase.held_cases(pool, client.id),
                tuple(r["id"] for r in campaigns))


@dataclass(frozen=True, slots=True)
class Offboarding:
    plan: Plan
    export: offboard_export.Export
    deletions: DeletionRun
    erased: offboard_erase.Erased
    facts: certificate.Facts
    certificate_sha256: str  # of certificate.json


async def chain_head(db: asyncpg.Pool) -> certificate.ChainHead:
    row = await db.fetchrow("SELECT count(*) AS rows, (SELECT row_hash FROM recordings"
                            " ORDER BY id DESC LIMIT 1) AS head FROM recordings")
    assert row is not None
    return certificate.ChainHead(row["rows"], row["head"] or GENESIS)


async def offboard(pool: asyncpg.Pool, storage: FileStorage, code: str, export_dir: Path,
                   now: datetime, evidence: EvidenceStore | None = None) -> Offboarding:
    """Export, delete, pseudonymise, certify; see the module docstring."""
    planned = await plan(pool, code)
    client = planned.client
    if planned.active_campaigns:
        raise Conflict("offboard.campaigns_active", "stop the client's campaigns first",
                       {"campaigns": list(planned.active_campaigns)})
    before = await chain_head(pool)
    exported = await offboard_export.export(pool, storage, client.id, export_dir)
    logger.info("client %s exported to %s: %s", client.code, export_dir, exported.rows)
    deletions = await retention.offboard_client(pool, storage, client.id, now)
    erased = await offboard_erase.erase(pool, client.id, now)
    if evidence is not None:
        erased.counts["evidence_files"] = await delete_evidence(pool, evidence, client.id,
                                                                erased.held_cases)
    logger.info("client %s: %d recordings deleted, %s pseudonymised", client.code,
                len(deletions.deleted), erased.counts)
    facts = await _facts(pool, planned, exported, deletions, erased, before, now)
    sha256 = await asyncio.to_thread(_write_certificate, export_dir, facts)
    await _audit(pool, facts, sha256)
    return Offboarding(planned, exported, deletions, erased, facts, sha256)


async def delete_evidence(pool: asyncpg.Pool, evidence: EvidenceStore, client_id: int,
                          held_cases: tuple[int, ...]) -> int:
    """Delete the files of the client's field-visit evidence (but on cases kept for a
    legal hold); the rows stay with their SHA-256, their file names erased."""
    rows = await pool.fetch(
        "SELECT e.id, e.stored_path FROM field_visit_evidence e"
        " JOIN field_visit_requests v ON v.id = e.visit_id JOIN cases c ON c.id = v.case_id"
        " WHERE c.client_id = $1 AND NOT c.id = ANY($2)"
        " AND e.file_name <> 'deleted at offboarding'", client_id, list(held_cases))
    for row in rows:
        await asyncio.to_thread(evidence.path_of(row["stored_path"]).unlink, missing_ok=True)
        await pool.execute("UPDATE field_visit_evidence SET file_name = 'deleted at offboarding'"
                           " WHERE id = $1", row["id"])
    return len(rows)


async def _audit(pool: asyncpg.Pool, facts: certificate.Facts, sha256: str) -> None:
    await audit.record(pool, audit.SYSTEM, "client.offboard", record_type="client",
                       record_id=facts.client_id, client_id=facts.client_id, details={
                           "offboarding_id": facts.offboarding_id,
                           "certificate_sha256": sha256, "exported": dict(facts.exported),
                           "recordings_deleted": facts.recordings_deleted,
                           "pseudonymised": dict(facts.pseudonymised)})


async def _held(pool: asyncpg.Pool, ids: tuple[int, ...]) -> tuple[certificate.Held, ...]:
    rows = await pool.fetch("SELECT id, case_id, legal_hold_reason FROM recordings"
                            " WHERE id = ANY($1) ORDER BY id", list(ids))
    return tuple(certificate.Held(r["id"], r["case_id"], r["legal_hold_reason"]) for r in rows)


async def _facts(pool: asyncpg.Pool, planned: Plan, exported: offboard_export.Export,
                 deletions: DeletionRun, erased: offboard_erase.Erased,
                 before: certificate.ChainHead, now: datetime) -> certificate.Facts:
    client = planned.client
    return certificate.Facts(
        client.id, client.code, client.name, erased.offboarding_id, now,
        str(exported.directory), tuple((f.path, f.size, f.sha256) for f in exported.files),
        exported.rows, len(deletions.deleted), erased.counts,
        await _held(pool, deletions.held), erased.held_cases, deletions.failed, before,
        await chain_head(pool),
    )


def _write_certificate(directory: Path, facts: certificate.Facts) -> str:
    """Write certificate.json and certificate.txt, synced; the SHA-256 of the JSON."""
    data = certificate.as_bytes(certificate.document(facts))
    for name, content in (("certificate.json", data),
                          ("certificate.txt", certificate.text(facts).encode())):
        with (directory / name).open("xb") as file:
            file.write(content)
            os.fsync(file.fileno())
    sync_directory(directory)
    return hashlib.sha256(data).hexdigest()
