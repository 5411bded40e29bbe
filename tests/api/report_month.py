"""A generated October 2026 for the month-end report tests, with hand-computed answers
in tests/api/test_reports.py.

The world (both banks in Asia/Shanghai, so October runs from 2026-09-30 16:00 UTC to
2026-10-31 16:00 UTC) is written with plain INSERTs; a code filed on a call marks the
call as filing does (:func:`cases.actions.mark_attempt`). Times below are Shanghai wall
times. Cases: BANKA's batch BA1 (received 20 Sep) holds a01-a10 plus a11, closed on
25 Sep (before the month: not an account of October); BANKB's batch BB1 (received
10 Oct) holds b01-b05. The world's own cases A1, A2 and B1 were placed on 29 Nov and
are not in October either.

    case  balance  agent    assigned       calls in October (#: result, agent, code)
    a01   10,000   agent_a  1 Oct 10:00    1 NA, 2 BUSY, 3 conn a RPC, 4 conn a PTP, 5 NA
    a02    5,000   agent_a  2 Oct 10:00    6 NA, 7 abandoned                 (hold 3-5 Oct)
    a03    2,000   agent_a  20 Sep 10:00   (8, 9, 9b in Sep) 10 conn a TPC, 11 NA,
                                           12 conn b PTP (13 Oct)
    a04    8,000   agent_a  20 Oct 10:00   13 conn a RPC
    a05    1,000   agent_a  1 Aug          14 hung up
    a06    4,000   agent_b  1 Aug          15 conn b PTP, 16 conn b WN
    a07    6,000   agent_b  1 Aug          17 abandoned, 22 still in progress
    a08    3,000   agent_b  1 Aug          18 conn b RPC (31 Oct 23:30); 19 on 1 Nov 00:30
    a09    7,000   agent_c  1 Aug          20 conn c REF, no campaign (a manual call)
    a10    2,000   (none)   -              21 NA
    b01    3,000   agent_b  10 Oct 12:00   23 conn b PTP
    b02    2,000   agent_b  12 Oct 12:00   24 NA                        (hold from 14 Oct)
    b03    5,000   agent_b  11 Oct 12:00   25 NA, 26 BUSY
    b04    6,000   agent_c  25 Oct 10:00   27 conn c RPC
    b05    4,000   agent_c  10 Oct 12:00   28 NA, 29 abandoned, 30 conn c CB

Campaign 催收一组 (BANKA) placed every A call but #20; "=Recall" (BANKB) every B call.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from api import routes_reports
from api.app import create_app
from api.settings import Settings
from cases import actions, store
from cases.domain import Role
from tests.api.conftest import ApiClient
from tests.api.world import NOW, World

SH = ZoneInfo("Asia/Shanghai")
OCTOBER = date(2026, 10, 1)


def local(month: int, day: int, hour: int = 10, minute: int = 0) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=SH).astimezone(UTC)


# name: (client, balance, agent, assigned at); a11 is closed, b01 paid, the rest open
CASES: dict[str, tuple[str, int, str | None, datetime | None]] = {
    "a01": ("A", 10000, "agent_a", local(10, 1)), "a02": ("A", 5000, "agent_a", local(10, 2)),
    "a03": ("A", 2000, "agent_a", local(9, 20)), "a04": ("A", 8000, "agent_a", local(10, 20)),
    "a05": ("A", 1000, "agent_a", local(8, 1)), "a06": ("A", 4000, "agent_b", local(8, 1)),
    "a07": ("A", 6000, "agent_b", local(8, 1)), "a08": ("A", 3000, "agent_b", local(8, 1)),
    "a09": ("A", 7000, "agent_c", local(8, 1)), "a10": ("A", 2000, None, None),
    "a11": ("A", 9999, "agent_a", local(8, 1)),
    "b01": ("B", 3000, "agent_b", local(10, 10, 12)),
    "b02": ("B", 2000, "agent_b", local(10, 12, 12)),
    "b03": ("B", 5000, "agent_b", local(10, 11, 12)),
    "b04": ("B", 6000, "agent_c", local(10, 25)),
    "b05": ("B", 4000, "agent_c", local(10, 10, 12)),
}
# number: (case, placed at, result (None: in progress), agent, code filed on the call)
CALLS: dict[str, tuple[str, datetime, str | None, str | None, str | None]] = {
    "1": ("a01", local(10, 2), "no_answer", None, None),
    "2": ("a01", local(10, 3), "busy", None, None),
    "3": ("a01", local(10, 5), "connected", "agent_a", "RPC"),
    "4": ("a01", local(10, 12), "connected", "agent_a", "PTP"),
    "5": ("a01", local(10, 15), "no_answer", None, None),
    "6": ("a02", local(10, 3, 11), "no_answer", None, None),
    "7": ("a02", local(10, 4, 11), "abandoned", None, None),
    "8": ("a03", local(9, 21), "no_answer", None, None),
    "9": ("a03", local(9, 22), "no_answer", None, None),
    "9b": ("a03", local(9, 23), "busy", None, None),
    "10": ("a03", local(10, 3), "connected", "agent_a", "TPC"),
    "11": ("a03", local(10, 5), "no_answer", None, None),
    "12": ("a03", local(10, 13), "connected", "agent_b", "PTP"),
    "13": ("a04", local(10, 21), "connected", "agent_a", "RPC"),
    "14": ("a05", local(10, 6), "hung_up", None, None),
    "15": ("a06", local(10, 7), "connected", "agent_b", "PTP"),
    "16": ("a06", local(10, 9), "connected", "agent_b", "WN"),
    "17": ("a07", local(10, 10), "abandoned", None, None),
    "18": ("a08", local(10, 31, 23, 30), "connected", "agent_b", "RPC"),
    "19": ("a08", local(11, 1, 0, 30), "connected", "agent_b", "RPC"),
    "20": ("a09", local(10, 11), "connected", "agent_c", "REF"),
    "21": ("a10", local(10, 12), "no_answer", None, None),
    "22": ("a07", local(10, 20), None, None, None),
    "23": ("b01", local(10, 11), "connected", "agent_b", "PTP"),
    "24": ("b02", local(10, 13), "no_answer", None, None),
    "25": ("b03", local(10, 12), "no_answer", None, None),
    "26": ("b03", local(10, 13), "busy", None, None),
    "27": ("b04", local(10, 26), "connected", "agent_c", "RPC"),
    "28": ("b05", local(10, 11), "no_answer", None, None),
    "29": ("b05", local(10, 12), "abandoned", None, None),
    "30": ("b05", local(10, 13), "connected", "agent_c", "CB"),
}
UPDATED = {"a11": local(9, 25), "b01": local(10, 20)}  # closed; paid in full
MANUAL = {"20"}  # placed outside any campaign
# (case, call the promise was taken on or None, when, due, status)
PROMISES = [
    ("a01", "4", local(10, 12), date(2026, 10, 20), "kept"),
    ("a03", "12", local(10, 13), date(2026, 10, 15), "broken"),
    ("a06", "15", local(10, 7), date(2026, 10, 14), "kept"),
    ("b01", "23", local(10, 11), date(2026, 10, 18), "kept"),
    ("a02", None, local(9, 25), date(2026, 10, 1), "broken"),
    ("a05", None, local(10, 28), date(2026, 11, 5), "pending"),  # due in November
    ("b03", None, local(10, 20), date(2026, 10, 30), "pending"),
    ("b05", None, local(10, 14), date(2026, 10, 25), "cancelled"),
]
PAYMENTS = [  # (case, amount, paid_at)
    ("a01", "1000.00", local(10, 10)), ("a01", "500.00", local(11, 1, 0, 30)),
    ("a02", "250.50", local(10, 1, 0, 30)), ("a06", "2000.00", local(10, 15)),
    ("b01", "3000.00", local(10, 20)), ("a11", "100.00", local(10, 5)),
    ("b04", "400.00", local(9, 28)),
]
# (call, sampled, reviewed, state)
RECORDINGS = [("3", True, True, "finished"), ("4", False, False, "finished"),
              ("10", True, True, "finished"), ("12", True, False, "finished"),
              ("15", True, True, "recovered"), ("18", False, False, "finished"),
              ("19", True, False, "finished"), ("27", True, True, "finished"),
              ("30", False, False, "finished"), ("20", False, False, "finished"),
              ("16", False, False, "failed")]


@dataclass
class Month:
    world: World
    batches: dict[str, int] = field(default_factory=dict)
    campaigns: dict[str, int] = field(default_factory=dict)
    cases: dict[str, int] = field(default_factory=dict)
    calls: dict[str, int] = field(default_factory=dict)
    agents: dict[str, int] = field(default_factory=dict)
    mark_calls: bool = True

    def client(self, letter: str) -> int:
        return self.world.clients[f"BANK{letter}"]


async def _records(db: asyncpg.Pool, m: Month) -> None:
    for letter, name, received in (("A", "BA1.csv", local(9, 20)),
                                   ("B", "BB1.csv", local(10, 10))):
        m.batches[letter] = await db.fetchval(
            "INSERT INTO batches (client_id, file_name, file_sha256, encoding, received_at,"
            " imported_at, rows_read, rows_accepted, rows_rejected, cases_created,"
            " cases_updated, total_balance) VALUES ($1, $2, repeat($3, 64), 'utf-8', $4, $4,"
            " 0, 0, 0, 0, 0, 0) RETURNING id", m.client(letter), name, letter.lower(), received)
    for letter, name in (("A", "催收一组"), ("B", "=Recall")):
        m.campaigns[letter] = await db.fetchval(
            "INSERT INTO campaigns (client_id, name, mode, rule_pack, work_lines, schedule,"
            " retry_policy, created_at, updated_at) VALUES ($1, $2, 'progressive', 'cn-bank',"
            " '{line1}', '{}', '{}', $3, $3) RETURNING id", m.client(letter), name, NOW)
    for name, (letter, balance, agent, assigned) in CASES.items():
        closed = name == "a11"
        debtor = await db.fetchval(
            "INSERT INTO debtors (client_id, name, id_no) VALUES ($1, $2, $3) RETURNING id",
            m.client(letter), f"debtor {name}", f"ID-{name}")
        m.cases[name] = await db.fetchval(
            "INSERT INTO cases (client_id, account_no, debtor_id, first_batch_id, last_batch_id,"
            " product, balance, days_past_due, status, assigned_agent_id, assigned_at,"
            " updated_at) VALUES ($1, $2, $3, $4, $4, 'credit_card', $5, 40, $6, $7, $8, $9)"
            " RETURNING id", m.client(letter), name, debtor, m.batches[letter],
            Decimal(balance), "closed" if closed else "paid" if name == "b01" else "open",
            m.agents.get(agent or ""), assigned, UPDATED.get(name, NOW))
        await db.execute("INSERT INTO phones (case_id, e164, party, kind) VALUES"
                         " ($1, $2, 'debtor', 'mobile')", m.cases[name],
                         f"+86138{m.cases[name]:08d}")


async def _calls(db: asyncpg.Pool, m: Month) -> None:
    for number, (case, placed, result, agent, code) in CALLS.items():
        campaign = None if number in MANUAL else m.campaigns[case[0].upper()]
        m.calls[number] = await db.fetchval(
            "INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party,"
            " agent_id, work_line, dialer, placed_at, answered_at, ended_at, result, decision,"
            " pack, pack_version) SELECT $1, c.id, c.debtor_id, p.id, p.e164, 'debtor', $2,"
            " 'line1', 'test', $3, $4, $5, $6, '{}', 'cn-bank', '2026.1'"
            " FROM cases c JOIN phones p ON p.case_id = c.id WHERE c.id = $7 RETURNING id",
            campaign, m.agents.get(agent or ""), placed,
            placed + timedelta(seconds=20) if agent else None,
            None if result is None else placed + timedelta(minutes=2), result, m.cases[case])
        if code is not None:
            await _action(db, m, case, code, placed + timedelta(minutes=5), m.calls[number])


async def _action(db: asyncpg.Pool, m: Month, case: str, code: str, at: datetime,
                  attempt: int | None) -> int:
    action_id: int = await db.fetchval(
        "INSERT INTO actions (case_id, code, attempt_id, idempotency_key, created_at)"
        " VALUES ($1, $2, $3, $4, $5) RETURNING id", m.cases[case], code, attempt,
        f"{case}-{code}-{at.isoformat()}", at)
    if attempt is not None and m.mark_calls:
        await actions.mark_attempt(db, attempt, code)
    return action_id


async def _money(db: asyncpg.Pool, m: Month) -> None:
    for case, call, at, due, status in PROMISES:
        action = await db.fetchval("SELECT id FROM actions WHERE attempt_id = $1",
                                   m.calls[call]) if call else await _action(
            db, m, case, "PTP", at, None)
        await db.execute("INSERT INTO promises (case_id, action_id, amount, due_date, status,"
                         " created_at) VALUES ($1, $2, 100, $3, $4, $5)", m.cases[case],
                         action, due, status, at)
    for n, (case, amount, paid_at) in enumerate(PAYMENTS):
        await db.execute("INSERT INTO payments (client_id, case_id, amount, paid_at, reference,"
                         " created_at) SELECT client_id, id, $2, $3, $4, $3 FROM cases"
                         " WHERE id = $1", m.cases[case], Decimal(amount), paid_at, f"ref-{n}")
    for case, placed, released in (("a02", local(10, 3), local(10, 5)),
                                   ("b02", local(10, 14), None)):
        await db.execute("INSERT INTO case_holds (case_id, reason, placed_at, released_at)"
                         " VALUES ($1, 'bank_request', $2, $3)", m.cases[case], placed, released)


async def _compliance(db: asyncpg.Pool, m: Month) -> None:
    for case, month, compliant in (("a03", OCTOBER, False), ("a06", OCTOBER, True),
                                   ("b04", OCTOBER, False), ("a01", date(2026, 9, 1), False)):
        await db.execute("INSERT INTO qa_compliance (case_id, month, client_id, compliant,"
                         " updated_at) SELECT id, $2, client_id, $3, $4 FROM cases WHERE id = $1",
                         m.cases[case], month, compliant, NOW)
    for case, received in (("a03", local(10, 9)), ("a07", local(11, 1, 0, 30)),
                           ("b05", local(10, 1, 0, 30))):
        await db.execute("INSERT INTO complaints (case_id, client_id, received_at, channel,"
                         " summary, recorded_by, recorded_at) SELECT id, client_id, $2, 'phone',"
                         " 'rude agent', $3, $4 FROM cases WHERE id = $1", m.cases[case],
                         received, m.world.users["supervisor"].id, NOW)


async def _qa(db: asyncpg.Pool, m: Month) -> None:
    cards = {letter: await db.fetchval(
        "INSERT INTO qa_scorecards (client_id, version, name, items, created_at) VALUES"
        " ($1, 1, 'card', '[]', $2) RETURNING id", m.client(letter), NOW) for letter in "AB"}
    for call, sampled, reviewed, state in RECORDINGS:
        case, placed, _, agent, _ = CALLS[call]
        letter, started = case[0].upper(), placed + timedelta(seconds=20)
        rid = await db.fetchval(
            "INSERT INTO recordings (call_id, attempt_id, case_id, client_id, agent_id,"
            " campaign_id, started_at, duration_ms, size_bytes, channels, sample_rate, sha256,"
            " storage_uri, state, retention_until, prev_hash, row_hash, created_at)"
            " SELECT $1, a.id, a.case_id, $2, a.agent_id, a.campaign_id, $3, 60000, 44, 2,"
            " 8000, repeat('0', 64), 'test/' || $1, $4, $5, repeat('0', 64),"
            " lpad(a.id::text, 64, '0'), $5 FROM attempts a WHERE a.id = $6 RETURNING id",
            f"call-{call}", m.client(letter), started, state, NOW, m.calls[call])
        month = started.astimezone(SH).date().replace(day=1)
        if sampled:
            await db.execute("INSERT INTO qa_samples (month, recording_id, agent_id, client_id,"
                             " reason, stratum, seed, sampled_at) VALUES ($1, $2, $3, $4,"
                             " 'random', 's', 'seed', $5)", month, rid, m.agents[agent or ""],
                             m.client(letter), NOW)
        if reviewed:
            await db.execute("INSERT INTO qa_reviews (recording_id, case_id, client_id,"
                             " agent_id, scorecard_id, reviewer_id, answers, score, month,"
                             " created_at) VALUES ($1, $2, $3, $4, $5, $6, '{}', 90, $7, $8)",
                             rid, m.cases[case], m.client(letter), m.agents[agent or ""],
                             cards[letter], m.world.users["qa"].id, month, NOW)


async def build_month(pool: asyncpg.Pool, world: World, *, mark_calls: bool = True) -> Month:
    """October's records on top of `world`; `mark_calls`: mark the calls a code was
    filed on (False: a database whose attempts have no flags yet)."""
    agent_c = await store.add_user(pool, store.NewUser(
        username="agent-c", display_name="赵磊", role=Role.AGENT,
        password_hash="!never logs in"))
    m = Month(world, agents={"agent_a": world.users["agent_a"].id,
                             "agent_b": world.users["agent_b"].id, "agent_c": agent_c.id},
              mark_calls=mark_calls)
    for step in (_records, _calls, _money, _compliance, _qa):
        await step(pool, m)
    return m


# The fixtures of the report tests (imported by name where they are used).


@pytest.fixture
async def month(world: World, pool: asyncpg.Pool) -> Month:
    return await build_month(pool, world)


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              pool: asyncpg.Pool) -> ApiClient:
    """The API with the report routes, on the month's clock."""
    app = create_app(settings, clock=lambda: NOW)
    app.router.add_routes(routes_reports.routes)
    return await aiohttp_client(app)
