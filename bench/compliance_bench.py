"""Compliance benchmark: the pure check's throughput and the lease query's latency.

    python bench/compliance_bench.py [--cases 1000000] [--candidates 1000000] [--profile]
                                     [--baseline HEAD]

Part 1 builds N varied candidates (untimed): the three rule packs, callees in
Shanghai, New York, Chicago and London and some in two zones at once, holds,
do-not-call, revoked or missing consent, third parties with and without a
lost-contact finding, agreed windows (one outside every pack's limit), real public
holiday calendars, instants spread over 2026 and over the whole day, and 0-8 earlier
attempts with varied outcomes (mostly the same number and case, some the debtor's
other numbers, some a recycled number's previous owner). It tallies the decisions
of the first 200,000 (allowed share, refusal codes), then times two measures over
all of them, 3 interleaved runs in one process pinned to one core, and prints the
median decisions per CPU second (the wall clock also counts other processes' turns
on a busy machine):

* `check`: `dialer.compliance.check` alone, the issue's target (the inputs summary
  a decision stores is built only when it is read);
* `check + stored`: the check and `Decision.as_json()`, what the gate writes for
  every decision it makes (allowed: the attempt row; refused: the refusal row),
  inputs summary included; `json.dumps` of it is left out.

`--baseline REV` times the engine of git revision REV (bench/compliance_baseline.py
loads it beside today's) in the same runs, interleaved, after checking that it
stores the same decisions for the tallied sample. Below the target (or with
--profile) it prints cProfile's hotspots of the check over the first 100,000.
The engine timed is the one `dialer.compliance` imports: compiled with mypyc after
`make setup` (`dialer/compliance/native.py`), the Python modules with
`CALLCASE_COMPLIANCE_NATIVE=0`; the run says which. A baseline is always Python.

Part 2 recreates the database `callcase_bench_compliance` on the server of
CALLCASE_DATABASE_URL (default 127.0.0.1:5432), writes N cases for one client with
set-based SQL (buckets from days past due 1-400, balances, mostly open, ~1% on an
active hold, 1-3 phones per case, ~20% with a next action in the future, a few
calls in progress and phones held off) and VACUUM ANALYZEs. It then times
`dialer.candidates.lease(conn, campaign, now, 1000)` in a rolled-back transaction,
5 runs and one EXPLAIN (ANALYZE, BUFFERS) for each of three campaigns (all open
cases, buckets M2-M3, balance 5,000-20,000), in three states: without the index of
dialer/migrations/0002_lease_index.sql, with it, and later in the day when the
first 30% of cases in lease order have been called (next action tomorrow).

Ends with a markdown table for docs/benchmarks.md.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import gc
import importlib
import io
import json
import os
import platform
import pstats
import random
import statistics
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from datetime import time as wall
from typing import Any, TypeVar
from urllib.parse import urlsplit, urlunsplit

import asyncpg
from asyncpg.connection import LoggedQuery

from api.migrate import discover, recreate_database
from dialer.campaign import Campaign, parse_settings
from dialer.candidates import lease
from dialer.compliance import (
    CN_BANK,
    COMPILED_ENGINE,
    UK_OFCOM,
    US_REGF,
    Attempt,
    CampaignState,
    Candidate,
    Consent,
    ContactHistory,
    DailyWindow,
    Decision,
    DialContext,
    HoldReason,
    Outcome,
    Party,
    Resources,
    RulePack,
    check,
)
from dialer.locality import holiday_dates
from dialer.store import add_campaign

T = TypeVar("T")
Job = tuple[Candidate, ContactHistory, RulePack, datetime, DialContext]
CHECK_TARGET = 100_000  # decisions per second per core
LEASE_TARGET_S = 1.0  # the next 1,000 cases of 1,000,000
LEASE_LIMIT = 1000
MIX_SAMPLE = 200_000  # candidates whose decisions are tallied (untimed)
LEASE_INDEX = "cases_lease"  # dialer/migrations/0002_lease_index.sql
YEAR = (2025, 2026, 2027)
SHANGHAI, NEW_YORK, CHICAGO, LONDON = (
    "Asia/Shanghai", "America/New_York", "America/Chicago", "Europe/London",
)  # fmt: skip


# Part 1: the pure check.


@dataclass(frozen=True, slots=True)
class Region:
    """What varies with the client's jurisdiction: the pack, the numbers, the zones
    the callees may be in, and the client's public holidays."""

    pack: RulePack
    prefix: str  # E.164 prefix; 6 random digits follow
    zones: tuple[tuple[tuple[str, ...], float], ...]  # (zones, weight)
    holidays: frozenset[date] | None


