"""Payments the bank reports: its payment file parsed, imported and listed.

`parse_payments(data, zone=..., now=...)` is pure. The file is CSV with a header
row, UTF-8 (a BOM is allowed) or GB18030, detected as for case batches
(`cases.batchfile.decode`). Columns, in any order, named in English or Chinese:
`account_no` (账号), `amount` (还款金额), `paid_at` (还款时间), and optionally
`reference` (流水号), the bank's transaction reference. A blank, repeated or
unknown column, a missing required one, an empty file, a workbook or broken
quoting refuses the whole file (`PaymentFileError`); nothing is imported.

Every other problem rejects its row, with its row number (the header is row 1),
column and reason, and the file carries on: an amount that is not a positive
amount with at most 2 decimals; a time that is not a date and time, has no time
of day, or is in the future (a time without an offset is the client's local
time); a row repeating an earlier row's payment, or using its reference for a
different payment; on import, an account number no case of the client has, or a
reference already recorded for a different payment.

`import_payments` records a file in one transaction with an audit row: a payment
already recorded (the same reference, or without one the same account, amount
and time, kept as `sha256:` + digest) counts as a duplicate and adds nothing, so
importing a file again is harmless and picks up rows whose account has arrived
since. Rejections are stored with the import. Then the promises of the client
are resolved (`cases.promises.resolve`), one transaction per case.
"""

from __future__ import annotations

import asyncio
import csv
import hashlib
import io
import logging
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime, tzinfo
from decimal import Decimal
from typing import TypeVar
from zoneinfo import ZoneInfo

import asyncpg

from cases import audit, promises, store
from cases.batchfile import BatchFileError, RowError, decode
from cases.batchrows import FieldError, RowContext, parse_account_no, parse_amount
from cases.domain import Client
from cases.errors import InvalidInput, NotFound

logger = logging.getLogger(__name__)
REQUIRED_COLUMNS = ("account_no", "amount", "paid_at")
OPTIONAL_COLUMNS = ("reference",)
ALIASES = {"账号": "account_no", "还款金额": "amount", "还款时间": "paid_at",
           "流水号": "reference"}
_KNOWN = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
T = TypeVar("T")


class PaymentFileError(InvalidInput, ValueError):
    """The file as a whole cannot be read; no row of it is imported."""


@dataclass(frozen=True, slots=True)
class PaymentRow:
    row_number: int
    account_no: str
    amount: Decimal
    paid_at: datetime  # aware
    reference: str


@dataclass(frozen=True, slots=True)
class ParsedPayments:
    encoding: str
    sha256: str
    rows_read: int
    accepted: tuple[PaymentRow, ...]
    rejected: tuple[RowError, ...]


def parse_payments(data: bytes, *, zone: ZoneInfo, now: datetime) -> ParsedPayments:
    """Read a whole payment file; `zone` reads times written without an offset."""
    try:
        encoding, text = decode(data)
    except BatchFileError as exc:
        raise PaymentFileError(exc.error_id.replace("batch.", "payments.", 1), exc.message,
                               exc.details) from None
    records = _records(text)
    rows = _Rows(_header(records), zone, now)
    for number, record in records:
        rows.add(number, record)
    return ParsedPayments(str(encoding), hashlib.sha256(data).hexdigest(), rows.read,
                          tuple(rows.accepted), tuple(rows.rejected))


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise PaymentFileError("payments.malformed_csv", f"the file is not valid CSV at line"
                               f" {reader.line_num}: {exc}", {"line": reader.line_num}) from None


def _header(records: Iterator[tuple[int, list[str]]]) -> tuple[str, ...]:
    for _, record in records:
        if "".join(record).strip():
            return check_header(record)
    raise PaymentFileError("payments.empty", "the file is empty: it has no header row")


