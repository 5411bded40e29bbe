"""A bank's case batch file: bytes in, accepted rows and rejections out.

`parse_batch(data, default_region=..., today=...)` is pure: no IO, no clock.

The file is CSV with a header row, UTF-8 (a BOM is allowed) or GB18030. The
encoding is detected: strict UTF-8 first, then strict GB18030; if both fail the
file is refused with the offset of the first byte that is not UTF-8. Line ends
may be CRLF or LF; quoted fields may hold commas and line breaks.

Header names are trimmed and compared case-insensitively; columns come in any
order. The required and optional columns are `REQUIRED_COLUMNS` and
`OPTIONAL_COLUMNS`; a blank, repeated or unknown column name, or a missing
required one, refuses the whole file with a `BatchFileError` (see `ERROR_IDS`).
So do an empty file, a workbook instead of CSV and broken CSV quoting.

Every other problem belongs to a row: the row is rejected with one `RowError` per
problem (row number, column, reason) and the file carries on. Row numbers are
the ones a spreadsheet shows: the header is row 1, and blank rows are skipped but
still counted. An account number seen earlier in the same file is rejected at
every later row. The column rules are in `cases.batchrows`.

Phones: `mobile` (required, must be a mobile number), `home_phone` and
`work_phone` are the debtor's, of that kind. Guarantor and contact phones are of
kind `mobile`, or `home` when a fixed line (`work` for an employer contact); each
needs its name column. A number already in the row is not listed twice.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from typing import TypeVar

import phonenumbers

from cases import batchrows as rules
from cases.batchrows import AccountType, Bucket, PhoneKind, Product, bucket_for, mask_id
from cases.domain import Party
from cases.errors import InvalidInput

__all__ = [
    "ERROR_IDS", "OPTIONAL_COLUMNS", "REQUIRED_COLUMNS", "AccountType", "BatchFileError",
    "Bucket", "CaseRow", "Encoding", "ParsedBatch", "Party", "PhoneKind", "PhoneRow",
    "Product", "RowError", "bucket_for", "decode", "mask_id", "parse_batch",
]

REQUIRED_COLUMNS = ("account_no", "debtor_name", "debtor_id_no", "product", "balance",
                    "days_past_due", "mobile")
OPTIONAL_COLUMNS = (
    "account_type", "currency", "principal", "last_payment_date", "last_payment_amount",
    "address", "city", "time_zone", "home_phone", "work_phone", "employer", "guarantor_name",
    "guarantor_phone", "contact1_name", "contact1_relation", "contact1_phone",
    "contact2_name", "contact2_relation", "contact2_phone", "note",
)
_KNOWN_COLUMNS = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
T = TypeVar("T")
F = TypeVar("F")

ERROR_IDS = {
    "batch.empty": "the file has no header row",
    "batch.not_csv": "the file is a spreadsheet workbook, not CSV",
    "batch.bad_encoding": "the file is neither UTF-8 nor GB18030",
    "batch.malformed_csv": "the CSV quoting is broken",
    "batch.no_header": "the first row names none of the known columns",
    "batch.blank_column": "a header column has no name",
    "batch.duplicate_column": "a column name appears twice in the header",
    "batch.unknown_column": "the header names columns this format does not have",
    "batch.missing_column": "a required column is missing from the header",
}


class BatchFileError(InvalidInput, ValueError):
    """The file as a whole cannot be read; no row of it is imported."""

    def __init__(self, error_id: str, message: str,
                 details: Mapping[str, object] | None = None) -> None:
        assert error_id in ERROR_IDS, error_id
        super().__init__(error_id, message, details)


class Encoding(StrEnum):
    UTF8 = "utf-8"
    UTF8_BOM = "utf-8-sig"
    GB18030 = "gb18030"


@dataclass(frozen=True, slots=True)
class PhoneRow:
    e164: str
    party: Party
    kind: PhoneKind
    name: str | None  # None for the debtor's own phones
    relation: str | None  # as the bank wrote it: 配偶, 同事, spouse


@dataclass(frozen=True, slots=True)
class CaseRow:
    """One accepted row; `row_number` is the spreadsheet row (the header is row 1)."""

    row_number: int
    account_no: str
    debtor_name: str
    debtor_id_no: str
    product: Product
    account_type: AccountType
    currency: str
    principal: Decimal | None
    balance: Decimal
    days_past_due: int
    bucket: Bucket
    last_payment_date: date | None
    last_payment_amount: Decimal | None
    address: str | None
    city: str | None
    time_zone: str | None
    employer: str | None
    note: str | None
    phones: tuple[PhoneRow, ...]


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem of a rejected row; `column` is None when it is the whole row."""

    row_number: int
    column: str | None
    reason: str
    account_no: str | None