def _regions() -> tuple[tuple[Region, float], ...]:
    cn = Region(CN_BANK, "+8613800", (
        ((SHANGHAI,), 96), ((SHANGHAI, NEW_YORK), 1), ((), 1), (("Mars/Olympus",), 0.5),
        ((NEW_YORK,), 1.5),
    ), holiday_dates("CN", None, YEAR))  # fmt: skip
    us = Region(US_REGF, "+1212555", (
        ((NEW_YORK,), 50), ((CHICAGO,), 35), ((NEW_YORK, CHICAGO), 12), ((), 1),
        ((SHANGHAI,), 1), (("localtime",), 1),
    ), holiday_dates("US", "NY", YEAR))  # fmt: skip
    uk = Region(UK_OFCOM, "+4477009", (
        ((LONDON,), 95), ((LONDON, NEW_YORK), 3), ((), 1), ((CHICAGO,), 1),
    ), holiday_dates("GB", "ENG", YEAR))  # fmt: skip
    return ((cn, 40), (us, 35), (uk, 25))


HOLDS: tuple[tuple[frozenset[HoldReason], float], ...] = (
    (frozenset(), 98.5), (frozenset({HoldReason.DISPUTE}), 0.6),
    (frozenset({HoldReason.FRAUD}), 0.2), (frozenset({HoldReason.DECEASED}), 0.1),
    (frozenset({HoldReason.LEGAL}), 0.3), (frozenset({HoldReason.BANK_REQUEST}), 0.2),
    (frozenset({HoldReason.CEASE, HoldReason.LEGAL}), 0.1),
)  # fmt: skip
PARTIES: tuple[tuple[Party | None, float], ...] = (
    (Party.DEBTOR, 70), (Party.GUARANTOR, 12), (Party.RELATIVE, 10), (Party.EMPLOYER, 4),
    (Party.OTHER, 3), (None, 1),
)  # fmt: skip
CONSENTS = ((Consent.GIVEN, 80), (Consent.UNKNOWN, 17), (Consent.REVOKED, 3))
AGREED: tuple[tuple[DailyWindow | None, float], ...] = (
    (None, 88), (DailyWindow(wall(9), wall(12)), 4), (DailyWindow(wall(18), wall(21)), 3),
    (DailyWindow(wall(19), wall(22)), 2), (DailyWindow(wall(12), wall(14)), 2),
    (DailyWindow(wall(6), wall(7, 30)), 1),
)  # fmt: skip
OUTCOMES = (
    (Outcome.UNANSWERED, 35), (Outcome.BUSY, 8), (Outcome.FAILED, 4), (Outcome.MACHINE, 12),
    (Outcome.VOICEMAIL, 8), (Outcome.CONNECTED, 13), (Outcome.CONVERSATION, 10),
    (Outcome.ABANDONED, 3),
)  # fmt: skip
HISTORY_SIZES = ((0, 25), (1, 15), (2, 15), (3, 12), (4, 10), (5, 8), (6, 6), (7, 5), (8, 4))


def _dial_contexts() -> tuple[tuple[DialContext, float], ...]:
    def ctx(ring: int, guaranteed: bool, abandoned: int = 2, line: bool = True,
            recording: bool = True) -> DialContext:
        return DialContext(
            campaign_id=7, ring_timeout=timedelta(seconds=ring), agent_guaranteed=guaranteed,
            campaign=CampaignState(abandoned=abandoned, live=300),
            resources=Resources(work_line=line, recording=recording),
        )

    return (
        (ctx(25, False), 40), (ctx(30, True), 30), (ctx(20, False, abandoned=0), 15),
        (ctx(40, True), 10), (ctx(25, False, abandoned=12), 3), (ctx(25, True, line=False), 1),
        (ctx(25, False, recording=False), 0.5), (ctx(10, True), 0.5),
    )  # fmt: skip


class Draw:
    """Seeded weighted draws, a whole column at a time (fast enough for millions)."""

    def __init__(self, seed: int, n: int) -> None:
        self.rng = random.Random(seed)
        self.n = n

    def column(self, table: Sequence[tuple[T, float]]) -> list[T]:
        values, weights = zip(*table, strict=True)
        return self.rng.choices(values, weights, k=self.n)

    def flags(self, share: float) -> list[bool]:
        rand = self.rng.random
        return [rand() < share for _ in range(self.n)]

    def instants(self, start: datetime, span: timedelta) -> list[datetime]:
        seconds, rand = span.total_seconds(), self.rng.random
        return [start + timedelta(seconds=int(rand() * seconds)) for _ in range(self.n)]


