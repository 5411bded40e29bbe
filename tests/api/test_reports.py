"""Month-end reports on a generated October 2026 with hand-computed answers, as CSV,
per role; complaints recorded and listed.

The world (both banks in Asia/Shanghai, so October runs from 2026-09-30 16:00 UTC to
2026-10-31 16:00 UTC) is written with plain INSERTs. Times below are Shanghai wall
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

import csv
import io
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import asyncpg
import pytest

from api import reports, routes_reports
from api.app import create_app
from api.settings import Settings
from cases import store
from cases.domain import Role
from cases.report_math import COLUMNS, AgentFigures
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


@pytest.fixture
async def month(world: World, pool: asyncpg.Pool) -> Month:
    agent_c = await store.add_user(pool, store.NewUser(
        username="agent-c", display_name="赵磊", role=Role.AGENT,
        password_hash="!never logs in"))
    m = Month(world, agents={"agent_a": world.users["agent_a"].id,
                             "agent_b": world.users["agent_b"].id, "agent_c": agent_c.id})
    for step in (_records, _calls, _money, _compliance, _qa):
        await step(pool, m)
    return m


@pytest.fixture
async def api(settings: Settings, aiohttp_client: Callable[..., Awaitable[ApiClient]],
              pool: asyncpg.Pool) -> ApiClient:
    app = create_app(settings, clock=lambda: NOW)
    app.router.add_routes(routes_reports.routes)
    return await aiohttp_client(app)


FIGURES = ("accounts", "amount_assigned", "amount_recovered", "recovery_rate", "attempts",
           "attempts_per_case", "calls", "connected", "right_party_contacts",
           "right_party_contact_rate", "promises_to_pay", "ptp_rate", "promises_due",
           "promises_kept", "promises_broken", "ptp_kept_rate", "floor_due", "floor_met",
           "floor_adherence", "abandoned", "abandon_rate", "qa_failed_accounts",
           "complaint_accounts", "compliant_accounts", "compliance_rate", "recorded_calls",
           "sampled_calls", "reviewed_calls", "qa_sampled_rate", "qa_reviewed_rate")


def row(*values: object) -> dict[str, object]:
    assert len(values) == len(FIGURES)
    return dict(zip(FIGURES, values, strict=True))


# BANKA: accounts a01-a10 (a11 closed in September). Assigned 10,000 + 5,000 + 2,000 +
# 8,000 + 1,000 + 4,000 + 6,000 + 3,000 + 7,000 + 2,000 = 48,000. Recovered: a01 1,000
# (its 500 came on 1 Nov 00:30 local: November), a02 250.50 (1 Oct 00:30 local, still
# 30 Sep in UTC), a06 2,000 = 3,250.50; 3,250.50 / 48,000 = 0.06771875 -> 0.0677.
# Calls in October: 5 + 2 + 3 + 1 + 1 + 2 + 2 + 1 + 1 + 1 = 19 (a03's three September
# calls and a08's #19 on 1 Nov local are not); 19 / 10 = 1.90 per case. Connected: #3,
# 4, 10, 12, 13, 15, 16, 18, 20 = 9; right party: all but #10 (TPC) and #16 (WN) = 7;
# 7 / 9 = 0.7778. PTP: #4, 12, 15 = 3; 3 / 7 = 0.4286. Promises due in October: a01
# kept, a03 broken, a06 kept, a02 broken (taken in September) = 4; 2 / (2 + 2) = 0.5.
# Floor (3 calls by assignment + 7 days, 5 by + 22 days): a01 due 8 and 23 Oct, met
# (#1-3, #1-5); a02 due 9 and 24 Oct with 2 calls, not met (its hold was released on
# 5 Oct); a03 due 12 Oct, met by 3 September calls and #10, #11; a04 due 27 Oct, met by
# the right-party contact #13; a05-a09 were due in August; 3 / 4 = 0.75. Abandoned: #7,
# #17; 2 / (2 + 9) = 0.1818. Non-compliant: a03 (QA auto-fail and a complaint); a07's
# complaint came on 1 Nov local; 9 / 10 = 0.9. Recorded calls of agents: #3, 4, 10, 12,
# 15, 18, 20 = 7 (#19 is November's, #16's recording failed); sampled #3, 10, 12, 15 = 4,
# 4 / 7 = 0.5714; reviewed #3, 10, 15: 3 / 4 = 0.75.
BANK_A = row(10, "48000.00", "3250.50", 0.0677, 19, 1.9, 19, 9, 7, 0.7778, 3, 0.4286, 4,
             2, 2, 0.5, 4, 3, 0.75, 2, 0.1818, 1, 1, 9, 0.9, 7, 4, 3, 0.5714, 0.75)
# BANKB: 3,000 + 2,000 + 5,000 + 6,000 + 4,000 = 20,000; recovered b01's 3,000 (b04's 400
# was paid in September): 0.15. Calls 1 + 1 + 2 + 1 + 3 = 8, 8 / 5 = 1.60. Connected #23,
# 27, 30, all right party (CB is): 3 / 3 = 1. PTP #23: 1 / 3 = 0.3333. Due promises: b01
# kept, b03 pending, b05 cancelled: 1 / (1 + 0) = 1. Floor: b01 due 17 Oct, met by the
# contact #23; b02 held on its deadline (19 Oct): not due; b03 due 18 Oct with 2 calls:
# not met; b04 due 1 Nov; b05 due 17 Oct, met (#28-30): 2 / 3 = 0.6667. Abandoned #29:
# 1 / (1 + 3) = 0.25. Non-compliant: b04 (QA), b05 (complaint on 1 Oct 00:30 local):
# 3 / 5 = 0.6. Recorded #27, #30; sampled #27 (1 / 2 = 0.5), reviewed (1 / 1).
BANK_B = row(5, "20000.00", "3000.00", 0.15, 8, 1.6, 8, 3, 3, 1.0, 1, 0.3333, 3, 1, 0, 1.0,
             3, 2, 0.6667, 1, 0.25, 1, 1, 3, 0.6, 2, 1, 1, 0.5, 1.0)
# By agent, the cases by their assigned agent, the calls by the agent on them.
# agent_a: a01-a05, 26,000; recovered 1,000 + 250.50 = 1,250.50 -> 0.0481; calls on
# them 5 + 2 + 3 + 1 + 1 = 12 -> 2.40; agent_a's calls #3, 4, 10, 13: 4 connected, 3 right
# party (0.75), 1 PTP (0.3333); promises a01 kept, a03 and a02 broken: 1 / 3; floor 3 of
# 4; no abandons of 4 live: 0; a03 non-compliant: 4 / 5; recorded #3, 4, 10, sampled #3,
# 10 (2 / 3), both reviewed.
AGENT_A = row(5, "26000.00", "1250.50", 0.0481, 12, 2.4, 4, 4, 3, 0.75, 1, 0.3333, 3, 1, 2,
              0.3333, 4, 3, 0.75, 0, 0.0, 1, 1, 4, 0.8, 3, 2, 2, 0.6667, 1.0)
# agent_b: a06, a07, a08, b01, b02, b03: 4,000 + 6,000 + 3,000 + 3,000 + 2,000 + 5,000 =
# 23,000; recovered 2,000 + 3,000 = 5,000 -> 0.2174; calls on them 2 + 2 + 1 + 1 + 1 + 2 =
# 9 -> 1.50; agent_b's calls #12, 15, 16, 18, 23: 5 connected, 4 right party (0.8), 3 PTP
# (0.75); promises a06, b01 kept, b03 pending: 2 / 2; floor b01 met, b03 not: 1 / 2; all 6
# compliant; recorded #12, 15, 18, sampled #12, 15 (2 / 3), reviewed #15 (1 / 2).
AGENT_B = row(6, "23000.00", "5000.00", 0.2174, 9, 1.5, 5, 5, 4, 0.8, 3, 0.75, 3, 2, 0, 1.0,
              2, 1, 0.5, 0, 0.0, 0, 0, 6, 1.0, 3, 2, 1, 0.6667, 0.5)
# agent_c: a09, b04, b05: 17,000, nothing recovered; calls 1 + 1 + 3 = 5 -> 5 / 3 = 1.67;
# agent_c's calls #20, 27, 30: all right party, no PTP (0 / 3); b05's promise was
# cancelled: no rate; floor b05 met; b04 (QA) and b05 (complaint) non-compliant: 1 / 3;
# recorded #20, 27, 30, sampled #27 (1 / 3), reviewed.
AGENT_C = row(3, "17000.00", "0.00", 0.0, 5, 1.67, 3, 3, 3, 1.0, 0, 0.0, 1, 0, 0, None,
              1, 1, 1.0, 0, 0.0, 1, 1, 1, 0.3333, 3, 1, 1, 0.3333, 1.0)
# No agent: the case a10 (2,000, its one call #21) and the calls no agent took: 10 of
# BANKA's (#1, 2, 5, 6, 7, 11, 14, 17, 21, 22) and 5 of BANKB's (#24-26, 28, 29), none
# connected; abandoned #7, 17, 29: 3 / (3 + 0) = 1.
NO_AGENT = row(1, "2000.00", "0.00", 0.0, 1, 1.0, 15, 0, 0, None, 0, None, 0, 0, 0, None, 0,
               0, None, 3, 1.0, 0, 0, 1, 1.0, 0, 0, 0, None, None)
# 催收一组: every BANKA call but #20, 18, on a01-a08 and a10 (9 cases, 2.00 per case);
# 41,000 assigned (48,000 less a09's 7,000), 3,250.50 recovered -> 0.0793; connected #3,
# 4, 10, 12, 13, 15, 16, 18: 8, right party 6 (0.75), PTP 3 (0.5); abandoned 2 / (2 + 8)
# = 0.2; promises and floor as BANKA's; a03 non-compliant: 8 / 9 = 0.8889; recorded #3,
# 4, 10, 12, 15, 18, sampled 4 (0.6667), reviewed 3 (0.75).
CAMPAIGN_A = row(9, "41000.00", "3250.50", 0.0793, 18, 2.0, 18, 8, 6, 0.75, 3, 0.5, 4, 2, 2,
                 0.5, 4, 3, 0.75, 2, 0.2, 1, 1, 8, 0.8889, 6, 4, 3, 0.6667, 0.75)
# No campaign: the manual call #20 on a09 (7,000): connected, right party, recorded.
NO_CAMPAIGN = row(1, "7000.00", "0.00", 0.0, 1, 1.0, 1, 1, 1, 1.0, 0, 0.0, 0, 0, 0, None, 0,
                  0, None, 0, 0.0, 0, 0, 1, 1.0, 1, 0, 0, 0.0, None)


def figures_of(body: dict[str, Any]) -> list[tuple[object, dict[str, object]]]:
    rows = body["rows"]
    return [(r["group_name"], {k: r[k] for k in FIGURES}) for r in rows]


async def report(api: ApiClient, who: World, user: str, query: str) -> dict[str, Any]:
    resp = await api.get(f"/reports/monthly?{query}", headers=who.headers(user))
    assert resp.status == 200, await resp.text()
    body: dict[str, Any] = await resp.json()
    return body


async def test_by_client_every_figure_is_the_hand_computed_one(
        api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "admin", "month=2026-10&by=client")
    assert body["month"] == "2026-10" and body["by"] == "client" and body["client_id"] is None
    assert figures_of(body) == [("BANKA card centre", BANK_A), ("BANKB card centre", BANK_B)]
    assert [r["client_id"] for r in body["rows"]] == [month.client("A"), month.client("B")]
    assert "no override" in body["definitions"]["compliance_rate"]


async def test_by_batch_the_placements_of_october(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "supervisor", "month=2026-10&by=batch")
    # The world's own batches (placed on 29 Nov) have no account in October.
    assert figures_of(body) == [("BA1.csv", BANK_A), ("BB1.csv", BANK_B)]


async def test_by_agent_cases_by_their_agent_calls_by_the_agent_on_them(
        api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "manager", "month=2026-10&by=agent")
    assert figures_of(body) == [("agent_a", AGENT_A), ("agent_b", AGENT_B), ("赵磊", AGENT_C),
                                ("(none)", NO_AGENT)]


async def test_by_campaign_the_cases_each_campaign_called(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "admin", "month=2026-10&by=campaign")
    assert figures_of(body) == [("催收一组", CAMPAIGN_A), ("=Recall", BANK_B),
                                ("(none)", NO_CAMPAIGN)]


async def test_one_client_and_another_month(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "admin",
                        f"month=2026-10&by=agent&client_id={month.client('B')}")
    # BANKB's cases are agent_b's (b01-b03) and agent_c's (b04, b05).
    assert [(r["group_name"], r["accounts"], r["calls"], r["client_id"])
            for r in body["rows"]] == [
        ("agent_b", 3, 1, month.client("B")), ("赵磊", 2, 2, month.client("B")),
        ("(none)", 0, 5, month.client("B"))]
    # November: the world's cases (placed 29 Nov) join, b01 (paid in October) and a11
    # leave; the call and the payment of 1 Nov 00:30 local count.
    body = await report(api, month.world, "admin", "month=2026-11&by=client")
    assert [(r["accounts"], r["attempts"], r["amount_recovered"])
            for r in body["rows"]] == [(12, 1, "500.00"), (5, 0, "0.00")]


async def test_agent_figures_for_the_evaluation(month: Month, pool: asyncpg.Pool) -> None:
    found = await reports.agent_figures(pool, client_id=month.client("A"), month=OCTOBER)
    # a01-a05, a06-a08, a09 (a10 has no agent): 4 of 5, 3 of 3, 1 of 1 compliant.
    assert found == [
        AgentFigures(month.agents["agent_a"], Decimal("26000.00"), Decimal("1250.50"), 5, 4),
        AgentFigures(month.agents["agent_b"], Decimal("13000.00"), Decimal("2000.00"), 3, 3),
        AgentFigures(month.agents["agent_c"], Decimal("7000.00"), Decimal("0"), 1, 1)]


async def test_csv_opens_in_excel_with_chinese_names_and_no_formulas(
        api: ApiClient, month: Month) -> None:
    resp = await api.get("/reports/monthly?month=2026-10&by=campaign&format=csv",
                         headers=month.world.headers("admin"))
    assert resp.status == 200
    assert resp.headers["Content-Type"] == "text/csv; charset=utf-8"
    assert resp.headers["Content-Disposition"] == (
        'attachment; filename="callcase-2026-10-campaign.csv"')
    raw = await resp.read()
    assert raw.startswith("\ufeff".encode()) and b"\r\n" in raw
    table = list(csv.DictReader(io.StringIO(raw.decode("utf-8-sig"))))
    assert list(table[0]) == list(COLUMNS)
    assert [(r["group_name"], r["accounts"], r["amount_recovered"], r["recovery_rate"],
             r["ptp_kept_rate"]) for r in table] == [
        ("催收一组", "9", "3250.50", "0.0793", "0.5000"),
        ("'=Recall", "5", "3000.00", "0.1500", "1.0000"),  # shown as text, never run
        ("(none)", "1", "0.00", "0.0000", "")]
    assert {r["month"] for r in table} == {"2026-10"}


async def test_the_bank_sees_only_its_own_client(api: ApiClient, month: Month) -> None:
    body = await report(api, month.world, "auditor_a", "month=2026-10&by=client")
    assert body["client_id"] == month.client("A")
    assert figures_of(body) == [("BANKA card centre", BANK_A)]
    body = await report(api, month.world, "auditor_a",
                        f"month=2026-10&by=agent&client_id={month.client('A')}")
    assert [r["group_name"] for r in body["rows"]] == [
        "agent_a", "agent_b", "赵磊", "(none)"]
    resp = await api.get(f"/reports/monthly?month=2026-10&client_id={month.client('A')}",
                         headers=month.world.headers("auditor_b"))
    assert resp.status == 404 and (await resp.json())["error_id"] == "client.not_found"


@pytest.mark.parametrize("who", ["agent_a", "qa"])
async def test_agents_and_qa_may_not_read_reports(api: ApiClient, month: Month,
                                                  who: str) -> None:
    resp = await api.get("/reports/monthly?month=2026-10", headers=month.world.headers(who))
    assert resp.status == 403 and (await resp.json())["error_id"] == "auth.role"
    resp = await api.get("/reports/monthly?month=2026-10")
    assert resp.status == 401


@pytest.mark.parametrize(("query", "status", "error_id"), [
    ("by=client", 400, "report.bad_month"), ("month=2026-13", 400, "report.bad_month"),
    ("month=10-2026", 400, "report.bad_month"), ("month=2026-10&by=team", 400,
                                                 "report.bad_group"),
    ("month=2026-10&format=xlsx", 400, "report.bad_format"),
    ("month=2026-10&client_id=abc", 400, "request.bad_param"),
    ("month=2026-10&client_id=999", 404, "client.not_found"),
])
async def test_a_bad_request_says_what_is_wrong_and_reads_nothing(
        api: ApiClient, world: World, pool: asyncpg.Pool, query: str, status: int,
        error_id: str) -> None:
    resp = await api.get(f"/reports/monthly?{query}", headers=world.headers("admin"))
    assert resp.status == status
    assert (await resp.json())["error_id"] == error_id
    assert await pool.fetchval("SELECT count(*) FROM audit_log WHERE action = 'report.view'") == 0


async def test_every_report_read_is_audited(api: ApiClient, month: Month,
                                            pool: asyncpg.Pool) -> None:
    await report(api, month.world, "manager", "month=2026-10&by=batch")
    await api.get("/reports/monthly?month=2026-10&format=csv",
                  headers=month.world.headers("auditor_b"))
    rows = await pool.fetch("SELECT username, client_id, record_type, details FROM audit_log"
                            " WHERE action = 'report.view' ORDER BY id")
    assert [(r["username"], r["client_id"], r["record_type"]) for r in rows] == [
        ("manager", None, "report"), ("auditor-b", month.client("B"), "report")]
    assert [r["details"] for r in rows] == [
        '{"by": "batch", "rows": 2, "month": "2026-10", "format": "json"}',
        '{"by": "client", "rows": 1, "month": "2026-10", "format": "csv"}']


COMPLAINT = {"received_at": "2026-10-20T09:30:00+08:00", "channel": "phone",
             "summary": "  催收员态度恶劣 (the agent was rude)  "}


async def test_a_complaint_recorded_by_the_bank_makes_the_account_non_compliant(
        api: ApiClient, month: Month, pool: asyncpg.Pool) -> None:
    case = month.cases["a09"]
    resp = await api.post(f"/cases/{case}/complaints", json=COMPLAINT,
                          headers=month.world.headers("auditor_a"))
    assert resp.status == 201
    body = await resp.json()
    assert body["summary"] == "催收员态度恶劣 (the agent was rude)"
    assert (body["case_id"], body["client_id"], body["channel"]) == (
        case, month.client("A"), "phone")
    assert body["received_at"] == "2026-10-20T01:30:00+00:00"
    assert body["recorded_by"] == month.world.users["auditor_a"].id
    audited = await pool.fetchrow("SELECT * FROM audit_log WHERE action = 'complaint.record'")
    assert audited is not None
    assert (audited["username"], audited["record_id"], audited["client_id"]) == (
        "auditor-a", str(case), month.client("A"))
    report_ = await report(api, month.world, "admin",
                           f"month=2026-10&client_id={month.client('A')}")
    [(_, figures)] = figures_of(report_)
    # a03 and now a09 are non-compliant: 8 / 10.
    assert (figures["complaint_accounts"], figures["compliant_accounts"],
            figures["compliance_rate"]) == (2, 8, 0.8)


@pytest.mark.parametrize(("who", "account", "status"), [
    ("auditor_b", "a09", 404), ("agent_a", "a01", 403),
    ("qa", "a01", 403), ("manager", "a01", 403), ("supervisor", "b01", 201),
    ("admin", "a01", 201),
])
async def test_who_may_record_a_complaint(api: ApiClient, month: Month, pool: asyncpg.Pool,
                                          who: str, account: str, status: int) -> None:
    resp = await api.post(f"/cases/{month.cases[account]}/complaints", json=COMPLAINT,
                          headers=month.world.headers(who))
    assert resp.status == status
    stored = await pool.fetchval("SELECT count(*) FROM complaints WHERE summary LIKE '催收%'")
    assert stored == (1 if status == 201 else 0)


async def test_a_bad_complaint_lists_every_problem_and_stores_nothing(
        api: ApiClient, month: Month, pool: asyncpg.Pool) -> None:
    resp = await api.post(f"/cases/{month.cases['a01']}/complaints",
                          json={"received_at": "2026-12-01T00:00:00+08:00", "channel": "fax",
                                "summary": "   "}, headers=month.world.headers("admin"))
    assert resp.status == 400
    body = await resp.json()
    assert body["error_id"] == "complaint.invalid"
    assert set(body["details"]) == {"received_at", "channel", "summary"}
    resp = await api.post(f"/cases/{month.cases['a01']}/complaints",
                          json={**COMPLAINT, "received_at": "2026-10-20 09:30"},
                          headers=month.world.headers("admin"))
    assert (await resp.json())["details"] == {
        "received_at": "an ISO 8601 time with its UTC offset"}
    resp = await api.post("/cases/999999/complaints", json=COMPLAINT,
                          headers=month.world.headers("admin"))
    assert resp.status == 404
    assert await pool.fetchval("SELECT count(*) FROM complaints") == 3  # the world's own
    assert await pool.fetchval(
        "SELECT count(*) FROM audit_log WHERE action = 'complaint.record'") == 0


async def test_complaints_of_a_month_in_each_clients_zone(api: ApiClient, month: Month,
                                                          pool: asyncpg.Pool) -> None:
    resp = await api.get("/complaints?month=2026-10", headers=month.world.headers("supervisor"))
    assert resp.status == 200
    # a03's (9 Oct) and b05's (1 Oct 00:30 local); a07's came on 1 Nov 00:30 local.
    assert [c["case_id"] for c in (await resp.json())["items"]] == [
        month.cases["a03"], month.cases["b05"]]
    resp = await api.get("/complaints", headers=month.world.headers("auditor_a"))
    assert [c["case_id"] for c in (await resp.json())["items"]] == [
        month.cases["a03"], month.cases["a07"]]
    resp = await api.get(f"/complaints?client_id={month.client('B')}",
                         headers=month.world.headers("auditor_a"))
    assert resp.status == 404
    for who in ("agent_a", "manager"):
        resp = await api.get("/complaints", headers=month.world.headers(who))
        assert resp.status == 403
    resp = await api.get("/complaints?month=October", headers=month.world.headers("qa"))
    assert (await resp.json())["error_id"] == "report.bad_month"
    rows = await pool.fetch("SELECT username, client_id, details FROM audit_log"
                            " WHERE action = 'complaint.list' ORDER BY id")
    assert [(r["username"], r["client_id"]) for r in rows] == [
        ("supervisor", None), ("auditor-a", month.client("A"))]


async def test_one_connection_and_three_sharing_a_snapshot_agree(
        month: Month, pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn, conn.transaction():
        alone = await reports.monthly_report(conn, month=OCTOBER, by="agent", client_id=None)
    async with reports.snapshot(pool) as reader:
        assert reader.pool is pool  # the pool has room: the queries run side by side
        shared = await reports.monthly_report(reader, month=OCTOBER, by="agent",
                                              client_id=None)
    assert shared == alone and len(alone.rows) == 4