def check_header(record: list[str]) -> tuple[str, ...]:
    """The column names of a header, Chinese names read as their English ones."""
    names = tuple(ALIASES.get(n.strip(), n.strip().lower()) for n in record)
    if _KNOWN.isdisjoint(names):  # a data row, perhaps: its values are not repeated
        raise PaymentFileError("payments.no_header", "the first row is not a header: it"
                               f" names none of the columns {', '.join(REQUIRED_COLUMNS)}")
    problems: tuple[tuple[str, str, Sequence[object]], ...] = (
        ("payments.blank_column", "header column(s) without a name at position",
         [i for i, n in enumerate(names, start=1) if not n]),
        ("payments.duplicate_column", "column(s) named more than once",
         sorted({n for n in names if n and names.count(n) > 1})),
        ("payments.unknown_column", "unknown column(s) (the columns are"
         f" {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}, or 账号, 还款金额, 还款时间, 流水号)",
         [n for n in names if n and n not in _KNOWN]),
        ("payments.missing_column", "required column(s) missing",
         [c for c in REQUIRED_COLUMNS if c not in names]),
    )
    for error_id, message, found in problems:
        if found:
            raise PaymentFileError(error_id, f"{message}: {', '.join(map(str, found))}",
                                   {"columns": list(found)})
    return names


_TIMES = (
    re.compile(r"(?P<y>\d{4})[-/](?P<m>\d{1,2})[-/](?P<d>\d{1,2})(?:[ T]+(?P<H>\d{1,2}):"
               r"(?P<M>\d{2})(?::(?P<S>\d{2})(?:\.(?P<f>\d{1,6}))?)?)?"
               r"\s*(?P<z>Z|[+-]\d{2}:?\d{2})?", re.ASCII),
    re.compile(r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日\s*(?:(?P<H>\d{1,2})[:时]"
               r"(?P<M>\d{2})(?:[:分](?P<S>\d{2})秒?)?)?", re.ASCII),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})(?:[ T]?(?P<H>\d{2})(?P<M>\d{2})"
               r"(?P<S>\d{2}))?", re.ASCII),
)
_EXCEL_SERIAL = re.compile(r"\d{5}(?:\.\d+)?")


def parse_paid_at(raw: str, zone: ZoneInfo, now: datetime) -> datetime:
    """A date and time of day; without an offset, in `zone`. Raises `FieldError`."""
    text = unicodedata.normalize("NFKC", raw).strip()
    match = next((m for p in _TIMES if (m := p.fullmatch(text))), None)
    if match is None:
        hint = " (an Excel date number? format the column as text)" \
            if _EXCEL_SERIAL.fullmatch(text) else ""
        raise FieldError(f"{raw[:30]!r} is not a date and time such as 2026-12-05 14:30:00{hint}")
    if match["H"] is None:
        raise FieldError("has no time of day; give the time the payment was made,"
                         " such as 2026-12-05 14:30:00")
    try:
        when = datetime(int(match["y"]), int(match["m"]), int(match["d"]), int(match["H"]),
                        int(match["M"]), int(match["S"] or 0),
                        int((match.groupdict().get("f") or "0").ljust(6, "0")),
                        tzinfo=_offset(match.groupdict().get("z"), zone))
    except ValueError:
        raise FieldError(f"{raw[:30]!r} is not a valid date and time") from None
    if when > now:
        raise FieldError(f"{when.isoformat()} is in the future")
    return when


def _offset(text: str | None, zone: ZoneInfo) -> tzinfo:
    return zone if text is None else datetime.strptime(text, "%z").tzinfo or UTC


def payment_digest(account_no: str, amount: Decimal, paid_at: datetime) -> str:
    """The reference of a payment the bank gave none: its account, amount and time."""
    key = f"{account_no}|{amount:.2f}|{paid_at.astimezone(UTC).isoformat()}"
    return "sha256:" + hashlib.sha256(key.encode()).hexdigest()


_REFERENCE = re.compile(r"[^\x00-\x1f\x7f]{1,128}")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CTX = RowContext("CN", datetime.min.date())  # amounts and account numbers only


