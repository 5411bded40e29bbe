"""The bank batch file parser: encodings, the header, every row rule, row numbers."""

from __future__ import annotations

import csv
import hashlib
import io
import re
from collections.abc import Mapping
from datetime import date
from decimal import Decimal
from pathlib import Path

import phonenumbers
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cases.batchfile import (
    ERROR_IDS,
    AccountType,
    BatchFileError,
    Bucket,
    CaseRow,
    Encoding,
    ParsedBatch,
    Party,
    PhoneKind,
    PhoneRow,
    Product,
    bucket_for,
    mask_id,
    parse_batch,
)
from cases.batchrows import _read_number, party_for_relation
from cases.samplebatch import DEFECTS, generate_batch, generate_rows, resident_id, to_csv

TODAY = date(2026, 11, 29)
DATA = Path(__file__).resolve().parents[1] / "data" / "batches"
ID1 = resident_id("110105", date(1985, 3, 12), 123)  # 110105198503121234
ID2 = resident_id("310104", date(1990, 1, 1), 10)  # 31010419900101010X
WRONG_CHECK = ID1[:-1] + "5"
GOOD = {"account_no": "C1", "debtor_name": "王伟", "debtor_id_no": ID1,
        "product": "credit_card", "balance": "1000.00", "days_past_due": "45",
        "mobile": "13800138000"}


