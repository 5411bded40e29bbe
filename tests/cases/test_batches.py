"""Batch import into the real database: confirmation, idempotency, updates, all-or-nothing."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import asyncpg
import pytest

from cases import audit, batches, store
from cases.batchrows import bucket_for
from cases.domain import Client
from cases.errors import InvalidInput
from tests.api.world import HEADER, NOW, batch_csv, resident_id

ID1 = resident_id("19850312", 1)
ID2 = resident_id("19900101", 2)
GOOD = [
    ("C1", "王伟", ID1, "1,000.50", 45, "13800138000", "李娜", "13900139000"),
    ("C2", "张敏", ID2, "200", 200, "15012345678", "", ""),
]


@pytest.fixture
async def client(pool: asyncpg.Pool) -> Client:
    return await store.add_client(pool, code="BANK", name="Bank", time_zone="Asia/Shanghai",
                                  default_region="CN", rule_pack="cn-bank", retention_years=5)


async def run(pool: asyncpg.Pool, client: Client, data: bytes) -> batches.Confirmation:
    return await batches.import_batch(pool, audit.SYSTEM, client, "batch.csv", data,
                                      received_at=NOW, now=NOW)


async def test_confirmation_counts_rows_and_money(pool: asyncpg.Pool, client: Client) -> None:
    bad = ("C3", "赵六", ID1[:-1] + ("0" if ID1[-1] != "0" else "1"), "50", 5,
           "13700137000", "", "")
    result = await run(pool, client, batch_csv([*GOOD, bad]))
    assert (result.rows_read, result.rows_accepted, result.rows_rejected) == (3, 2, 1)
    assert (result.cases_created, result.cases_updated) == (2, 0)
    assert result.total_balance == Decimal("1200.50")
    assert [(r.row_number, r.column) for r in result.rejections] == [(4, "debtor_id_no")]
    assert not result.replayed
    assert await pool.fetchval("SELECT count(*) FROM cases") == 2
    assert await pool.fetchval("SELECT count(*) FROM phones") == 3
    entry = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'batch.import'")
    assert entry is not None and entry["client_id"] == client.id


async def test_same_file_twice_is_the_same_batch(pool: asyncpg.Pool, client: Client) -> None:
    first = await run(pool, client, batch_csv(GOOD))
    again = await run(pool, client, batch_csv(GOOD))
    assert again.replayed
    assert again.batch_id == first.batch_id
    assert again.as_json() | {"replayed": False} == first.as_json()
    assert await pool.fetchval("SELECT count(*) FROM batches") == 1
    assert await pool.fetchval("SELECT count(*) FROM cases") == 2


async def test_same_file_concurrently_lands_once(pool: asyncpg.Pool, client: Client) -> None:
    results = await asyncio.gather(*[run(pool, client, batch_csv(GOOD)) for _ in range(4)])
    assert len({r.batch_id for r in results}) == 1
    assert await pool.fetchval("SELECT count(*) FROM cases") == 2


async def test_known_account_is_updated_not_duplicated(pool: asyncpg.Pool,
                                                       client: Client) -> None:
    await run(pool, client, batch_csv(GOOD))
    newer = [("C1", "王伟", ID1, "900", 75, "13800138000", "李娜", "13600136000")]
    result = await run(pool, client, batch_csv(newer))
    assert (result.cases_created, result.cases_updated) == (0, 1)
    row = await pool.fetchrow("SELECT balance, days_past_due, bucket, first_batch_id,"
                              " last_batch_id FROM cases WHERE account_no = 'C1'")
    assert row is not None
    assert (row["balance"], row["days_past_due"], row["bucket"]) == (Decimal("900.00"), 75,
                                                                     "M3")
    assert row["first_batch_id"] != row["last_batch_id"] == result.batch_id
    phones = await pool.fetch("SELECT e164 FROM phones p JOIN cases c ON c.id = p.case_id"
                              " WHERE c.account_no = 'C1' ORDER BY e164")
    assert [p["e164"] for p in phones] == ["+8613600136000", "+8613800138000",
                                           "+8613900139000"]
    assert await pool.fetchval("SELECT count(*) FROM debtors") == 2


async def test_file_level_error_writes_nothing(pool: asyncpg.Pool, client: Client) -> None:
    data = HEADER.replace("mobile", "mobile,favourite_colour").encode() + b"x\n"
    with pytest.raises(InvalidInput) as caught:
        await run(pool, client, data)
    assert caught.value.error_id.startswith("batch.")
    assert await pool.fetchval("SELECT count(*) FROM batches") == 0


async def test_all_rows_bad_still_gives_a_confirmation(pool: asyncpg.Pool,
                                                       client: Client) -> None:
    data = batch_csv([("C9", "钱七", "123", "-5", 10, "12345", "", "")])
    result = await run(pool, client, data)
    assert (result.rows_accepted, result.rows_rejected) == (0, 1)
    assert {r.column for r in result.rejections} >= {"debtor_id_no", "balance", "mobile"}
    assert await pool.fetchval("SELECT count(*) FROM cases") == 0


async def test_gb18030_file(pool: asyncpg.Pool, client: Client) -> None:
    text = batch_csv(GOOD).decode()
    result = await run(pool, client, text.encode("gb18030"))
    assert result.encoding.lower() == "gb18030"
    names = await pool.fetch("SELECT name FROM debtors ORDER BY name")
    assert sorted(r["name"] for r in names) == sorted(["王伟", "张敏"])


async def test_confirmation_csv(pool: asyncpg.Pool, client: Client) -> None:
    bad = ("C3", "赵六", ID2, "1.234", 5, "13700137000", "", "")
    result = await run(pool, client, batch_csv([*GOOD, bad]))
    text = result.as_csv()
    assert f"file_sha256,{result.file_sha256}" in text
    assert "rows_rejected,1" in text
    assert "4,C3,balance," in text


async def test_database_bucket_agrees_with_the_parser(pool: asyncpg.Pool,
                                                     client: Client) -> None:
    await run(pool, client, batch_csv(GOOD))
    for days in (0, 1, 30, 31, 60, 61, 90, 91, 120, 121, 150, 151, 180, 181, 3650):
        bucket = await pool.fetchval(
            "UPDATE cases SET days_past_due = $1 WHERE account_no = 'C1' RETURNING bucket",
            days)
        assert bucket == bucket_for(days), days