def build_jobs(n: int, seed: int = 2026) -> list[Job]:
    """`n` (candidate, history, pack, now, dial) tuples, the same for the same seed."""
    draw = Draw(seed, n)
    regions = draw.column(_regions())
    nows = draw.instants(datetime(2026, 1, 1, tzinfo=UTC), timedelta(days=365))
    dials = draw.column(_dial_contexts())
    facts = zip(
        regions, draw.column(PARTIES), draw.column(HOLDS), draw.column(CONSENTS),
        draw.column(AGREED), draw.flags(0.01), draw.flags(0.005), draw.flags(0.005),
        draw.flags(0.4), draw.flags(0.15), draw.flags(0.01), strict=True,
    )
    jobs: list[Job] = []
    for i, (region, party, holds, consent, agreed, dnc, cease, attorney, lost, no_holiday,
            no_calendar) in enumerate(facts):  # fmt: skip
        zones = draw.rng.choices(*zip(*region.zones, strict=True))[0]
        who = Candidate(
            case_id=i + 1, debtor_id=i // 2 + 1, phone_id=i + 1,
            number=f"{region.prefix}{draw.rng.randrange(10**6):06d}", party=party,
            time_zones=zones, holds=holds, do_not_call=dnc, cease_requested=cease,
            attorney_represented=attorney, consent=consent, lost_contact=lost,
            no_holiday_calls=no_holiday,
            holidays=None if no_calendar else region.holidays, agreed_window=agreed,
        )
        history = _history(draw.rng, who, region.pack, nows[i])
        jobs.append((who, history, region.pack, nows[i], dials[i]))
    return jobs


def _history(rng: random.Random, who: Candidate, pack: RulePack, now: datetime) -> ContactHistory:
    """0-8 earlier attempts within the pack's look-back, oldest first: mostly this
    number on this case, some the debtor's other numbers, some the number's
    previous owner."""
    sizes, size_weights = zip(*HISTORY_SIZES, strict=True)
    count = rng.choices(sizes, size_weights)[0]
    if not count:
        return ContactHistory()
    outcomes, outcome_weights = zip(*OUTCOMES, strict=True)
    lookback = pack.history_lookback.total_seconds()
    attempts = []
    for outcome in rng.choices(outcomes, outcome_weights, k=count):
        ago = timedelta(seconds=60 + int(rng.random() * lookback))
        kind = rng.random()
        case_id, debtor_id, number = who.case_id, who.debtor_id, who.number
        if kind < 0.1:  # another of the debtor's numbers
            number = number[:-1] + str((int(number[-1]) + 1) % 10)
        elif kind < 0.15:  # the number's previous owner
            case_id, debtor_id = case_id + 10_000_000, debtor_id + 10_000_000
        attempts.append(Attempt(
            at=now - ago, case_id=case_id, debtor_id=debtor_id, number=number,
            party=who.party or Party.DEBTOR, campaign_id=7, outcome=outcome,
        ))
    return ContactHistory(tuple(sorted(attempts, key=lambda a: a.at)))


Decide = Callable[..., Decision]  # `check`, today's or a baseline engine's


def run_checks(jobs: list[Job], decide: Decide = check) -> tuple[float, float]:
    """CPU and wall-clock seconds to decide every job once (the pure check: the
    inputs summary is not built). CPU time is the figure per core: on a noisy
    machine the wall clock also counts other processes' turns."""
    cpu, wall_started = time.process_time(), time.perf_counter()
    for who, history, pack, now, dial in jobs:
        decide(who, history, pack, now, dial=dial)
    return time.process_time() - cpu, time.perf_counter() - wall_started


def run_stored(jobs: list[Job], decide: Decide = check) -> tuple[float, float]:
    """`run_checks` plus what the gate stores of every decision it makes: the
    decision as JSON-ready values, inputs summary included (`Decision.as_json`;
    `json.dumps` of it is left out, the same work for any engine)."""
    cpu, wall_started = time.process_time(), time.perf_counter()
    for who, history, pack, now, dial in jobs:
        decide(who, history, pack, now, dial=dial).as_json()
    return time.process_time() - cpu, time.perf_counter() - wall_started


@dataclass(frozen=True, slots=True)
class Mix:
    """What the check answered for a sample of the candidates."""

    sampled: int
    allowed: int
    codes: Counter[str]  # decisions refused with each code
    packs: Counter[str]
    zones: Counter[int]  # candidates by number of zones

    def share(self, count: int) -> str:
        return f"{count / self.sampled:.1%}"