class _Rows:
    """Data records to accepted payments and row errors; remembers each reference."""

    def __init__(self, header: tuple[str, ...], zone: ZoneInfo, now: datetime) -> None:
        self.header, self.zone, self.now = header, zone, now
        self.read = 0
        self.accepted: list[PaymentRow] = []
        self.rejected: list[RowError] = []
        self.seen: dict[str, PaymentRow] = {}

    def add(self, number: int, record: list[str]) -> None:
        if not "".join(record).strip():
            return
        self.read += 1
        if len(record) != len(self.header):
            self.rejected.append(RowError(number, None, f"the row has {len(record)} fields,"
                                          f" the header has {len(self.header)}", None))
            return
        values = {k: v.strip() for k, v in zip(self.header, record, strict=True)}
        row = self._row(number, values)
        account = _CONTROL.sub("\ufffd", values["account_no"][:64]) or None  # no NUL in SQL
        if isinstance(row, list):
            self.rejected.extend(RowError(number, c, r, account) for c, r in row)
        elif (problem := self._repeated(row)) is not None:
            self.rejected.append(RowError(number, "reference", problem, account))
        else:
            self.accepted.append(row)

    def _row(self, number: int, values: Mapping[str, str]) -> PaymentRow | list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        account = _field(errors, "account_no", values, lambda v: parse_account_no(v, _CTX))
        amount = _field(errors, "amount", values, _positive_amount)
        paid_at = _field(errors, "paid_at", values,
                         lambda v: parse_paid_at(v, self.zone, self.now))
        reference = values.get("reference", "")
        if reference and not _REFERENCE.fullmatch(reference):
            errors.append(("reference", "reference must be 1-128 characters without line"
                           " breaks or control characters"))
        if errors or account is None or amount is None or paid_at is None:
            return errors
        return PaymentRow(number, account, amount, paid_at,
                          reference or payment_digest(account, amount, paid_at))

    def _repeated(self, row: PaymentRow) -> str | None:
        first = self.seen.setdefault(row.reference, row)
        if first is row:
            return None
        if (first.account_no, first.amount, first.paid_at) == (
                row.account_no, row.amount, row.paid_at):
            return f"duplicate row: the same payment as row {first.row_number}"
        return f"reference already used at row {first.row_number} for a different payment"


def _field(errors: list[tuple[str, str]], column: str, values: Mapping[str, str],
           parse: Callable[[str], T]) -> T | None:
    raw = values.get(column, "")
    if not raw:
        errors.append((column, f"{column} is required"))
        return None
    try:
        return parse(raw)
    except FieldError as exc:
        errors.append((column, f"{column} {exc.reason}"))
        return None


def _positive_amount(raw: str) -> Decimal:
    amount = parse_amount(raw, _CTX)
    if amount <= 0:
        raise FieldError("must be more than 0")
    return amount


@dataclass(frozen=True, slots=True)
class Payment:
    id: int
    case_id: int
    amount: Decimal
    paid_at: datetime
    reference: str
    import_id: int | None
    created_at: datetime

    def as_json(self) -> dict[str, object]:
        return {"id": self.id, "case_id": self.case_id, "amount": str(self.amount),
                "paid_at": self.paid_at.isoformat(), "reference": self.reference,
                "import_id": self.import_id, "created_at": self.created_at.isoformat()}