def batch(*rows: Mapping[str, str], encoding: str = "utf-8") -> bytes:
    """A file with the union of the rows' columns, in order of first appearance."""
    columns = list(dict.fromkeys(c for row in rows for c in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\r\n", restval="")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def parse(data: bytes) -> ParsedBatch:
    return parse_batch(data, default_region="CN", today=TODAY)


def one_row(**changes: str) -> ParsedBatch:
    return parse(batch(GOOD | changes))


def problems(**changes: str) -> list[tuple[str | None, str]]:
    result = one_row(**changes)
    assert not result.accepted
    return [(e.column, e.reason) for e in result.rejected]


def file_error(data: bytes) -> BatchFileError:
    with pytest.raises(BatchFileError) as caught:
        parse(data)
    assert caught.value.error_id in ERROR_IDS
    return caught.value


# -- the fixtures a bank would send -------------------------------------------


def test_gb18030_file_with_chinese_labels() -> None:
    result = parse((DATA / "gb18030.csv").read_bytes())
    assert result.encoding is Encoding.GB18030
    assert result.rows_read == 4
    first, second, third = result.accepted
    assert (first.debtor_name, first.product, first.account_type) == (
        "王伟", Product.CREDIT_CARD, AccountType.ON_BALANCE)
    assert (first.balance, first.principal, first.bucket) == (
        Decimal("12345.67"), Decimal("20000.00"), Bucket.M2)
    assert first.note == "客户称下月还款, 已发短信"
    assert [(p.e164, p.party, p.name, p.relation) for p in first.phones] == [
        ("+8613800138000", Party.DEBTOR, None, None),
        ("+8613900139000", Party.GUARANTOR, "李娜", None),
        ("+8613700137000", Party.RELATIVE, "王芳", "配偶"),
    ]
    assert (second.debtor_id_no, second.product, second.account_type, second.balance) == (
        ID2, Product.PERSONAL_LOAN, AccountType.WRITTEN_OFF, Decimal("5000"))
    assert (third.product, third.account_type, third.balance, third.bucket) == (
        Product.PERSONAL_LOAN, AccountType.TRANSFERRED, Decimal("123.45"), Bucket.M0)
    assert third.phones[1] == PhoneRow("+861062345678", Party.EMPLOYER, PhoneKind.WORK, "陈静",
                                       "同事")
    assert [(e.row_number, e.column) for e in result.rejected] == [(5, "mobile")]


def test_utf8_with_bom_crlf_and_a_loose_header() -> None:
    result = parse((DATA / "utf8_bom.csv").read_bytes())
    assert result.encoding is Encoding.UTF8_BOM
    assert result.rows_read == 3
    first, second = result.accepted
    assert first.row_number == 2
    assert first.note == "第一行\n第二行, 带逗号"
    assert first.last_payment_date == date(2026, 10, 15)
    assert first.phones[1].party is Party.RELATIVE
    assert (second.row_number, second.debtor_id_no) == (4, ID2)  # blank row 3 is counted
    assert (second.last_payment_date, second.time_zone) == (date(2026, 9, 1), "Asia/Urumqi")
    assert [(e.row_number, e.column) for e in result.rejected] == [
        (5, "debtor_id_no"), (5, "last_payment_date"), (5, "time_zone")]
    assert result.rows_rejected == 1


def test_gb18030_and_utf8_give_the_same_rows() -> None:
    text_rows = (GOOD, GOOD | {"account_no": "C2", "debtor_name": "欧阳娜娜", "product": "个贷"})
    utf8 = parse(batch(*text_rows))
    gb = parse(batch(*text_rows, encoding="gb18030"))
    assert (utf8.encoding, gb.encoding) == (Encoding.UTF8, Encoding.GB18030)
    assert gb.accepted == utf8.accepted


def test_sha256_is_of_the_bytes_as_received() -> None:
    data = batch(GOOD)
    assert parse(data).sha256 == hashlib.sha256(data).hexdigest()
    assert parse(data).sha256 != parse(b"\xef\xbb\xbf" + data).sha256


# -- file-level errors ----------------------------------------------------------


def test_neither_utf8_nor_gb18030_names_the_first_bad_byte() -> None:
    data = batch(GOOD)
    error = file_error(data + b"\xff\xfe,\n")
    assert error.error_id == "batch.bad_encoding"
    assert error.details == {"utf8_error_offset": len(data)}
    assert f"offset {len(data)}" in error.message and "GB18030" in error.message


def test_bad_byte_offset_counts_the_bom() -> None:
    error = file_error(b"\xef\xbb\xbfaccount_no\xff")
    assert error.details == {"utf8_error_offset": 13}


def test_utf16_is_named() -> None:
    error = file_error(batch(GOOD, encoding="utf-16"))
    assert error.error_id == "batch.bad_encoding"
    assert "UTF-16" in error.message


@pytest.mark.parametrize("data", [b"", b"\xef\xbb\xbf", b"\r\n\r\n", b" , ,\n,,\n"])
def test_empty_file(data: bytes) -> None:
    assert file_error(data).error_id == "batch.empty"


@pytest.mark.parametrize("magic", [b"PK\x03\x04", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"])
def test_workbook_instead_of_csv(magic: bytes) -> None:
    error = file_error(magic + b"\x00" * 100)
    assert error.error_id == "batch.not_csv"
    assert "CSV" in error.message


def test_first_row_is_data_not_header() -> None:
    data = f"C1,王伟,{ID1},credit_card,100,5,13800138000\n".encode()
    assert file_error(data).error_id == "batch.no_header"


def test_missing_required_columns_are_named() -> None:
    row = dict(GOOD)
    del row["mobile"], row["balance"]
    error = file_error(batch(row))
    assert error.error_id == "batch.missing_column"
    assert error.details == {"columns": ["balance", "mobile"]}
    assert "balance, mobile" in error.message


def test_unknown_columns_are_named() -> None:
    error = file_error(batch(GOOD | {"favourite_colour": "red", "Shoe Size": "42"}))
    assert error.error_id == "batch.unknown_column"
    assert error.details == {"columns": ["favourite_colour", "shoe size"], "missing": []}
    assert "favourite_colour, shoe size" in error.message


def test_misspelt_column_also_mentions_what_is_missing() -> None:
    row = {("moblie" if k == "mobile" else k): v for k, v in GOOD.items()}
    error = file_error(batch(row))
    assert error.error_id == "batch.unknown_column"
    assert error.details == {"columns": ["moblie"], "missing": ["mobile"]}
    assert "missing: mobile" in error.message


def test_duplicate_header_column_is_refused_whatever_its_case() -> None:
    header = ",".join(GOOD) + ", MOBILE \n"
    error = file_error(header.encode())
    assert error.error_id == "batch.duplicate_column"
    assert error.details == {"columns": ["mobile"]}


def test_blank_header_column_is_refused() -> None:
    header = ",".join(GOOD) + ",,note\n"
    error = file_error(header.encode())
    assert (error.error_id, error.details) == ("batch.blank_column", {"positions": [8]})


def test_unclosed_quote_stops_the_file() -> None:
    data = batch(GOOD) + b'C2,"unclosed,x,credit_card,1,1,13800138000\r\nC3,a,b,c,d,e,f\r\n'
    error = file_error(data)
    assert error.error_id == "batch.malformed_csv"
    assert "line" in error.details


def test_header_only_is_an_empty_batch() -> None:
    result = parse(b"account_no,debtor_name,debtor_id_no,product,balance,days_past_due,mobile\n")
    assert (result.rows_read, result.accepted, result.rejected) == (0, (), ())


def test_unknown_phone_region_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="region"):
        parse_batch(batch(GOOD), default_region="XX", today=TODAY)


# -- layout and row numbers --------------------------------------------------------


def test_columns_in_any_order_any_case_with_spaces() -> None:
    header = " Mobile ,BALANCE,days_past_due,product,debtor_id_no,debtor_name,Account_No\n"
    row = f"13800138000,50,3,credit_card,{ID1},王伟,C1\n"
    (case,) = parse((header + row).encode()).accepted
    assert (case.account_no, case.balance, case.phones[0].e164) == (
        "C1", Decimal("50"), "+8613800138000")


def test_lf_and_crlf_read_the_same() -> None:
    crlf = batch(GOOD, GOOD | {"account_no": "C2"})
    lf = crlf.replace(b"\r\n", b"\n")
    assert parse(lf).accepted == parse(crlf).accepted


def test_row_numbers_are_spreadsheet_rows() -> None:
    """A quoted line break stays in its row; a blank row is skipped but counted."""
    data = (batch(GOOD | {"note": "line one\nline two"}) + b"\r\n,,,,,,,\r\n"
            + batch(GOOD | {"account_no": "C4", "balance": "-1", "note": ""}).split(b"\n", 1)[1])
    result = parse(data)
    assert result.rows_read == 2
    assert [e.row_number for e in result.rejected] == [5]


def test_row_with_the_wrong_number_of_fields() -> None:
    data = batch(GOOD) + b"C2,too,few\r\n" + batch(GOOD | {"account_no": "C3"}).split(b"\n")[1]
    result = parse(data + b"\n")
    assert [(e.row_number, e.column, e.account_no) for e in result.rejected] == [(3, None, None)]
    assert "3 fields" in result.rejected[0].reason and "7" in result.rejected[0].reason
    assert [c.account_no for c in result.accepted] == ["C1", "C3"]


# -- accepted values ------------------------------------------------------------


def test_defaults_of_optional_columns() -> None:
    (case,) = one_row().accepted
    assert (case.account_type, case.currency, case.principal, case.time_zone) == (
        AccountType.ON_BALANCE, "CNY", None, None)
    assert (case.days_past_due, case.bucket, case.last_payment_date) == (45, Bucket.M2, None)
    assert case.phones == (PhoneRow("+8613800138000", Party.DEBTOR, PhoneKind.MOBILE, None, None),)


@pytest.mark.parametrize(("text", "amount"), [
    ("1234.56", "1234.56"), ("1,234.56", "1234.56"), ("¥1,234.56", "1234.56"),
    ("￥ 1,234.56", "1234.56"), ("１，２３４．５６", "1234.56"), ("1,234,567", "1234567"),
    ("0", "0"), ("0.00", "0.00"), ("12.5", "12.5"), ("100元", "100"), ("007", "7"),
])
def test_amounts(text: str, amount: str) -> None:
    (case,) = one_row(balance=text).accepted
    assert case.balance == Decimal(amount)
    assert str(case.balance) == amount


@given(st.decimals(min_value=0, max_value=10**15, places=2),
       st.sampled_from(["{:f}", "{:,f}", "¥{:,f}"]))
def test_any_two_place_amount_reads_back_exactly(amount: Decimal, pattern: str) -> None:
    (case,) = one_row(balance=pattern.format(amount)).accepted
    assert case.balance == amount


@pytest.mark.parametrize(("text", "day"), [
    ("2026-01-05", date(2026, 1, 5)), ("2026/1/5", date(2026, 1, 5)),
    ("20260105", date(2026, 1, 5)), ("2026年1月5日", date(2026, 1, 5)),
    ("2026-11-29", TODAY), ("２０２６-０１-０５", date(2026, 1, 5)),
])
def test_dates(text: str, day: date) -> None:
    (case,) = one_row(last_payment_date=text).accepted
    assert case.last_payment_date == day


@pytest.mark.parametrize(("column", "text", "value"), [
    ("product", "信用卡", Product.CREDIT_CARD),
    ("product", "个人贷款", Product.PERSONAL_LOAN),
    ("product", "个贷", Product.PERSONAL_LOAN),
    ("product", "消费贷", Product.PERSONAL_LOAN),
    ("product", "Personal_Loan", Product.PERSONAL_LOAN),
    ("account_type", "表内", AccountType.ON_BALANCE),
    ("account_type", "核销", AccountType.WRITTEN_OFF),
    ("account_type", "转让", AccountType.TRANSFERRED),
    ("account_type", "资产证券化", AccountType.SECURITIZED),
    ("account_type", "securitized", AccountType.SECURITIZED),
    ("currency", "rmb", "CNY"),
    ("currency", "人民币", "CNY"),
    ("currency", "usd", "USD"),
])
def test_codes_and_chinese_labels(column: str, text: str, value: str) -> None:
    (case,) = one_row(**{column: text}).accepted
    assert getattr(case, column) == value


def test_id_numbers_kept_as_given_with_x_upper_cased() -> None:
    (case,) = one_row(debtor_id_no=ID2.lower()).accepted
    assert case.debtor_id_no == ID2
    (old,) = one_row(debtor_id_no="110105850312123").accepted
    assert old.debtor_id_no == "110105850312123"


def test_phone_parties_and_kinds() -> None:
    (case,) = one_row(
        home_phone="021-6123 4567", work_phone="010 62345678", guarantor_name="李娜",
        guarantor_phone="028-61234567", contact1_name="张三", contact1_relation="单位领导",
        contact1_phone="0571-86123456", contact2_name="Mary", contact2_relation="friend",
        contact2_phone="+852 9123 4567",
    ).accepted
    assert [(p.e164, p.party, p.kind, p.name) for p in case.phones] == [
        ("+8613800138000", Party.DEBTOR, PhoneKind.MOBILE, None),
        ("+862161234567", Party.DEBTOR, PhoneKind.HOME, None),
        ("+861062345678", Party.DEBTOR, PhoneKind.WORK, None),
        ("+862861234567", Party.GUARANTOR, PhoneKind.HOME, "李娜"),
        ("+8657186123456", Party.EMPLOYER, PhoneKind.WORK, "张三"),
        ("+85291234567", Party.OTHER, PhoneKind.MOBILE, "Mary"),
    ]


def test_a_number_listed_twice_is_kept_once_under_its_first_column() -> None:
    (case,) = one_row(contact1_name="王芳", contact1_relation="配偶",
                      contact1_phone="+86 138 0013 8000").accepted
    assert [(p.party, p.kind) for p in case.phones] == [(Party.DEBTOR, PhoneKind.MOBILE)]


def test_guarantor_name_without_phone_is_fine() -> None:
    (case,) = one_row(guarantor_name="李娜", contact1_relation="配偶").accepted
    assert len(case.phones) == 1


@pytest.mark.parametrize(("relation", "party"), [
    ("配偶", Party.RELATIVE), ("父亲", Party.RELATIVE), ("母亲", Party.RELATIVE),
    ("儿子", Party.RELATIVE), ("Spouse", Party.RELATIVE), ("mother-in-law", Party.RELATIVE),
    ("同事", Party.EMPLOYER), ("单位", Party.EMPLOYER), ("公司财务", Party.EMPLOYER),
    ("colleague", Party.EMPLOYER), ("Employer HR", Party.EMPLOYER),
    ("朋友", Party.OTHER), ("女朋友", Party.OTHER), ("neighbour", Party.OTHER),
    ("contact person", Party.OTHER), ("", Party.RELATIVE), (None, Party.RELATIVE),
])
def test_party_for_relation(relation: str | None, party: Party) -> None:
    assert party_for_relation(relation) is party


@pytest.mark.parametrize(("days", "bucket"), [
    (0, "M0"), (1, "M1"), (30, "M1"), (31, "M2"), (60, "M2"), (61, "M3"), (90, "M3"),
    (91, "M4"), (120, "M4"), (121, "M5"), (150, "M5"), (151, "M6"), (180, "M6"),
    (181, "M6+"), (3650, "M6+"),
])
def test_bucket_boundaries(days: int, bucket: str) -> None:
    assert bucket_for(days) == bucket
    (case,) = one_row(days_past_due=str(days)).accepted
    assert case.bucket == bucket


def test_bucket_of_negative_days_is_an_error() -> None:
    with pytest.raises(ValueError):
        bucket_for(-1)


# -- row errors -----------------------------------------------------------------


INVALID = [
    # (column, value, the column blamed, part of the reason)
    ("mobile", "12345", "mobile", "not a valid phone number"),
    ("mobile", "abc", "mobile", "not a phone number"),
    ("mobile", "010-62345678", "mobile", "not a mobile"),
    ("mobile", "4008123123", "mobile", "not a mobile"),
    ("mobile", "", "mobile", "is required"),
    ("home_phone", "1380013800", "home_phone", "not a valid phone number"),
    ("work_phone", "call after 6", "work_phone", "not a phone number"),
    ("balance", "-5", "balance", "must not be negative"),
    ("balance", "−5.00", "balance", "must not be negative"),
    ("balance", "(5.00)", "balance", "must not be negative"),
    ("principal", "-0.01", "principal", "must not be negative"),
    ("balance", "12a", "balance", "not an amount"),
    ("balance", "1,23,4", "balance", "not an amount"),
    ("balance", "1.234,56", "balance", "not an amount"),
    ("balance", "$100", "balance", "not an amount"),
    ("balance", "१००", "balance", "not an amount"),  # Devanagari digits
    ("balance", "NaN", "balance", "not a finite amount"),
    ("balance", "Infinity", "balance", "not a finite amount"),
    ("balance", "-inf", "balance", "not a finite amount"),
    ("balance", "1e5", "balance", "exponent notation"),
    ("balance", "1.5E+3", "balance", "exponent notation"),
    ("balance", "1.234", "balance", "more than 2 decimal places"),
    ("balance", "1.000", "balance", "more than 2 decimal places"),
    ("last_payment_amount", "10.999", "last_payment_amount", "more than 2 decimal places"),
    ("balance", "12345678901234567", "balance", "too large"),
    ("balance", "", "balance", "is required"),
    ("days_past_due", "-1", "days_past_due", "must not be negative"),
    ("days_past_due", "1.5", "days_past_due", "not a whole number"),
    ("days_past_due", "40000", "days_past_due", "more than 36500"),
    ("last_payment_date", "2026-02-30", "last_payment_date", "not a valid date"),
    ("last_payment_date", "2026-13-01", "last_payment_date", "not a valid date"),
    ("last_payment_date", "29/11/2026", "last_payment_date", "not a date"),
    ("last_payment_date", "yesterday", "last_payment_date", "not a date"),
    ("last_payment_date", "2026-11-30", "last_payment_date", "in the future"),
    ("debtor_id_no", WRONG_CHECK, "debtor_id_no", "check character does not match"),
    ("debtor_id_no", resident_id("110105", date(2027, 1, 1), 1), "debtor_id_no", "future"),
    ("debtor_id_no", "110105198502301230", "debtor_id_no", "not a valid resident ID"),
    ("debtor_id_no", "110105850230123", "debtor_id_no", "birth date in it is not a date"),
    ("debtor_id_no", "A1234567", "debtor_id_no", "18 characters"),
    ("debtor_id_no", "1.10105E+17", "debtor_id_no", "Excel"),
    ("debtor_id_no", "١١٠١٠٥١٩٨٥٠٣١٢١٢٣٤", "debtor_id_no", "18 characters"),  # Arabic-Indic
    ("account_no", "6.22588E+15", "account_no", "Excel"),
    ("account_no", "C 1", "account_no", "without spaces"),
    ("account_no", "C" * 65, "account_no", "64"),
    ("debtor_name", "", "debtor_name", "is required"),
    ("debtor_name", "王" * 101, "debtor_name", "longer than 100"),
    ("debtor_name", "王\n伟", "debtor_name", "line breaks"),
    ("product", "mortgage", "product", "'mortgage' is not one of credit_card"),
    ("account_type", "bad debt", "account_type", "is not one of on_balance"),
    ("currency", "yuan", "currency", "3-letter"),
    ("time_zone", "Asia/Beijing", "time_zone", "IANA"),
    ("time_zone", "../../etc/passwd", "time_zone", "IANA"),
    ("note", "a\x00b", "note", "control characters"),
    ("city", "北京\n朝阳", "city", "line breaks"),
    ("guarantor_phone", "13912345678", "guarantor_name", "required when guarantor_phone"),
    ("contact1_phone", "13912345678", "contact1_name", "required when contact1_phone"),
    ("contact2_phone", "13912345678", "contact2_name", "required when contact2_phone"),
]


@pytest.mark.parametrize(("column", "value", "blamed", "reason"), INVALID)
def test_invalid_field_rejects_the_row(column: str, value: str, blamed: str,
                                       reason: str) -> None:
    [(got_column, got_reason)] = problems(**{column: value})
    assert got_column == blamed
    assert got_reason.startswith(f"{blamed} ")
    assert reason in got_reason


def test_every_problem_of_a_row_is_reported_in_column_order() -> None:
    result = one_row(debtor_id_no="123", balance="-5", days_past_due="x", mobile="12345",
                     guarantor_phone="13912345678")
    assert [e.column for e in result.rejected] == [
        "debtor_id_no", "balance", "days_past_due", "mobile", "guarantor_name"]
    assert {(e.row_number, e.account_no) for e in result.rejected} == {(2, "C1")}
    assert result.rows_rejected == 1


def test_rejected_rows_do_not_stop_the_file() -> None:
    result = parse(batch(GOOD, GOOD | {"account_no": "C2", "balance": "x"},
                         GOOD | {"account_no": "C3"}))
    assert [c.row_number for c in result.accepted] == [2, 4]
    assert [e.row_number for e in result.rejected] == [3]


def test_duplicate_account_rejected_after_the_first() -> None:
    result = parse(batch(GOOD, GOOD | {"account_no": "C2"}, GOOD, GOOD))
    assert [c.row_number for c in result.accepted] == [2, 3]
    assert [(e.row_number, e.column, e.reason) for e in result.rejected] == [
        (4, "account_no", "duplicate account_no, first seen at row 2"),
        (5, "account_no", "duplicate account_no, first seen at row 2"),
    ]


def test_duplicate_of_a_rejected_row_is_still_a_duplicate() -> None:
    result = parse(batch(GOOD | {"balance": "-1"}, GOOD))
    assert [(e.row_number, e.column) for e in result.rejected] == [
        (2, "balance"), (3, "account_no")]


def test_row_error_without_account_number() -> None:
    result = one_row(account_no="  ")
    assert [(e.column, e.account_no) for e in result.rejected] == [("account_no", None)]


def test_row_error_shows_a_garbled_account_number_without_control_characters() -> None:
    [error] = one_row(account_no="C\x001" + "9" * 100).rejected
    assert error.account_no == "C\ufffd1" + "9" * 61


# -- ID numbers never leak ---------------------------------------------------------


def test_mask_id() -> None:
    assert mask_id(ID1) == "****1234"
    assert mask_id("123456789") == "****6789"
    assert mask_id("12345678") == "****"
    assert mask_id("") == "****"
    assert mask_id("1101051985031212\x00\x00") == "****"


def test_no_error_message_holds_a_full_id_number() -> None:
    ids = [WRONG_CHECK, "110105198502301230", "110105850230123", "A1234567",
           "123", "1.10105E+17", ID1 + "9", resident_id("110105", date(2027, 1, 1), 7)]
    rows = [GOOD | {"account_no": f"C{i}", "debtor_id_no": id_no, "balance": "-1"}
            for i, id_no in enumerate(ids)]
    result = parse(batch(*rows))
    assert result.rows_rejected == len(ids)
    for error in result.rejected:
        id_no = ids[error.row_number - 2]
        assert id_no not in error.reason
        assert len(id_no) <= 8 or id_no[:-4] not in error.reason
    assert f"({mask_id(WRONG_CHECK)})" in result.rejected[0].reason


@given(st.from_regex(r"[1-6][0-9]{5}(19[5-9][0-9]|200[0-9])(0[1-9]|1[0-2])(0[1-9]|1[0-9]|2[0-8])"
                     r"[0-9]{3}", fullmatch=True),
       st.integers(0, 17), st.sampled_from("0123456789X"))
def test_any_single_character_change_is_caught_and_masked(body: str, position: int,
                                                          char: str) -> None:
    good = resident_id(body[:6], date(int(body[6:10]), int(body[10:12]), int(body[12:14])),
                       int(body[14:]))
    bad = good[:position] + char + good[position + 1:]
    result = one_row(debtor_id_no=bad)
    if bad == good:
        assert result.accepted
        return
    [(column, reason)] = [(e.column, e.reason) for e in result.rejected]
    assert column == "debtor_id_no"
    assert bad not in reason and bad[:-4] not in reason


# -- phones: the fast path agrees with phonenumbers ---------------------------------


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mainland_mobile_shortcut_equals_phonenumbers(number: str) -> None:
    assert _read_number(number, "CN") == phonenumbers.parse(number, "CN")


@pytest.mark.parametrize("number", ["17951380013", "17900000000", "17812345678",
                                    "11812345678", "12345678901", "01012345678"])
def test_numbers_near_the_shortcut_equal_phonenumbers(number: str) -> None:
    assert _read_number(number, "CN") == phonenumbers.parse(number, "CN")


# -- robustness -------------------------------------------------------------------


@given(st.binary(max_size=300))
def test_any_bytes_give_a_batch_or_a_file_error(data: bytes) -> None:
    try:
        parse(data)
    except BatchFileError as exc:
        assert exc.error_id in ERROR_IDS


E164 = re.compile(r"\+[1-9][0-9]{6,14}")


def assert_fits_the_database(case: CaseRow) -> None:
    """What the CHECK constraints and column types of cases, debtors and phones
    demand, so an accepted row can never fail the import's COPY."""
    for amount in (case.balance, case.principal, case.last_payment_amount):
        assert amount is None or (amount.is_finite() and amount >= 0
                                  and amount == round(amount, 2) and amount < 10**16)
    assert 0 <= case.days_past_due <= 36_500
    assert re.fullmatch(r"[A-Z]{3}", case.currency)
    assert re.fullmatch(r"[0-9]{17}[0-9X]|[0-9]{15}", case.debtor_id_no)
    assert case.product in set(Product) and case.account_type in set(AccountType)
    assert all(E164.fullmatch(p.e164) for p in case.phones)
    texts = (case.account_no, case.debtor_name, case.address, case.city, case.employer,
             case.note, *(p.name for p in case.phones), *(p.relation for p in case.phones))
    assert all("\x00" not in (t or "") for t in texts)


@given(st.lists(st.text(max_size=20), min_size=7, max_size=7))
def test_any_row_text_gives_a_row_or_its_reasons(fields: list[str]) -> None:
    result = parse(batch(dict(zip(GOOD, fields, strict=True))))
    assert result.rows_read in (0, 1)
    assert len(result.accepted) + result.rows_rejected == result.rows_read
    assert all(e.reason and "\x00" not in e.reason for e in result.rejected)
    for case in result.accepted:
        assert_fits_the_database(case)


@given(st.fixed_dictionaries({}, optional={
    "balance": st.sampled_from(["0", "1,234.56", "¥9", "１２.５", "1e3", "-1", "NaN", "1.005"]),
    "mobile": st.sampled_from(["13800138000", "+85291234567", "+1 650 253 0000", "0086138"]),
    "debtor_id_no": st.sampled_from([ID1, ID2.lower(), "110105850312123", WRONG_CHECK]),
    "days_past_due": st.sampled_from(["0", "36500", "36501", "٣"]),
    "currency": st.sampled_from(["", "rmb", "US", "usd"]),
    "note": st.text(max_size=10),
    "contact1_phone": st.sampled_from(["", "021-61234567", "13900139000"]),
    "contact1_name": st.text(max_size=5),
}))
def test_what_is_accepted_fits_the_database(changes: dict[str, str]) -> None:
    for case in one_row(**changes).accepted:
        assert_fits_the_database(case)


# -- the generator the benchmark and the demo use --------------------------------------


@pytest.mark.parametrize("encoding", ["utf-8", "utf-8-sig", "gb18030"])
def test_generated_batch_is_all_good(encoding: str) -> None:
    result = parse(generate_batch(400, seed=3, encoding=encoding))
    assert result.encoding == encoding
    assert (result.rows_read, len(result.accepted), result.rejected) == (400, 400, ())
    assert {c.bucket for c in result.accepted} == set(Bucket)
    assert {p.party for c in result.accepted for p in c.phones} == set(Party)
    for case in result.accepted:
        assert_fits_the_database(case)


def test_generated_batch_is_deterministic() -> None:
    assert generate_batch(50, seed=9) == generate_batch(50, seed=9)
    assert generate_batch(50, seed=9) != generate_batch(50, seed=10)


def test_generated_batches_with_different_starts_share_no_account() -> None:
    first = {c.account_no for c in parse(generate_batch(100, seed=1)).accepted}
    second = {c.account_no for c in parse(generate_batch(100, seed=1, start=100)).accepted}
    assert len(first) == len(second) == 100
    assert not first & second


def test_generated_defects_are_the_rejected_rows() -> None:
    rows = generate_rows(200, seed=4, bad_every=10)
    result = parse(to_csv(rows, "gb18030"))
    expected = [(11 + 10 * i, DEFECTS[i % len(DEFECTS)][0]) for i in range(20)]
    assert [(e.row_number, e.column) for e in result.rejected] == expected
    assert len(result.accepted) == 180