@dataclass(frozen=True, slots=True)
class Timing:
    """The runs of one measure over every candidate."""

    label: str
    n: int
    runs: tuple[tuple[float, float], ...]  # (CPU, wall) seconds

    @property
    def rate(self) -> float:
        """Decisions per CPU second, median of the runs."""
        return self.n / statistics.median(cpu for cpu, _ in self.runs)

    @property
    def wall_rate(self) -> float:
        return self.n / statistics.median(wall for _, wall in self.runs)

    def per_run(self) -> str:
        return ", ".join(f"{self.n / cpu:,.0f}" for cpu, _ in self.runs)


@dataclass(frozen=True, slots=True)
class CheckFigures:
    n: int
    attempts: int
    timings: tuple[Timing, ...]  # the check, check + stored; then the baseline's
    mix: Mix

    @property
    def rate(self) -> float:
        """The pure check's decisions per CPU second (the target's measure)."""
        return self.timings[0].rate


CHECK = "check"
STORED = "check + stored"


def bench_check(n: int, profile: bool, baseline: str | None, runs: int = 3) -> CheckFigures:
    started = time.perf_counter()
    gc.disable()  # millions of long-lived objects: collecting while building them is wasted
    jobs = build_jobs(n)
    engine, old_jobs = _baseline_of(jobs, baseline) if baseline else (None, [])
    gc.enable()
    gc.freeze()  # the pre-built jobs are not the dialer's garbage: keep them out of GC passes
    attempts = sum(len(history.attempts) for _, history, _, _, _ in jobs)
    print("\nengine: " + ("compiled with mypyc (dialer/compliance/_native)" if COMPILED_ENGINE
                          else "the Python modules"))
    print(f"built {n:,} candidates with {attempts:,} earlier attempts in "
          f"{time.perf_counter() - started:.1f} s (untimed)"
          + (f", and again for the engine of {baseline}" if engine else ""))
    mix = decide_sample(jobs[:MIX_SAMPLE])  # the jobs are independent draws
    measures: list[tuple[str, Callable[[], tuple[float, float]]]] = [
        (CHECK, lambda: run_checks(jobs)), (STORED, lambda: run_stored(jobs)),
    ]  # fmt: skip
    if engine is not None:
        same_decisions(jobs[:MIX_SAMPLE], old_jobs[:MIX_SAMPLE], engine.check, baseline or "")
        measures[1:1] = [(f"{CHECK}, {baseline}", lambda: run_checks(old_jobs, engine.check))]
        measures.append((f"{STORED}, {baseline}", lambda: run_stored(old_jobs, engine.check)))
    found: dict[str, list[tuple[float, float]]] = {label: [] for label, _ in measures}
    for _ in range(runs):  # interleaved: each measure meets the same load
        for label, measure in measures:
            found[label].append(measure())
    order = [CHECK, STORED] + ([f"{CHECK}, {baseline}", f"{STORED}, {baseline}"] if engine else [])
    figures = CheckFigures(n, attempts, tuple(Timing(k, n, tuple(found[k])) for k in order), mix)
    _print_check(figures)
    if profile or figures.rate < CHECK_TARGET:
        print_profile(jobs[: min(n, 100_000)])
    gc.unfreeze()
    return figures


def _baseline_of(jobs: list[Job], revision: str) -> tuple[Any, list[Job]]:
    """The engine of git `revision`, and `jobs` built from its classes (untimed)."""
    # bench/ is scripts, not a package: the module beside this one, whichever way it runs.
    loader: Any = importlib.import_module(
        f"{__package__}.compliance_baseline" if __package__ else "compliance_baseline")
    engine = loader.load_engine(revision)
    return engine, loader.to_engine(engine, jobs)


def decide_sample(jobs: list[Job]) -> Mix:
    allowed, codes, packs, zones = 0, Counter[str](), Counter[str](), Counter[int]()
    for who, history, pack, now, dial in jobs:
        decision = check(who, history, pack, now, dial=dial)
        allowed += decision.allowed
        codes.update(str(code) for code in set(decision.codes))
        packs[pack.name] += 1
        zones[len(who.time_zones)] += 1
    return Mix(len(jobs), allowed, codes, packs, zones)


def same_decisions(jobs: list[Job], old_jobs: list[Job], old: Decide, baseline: str) -> None:
    """Stop unless the baseline engine stores the same decisions (untimed)."""
    for (who, history, pack, now, dial), old_job in zip(jobs, old_jobs, strict=True):
        stored = json.dumps(check(who, history, pack, now, dial=dial).as_json())
        before = json.dumps(old(*old_job[:4], dial=old_job[4]).as_json())
        if stored != before:
            raise SystemExit(f"case {who.case_id}: decided differently from {baseline}:\n"
                             f"{before}\n{stored}")
    print(f"the engine of {baseline} stores the same {len(jobs):,} decisions (JSON compared)")


