"""Importing a bank's case batch and confirming receipt to the bank.

The whole batch lands in one transaction: the good rows are imported, the bad
rows are recorded with their row number, column and reason, and nothing is
half-written. A file is known by its SHA-256: importing the same file again
returns the first confirmation and changes nothing. An account already known
from an earlier batch is updated (balance, days past due, phones added), never
duplicated. Rows go through COPY into temporary tables and set-based upserts,
which keeps 100,000 rows well under a minute.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg

from cases import audit, store
from cases.batchfile import ParsedBatch, parse_batch
from cases.domain import Client
from cases.errors import NotFound

logger = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Rejection:
    row_number: int
    column: str | None
    reason: str
    account_no: str | None


@dataclass(frozen=True, slots=True)
class Confirmation:
    """What the bank receives for every batch it sends."""

    batch_id: int
    client_code: str
    file_name: str
    file_sha256: str
    encoding: str
    received_at: datetime
    imported_at: datetime
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    cases_created: int
    cases_updated: int
    total_balance: Decimal
    rejections: tuple[Rejection, ...]
    replayed: bool = False

    def as_json(self) -> dict[str, object]:
        return {
            "batch_id": self.batch_id, "client": self.client_code, "file_name": self.file_name,
            "file_sha256": self.file_sha256, "encoding": self.encoding,
            "received_at": self.received_at.isoformat(),
            "imported_at": self.imported_at.isoformat(), "rows_read": self.rows_read,
            "rows_accepted": self.rows_accepted, "rows_rejected": self.rows_rejected,
            "cases_created": self.cases_created, "cases_updated": self.cases_updated,
            "total_balance_accepted": str(self.total_balance), "replayed": self.replayed,
            "rejections": [
                {"row": r.row_number, "column": r.column, "reason": r.reason,
                 "account_no": r.account_no} for r in self.rejections
            ],
        }

    def as_csv(self) -> str:
        """A summary block, a blank line, then one line per rejected row."""
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        body = self.as_json()
        for key in ("batch_id", "client", "file_name", "file_sha256", "encoding",
                    "received_at", "imported_at", "rows_read", "rows_accepted",
                    "rows_rejected", "cases_created", "cases_updated",
                    "total_balance_accepted"):
            writer.writerow([key, body[key]])
        writer.writerow([])
        writer.writerow(["row", "account_no", "column", "reason"])
        for r in self.rejections:
            writer.writerow([r.row_number, r.account_no or "", r.column or "", r.reason])
        return out.getvalue()


_STAGE_CASES = """
CREATE TEMP TABLE stage_cases (
    row_number integer, account_no text, debtor_name text, id_no text, product text,
    account_type text, currency text, principal numeric, balance numeric,
    days_past_due integer, last_payment_date date, last_payment_amount numeric,
    address text, city text, time_zone text, employer text, note text
) ON COMMIT DROP;
CREATE TEMP TABLE stage_phones (
    account_no text, e164 text, party text, kind text, name text, relation text
) ON COMMIT DROP;
"""

_UPSERT_DEBTORS = """
INSERT INTO debtors (client_id, name, id_no, address, city, time_zone, employer)
SELECT DISTINCT ON (id_no) $1, debtor_name, id_no, address, city, time_zone, employer
FROM stage_cases ORDER BY id_no, row_number DESC
ON CONFLICT (client_id, id_no) DO UPDATE SET
    name = EXCLUDED.name,
    address = coalesce(EXCLUDED.address, debtors.address),
    city = coalesce(EXCLUDED.city, debtors.city),
    time_zone = coalesce(EXCLUDED.time_zone, debtors.time_zone),
    employer = coalesce(EXCLUDED.employer, debtors.employer),
    updated_at = now()
"""

_UPSERT_CASES = """
WITH up AS (
    INSERT INTO cases (client_id, account_no, debtor_id, first_batch_id, last_batch_id,
        product, account_type, currency, principal, balance, days_past_due,
        last_payment_date, last_payment_amount, note)
    SELECT $1, s.account_no, d.id, $2, $2, s.product, s.account_type, s.currency,
        s.principal, s.balance, s.days_past_due, s.last_payment_date,
        s.last_payment_amount, s.note
    FROM stage_cases s JOIN debtors d ON d.client_id = $1 AND d.id_no = s.id_no
    ON CONFLICT (client_id, account_no) DO UPDATE SET
        last_batch_id = EXCLUDED.last_batch_id,
        account_type = EXCLUDED.account_type,
        principal = coalesce(EXCLUDED.principal, cases.principal),
        balance = EXCLUDED.balance,
        days_past_due = EXCLUDED.days_past_due,
        last_payment_date = coalesce(EXCLUDED.last_payment_date, cases.last_payment_date),
        last_payment_amount = coalesce(EXCLUDED.last_payment_amount,
                                       cases.last_payment_amount),
        note = coalesce(EXCLUDED.note, cases.note),
        updated_at = now()
    RETURNING (xmax = 0) AS created
)
SELECT count(*) FILTER (WHERE created) AS created,
       count(*) FILTER (WHERE NOT created) AS updated
