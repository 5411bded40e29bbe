"""The rule for each column of a bank's case batch file.

Each column has a parser: it takes the trimmed text of one field and returns a
value or raises `FieldError` with a reason; `cases.batchfile` runs them over a row
and keeps every reason, so the bank learns everything wrong with a row at once.

- Amounts are exact `Decimal`s: `1234.56`, `1,234.56`, `¥1,234.56`, full-width
  digits; at most 2 decimal places and 16 integer digits (numeric(18,2)); a sign,
  NaN, Infinity or exponent notation is refused.
- `days_past_due` is a whole number from 0 to 36,500; its bucket is M0 (0), M1
  (1-30), M2 (31-60) ... M6 (151-180), M6+ (181 on).
- Dates are `YYYY-MM-DD`, `YYYY/M/D`, `YYYYMMDD` or `YYYY年M月D日`, real, and not
  after the client's today.
- `debtor_id_no` is an 18-character resident ID with a valid ISO 7064 MOD 11-2
  check character, or a 15-digit first-generation one; its birth date must be a
  real date, not in the future. It is kept as given, `x` upper-cased.
- Products and account types take their English codes or Chinese labels (信用卡,
  个人贷款/个贷/消费贷; 表内, 核销, 转让, 资产证券化); currency is 3 letters (RMB and
  人民币 read as CNY); a time zone is an IANA name.
- Phones become E.164 through `phonenumbers` in the client's default region; a
  contact's relation decides its party (`party_for_relation`).
- Account and ID numbers that Excel turned into `6.22588E+15` are named as such.

A reason never echoes personal data: an ID number shows at most its last 4
characters (`mask_id`); names, phones and account numbers are not quoted at all.
Codes, amounts and dates are, cut to 30 characters.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from enum import StrEnum
from functools import cache
from typing import TypeVar
from zoneinfo import available_timezones

import phonenumbers
from phonenumbers import NumberParseException, PhoneNumberType

from cases.domain import Party

T = TypeVar("T")
F = TypeVar("F")


class Product(StrEnum):
    CREDIT_CARD = "credit_card"
    PERSONAL_LOAN = "personal_loan"


class AccountType(StrEnum):
    ON_BALANCE = "on_balance"
    WRITTEN_OFF = "written_off"
    TRANSFERRED = "transferred"
    SECURITIZED = "securitized"


class Bucket(StrEnum):
    M0 = "M0"
    M1 = "M1"
    M2 = "M2"
    M3 = "M3"
    M4 = "M4"
    M5 = "M5"
    M6 = "M6"
    M6_PLUS = "M6+"


class PhoneKind(StrEnum):
    MOBILE = "mobile"
    HOME = "home"
    WORK = "work"


@dataclass(frozen=True, slots=True)
class RowContext:
    """What the rules need beyond the row: the client's phone region and its today."""

    region: str
    today: date


