"""Payment files on a real PostgreSQL: parsing, idempotent imports, rejections kept,
and the promises they keep or break, down to the dialer's lease order."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from cases import audit, batches, payments, promises, store
from cases.actions import ActionRequest, file_action
from cases.domain import Client
from cases.payments import PaymentFileError, parse_payments
from cases.promise_rules import BROKEN_PROMISE_PRIORITY, NORMAL_PRIORITY
from dialer.candidates import lease
from tests.api.world import NOW, World, batch_csv, build_world, resident_id
from tests.dialer.records import make_campaign

SHANGHAI = ZoneInfo("Asia/Shanghai")
DATA = Path(__file__).resolve().parents[1] / "data" / "payments"
DUE = date(2026, 12, 5)


def sh(wall: str) -> datetime:
    return datetime.fromisoformat(wall).replace(tzinfo=SHANGHAI)


AFTER_DUE = sh("2026-12-06 09:00")


@pytest.fixture
async def world(pool: asyncpg.Pool) -> World:
    return await build_world(pool)


async def client(world: World, code: str = "BANKA") -> Client:
    return await store.get_client(world.pool, code=code)


async def import_csv(world: World, text: str, now: datetime = AFTER_DUE,
                     code: str = "BANKA") -> payments.ImportReport:
    return await payments.import_payments(
        world.pool, audit.Actor(world.users["manager"]), await client(world, code),
        "pay.csv", text.encode(), now=now)


def csv_rows(*rows: str) -> str:
    return "account_no,amount,paid_at,reference\n" + "".join(f"{r}\n" for r in rows)


async def promise_to_pay(world: World, case: str = "A1", amount: str = "1000",
                         due: date = DUE, at: datetime = NOW, key: str = "ptp") -> None:
    agent = world.users["agent_a" if case == "A1" else "agent_b"]
    await file_action(world.pool, audit.Actor(agent), ActionRequest(
        world.cases[case], "PTP", key, {"amount": amount, "due_date": due.isoformat()}), at)


async def case_row(world: World, case: str = "A1") -> asyncpg.Record:
    row = await world.pool.fetchrow(
        "SELECT c.status, c.priority, c.next_action_at, p.status AS promise,"
        " p.resolved_at FROM cases c LEFT JOIN promises p ON p.case_id = c.id"
        " WHERE c.id = $1 ORDER BY p.id DESC LIMIT 1", world.cases[case])
    assert row is not None
    return row


# -- the file ------------------------------------------------------------------------


def rejections(parsed: payments.ParsedPayments) -> list[tuple[int, str | None, str]]:
    return [(e.row_number, e.column, e.reason) for e in parsed.rejected]


def test_malformed_rows_are_rejected_with_their_reasons() -> None:
    parsed = parse_payments((DATA / "mixed.csv").read_bytes(), zone=SHANGHAI, now=AFTER_DUE)
    assert (parsed.encoding, parsed.rows_read) == ("utf-8", 13)
    assert [(r.row_number, r.account_no, r.amount) for r in parsed.accepted] == [
        (2, "A1", Decimal("500.00")), (8, "NOPE", Decimal(100)), (12, "A2", Decimal(300))]
    assert parsed.accepted[2].paid_at == sh("2026-12-02 08:00")
    assert parsed.accepted[2].reference.startswith("sha256:")
    assert rejections(parsed) == [
        (3, "amount", "amount '-5' must not be negative"),
        (4, "amount", "amount 'abc' is not an amount such as 1234.56 or 1,234.56"),
        (5, "paid_at", "paid_at has no time of day; give the time the payment was made,"
                       " such as 2026-12-05 14:30:00"),
        (6, "paid_at", "paid_at '2026-13-01 09:00:00' is not a valid date and time"),
        (7, "paid_at", "paid_at 2099-01-01T09:00:00+08:00 is in the future"),
        (9, "reference", "duplicate row: the same payment as row 2"),
        (10, "reference", "reference already used at row 2 for a different payment"),
        (13, "amount", "amount must be more than 0"),
        (14, None, "the row has 2 fields, the header has 4"),
        (15, "account_no", "account_no is required"),
    ]


@pytest.mark.parametrize(("wall", "expected"), [
    ("2026-12-05 23:30", sh("2026-12-05 23:30")),
    ("2026/12/5 23:30:15", sh("2026-12-05 23:30:15")),
    ("2026年12月5日 23:30:00", sh("2026-12-05 23:30")),
    ("２０２６－１２－０５　２３：３０", sh("2026-12-05 23:30")),
    ("20261205233000", sh("2026-12-05 23:30")),
    ("2026-12-05T15:30:00Z", sh("2026-12-05 23:30")),
    ("2026-12-05T10:30:00-05:00", sh("2026-12-05 23:30")),
])
def test_times_are_read_in_the_clients_zone_unless_they_carry_an_offset(
    wall: str, expected: datetime
) -> None:
    [row] = parse_payments(csv_rows(f"A1,1,{wall},X").encode(), zone=SHANGHAI,
                           now=AFTER_DUE).accepted
    assert row.paid_at == expected


@pytest.mark.parametrize(("data", "error_id"), [
    (b"", "payments.empty"),
    (b"PK\x03\x04rest", "payments.not_csv"),
    (b"\xff\xfe\x00\x00garbage\x81\x30", "payments.bad_encoding"),
    (b"A1,100,2026-12-01 09:00\n", "payments.no_header"),
    (b"account_no,amount,paid_at,name\n", "payments.unknown_column"),
    (b"account_no,amount\n", "payments.missing_column"),
    ("账号,account_no,amount,paid_at\n".encode(), "payments.duplicate_column"),
    (b"account_no,amount,paid_at\nA1,\"1\n", "payments.malformed_csv"),
])
def test_an_unreadable_file_is_refused_whole(data: bytes, error_id: str) -> None:
    with pytest.raises(PaymentFileError) as caught:
        parse_payments(data, zone=SHANGHAI, now=AFTER_DUE)
    assert caught.value.error_id == error_id


# -- imports ---------------------------------------------------------------------------


async def test_gb18030_file_with_chinese_headers(world: World) -> None:
    data = (DATA / "gb18030.csv").read_bytes()
    report = await payments.import_payments(world.pool, audit.SYSTEM, await client(world),
                                            "还款.csv", data, now=AFTER_DUE)
    assert (report.encoding, report.rows_read, report.rows_accepted, report.rows_rejected,
            report.rows_duplicate, report.amount_accepted) == (
        "gb18030", 3, 2, 1, 0, Decimal("1800.00"))
    assert [(e.row_number, e.column, e.account_no) for e in report.rejections] == [
        (4, "account_no", "ZZ9")]
    assert "unknown account" in report.rejections[0].reason
    rows = await world.pool.fetch("SELECT case_id, amount, paid_at, reference FROM payments"
                                  " ORDER BY id")
    assert [(r["case_id"], r["amount"], r["paid_at"], r["reference"]) for r in rows] == [
        (world.cases["A1"], Decimal("1000.00"), sh("2026-12-05 23:30"), "流水20261205001"),
        (world.cases["A2"], Decimal("800.00"), sh("2026-12-05 10:00"), "流水20261205002")]


async def test_importing_again_adds_nothing_and_keeps_every_import(world: World) -> None:
    text = (DATA / "mixed.csv").read_text()
    first = await import_csv(world, text)
    again = await import_csv(world, text)
    assert (first.rows_accepted, first.rows_duplicate, first.rows_rejected) == (2, 0, 11)
    assert (again.rows_accepted, again.rows_duplicate, again.rows_rejected) == (0, 2, 11)
    assert again.amount_accepted == 0
    assert await world.pool.fetchval("SELECT count(*) FROM payments") == 2
    stored = await payments.import_report(world.pool, first.import_id)
    assert [(e.row_number, e.column) for e in stored.rejections] == [
        (3, "amount"), (4, "amount"), (5, "paid_at"), (6, "paid_at"), (7, "paid_at"),
        (8, "account_no"), (9, "reference"), (10, "reference"), (13, "amount"), (14, None),
        (15, "account_no")]
    logged = await world.pool.fetch(
        "SELECT username, client_id, record_id, details FROM audit_log"
        " WHERE action = 'payment.import' ORDER BY id")
    assert [(r["username"], r["client_id"], r["record_id"]) for r in logged] == [
        ("manager", world.clients["BANKA"], str(first.import_id)),
        ("manager", world.clients["BANKA"], str(again.import_id))]
    assert json.loads(logged[1]["details"])["rows_duplicate"] == 2
    listed = await payments.list_imports(world.pool, world.clients["BANKA"])
    assert [i.import_id for i in listed] == [again.import_id, first.import_id]


async def test_a_reference_reused_for_another_payment_is_rejected(world: World) -> None:
    first = await import_csv(world, csv_rows("A1,100,2026-12-01 09:00,R1"))
    same = await import_csv(world, csv_rows("A1,100.00,2026-12-01 09:00:00+08:00,R1"))
    assert (same.rows_accepted, same.rows_duplicate, same.rows_rejected) == (0, 1, 0)
    other = await import_csv(world, csv_rows("A2,100,2026-12-01 09:00,R1"))
    assert (other.rows_accepted, other.rows_duplicate, other.rows_rejected) == (0, 0, 1)
    assert [(e.row_number, e.column, e.reason) for e in other.rejections] == [
        (2, "reference", "reference already recorded for a different payment"
                         f" (import {first.import_id})")]
    assert await world.pool.fetchval("SELECT count(*) FROM payments") == 1


async def test_a_row_for_an_unknown_account_is_taken_once_the_account_arrives(
    world: World
) -> None:
    text = csv_rows("A9,250,2026-12-01 09:00,R9")
    assert (await import_csv(world, text)).rows_rejected == 1
    await batches.import_batch(world.pool, audit.SYSTEM, await client(world), "more.csv",
                               batch_csv([("A9", "赵六", resident_id("19800101", 1), "900", 30,
                                           "13700137000", "", "")]),
                               received_at=NOW, now=NOW)
    report = await import_csv(world, text)
    assert (report.rows_accepted, report.rows_rejected) == (1, 0)


async def test_a_control_character_in_a_rejected_account_is_stored_visibly(
    world: World
) -> None:
    report = await import_csv(world, csv_rows("A\x001,100,2026-12-01 09:00,R1"))
    stored = await payments.import_report(world.pool, report.import_id)
    assert [(e.column, e.account_no) for e in stored.rejections] == [("account_no", "A\ufffd1")]


async def test_payments_of_one_client_do_not_reach_another(world: World) -> None:
    report = await import_csv(world, csv_rows("B1,100,2026-12-01 09:00,R1"))
    assert (report.rows_accepted, report.rows_rejected) == (0, 1)


# -- promises ---------------------------------------------------------------------------


async def test_a_payment_late_on_the_due_date_keeps_the_promise(world: World) -> None:
    await promise_to_pay(world)
    before = await case_row(world)
    assert (before["status"], before["next_action_at"]) == ("promised", sh("2026-12-04 10:00"))
    report = await import_csv(world, csv_rows("A1,1000,2026-12-05 23:30:00,R1"))
    assert report.resolved is not None and report.resolved.kept == 1
    after = await case_row(world)
    assert (after["promise"], after["resolved_at"], after["status"], after["priority"]) == (
        "kept", sh("2026-12-05 23:30"), "in_progress", NORMAL_PRIORITY)
    assert after["next_action_at"] == sh("2026-12-06 10:00")  # the follow-up, not sooner


@pytest.mark.parametrize("paid_at", ["2026-12-06 00:30:00", "2026-12-05T16:30:00Z"])
async def test_a_payment_after_local_midnight_breaks_it(world: World, paid_at: str) -> None:
    await promise_to_pay(world)
    report = await import_csv(world, csv_rows(f"A1,1000,{paid_at},R1"))
    assert report.resolved is not None and report.resolved.broken == 1
    after = await case_row(world)
    assert (after["promise"], after["resolved_at"], after["status"], after["priority"]) == (
        "broken", sh("2026-12-06 00:00"), "in_progress", BROKEN_PROMISE_PRIORITY)


async def test_a_debtor_in_another_zone_has_until_their_midnight(world: World) -> None:
    await world.pool.execute("UPDATE debtors SET time_zone = 'America/Los_Angeles'"
                             " WHERE id = (SELECT debtor_id FROM cases WHERE id = $1)",
                             world.cases["A1"])
    await promise_to_pay(world)
    # 10:00 on the 6th in Shanghai is 18:00 on the 5th in Los Angeles
    await import_csv(world, csv_rows("A1,1000,2026-12-06 10:00:00,R1"),
                     now=sh("2026-12-06 12:00"))
    assert (await case_row(world))["promise"] == "kept"


async def test_periodic_resolution_breaks_once_and_audits_once(world: World) -> None:
    await promise_to_pay(world)
    early = await promises.resolve(world.pool, sh("2026-12-05 23:59"))
    assert (early.cases, early.cases_changed) == (1, 0)  # the 5th is not over in Shanghai
    done = await promises.resolve(world.pool, sh("2026-12-06 00:05"))
    assert (done.broken, done.raised, done.case_ids) == (1, 1, [world.cases["A1"]])
    again = await promises.resolve(world.pool, sh("2026-12-06 09:00"))
    assert (again.cases, again.cases_changed) == (0, 0)
    logged = await world.pool.fetch("SELECT username, record_id, details FROM audit_log"
                                    " WHERE action = 'promises.resolve'")
    assert len(logged) == 1 and logged[0]["username"] is None
    details = json.loads(logged[0]["details"])
    assert (details["broken"], details["priority"], details["trigger"]) == (
        [1], BROKEN_PROMISE_PRIORITY, "periodic")


async def test_a_fresh_promise_brings_the_priority_back(world: World) -> None:
    await promise_to_pay(world)
    await promises.resolve(world.pool, sh("2026-12-06 00:05"))
    assert (await case_row(world))["priority"] != NORMAL_PRIORITY  # raised by the break
    await promise_to_pay(world, due=date(2026, 12, 10), at=sh("2026-12-06 10:00"), key="p2")
    row = await case_row(world)  # filing the promise resolved the case at once
    assert (row["status"], row["priority"], row["promise"]) == (
        "promised", NORMAL_PRIORITY, "pending")
    done = await promises.resolve(world.pool, sh("2026-12-06 10:05"))
    assert (done.lowered, done.broken) == (0, 0)  # nothing left for the periodic pass
    row = await case_row(world)
    assert (row["status"], row["priority"], row["promise"]) == (
        "promised", NORMAL_PRIORITY, "pending")


async def test_a_broken_promise_moves_the_case_up_the_dialers_lease(world: World) -> None:
    campaign = await make_campaign(world.pool, world.clients["BANKA"])
    at = sh("2026-12-06 10:30")

    async def leased() -> list[int]:
        async with world.pool.acquire() as conn, conn.transaction():
            return await lease(conn, campaign, at, 10)

    a1, a2 = world.cases["A1"], world.cases["A2"]
    assert await leased() == [a2, a1]  # 200 days past due before 45
    await promise_to_pay(world)
    await promises.resolve(world.pool, at)
    assert await leased() == [a1, a2]
    await import_csv(world, csv_rows("A1,1000,2026-12-05 21:00,R1"), now=at)  # reported late
    assert (await case_row(world))["promise"] == "kept"
    assert await leased() == [a2, a1]


async def test_payments_covering_the_balance_make_the_case_paid(world: World) -> None:
    await promise_to_pay(world, case="A2", amount="300", key="a2")
    report = await import_csv(world, csv_rows("A2,500,2026-12-01 09:00,R1",
                                              "A2,300,2026-12-02 09:00,R2"))
    assert report.resolved is not None and report.resolved.paid == 1
    row = await case_row(world, "A2")
    assert (row["status"], row["next_action_at"], row["promise"]) == ("paid", None, "kept")


async def test_case_promises_show_what_was_paid_toward_them(world: World) -> None:
    await promise_to_pay(world)
    await import_csv(world, csv_rows("A1,400,2026-12-01 09:00,R1"), now=sh("2026-12-02 09:00"))
    [shown] = await promises.case_promises(world.pool, world.cases["A1"], sh("2026-12-02 09:00"))
    assert (shown.status, shown.paid, shown.amount) == ("pending", Decimal(400), Decimal(1000))
    [payment] = await payments.case_payments(world.pool, world.cases["A1"])
    assert (payment.amount, payment.reference) == (Decimal("400.00"), "R1")


# -- the background task ---------------------------------------------------------------


async def test_the_resolver_runs_every_interval_and_survives_a_failure(world: World) -> None:
    await promise_to_pay(world)
    passes: asyncio.Queue[float] = asyncio.Queue()
    times: Iterator[datetime | None] = iter([None, AFTER_DUE])
    waited: list[float] = []

    def clock() -> datetime:
        at = next(times)
        if at is None:
            raise RuntimeError("clock unavailable")
        return at

    async def wait(seconds: float) -> None:
        waited.append(seconds)
        await passes.put(seconds)
        if len(waited) > 1:
            await asyncio.Event().wait()  # until cancelled

    task = asyncio.create_task(promises.run_promise_resolver(world.pool, clock, 30, wait=wait))
    try:
        async with asyncio.timeout(10):
            assert [await passes.get(), await passes.get()] == [30, 30]
    finally:
        task.cancel()
    assert (await case_row(world))["promise"] == "broken"
    with pytest.raises(ValueError, match="positive"):
        await promises.run_promise_resolver(world.pool, clock, 0)


async def test_resolution_waits_for_an_action_being_filed_and_sees_it(world: World) -> None:
    """The resolver locks the case row: while another transaction holds it (filing an
    action), it waits, and then sees what that transaction wrote."""
    await promise_to_pay(world)
    a1 = world.cases["A1"]
    async with world.pool.acquire() as conn, conn.transaction():
        await conn.execute("SELECT 1 FROM cases WHERE id = $1 FOR UPDATE", a1)
        resolving = asyncio.create_task(promises.resolve(world.pool, AFTER_DUE))
        async with asyncio.timeout(10):
            while not await world.pool.fetchval(  # not in the transaction: a fresh view
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                " AND wait_event_type = 'Lock'"):
                continue
        await conn.execute(
            "INSERT INTO payments (client_id, case_id, amount, paid_at, reference, created_at)"
            " VALUES ($1, $2, 1000, $3, 'R1', $4)", world.clients["BANKA"], a1,
            sh("2026-12-05 12:00"), AFTER_DUE)
    done = await resolving
    assert (done.kept, done.broken) == (1, 0)
    assert (await case_row(world))["promise"] == "kept"