@dataclass(frozen=True, slots=True)
class ImportReport:
    """What an import did; `encoding` and `resolved` only right after the import."""

    import_id: int
    client_id: int
    file_name: str
    file_sha256: str
    imported_at: datetime
    imported_by: int | None
    rows_read: int
    rows_accepted: int
    rows_rejected: int
    rows_duplicate: int
    amount_accepted: Decimal
    rejections: tuple[RowError, ...] = ()
    encoding: str | None = None
    resolved: promises.Resolved | None = None

    def as_json(self, *, rejections: bool = True) -> dict[str, object]:
        body: dict[str, object] = {
            "import_id": self.import_id, "client_id": self.client_id,
            "file_name": self.file_name, "file_sha256": self.file_sha256,
            "imported_at": self.imported_at.isoformat(), "imported_by": self.imported_by,
            "rows_read": self.rows_read, "rows_accepted": self.rows_accepted,
            "rows_rejected": self.rows_rejected, "rows_duplicate": self.rows_duplicate,
            "amount_accepted": str(self.amount_accepted),
        }
        if self.encoding is not None:
            body["encoding"] = self.encoding
        if rejections:
            body["rejections"] = [{"row": r.row_number, "column": r.column,
                                   "reason": r.reason, "account_no": r.account_no}
                                  for r in self.rejections]
        if self.resolved is not None:
            body["promises"] = self.resolved.as_json()
        return body


_STAGE = """CREATE TEMP TABLE stage_payments (row_number integer, account_no text,
    amount numeric(18,2), paid_at timestamptz, reference text) ON COMMIT DROP"""
_INSERT = """
INSERT INTO payments (client_id, case_id, amount, paid_at, reference, import_id, created_at)
SELECT $1, c.id, s.amount, s.paid_at, s.reference, $2, $3
FROM stage_payments s JOIN cases c ON c.client_id = $1 AND c.account_no = s.account_no
ORDER BY s.row_number
ON CONFLICT (client_id, reference) DO NOTHING
"""
_OUTCOMES = """
SELECT s.row_number, s.account_no, c.id AS case_id, p.import_id,
       coalesce(p.import_id = $2, false) AS inserted,
       coalesce(p.case_id = c.id AND p.amount = s.amount AND p.paid_at = s.paid_at,
                false) AS same
FROM stage_payments s
LEFT JOIN cases c ON c.client_id = $1 AND c.account_no = s.account_no
LEFT JOIN payments p ON p.client_id = $1 AND p.reference = s.reference
ORDER BY s.row_number
"""


async def import_payments(
    pool: asyncpg.Pool, actor: audit.Actor, client: Client, file_name: str, data: bytes,
    *, now: datetime,
) -> ImportReport:
    """Record one payment file of `client`, then resolve its promises."""
    parsed = await asyncio.to_thread(parse_payments, data, zone=ZoneInfo(client.time_zone),
                                     now=now)
    async with pool.acquire() as conn, conn.transaction():
        import_id = await _insert_import(conn, actor, client, file_name, parsed, now)
        case_ids = await _load(conn, client, import_id, parsed, now)
        report = await import_report(conn, import_id)
        counts = report.as_json(rejections=False)
        await audit.record(conn, actor, "payment.import", record_type="payment_import",
                           record_id=import_id, client_id=client.id,
                           details={k: counts[k] for k in _AUDITED})
    logger.info("payment import %s for client %s: %d accepted, %d duplicate, %d rejected",
                import_id, client.code, report.rows_accepted, report.rows_duplicate,
                report.rows_rejected)
    resolved = await promises.resolve(pool, now, client_id=client.id, case_ids=case_ids,
                                      trigger=f"payment_import {import_id}")
    return replace(report, encoding=parsed.encoding, resolved=resolved)


_AUDITED = ("file_name", "file_sha256", "rows_read", "rows_accepted", "rows_rejected",
            "rows_duplicate", "amount_accepted")


async def _insert_import(conn: store.Conn, actor: audit.Actor, client: Client, file_name: str,
                         parsed: ParsedPayments, now: datetime) -> int:
    import_id: int = await conn.fetchval(
        "INSERT INTO payment_imports (client_id, file_name, file_sha256, imported_at,"
        " imported_by, rows_read, rows_accepted, rows_rejected, rows_duplicate)"
        " VALUES ($1, $2, $3, $4, $5, $6, 0, 0, 0) RETURNING id",
        client.id, file_name[:255], parsed.sha256, now,
        actor.user.id if actor.user else None, parsed.rows_read,
    )
    return import_id