class FieldError(ValueError):
    """One field broke its rule; `reason` completes the sentence "<column> ..."."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


Parser = Callable[[str, RowContext], T]

_BUCKET_LIMITS = ((0, Bucket.M0), (30, Bucket.M1), (60, Bucket.M2), (90, Bucket.M3),
                  (120, Bucket.M4), (150, Bucket.M5), (180, Bucket.M6))


def bucket_for(days_past_due: int) -> Bucket:
    """M0 for 0 days, M1 for 1-30 ... M6 for 151-180, M6+ from 181 days on."""
    if days_past_due < 0:
        raise ValueError(f"days past due cannot be negative: {days_past_due}")
    for limit, bucket in _BUCKET_LIMITS:
        if days_past_due <= limit:
            return bucket
    return Bucket.M6_PLUS


def mask_id(id_no: str) -> str:
    """`****1234`: at most the last 4 characters; none of an ID of 8 or fewer, nor
    of one that ends in control characters."""
    tail = id_no[-4:]
    return "****" + tail if len(id_no) > 8 and tail.isprintable() else "****"


def _show(value: str) -> str:
    """A non-personal value quoted for a reason, cut to 30 characters."""
    return repr(value if len(value) <= 30 else value[:29] + "…")


def _ascii(text: str) -> str:
    """Full-width digits and punctuation (１２３，４５６．７８) folded by NFKC."""
    return text if text.isascii() else unicodedata.normalize("NFKC", text)


# Excel shows long digit strings such as card and ID numbers as 6.22588E+15 and
# loses the digits after the fifteenth when the file is saved.
_EXCEL_EXPONENT = re.compile(r"\d(?:\.\d+)?E\+\d+", re.IGNORECASE)
_EXCEL_REASON = ("looks like a number Excel rewrote in exponent notation; "
                 "format the column as text before exporting")


def _refuse_excel_exponent(text: str) -> None:
    if _EXCEL_EXPONENT.fullmatch(text):
        raise FieldError(_EXCEL_REASON)


_ACCOUNT_NO = re.compile(r"[!-~]{1,64}")  # printable ASCII, no spaces


def parse_account_no(raw: str, ctx: RowContext) -> str:
    _refuse_excel_exponent(raw)
    if not _ACCOUNT_NO.fullmatch(raw):
        raise FieldError("must be at most 64 printable ASCII characters without spaces")
    return raw


_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_CONTROL_NOT_NEWLINE = re.compile(r"[\x00-\x09\x0b\x0c\x0e-\x1f\x7f]")


def text_parser(max_length: int, *, multiline: bool = False) -> Parser[str]:
    """Free text up to `max_length` characters; line breaks only if `multiline`,
    and then always as LF."""
    control = _CONTROL_NOT_NEWLINE if multiline else _CONTROL

    def parse(raw: str, ctx: RowContext) -> str:
        if multiline:
            raw = raw.replace("\r\n", "\n").replace("\r", "\n")
        if len(raw) > max_length:
            raise FieldError(f"is longer than {max_length} characters")
        if control.search(raw):
            what = "control characters" if multiline else "line breaks or control characters"
            raise FieldError(f"contains {what}")
        return raw

    return parse


parse_name = text_parser(100)
parse_relation = text_parser(50)
parse_city = text_parser(100)
parse_employer = text_parser(200)
parse_address = text_parser(500, multiline=True)
parse_note = text_parser(2000, multiline=True)

_ID18 = re.compile(r"\d{17}[\dX]", re.ASCII)
_ID15 = re.compile(r"\d{15}", re.ASCII)
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def resident_id_check(body: str) -> str:
    """The ISO 7064 MOD 11-2 check character of the first 17 digits of an ID."""
    total = sum(int(digit) * weight for digit, weight in zip(body, _ID_WEIGHTS, strict=True))
    return "10X98765432"[total % 11]


def parse_resident_id(raw: str, ctx: RowContext) -> str:
    value = _ascii(raw).upper()
    _refuse_excel_exponent(value)
    problem = _resident_id_problem(value, ctx.today)
    if problem:
        raise FieldError(f"is not a valid resident ID number ({mask_id(value)}): {problem}")
    return value


def _resident_id_problem(value: str, today: date) -> str | None:
    if _ID18.fullmatch(value):
        if value[17] != resident_id_check(value[:17]):
            return "the check character does not match"
        birth = value[6:14]
    elif _ID15.fullmatch(value):
        birth = "19" + value[6:12]
    else:
        return "it must be 18 characters (the last may be X) or 15 digits"
    try:
        born = date(int(birth[:4]), int(birth[4:6]), int(birth[6:]))
    except ValueError:
        return "the birth date in it is not a date"
    return "the birth date in it is in the future" if born > today else None


_PRODUCTS = {"credit_card": Product.CREDIT_CARD, "personal_loan": Product.PERSONAL_LOAN,
             "信用卡": Product.CREDIT_CARD, "个人贷款": Product.PERSONAL_LOAN,
             "个贷": Product.PERSONAL_LOAN, "消费贷": Product.PERSONAL_LOAN}
_ACCOUNT_TYPES = {**{t.value: t for t in AccountType},
                  "表内": AccountType.ON_BALANCE, "核销": AccountType.WRITTEN_OFF,
                  "转让": AccountType.TRANSFERRED, "资产证券化": AccountType.SECURITIZED}


def parse_product(raw: str, ctx: RowContext) -> Product:
    product = _PRODUCTS.get(raw.lower())
    if product is None:
        raise FieldError(f"{_show(raw)} is not one of {', '.join(_PRODUCTS)}")
    return product


def parse_account_type(raw: str, ctx: RowContext) -> AccountType:
    account_type = _ACCOUNT_TYPES.get(raw.lower())
    if account_type is None:
        raise FieldError(f"{_show(raw)} is not one of {', '.join(_ACCOUNT_TYPES)}")
    return account_type


_CURRENCY = re.compile(r"[A-Z]{3}")
_CURRENCY_ALIASES = {"RMB": "CNY", "人民币": "CNY"}


def parse_currency(raw: str, ctx: RowContext) -> str:
    code = _ascii(raw).upper()
    code = _CURRENCY_ALIASES.get(code, code)
    if not _CURRENCY.fullmatch(code):
        raise FieldError(f"{_show(raw)} is not a 3-letter ISO 4217 currency code")
    return code


_AMOUNT = re.compile(r"(\d{1,3}(?:,\d{3})+|\d+)(?:\.(\d*))?", re.ASCII)
_NOT_FINITE = re.compile(r"[+-]?(?:s?nan|inf(?:inity)?)", re.IGNORECASE)


def parse_amount(raw: str, ctx: RowContext) -> Decimal:
    text = _ascii(raw).removeprefix("¥").removesuffix("元").strip()
    match = _AMOUNT.fullmatch(text)
    if match is None:
        raise FieldError(_amount_problem(raw, text))
    whole, fraction = match[1].replace(",", ""), match[2] or ""
    if len(fraction) > 2:
        raise FieldError(f"{_show(raw)} has more than 2 decimal places")
    if len(whole.lstrip("0")) > 16:
        raise FieldError(f"{_show(raw)} is too large")
    return Decimal(f"{whole}.{fraction}" if fraction else whole)


def _amount_problem(raw: str, text: str) -> str:
    if text[:1] in ("-", "−", "(") and any(c.isdigit() for c in text):
        return f"{_show(raw)} must not be negative"
    if _NOT_FINITE.fullmatch(text):
        return f"{_show(raw)} is not a finite amount"
    if "e" in text.lower() and any(c.isdigit() for c in text):
        return f"{_show(raw)} uses exponent notation; write the amount in full"
    return f"{_show(raw)} is not an amount such as 1234.56 or 1,234.56"


_WHOLE = re.compile(r"-?\d+", re.ASCII)
MAX_DAYS_PAST_DUE = 36_500


def parse_days(raw: str, ctx: RowContext) -> int:
    text = _ascii(raw)
    if not _WHOLE.fullmatch(text):
        raise FieldError(f"{_show(raw)} is not a whole number of days")
    days = int(text)
    if days < 0:
        raise FieldError(f"{_show(raw)} must not be negative")
    if days > MAX_DAYS_PAST_DUE:
        raise FieldError(f"{_show(raw)} is more than {MAX_DAYS_PAST_DUE} days")
    return days


_DATES = (
    re.compile(r"(?P<y>\d{4})-(?P<m>\d{1,2})-(?P<d>\d{1,2})", re.ASCII),
    re.compile(r"(?P<y>\d{4})/(?P<m>\d{1,2})/(?P<d>\d{1,2})", re.ASCII),
    re.compile(r"(?P<y>\d{4})(?P<m>\d{2})(?P<d>\d{2})", re.ASCII),
    re.compile(r"(?P<y>\d{4})年(?P<m>\d{1,2})月(?P<d>\d{1,2})日", re.ASCII),
)


def parse_past_date(raw: str, ctx: RowContext) -> date:
    text = _ascii(raw)
    match = next((m for p in _DATES if (m := p.fullmatch(text))), None)
    if match is None:
        raise FieldError(f"{_show(raw)} is not a date such as 2026-01-31, 2026/1/31 or 20260131")
    try:
        day = date(int(match["y"]), int(match["m"]), int(match["d"]))
    except ValueError:
        raise FieldError(f"{_show(raw)} is not a valid date") from None
    if day > ctx.today:
        raise FieldError(f"{day.isoformat()} is in the future")
    return day


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


def parse_time_zone(raw: str, ctx: RowContext) -> str:
    if raw not in _time_zones():
        raise FieldError(f"{_show(raw)} is not an IANA time zone name such as Asia/Shanghai")
    return raw


@dataclass(frozen=True, slots=True)
class Number:
    e164: str
    mobile: bool


_MOBILE_TYPES = (PhoneNumberType.MOBILE, PhoneNumberType.FIXED_LINE_OR_MOBILE)
_E164 = phonenumbers.PhoneNumberFormat.E164


# Most numbers in a Chinese bank's file are mainland mobiles written as 11 digits.
# For that shape `phonenumbers.parse(text, "CN")` strips nothing (no 0 national
# prefix, no 00, no 11xxx/12xxx/179xx carrier code: hence 17[0-8]), so the number
# is built directly, at half the cost; a test holds it equal to `parse`.
_CN_MOBILE_SHAPE = re.compile(r"1(?:[3-689]\d|7[0-8])\d{8}", re.ASCII)


def _read_number(text: str, region: str) -> phonenumbers.PhoneNumber:
    if region == "CN" and _CN_MOBILE_SHAPE.fullmatch(text):
        return phonenumbers.PhoneNumber(country_code=86, national_number=int(text))
    return phonenumbers.parse(text, region)


def parse_phone(raw: str, ctx: RowContext) -> Number:
    """Any valid number. `number_type` is UNKNOWN exactly when `is_valid_number` is
    false, so one call answers both questions."""
    try:
        number = _read_number(_ascii(raw), ctx.region)
    except NumberParseException:
        raise FieldError("is not a phone number") from None
    number_type = phonenumbers.number_type(number)
    if number_type == PhoneNumberType.UNKNOWN:
        raise FieldError(f"is not a valid phone number (default region {ctx.region})")
    e164 = phonenumbers.format_number(number, _E164)
    return Number(e164, number_type in _MOBILE_TYPES)


def parse_mobile(raw: str, ctx: RowContext) -> Number:
    number = parse_phone(raw, ctx)
    if not number.mobile:
        raise FieldError("is a landline or other number that is not a mobile")
    return number


# Chinese words match anywhere in the text, English ones at the start of a word
# ("son" matches "sons", not "person").
_EMPLOYER_ZH = ("同事", "单位", "领导", "上司", "老板", "公司")
_EMPLOYER_EN = ("employer", "colleague", "boss", "company", "supervisor", "manager")
_RELATIVE_ZH = ("配偶", "丈夫", "妻子", "老公", "老婆", "爱人", "父", "母", "爸", "妈", "儿",
                "子女", "兄", "弟", "姐", "妹", "哥", "亲", "家人", "岳", "公公", "婆婆", "爷",
                "奶", "外公", "外婆", "叔", "伯", "姑", "舅", "姨", "侄", "甥", "孙")
_RELATIVE_EN = ("spouse", "husband", "wife", "father", "mother", "parent", "dad", "mom",
                "mum", "son", "daughter", "child", "brother", "sister", "sibling", "relative",
                "family", "uncle", "aunt", "grand", "cousin", "nephew", "niece")
_WORD = re.compile(r"[a-z][a-z-]*")


def party_for_relation(relation: str | None) -> Party:
    """同事/单位/colleague -> employer; family words or no relation -> relative;
    anything else (朋友, friend, 邻居) -> other."""
    if not relation:
        return Party.RELATIVE
    text = relation.lower()
    words = _WORD.findall(text)
    if any(w in text for w in _EMPLOYER_ZH) or any(w.startswith(_EMPLOYER_EN) for w in words):
        return Party.EMPLOYER
    if any(w in text for w in _RELATIVE_ZH) or any(w.startswith(_RELATIVE_EN) for w in words):
        return Party.RELATIVE
    return Party.OTHER