def _print_check(f: CheckFigures) -> None:
    mix = f.mix
    print(f"decisions for the first {mix.sampled:,}: packs "
          f"{', '.join(f'{name} {mix.share(count)}' for name, count in mix.packs.items())}; "
          f"zones {', '.join(f'{k}: {mix.share(v)}' for k, v in sorted(mix.zones.items()))}")
    print(f"allowed {mix.share(mix.allowed)}, refused {mix.share(mix.sampled - mix.allowed)};"
          " decisions refused with each code (a refusal may have several):")
    for code, count in mix.codes.most_common(12):
        print(f"  {code:28} {mix.share(count):>6}")
    for t in f.timings:
        print(f"{t.label}: {t.per_run()} decisions per CPU second; median {t.rate:,.0f}/s on one"
              f" core ({1e6 / t.rate:.1f} us a decision; wall clock {t.wall_rate:,.0f}/s)")
    print(f"target for the check: {CHECK_TARGET:,}/s")
    rates = {t.label: t.rate for t in f.timings}
    for label in (CHECK, STORED):
        before = next((rate for name, rate in rates.items() if name.startswith(f"{label}, ")), None)
        if before is not None:
            print(f"{label}: {rates[label] / before:.2f}x the baseline's rate in the same runs")


def print_profile(jobs: list[Job], top: int = 14) -> None:
    """cProfile's view of deciding `jobs`: the engine's functions by cumulative time
    (where the time goes), then every function by own time (what to make cheaper)."""
    profiler = cProfile.Profile()
    profiler.runcall(run_checks, jobs)
    print(f"\ncProfile over {len(jobs):,} decisions (profiled, so slower):")
    for order, title, restriction in (("cumulative", "the engine by cumulative time",
                                       "dialer/compliance"), ("tottime", "by own time", "")):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).sort_stats(order).print_stats(restriction, top)
        text = out.getvalue().replace(os.getcwd() + "/", "")
        print(f"{title}:\n{text[text.index('   ncalls'):].rstrip()}")


# Part 2: the lease query.

BENCH_DB = "callcase_bench_compliance"
INSERT_DEBTORS = """
INSERT INTO debtors (client_id, name, id_no)
SELECT $1, 'debtor ' || g, 'ID' || lpad(g::text, 16, '0') FROM generate_series(1, $2) g
"""
INSERT_CASES = """
INSERT INTO cases (client_id, account_no, debtor_id, first_batch_id, last_batch_id, product,
    balance, days_past_due, status, priority, next_action_at)
SELECT $1, 'ACC' || lpad(id::text, 10, '0'), id, $2, $2,
    CASE WHEN p < 0.7 THEN 'credit_card' ELSE 'personal_loan' END,
    round((200 + b * b * 79800)::numeric, 2), 1 + floor(d * 400)::int,
    CASE WHEN s < 0.72 THEN 'open' WHEN s < 0.84 THEN 'in_progress' WHEN s < 0.89 THEN 'promised'
         WHEN s < 0.92 THEN 'lost_contact' WHEN s < 0.94 THEN 'on_hold' WHEN s < 0.97 THEN 'paid'
         ELSE 'closed' END,
    CASE WHEN p > 0.97 THEN 1 + floor((p - 0.97) * 100)::int ELSE 0 END,
    CASE WHEN n < 0.20 THEN $3::timestamptz + n * 70 * interval '1 day'
         WHEN n < 0.25 THEN $3::timestamptz - n * 4 * interval '1 day' END
FROM (SELECT id, random() AS p, random() AS b, random() AS d, random() AS s, random() AS n
      FROM debtors ORDER BY id) r
"""
INSERT_PHONES = """
INSERT INTO phones (case_id, e164, party, kind, validity, consent, do_not_call)
SELECT c.id, '+86' || (13000000000 + c.id * 3 + k)::text,
    CASE WHEN k = 1 THEN 'debtor' WHEN k = 2 AND random() < 0.5 THEN 'guarantor'
         ELSE 'relative' END,
    CASE WHEN k = 3 THEN 'home' ELSE 'mobile' END,
    CASE WHEN random() < 0.03 THEN 'invalid' WHEN random() < 0.4 THEN 'valid' ELSE 'unknown' END,
    'unknown', random() < 0.01
FROM cases c CROSS JOIN LATERAL generate_series(1, 1 + (c.id % 3)::int) k
"""
INSERT_HOLDS = """
INSERT INTO case_holds (case_id, reason, placed_at, released_at)
SELECT id, (ARRAY['dispute', 'fraud', 'legal', 'bank_request'])[1 + (id % 4)::int],
    $1::timestamptz - interval '20 days',
    CASE WHEN random() < 0.33 THEN $1::timestamptz - interval '2 days' END
FROM cases WHERE random() < 0.015
"""
INSERT_HOLDOFFS = """
INSERT INTO phone_holdoff (phone_id, until)
SELECT id, $1::timestamptz + (random() * 48 - 12) * interval '1 hour'
FROM phones WHERE random() < 0.05
"""
INSERT_ATTEMPTS = """
INSERT INTO attempts (case_id, debtor_id, phone_id, number, party, work_line, dialer, placed_at,
    ended_at, result, decision, pack, pack_version)
SELECT case_id, debtor_id, id, e164, party, 'line1', 'bench', at,
    CASE WHEN live THEN NULL ELSE at + interval '40 seconds' END,
    CASE WHEN live THEN NULL ELSE 'no_answer' END, '{}', 'cn-bank', '2026.1'
FROM (SELECT c.id AS case_id, c.debtor_id, p.id, p.e164, p.party, random() < 0.002 AS live,
             $1::timestamptz - random() * interval '7 days' AS at
      FROM phones p JOIN cases c ON c.id = p.case_id
      WHERE p.party = 'debtor' AND random() < 0.1) a
"""
FILTERS: tuple[tuple[str, dict[str, object]], ...] = (
    ("all open cases", {}),
    ("buckets M2-M3", {"buckets": ["M2", "M3"]}),
    ("balance 5,000-20,000", {"balance_min": "5000", "balance_max": "20000"}),
)