async def _load(conn: store.Conn, client: Client, import_id: int, parsed: ParsedPayments,
                now: datetime) -> list[int]:
    """Insert the accepted rows; store every rejection; the cases the file pays."""
    await conn.execute(_STAGE)
    await conn.copy_records_to_table("stage_payments", records=[
        (r.row_number, r.account_no, r.amount, r.paid_at, r.reference) for r in parsed.accepted])
    await conn.execute(_INSERT, client.id, import_id, now)
    rejected, counts, case_ids = list(parsed.rejected), {"new": 0, "same": 0}, set()
    for row in await conn.fetch(_OUTCOMES, client.id, import_id):
        problem = _load_problem(row, client.code)
        if problem is not None:
            rejected.append(RowError(row["row_number"], problem[0], problem[1],
                                     row["account_no"]))
            continue
        counts["new" if row["inserted"] else "same"] += 1
        case_ids.add(row["case_id"])
    await conn.copy_records_to_table("payment_rejections", records=[
        (import_id, e.row_number, e.column, e.reason, e.account_no) for e in rejected])
    await conn.execute(
        "UPDATE payment_imports SET rows_accepted = $2, rows_rejected = $3,"
        " rows_duplicate = $4 WHERE id = $1", import_id, counts["new"],
        len({e.row_number for e in rejected}), counts["same"],
    )
    return sorted(case_ids)


def _load_problem(row: asyncpg.Record, client_code: str) -> tuple[str, str] | None:
    if row["case_id"] is None:
        return "account_no", f"unknown account: no case of {client_code} has this account number"
    if not (row["inserted"] or row["same"]):
        return "reference", ("reference already recorded for a different payment"
                             f" (import {row['import_id']})")
    return None


_IMPORT_SQL = """SELECT i.*, (SELECT coalesce(sum(amount), 0) FROM payments p
    WHERE p.import_id = i.id) AS amount_accepted FROM payment_imports i"""


def _report(row: asyncpg.Record, rejections: tuple[RowError, ...] = ()) -> ImportReport:
    return ImportReport(
        import_id=row["id"], client_id=row["client_id"], file_name=row["file_name"],
        file_sha256=row["file_sha256"], imported_at=row["imported_at"],
        imported_by=row["imported_by"], rows_read=row["rows_read"],
        rows_accepted=row["rows_accepted"], rows_rejected=row["rows_rejected"],
        rows_duplicate=row["rows_duplicate"], amount_accepted=row["amount_accepted"],
        rejections=rejections,
    )


async def import_report(db: store.Db, import_id: int) -> ImportReport:
    """One import with its rejections, in row order."""
    row = await db.fetchrow(f"{_IMPORT_SQL} WHERE i.id = $1", import_id)
    if row is None:
        raise NotFound("payment_import.not_found", "no such payment import")
    rejected = await db.fetch(
        "SELECT row_number, column_name, reason, account_no FROM payment_rejections"
        " WHERE import_id = $1 ORDER BY row_number, column_name NULLS FIRST", import_id)
    return _report(row, tuple(RowError(r["row_number"], r["column_name"], r["reason"],
                                       r["account_no"]) for r in rejected))


async def list_imports(db: store.Db, client_id: int, *, after: int = 0,
                       limit: int = 50) -> list[ImportReport]:
    """A client's imports, newest first, before the keyset cursor `after` (0: newest)."""
    rows = await db.fetch(
        f"{_IMPORT_SQL} WHERE i.client_id = $1 AND ($2::bigint = 0 OR i.id < $2)"
        " ORDER BY i.id DESC LIMIT $3", client_id, after, limit)
    return [_report(r) for r in rows]


async def case_payments(db: store.Db, case_id: int, limit: int = 1000) -> list[Payment]:
    """A case's payments, latest first."""
    rows = await db.fetch(
        "SELECT id, case_id, amount, paid_at, reference, import_id, created_at FROM payments"
        " WHERE case_id = $1 ORDER BY paid_at DESC, id DESC LIMIT $2", case_id, limit)
    return [Payment(**dict(r)) for r in rows]