FROM up
"""

_INSERT_PHONES = """
INSERT INTO phones (case_id, e164, party, kind, name, relation, source_batch_id)
SELECT c.id, p.e164, p.party, p.kind, p.name, p.relation, $2
FROM stage_phones p JOIN cases c ON c.client_id = $1 AND c.account_no = p.account_no
ON CONFLICT (case_id, e164) DO NOTHING
"""


async def import_batch(
    pool: asyncpg.Pool, actor: audit.Actor, client: Client, file_name: str, data: bytes,
    *, received_at: datetime, now: datetime,
) -> Confirmation:
    """Import one batch file for `client`; returns the bank's confirmation."""
    sha = hashlib.sha256(data).hexdigest()
    earlier = await _batch_id(pool, client.id, sha)
    if earlier is not None:
        return await confirmation(pool, earlier, replayed=True)
    parsed = await asyncio.to_thread(  # a BatchFileError is an InvalidInput: a 400
        parse_batch, data, default_region=client.default_region,
        today=now.astimezone(ZoneInfo(client.time_zone)).date(),
    )
    async with pool.acquire() as conn, conn.transaction():
        batch_id = await _insert_batch(conn, actor, client, file_name, parsed, received_at, now)
        if batch_id is None:  # the same file, imported concurrently, won the race
            replay = await _batch_id(conn, client.id, sha)
            assert replay is not None
            return await confirmation(conn, replay, replayed=True)
        await _load_rows(conn, client, batch_id, parsed)
        await audit.record(
            conn, actor, "batch.import", record_type="batch", record_id=batch_id,
            client_id=client.id, details={"file_sha256": sha, "rows": parsed.rows_read},
        )
        result = await confirmation(conn, batch_id)
    logger.info(
        "batch %s imported for client %s: %d accepted, %d rejected", batch_id, client.code,
        result.rows_accepted, result.rows_rejected,
    )
    return result


async def _batch_id(db: store.Db, client_id: int, sha: str
                    ) -> int | None:
    found: int | None = await db.fetchval(
        "SELECT id FROM batches WHERE client_id = $1 AND file_sha256 = $2", client_id, sha
    )
    return found


async def _insert_batch(
    conn: store.Conn, actor: audit.Actor, client: Client, file_name: str,
    parsed: ParsedBatch, received_at: datetime, now: datetime,
) -> int | None:
    batch_id: int | None = await conn.fetchval(
        "INSERT INTO batches (client_id, file_name, file_sha256, encoding, received_at,"
        " imported_at, imported_by, rows_read, rows_accepted, rows_rejected, cases_created,"
        " cases_updated, total_balance) VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,0,0,$11)"
        " ON CONFLICT (client_id, file_sha256) DO NOTHING RETURNING id",
        client.id, file_name[:255], parsed.sha256, parsed.encoding, received_at, now,
        actor.user.id if actor.user else None, parsed.rows_read, len(parsed.accepted),
        parsed.rows_rejected,
        sum((row.balance for row in parsed.accepted), Decimal(0)),
    )
    return batch_id


async def _load_rows(
    conn: store.Conn, client: Client, batch_id: int, parsed: ParsedBatch
) -> None:
    await conn.execute(_STAGE_CASES)
    await conn.copy_records_to_table(
        "stage_cases",
        records=[
            (r.row_number, r.account_no, r.debtor_name, r.debtor_id_no, r.product,
             r.account_type, r.currency, r.principal, r.balance, r.days_past_due,
             r.last_payment_date, r.last_payment_amount, r.address, r.city, r.time_zone,
             r.employer, r.note)
            for r in parsed.accepted
        ],
    )
    await conn.copy_records_to_table(
        "stage_phones",
        records=[
            (r.account_no, p.e164, p.party, p.kind, p.name, p.relation)
            for r in parsed.accepted for p in r.phones
        ],
    )
    await conn.copy_records_to_table(
        "batch_rejections",
        records=[(batch_id, e.row_number, e.column, e.reason, e.account_no)
                 for e in parsed.rejected],
    )
    await conn.execute(_UPSERT_DEBTORS, client.id)
    counts = await conn.fetchrow(_UPSERT_CASES, client.id, batch_id)
    assert counts is not None
    await conn.execute(_INSERT_PHONES, client.id, batch_id)
    await conn.execute(
        "UPDATE batches SET cases_created = $2, cases_updated = $3 WHERE id = $1",
        batch_id, counts["created"], counts["updated"],
    )


async def confirmation(
    db: store.Db, batch_id: int, *, replayed: bool = False
) -> Confirmation:
    row = await db.fetchrow(
        "SELECT b.*, c.code FROM batches b JOIN clients c ON c.id = b.client_id"
        " WHERE b.id = $1", batch_id,
    )
    if row is None:
        raise NotFound("batch.not_found", "no such batch")
    rejected = await db.fetch(
        "SELECT row_number, column_name, reason, account_no FROM batch_rejections"
        " WHERE batch_id = $1 ORDER BY row_number, column_name NULLS FIRST", batch_id,
    )
    return Confirmation(
        batch_id=row["id"], client_code=row["code"], file_name=row["file_name"],
        file_sha256=row["file_sha256"], encoding=row["encoding"],
        received_at=row["received_at"], imported_at=row["imported_at"],
        rows_read=row["rows_read"], rows_accepted=row["rows_accepted"],
        rows_rejected=row["rows_rejected"], cases_created=row["cases_created"],
        cases_updated=row["cases_updated"], total_balance=row["total_balance"],
        rejections=tuple(Rejection(r["row_number"], r["column_name"], r["reason"],
                                   r["account_no"]) for r in rejected),
        replayed=replayed,
    )


async def batch_client_id(db: asyncpg.Pool, batch_id: int) -> int:
    client_id: int | None = await db.fetchval(
        "SELECT client_id FROM batches WHERE id = $1", batch_id
    )
    if client_id is None:
        raise NotFound("batch.not_found", "no such batch")
    return client_id