async def fresh_database(base_url: str) -> str:
    url = urlunsplit(urlsplit(base_url)._replace(path=f"/{BENCH_DB}"))
    await recreate_database(url)
    return url


async def load_cases(conn: asyncpg.Connection, n: int, now: datetime) -> int:
    """`n` cases of one client with their debtors, phones, holds, hold-offs and
    attempts; returns the client's id."""
    client_id: int = await conn.fetchval(
        "INSERT INTO clients (code, name, time_zone) VALUES ('BENCH', 'bench', $1)"
        " RETURNING id", SHANGHAI)
    batch_id: int = await conn.fetchval(
        "INSERT INTO batches (client_id, file_name, file_sha256, encoding, received_at,"
        " imported_at, rows_read, rows_accepted, rows_rejected, cases_created, cases_updated,"
        " total_balance) VALUES ($1, 'bench.csv', repeat('0', 64), 'utf-8', $2, $2, 0, 0, 0,"
        " 0, 0, 0) RETURNING id", client_id, now)
    # Every row is consistent by construction: skipping the foreign-key triggers makes
    # the load several times faster (a superuser setting, on this bench database only).
    await conn.execute("SET session_replication_role = replica; SELECT setseed(0.2026)")
    steps: tuple[tuple[str, str, tuple[object, ...]], ...] = (
        ("debtors", INSERT_DEBTORS, (client_id, n)),
        ("cases", INSERT_CASES, (client_id, batch_id, now)),
        ("phones", INSERT_PHONES, ()), ("case_holds", INSERT_HOLDS, (now,)),
        ("phone_holdoff", INSERT_HOLDOFFS, (now,)), ("attempts", INSERT_ATTEMPTS, (now,)),
    )
    for table, sql, args in steps:
        started = time.perf_counter()
        status = await conn.execute(sql, *args)
        print(f"  {table:14} {int(status.split()[-1]):>10,} rows in "
              f"{time.perf_counter() - started:5.1f} s")
    await conn.execute("RESET session_replication_role")
    started = time.perf_counter()
    await conn.execute("VACUUM ANALYZE")
    print(f"  VACUUM ANALYZE in {time.perf_counter() - started:.1f} s")
    return client_id


async def describe(conn: asyncpg.Connection, now: datetime) -> None:
    row = await conn.fetchrow(
        "SELECT count(*) AS cases,"
        " count(*) FILTER (WHERE status IN ('open', 'in_progress', 'promised', 'lost_contact'))"
        "   AS dialable_status,"
        " count(*) FILTER (WHERE next_action_at > $1) AS later,"
        " count(*) FILTER (WHERE EXISTS (SELECT 1 FROM case_holds h WHERE h.case_id = c.id"
        "   AND h.released_at IS NULL)) AS held,"
        " (SELECT count(*) FROM phones) AS phones,"
        " (SELECT count(*) FROM attempts WHERE ended_at IS NULL) AS in_progress"
        " FROM cases c", now)
    assert row is not None
    n = row["cases"]
    print(f"  {n:,} cases: {row['dialable_status'] / n:.0%} open/in progress/promised/lost "
          f"contact, {row['later'] / n:.0%} with a next action later, {row['held'] / n:.1%} "
          f"on an active hold; {row['phones']:,} phones; {row['in_progress']} calls in progress")


