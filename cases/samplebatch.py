"""Realistic bank batch files for the demo, the import benchmark and the tests.

`generate_batch(n, seed=..., encoding=...)` returns the bytes of a file of `n`
data rows: Chinese names, resident IDs with correct check characters, mainland
mobiles, landlines, balances written several ways (`1234.56`, `1,234.56`,
`¥1,234.56`), every bucket from M0 to M6+, Chinese product and account type
labels now and then, guarantors and contacts on some rows, quoted notes with
commas and line breaks. The same arguments always give the same bytes.

With `bad_every=k`, every k-th row carries exactly one defect, taken in turn from
`DEFECTS`; the parser rejects exactly those rows.

The check character is computed here independently of `cases.batchrows`, so the
tests that use these IDs do check the parser.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Callable
from datetime import date, timedelta

from cases.batchfile import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

COLUMNS = REQUIRED_COLUMNS + OPTIONAL_COLUMNS
TODAY = date(2026, 11, 29)

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林高罗郑梁谢宋唐许韩冯邓曹彭曾萧田董潘袁"
GIVEN = ("伟", "娜", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "娟", "涛",
         "明", "超", "秀英", "桂英", "建华", "志强", "海燕", "晓明", "丹丹", "子轩", "欣怡")
# (area code of the ID, city, time zone, landline prefix, landline digits)
PLACES = (
    ("110105", "北京", "Asia/Shanghai", "010", 8),
    ("310104", "上海", "Asia/Shanghai", "021", 8),
    ("440106", "广州", "Asia/Shanghai", "020", 8),
    ("510107", "成都", "Asia/Shanghai", "028", 8),
    ("330106", "杭州", "Asia/Shanghai", "0571", 8),
    ("420106", "武汉", "Asia/Shanghai", "027", 8),
    ("650102", "乌鲁木齐", "Asia/Urumqi", "0991", 7),
)
MOBILE_PREFIXES = (*(f"13{d}" for d in range(10)), "150", "151", "152", "153", "155", "156",
                   "157", "158", "159", *(f"18{d}" for d in range(10)))
RELATIONS = ("配偶", "父亲", "母亲", "兄弟", "姐妹", "同事", "朋友", "spouse", "")
STREETS = ("人民路", "解放路", "中山路", "建设路", "和平街", "朝阳路")
NOTES = ("客户称下月还款, 已发短信", "本人失联\n家属愿意代为转告", "承诺还款\"部分\"金额")
BUCKET_DAYS = ((0, 0), (1, 30), (31, 60), (61, 90), (91, 120), (121, 150), (151, 180),
               (181, 720))
_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)


def check_character(body: str) -> str:
    """ISO 7064 MOD 11-2 over the first 17 digits, as GB 11643-1999 defines it."""
    return "10X98765432"[sum(int(d) * w for d, w in zip(body, _WEIGHTS, strict=True)) % 11]


def resident_id(area: str, born: date, sequence: int) -> str:
    body = f"{area}{born:%Y%m%d}{sequence % 1000:03d}"
    return body + check_character(body)


def generate_batch(n: int, *, seed: int = 1, encoding: str = "utf-8", bad_every: int = 0,
                   start: int = 0, today: date = TODAY) -> bytes:
    """A header and `n` rows, encoded as `encoding` ("utf-8", "utf-8-sig", "gb18030").
    Account numbers are numbered from `start` + 1, so batches with different
    `start`s share no account."""
    rows = generate_rows(n, seed=seed, bad_every=bad_every, start=start, today=today)
    return to_csv(rows, encoding)


def to_csv(rows: list[dict[str, str]], encoding: str = "utf-8") -> bytes:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=COLUMNS, lineterminator="\r\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue().encode(encoding)


def generate_rows(n: int, *, seed: int = 1, bad_every: int = 0, start: int = 0,
                  today: date = TODAY) -> list[dict[str, str]]:
    rng = random.Random(seed)
    rows = [_row(rng, start + i, today) for i in range(n)]
    if bad_every:
        for count, i in enumerate(range(bad_every - 1, n, bad_every)):
            DEFECTS[count % len(DEFECTS)][1](rows, i, today)
    return rows


def _row(rng: random.Random, i: int, today: date) -> dict[str, str]:
    area, city, zone, _, _ = place = rng.choice(PLACES)
    days = rng.randint(*rng.choice(BUCKET_DAYS))
    balance = rng.randint(100_00, 500_000_00)
    loan = rng.random() < 0.4
    row = dict.fromkeys(COLUMNS, "")
    row.update(
        account_no=f"LN{i + 1:010d}" if loan else f"6225{i + 1:012d}",
        debtor_name=_name(rng),
        debtor_id_no=resident_id(area, _birth(rng, today), rng.randint(0, 999)),
        product=rng.choice(("personal_loan", "个人贷款", "消费贷") if loan
                           else ("credit_card", "credit_card", "信用卡")),
        account_type=rng.choice(("", "", "", "on_balance", "核销", "written_off", "转让")),
        currency=rng.choice(("", "CNY")),
        principal=_amount(rng, balance + rng.randint(0, balance)),
        balance=_amount(rng, balance),
        days_past_due=str(days),
        mobile=_mobile(rng),
        address=f"{city}市{rng.choice(STREETS)}{rng.randint(1, 999)}号",
        city=city, time_zone=zone,
        employer=rng.choice(("", "", "某某科技有限公司", "市第一人民医院", "个体经营")),
    )
    _payment(rng, row, days, today)
    _other_phones(rng, row, place)
    if rng.random() < 0.05:
        row["note"] = rng.choice(NOTES)
    return row


def _name(rng: random.Random) -> str:
    return rng.choice(SURNAMES) + rng.choice(GIVEN)


def _birth(rng: random.Random, today: date) -> date:
    return today - timedelta(days=rng.randint(20 * 365, 65 * 365))


def _mobile(rng: random.Random) -> str:
    return rng.choice(MOBILE_PREFIXES) + f"{rng.randint(0, 99_999_999):08d}"


def _landline(rng: random.Random, place: tuple[str, str, str, str, int]) -> str:
    rest = place[4] - 1
    return f"{place[3]}-{rng.choice('23456')}{rng.randint(0, 10 ** rest - 1):0{rest}d}"


def _amount(rng: random.Random, cents: int) -> str:
    plain = f"{cents // 100}.{cents % 100:02d}"
    grouped = f"{cents // 100:,}.{cents % 100:02d}"
    return rng.choice((plain, plain, grouped, "¥" + grouped))


def _payment(rng: random.Random, row: dict[str, str], days: int, today: date) -> None:
    if rng.random() < 0.3:
        return
    paid = today - timedelta(days=days + rng.randint(1, 30))
    row["last_payment_date"] = rng.choice(
        (paid.isoformat(), paid.isoformat(), f"{paid.year}/{paid.month}/{paid.day}",
         f"{paid:%Y%m%d}"))
    row["last_payment_amount"] = _amount(rng, rng.randint(100_00, 5_000_00))


def _other_phones(rng: random.Random, row: dict[str, str],
                  place: tuple[str, str, str, str, int]) -> None:
    if rng.random() < 0.3:
        row["home_phone"] = _landline(rng, place)
    if rng.random() < 0.2:
        row["work_phone"] = _landline(rng, place)
    if rng.random() < 0.2:
        row.update(guarantor_name=_name(rng), guarantor_phone=_mobile(rng))
    for n, chance in ((1, 0.5), (2, 0.25)):
        if rng.random() < chance:
            row.update({f"contact{n}_name": _name(rng), f"contact{n}_phone": _mobile(rng),
                        f"contact{n}_relation": rng.choice(RELATIONS)})


def _bad_id(rows: list[dict[str, str]], i: int, today: date) -> None:
    id_no = rows[i]["debtor_id_no"]
    rows[i]["debtor_id_no"] = id_no[:-1] + ("1" if id_no[-1] == "0" else "0")


def _set(column: str, value: str) -> Callable[[list[dict[str, str]], int, date], None]:
    def apply(rows: list[dict[str, str]], i: int, today: date) -> None:
        rows[i][column] = value
    return apply


def _future_payment(rows: list[dict[str, str]], i: int, today: date) -> None:
    rows[i]["last_payment_date"] = (today + timedelta(days=3)).isoformat()


def _duplicate_account(rows: list[dict[str, str]], i: int, today: date) -> None:
    rows[i]["account_no"] = rows[0]["account_no"]


def _guarantor_without_name(rows: list[dict[str, str]], i: int, today: date) -> None:
    rows[i].update(guarantor_name="", guarantor_phone="13912345678")


# (the column the parser names, how the row is spoiled)
DEFECTS: tuple[tuple[str, Callable[[list[dict[str, str]], int, date], None]], ...] = (
    ("debtor_id_no", _bad_id),
    ("balance", _set("balance", "-120.00")),
    ("mobile", _set("mobile", "1380013800")),
    ("last_payment_date", _future_payment),
    ("account_no", _duplicate_account),
    ("guarantor_name", _guarantor_without_name),
    ("balance", _set("balance", "99.999")),
    ("mobile", _set("mobile", "010-62345678")),
)