@dataclass(frozen=True, slots=True)
class ParsedBatch:
    encoding: Encoding
    sha256: str  # hex digest of the bytes as received
    rows_read: int  # data rows, blank rows not counted
    accepted: tuple[CaseRow, ...]
    rejected: tuple[RowError, ...]  # every problem of every rejected row, in row order

    @property
    def rows_rejected(self) -> int:
        return len({error.row_number for error in self.rejected})


def parse_batch(data: bytes, *, default_region: str = "CN", today: date) -> ParsedBatch:
    """Read a whole batch file. `default_region` (ISO 3166, e.g. "CN") reads phone
    numbers written without a country code; `today` is the client's local date,
    after which no date in the file may fall. Raises `BatchFileError`."""
    if default_region not in phonenumbers.SUPPORTED_REGIONS:
        raise ValueError(f"unknown phone region {default_region!r}")
    encoding, text = decode(data)
    records = _records(text)
    header = _read_header(records)
    rows = _Rows(header, rules.RowContext(default_region, today))
    for number, record in records:
        rows.add(number, record)
    return ParsedBatch(encoding, hashlib.sha256(data).hexdigest(), rows.read,
                       tuple(rows.accepted), tuple(rows.rejected))


_WORKBOOKS = (b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1")  # .xlsx (zip), .xls (OLE)


def decode(data: bytes) -> tuple[Encoding, str]:
    """The text of the file and the encoding it was found to be in."""
    if data.startswith(_WORKBOOKS):
        raise BatchFileError("batch.not_csv", "the file is an Excel workbook, not CSV;"
                             " save it as CSV (UTF-8 or GB18030) and send that")
    bom = len(codecs.BOM_UTF8) if data.startswith(codecs.BOM_UTF8) else 0
    try:
        return (Encoding.UTF8_BOM if bom else Encoding.UTF8), data[bom:].decode("utf-8")
    except UnicodeDecodeError as exc:
        offset = bom + exc.start
    try:
        return Encoding.GB18030, data.decode("gb18030").removeprefix("\ufeff")
    except UnicodeDecodeError:
        utf16 = " (it looks like UTF-16)" if data.startswith((b"\xff\xfe", b"\xfe\xff")) else ""
        raise BatchFileError(
            "batch.bad_encoding", f"the file is not UTF-8 or GB18030{utf16}: byte offset"
            f" {offset} is the first byte that is not valid UTF-8",
            {"utf8_error_offset": offset},
        ) from None


def _records(text: str) -> Iterator[tuple[int, list[str]]]:
    """(row number, fields) for every CSV record, blank ones included."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    try:
        yield from enumerate(reader, start=1)
    except csv.Error as exc:
        raise BatchFileError(
            "batch.malformed_csv", f"the file is not valid CSV at line {reader.line_num}:"
            f" {exc} (an unclosed or stray quote?)", {"line": reader.line_num},
        ) from None


def _blank(record: list[str]) -> bool:
    return not "".join(record).strip()


def _read_header(records: Iterator[tuple[int, list[str]]]) -> tuple[str, ...]:
    for _, record in records:
        if not _blank(record):
            return check_header(record)
    raise BatchFileError("batch.empty", "the file is empty: it has no header row")


def check_header(record: list[str]) -> tuple[str, ...]:
    """The normalised column names of a header record, or `BatchFileError`."""
    names = tuple(name.strip().lower() for name in record)
    if _KNOWN_COLUMNS.isdisjoint(names):
        raise BatchFileError(
            "batch.no_header", "the first row is not a header: it names none of the"
            f" columns {', '.join(REQUIRED_COLUMNS)}",
        )
    _refuse_blank(names)
    _refuse_duplicates(names)
    _refuse_unknown(names)
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    if missing:
        raise BatchFileError("batch.missing_column", "required column(s) missing:"
                             f" {', '.join(missing)}", {"columns": missing})
    return names


def _refuse_blank(names: tuple[str, ...]) -> None:
    blank = [position for position, name in enumerate(names, start=1) if not name]
    if blank:
        raise BatchFileError("batch.blank_column", "header column(s) without a name at"
                             f" position {', '.join(map(str, blank))}", {"positions": blank})


def _refuse_duplicates(names: tuple[str, ...]) -> None:
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        raise BatchFileError("batch.duplicate_column", "column(s) named more than once in"
                             f" the header: {', '.join(repeated)}", {"columns": repeated})


def _refuse_unknown(names: tuple[str, ...]) -> None:
    unknown = [name for name in names if name not in _KNOWN_COLUMNS]
    if not unknown:
        return
    missing = [c for c in REQUIRED_COLUMNS if c not in names]
    hint = f"; required column(s) missing: {', '.join(missing)}" if missing else ""
    raise BatchFileError(
        "batch.unknown_column", f"unknown column(s): {', '.join(unknown)}{hint}. Known"
        f" columns: {', '.join(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)}",
        {"columns": unknown, "missing": missing},
    )


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")


class _Rows:
    """Turns data records into accepted rows and row errors, remembering the row at
    which each account number was first seen."""

    def __init__(self, header: tuple[str, ...], ctx: rules.RowContext) -> None:
        self.header = header
        self.ctx = ctx
        self.read = 0
        self.accepted: list[CaseRow] = []
        self.rejected: list[RowError] = []
        self.first_seen: dict[str, int] = {}

    def add(self, number: int, record: list[str]) -> None:
        if _blank(record):
            return
        self.read += 1
        if len(record) != len(self.header):
            self.rejected.append(RowError(number, None, f"the row has {len(record)} fields,"
                                          f" the header has {len(self.header)}", None))
            return
        values = dict(zip(self.header, record, strict=True))
        account_no = values["account_no"].strip()
        result = parse_row(values, number, self.ctx)
        duplicate = self._duplicate(account_no, number)
        if isinstance(result, CaseRow) and not duplicate:
            self.accepted.append(result)
            return
        problems = duplicate + ([] if isinstance(result, CaseRow) else result)
        shown = _CONTROL.sub("\ufffd", account_no[:64]) or None  # PostgreSQL refuses NUL
        self.rejected.extend(RowError(number, c, reason, shown) for c, reason in problems)

    def _duplicate(self, account_no: str, number: int) -> list[tuple[str, str]]:
        first = self.first_seen.setdefault(account_no, number) if account_no else number
        if first == number:
            return []
        return [("account_no", f"duplicate account_no, first seen at row {first}")]


def parse_row(values: Mapping[str, str], row_number: int,
              ctx: rules.RowContext) -> CaseRow | list[tuple[str, str]]:
    """One data row (column -> text) as a `CaseRow`, or its (column, reason) list."""
    f = _Fields(values, ctx)
    row = CaseRow(
        row_number=row_number,
        account_no=f.required("account_no", rules.parse_account_no, ""),
        debtor_name=f.required("debtor_name", rules.parse_name, ""),
        debtor_id_no=f.required("debtor_id_no", rules.parse_resident_id, ""),
        product=f.required("product", rules.parse_product, Product.CREDIT_CARD),
        account_type=f.optional("account_type", rules.parse_account_type) or AccountType.ON_BALANCE,
        currency=f.optional("currency", rules.parse_currency) or "CNY",
        principal=f.optional("principal", rules.parse_amount),
        balance=f.required("balance", rules.parse_amount, Decimal(0)),
        days_past_due=(days := f.required("days_past_due", rules.parse_days, 0)),
        bucket=bucket_for(days),
        last_payment_date=f.optional("last_payment_date", rules.parse_past_date),
        last_payment_amount=f.optional("last_payment_amount", rules.parse_amount),
        address=f.optional("address", rules.parse_address),
        city=f.optional("city", rules.parse_city),
        time_zone=f.optional("time_zone", rules.parse_time_zone),
        employer=f.optional("employer", rules.parse_employer),
        note=f.optional("note", rules.parse_note),
        phones=_phones(f),
    )
    return f.errors or row


class _Fields:
    """Runs column parsers over one row and collects (column, reason) for each
    failure; a failed field yields its fallback so the row can still be built."""

    __slots__ = ("ctx", "errors", "values")

    def __init__(self, values: Mapping[str, str], ctx: rules.RowContext) -> None:
        self.values = values
        self.ctx = ctx
        self.errors: list[tuple[str, str]] = []

    def raw(self, column: str) -> str:
        return self.values.get(column, "").strip()

    def required(self, column: str, parse: rules.Parser[T], fallback: F) -> T | F:
        raw = self.raw(column)
        if not raw:
            self.fail(column, "is required")
            return fallback
        return self._run(column, raw, parse, fallback)

    def optional(self, column: str, parse: rules.Parser[T]) -> T | None:
        raw = self.raw(column)
        return self._run(column, raw, parse, None) if raw else None

    def _run(self, column: str, raw: str, parse: rules.Parser[T], fallback: F) -> T | F:
        try:
            return parse(raw, self.ctx)
        except rules.FieldError as exc:
            self.fail(column, exc.reason)
            return fallback

    def fail(self, column: str, reason: str) -> None:
        self.errors.append((column, f"{column} {reason}"))


@dataclass(frozen=True, slots=True)
class _PhoneColumn:
    phone: str
    party: Party | None = None  # None: from the relation column
    kind: PhoneKind | None = None  # None: from the number (mobile or fixed line)
    name: str | None = None  # the column with the party's name, required with a phone
    relation: str | None = None


_PHONE_COLUMNS = (
    _PhoneColumn("home_phone", Party.DEBTOR, PhoneKind.HOME),
    _PhoneColumn("work_phone", Party.DEBTOR, PhoneKind.WORK),
    _PhoneColumn("guarantor_phone", Party.GUARANTOR, name="guarantor_name"),
    _PhoneColumn("contact1_phone", name="contact1_name", relation="contact1_relation"),
    _PhoneColumn("contact2_phone", name="contact2_name", relation="contact2_relation"),
)


def _phones(f: _Fields) -> tuple[PhoneRow, ...]:
    """The debtor's mobile first, then the other phones; a repeated number is kept
    once, under its first column."""
    mobile = f.required("mobile", rules.parse_mobile, None)
    phones = [PhoneRow(mobile.e164, Party.DEBTOR, PhoneKind.MOBILE, None, None)] if mobile else []
    for column in _PHONE_COLUMNS:
        phone = _phone(f, column)
        if phone is not None and all(p.e164 != phone.e164 for p in phones):
            phones.append(phone)
    return tuple(phones)


def _phone(f: _Fields, column: _PhoneColumn) -> PhoneRow | None:
    """A name or relation without a phone has nowhere to go, so it is not read."""
    if not f.raw(column.phone):
        return None
    name = f.optional(column.name, rules.parse_name) if column.name else None
    relation = f.optional(column.relation, rules.parse_relation) if column.relation else None
    if column.name and not f.raw(column.name):
        f.fail(column.name, f"is required when {column.phone} is given")
    number = f.optional(column.phone, rules.parse_phone)
    if number is None:
        return None
    party = column.party or rules.party_for_relation(relation)
    return PhoneRow(number.e164, party, column.kind or _kind(number, party), name, relation)


def _kind(number: rules.Number, party: Party) -> PhoneKind:
    if number.mobile:
        return PhoneKind.MOBILE
    return PhoneKind.WORK if party is Party.EMPLOYER else PhoneKind.HOME