@dataclass(frozen=True, slots=True)
class LeaseFigures:
    label: str
    runs: tuple[float, ...]  # seconds
    leased: int
    plan: tuple[str, ...]  # EXPLAIN (ANALYZE, BUFFERS)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def execution_ms(self) -> float:
        last = next(line for line in self.plan if line.startswith("Execution Time"))
        return float(last.split()[2])


async def time_lease(
    conn: asyncpg.Connection, campaign: Campaign, now: datetime, runs: int
) -> tuple[tuple[float, ...], int]:
    """Seconds for each of `runs` leases of 1,000, each in a transaction rolled back."""
    times, leased = [], 0
    for _ in range(runs):
        transaction = conn.transaction()
        await transaction.start()
        started = time.perf_counter()
        leased = len(await lease(conn, campaign, now, LEASE_LIMIT))
        times.append(time.perf_counter() - started)
        await transaction.rollback()
    return tuple(times), leased


async def explain_lease(conn: asyncpg.Connection, campaign: Campaign, now: datetime) -> list[str]:
    """EXPLAIN (ANALYZE, BUFFERS) of the very query and arguments `lease` sends."""
    sent: list[LoggedQuery] = []
    transaction = conn.transaction()
    await transaction.start()
    try:
        with conn.query_logger(sent.append):
            await lease(conn, campaign, now, LEASE_LIMIT)
        await transaction.rollback()
        transaction = conn.transaction()
        await transaction.start()
        rows = await conn.fetch("EXPLAIN (ANALYZE, BUFFERS) " + sent[-1].query, *sent[-1].args)
    finally:
        await transaction.rollback()
    return [row[0] for row in rows]


def plan_summary(plan: Sequence[str]) -> Iterator[str]:
    """The plan's nodes (actual time, rows, loops; no cost estimates), how the cases
    were read (index condition, rows read and thrown away), the top node's buffers,
    the sort and the planning and execution times."""
    on_cases = buffers_seen = False
    for line in plan:
        text = line.strip()
        if "(cost=" in line:
            head, _, tail = line.partition(" (cost=")
            on_cases = head.rstrip().endswith(" on cases c")
            yield head.rstrip() + "  (" + tail.partition("(")[2]
        elif on_cases and text.startswith(("Index Cond", "Rows Removed by Filter")):
            yield line
        elif text.startswith("Buffers:") and not buffers_seen:
            buffers_seen = True
            yield "  " + text
        elif text.startswith(("Planning Time", "Execution Time", "Sort Method")):
            yield "  " + text


async def bench_lease(base_url: str, n: int, runs: int = 5) -> list[LeaseFigures]:
    """Load `n` cases, then time the lease for each filter in three states: without
    the lease index, with it, and once the first 30% of cases in lease order have
    been called (their next action is tomorrow)."""
    url = await fresh_database(base_url)
    now = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)  # a Monday, 10:00 in Shanghai
    conn = await asyncpg.connect(url)
    try:
        print(f"\nPostgreSQL {await conn.fetchval('SHOW server_version')}")
        started = time.perf_counter()
        print(f"\nloading {n:,} cases into {BENCH_DB}:")
        client_id = await load_cases(conn, n, now)
        print(f"  loaded in {time.perf_counter() - started:.1f} s")
        await describe(conn, now)
        campaigns = [await _campaign(conn, client_id, label, case_filter, now)
                     for label, case_filter in FILTERS]
        found: list[LeaseFigures] = []
        for phase, prepare in PHASES:
            await prepare(conn, n, now)
            found += [await _one_lease(conn, phase, c, now, runs) for c in campaigns]
        return found
    finally:
        await conn.close()


async def _campaign(
    conn: asyncpg.Connection, client_id: int, label: str, case_filter: dict[str, object],
    now: datetime,
) -> Campaign:
    body = {"name": label, "mode": "predictive", "work_lines": ["line1"],
            "case_filter": case_filter}
    return await add_campaign(conn, client_id, parse_settings(body, client_pack="cn-bank"),
                              by=None, now=now)


async def _one_lease(
    conn: asyncpg.Connection, phase: str, campaign: Campaign, now: datetime, runs: int
) -> LeaseFigures:
    times, leased = await time_lease(conn, campaign, now, runs)
    label = f"{phase}, {campaign.settings.name}"
    figures = LeaseFigures(label, times, leased, tuple(await explain_lease(conn, campaign, now)))
    print(f"\nlease {LEASE_LIMIT:,}, {label}: {leased} leased; runs "
          f"{', '.join(f'{t * 1000:.0f}' for t in times)} ms; median {figures.median * 1000:.0f} ms"
          f" (target {LEASE_TARGET_S * 1000:.0f} ms)")
    for line in plan_summary(figures.plan):
        print("  " + line)
    return figures


