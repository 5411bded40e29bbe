"""Case records for the dialer's database tests, written straight into PostgreSQL."""

from __future__ import annotations

import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, time
from decimal import Decimal

import asyncpg

from dialer.campaign import Campaign, parse_settings
from dialer.store import add_campaign

_seq = itertools.count(1)
T0 = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai


async def one(pool: asyncpg.Pool, query: str, *args: object) -> asyncpg.Record:
    row = await pool.fetchrow(query, *args)
    assert row is not None, query
    return row


@dataclass(frozen=True, slots=True)
class Phone:
    e164: str
    party: str = "debtor"
    kind: str = "mobile"
    validity: str = "unknown"
    consent: str = "unknown"
    do_not_call: bool = False


@dataclass(frozen=True, slots=True)
class Made:
    case_id: int
    debtor_id: int
    phone_ids: tuple[int, ...]


async def make_client(
    pool: asyncpg.Pool, code: str = "BANK", *, zone: str = "Asia/Shanghai",
    region: str = "CN", pack: str = "cn-bank", no_holiday_calls: bool = False,
    subdivision: str | None = None,
) -> int:
    client_id: int = await pool.fetchval(
        "INSERT INTO clients (code, name, time_zone, default_region, rule_pack,"
        " no_holiday_calls, holiday_subdivision) VALUES ($1, $1, $2, $3, $4, $5, $6)"
        " RETURNING id", code, zone, region, pack, no_holiday_calls, subdivision,
    )
    await pool.execute(
        "INSERT INTO batches (client_id, file_name, file_sha256, encoding, received_at,"
        " imported_at, rows_read, rows_accepted, rows_rejected, cases_created, cases_updated,"
        " total_balance) VALUES ($1, 'seed.csv', $2, 'utf-8', $3, $3, 0, 0, 0, 0, 0, 0)",
        client_id, f"{client_id:064x}", T0,
    )
    return client_id


async def make_case(
    pool: asyncpg.Pool, client_id: int, *phones: Phone, dpd: int = 45,
    balance: str = "1000.00", debtor_zone: str | None = None, status: str = "open",
    debtor_id: int | None = None, agreed: tuple[time, time] | None = None,
) -> Made:
    n = next(_seq)
    batch_id = await pool.fetchval("SELECT id FROM batches WHERE client_id = $1", client_id)
    if debtor_id is None:
        debtor_id = await pool.fetchval(
            "INSERT INTO debtors (client_id, name, id_no, time_zone, agreed_window_start,"
            " agreed_window_end) VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            client_id, f"debtor {n}", f"ID{n:016d}", debtor_zone,
            None if agreed is None else agreed[0], None if agreed is None else agreed[1],
        )
    case_id = await pool.fetchval(
        "INSERT INTO cases (client_id, account_no, debtor_id, first_batch_id, last_batch_id,"
        " product, balance, days_past_due, status) VALUES ($1, $2, $3, $4, $4, 'credit_card',"
        " $5, $6, $7) RETURNING id",
        client_id, f"ACC{n:08d}", debtor_id, batch_id, Decimal(balance), dpd, status,
    )
    ids = [await pool.fetchval(
        "INSERT INTO phones (case_id, e164, party, kind, validity, consent, do_not_call)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
        case_id, p.e164, p.party, p.kind, p.validity, p.consent, p.do_not_call,
    ) for p in phones]
    return Made(case_id, debtor_id, tuple(ids))


async def make_campaign(
    pool: asyncpg.Pool, client_id: int, **fields: object
) -> Campaign:
    body: dict[str, object] = {"name": f"campaign {next(_seq)}", "mode": "progressive",
                               "work_lines": ["line1"]}
    body.update(fields)
    return await add_campaign(pool, client_id, parse_settings(body, client_pack="cn-bank"),
                              by=None, now=T0)