async def drop_index(conn: asyncpg.Connection, n: int, now: datetime) -> None:
    await conn.execute(f"DROP INDEX {LEASE_INDEX}")
    print(f"\n== without {LEASE_INDEX} (dropped after the migrations)")


async def build_index(conn: asyncpg.Connection, n: int, now: datetime) -> None:
    migration = next(m for m in discover(("dialer",)) if LEASE_INDEX in m.sql)
    started = time.perf_counter()
    await conn.execute(migration.sql)
    print(f"\n== with dialer/migrations/{migration.name} (built in "
          f"{time.perf_counter() - started:.1f} s)")


async def work_first_cases(conn: asyncpg.Connection, n: int, now: datetime) -> None:
    """Later in the day: the first 30% of cases in lease order were called and their
    next action is tomorrow; the lease skips them."""
    started = time.perf_counter()
    await conn.execute(
        "UPDATE cases SET next_action_at = $1 WHERE id IN (SELECT id FROM cases"
        " ORDER BY priority DESC, days_past_due DESC, balance DESC, id LIMIT $2)",
        now + timedelta(days=1), int(n * 0.3))
    await conn.execute("VACUUM ANALYZE cases")
    print(f"\n== later in the day: the first {int(n * 0.3):,} cases in lease order were called,"
          f" their next action is tomorrow ({time.perf_counter() - started:.1f} s)")


Phase = Callable[[asyncpg.Connection, int, datetime], Awaitable[None]]
PHASES: tuple[tuple[str, Phase], ...] = (
    ("no lease index", drop_index), ("lease index", build_index),
    ("lease index, 30% worked", work_first_cases),
)


def plan_shape(plan: Sequence[str]) -> str:
    """The outermost plan nodes and how the cases are read: "Limit → LockRows → Sort
    → … Seq Scan on cases c"."""
    names = [line.strip().removeprefix("->").partition(" (cost=")[0].strip()
             for line in plan if "(cost=" in line]
    scan = next((name for name in names if name.endswith(" on cases c")), "")
    top = names[:3] if scan not in names[:4] else names[: names.index(scan) + 1]
    return " → ".join(top) + ("" if scan in top else f" → … {scan}")


def print_table(checked: CheckFigures | None, leases: list[LeaseFigures], cases: int) -> None:
    print("\n| measure | median | runs | target | plan |\n|---|---|---|---|---|")
    if checked is not None:
        mix = checked.mix
        print(f"| {checked.n:,} varied candidates ({checked.attempts / checked.n:.1f} earlier"
              f" attempts each on average, {mix.share(mix.allowed)} allowed), one core | | | | |")
        for t in checked.timings:
            target = f"{CHECK_TARGET:,}/s" if t.label == CHECK else ""
            print(f"| `{t.label}` | {t.rate:,.0f} decisions/s ({1e6 / t.rate:.1f} µs each)"
                  f" | {t.per_run()} | {target} | |")
    for f in leases:
        runs = ", ".join(f"{t * 1000:.0f}" for t in f.runs)
        print(f"| `lease` next {LEASE_LIMIT:,} of {cases:,}: {f.label} | "
              f"{f.median * 1000:,.0f} ms (EXPLAIN ANALYZE {f.execution_ms:,.0f} ms) | {runs} ms"
              f" | < {LEASE_TARGET_S * 1000:,.0f} ms | {plan_shape(f.plan)} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=1_000_000, help="0: skip the check")
    parser.add_argument("--cases", type=int, default=1_000_000, help="0: skip the lease")
    parser.add_argument("--profile", action="store_true", help="print cProfile hotspots")
    parser.add_argument("--baseline", metavar="REV",
                        help="also time the compliance engine of git revision REV (e.g. HEAD)"
                        " in the same runs")
    args = parser.parse_args()
    base_url = os.environ.get("CALLCASE_DATABASE_URL",
                              "postgresql://postgres@127.0.0.1:5432/callcase")
    print(f"machine: {platform.node()} {os.cpu_count()} cores, Python "
          f"{platform.python_version()}, {datetime.now(UTC):%Y-%m-%d %H:%M} UTC")
    cores = sorted(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cores[-1]})  # the check on one core
    checked = (bench_check(args.candidates, args.profile, args.baseline) if args.candidates
               else None)
    os.sched_setaffinity(0, set(cores))
    leases = asyncio.run(bench_lease(base_url, args.cases)) if args.cases else []
    print_table(checked, leases, args.cases)


if __name__ == "__main__":
    main()
