"""Golden digest of the compliance check: proves a change leaves every decision alone.

    python -m bench.compliance_golden [--candidates 20000] [--edges 20000]

Decides the first N candidates of `compliance_bench.build_jobs` (the benchmark's
varied mix) and, with `--edges`, as many again moved to the instants where the
rules are easiest to get wrong: daylight-saving switches in New York, Chicago and
London, public holidays, local midnight and the window's edges (07:59:59, 08:00,
20:59:29, 20:59:30, 21:00) in each bench zone. An edge job keeps its candidate and
its history, shifted by the same amount as `now`. The crowded set is the first N
again with twice the attempts, all closer to `now`, so the counters refuse often.

Each decision adds two lines to a SHA-256: `json.dumps(decision.as_json())` (what
is stored, key order included) and `repr(decision)` (the Decision itself: reason
codes, details, datetimes with their tzinfo, inputs). Equal digests before and
after a change mean byte-identical decisions. tests/dialer/test_compliance_golden.py
holds the digests of the default sizes.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
from collections.abc import Iterable, Iterator
from dataclasses import replace
from datetime import UTC, date, datetime
from datetime import time as wall
from typing import Any
from zoneinfo import ZoneInfo

from dialer.compliance import ContactHistory, Decision, check

# bench/ is scripts, not a package: imported by name (see tests/dialer/test_pacing_sim.py).
bench: Any = importlib.import_module("bench.compliance_bench")

EDGE_DAYS = (
    date(2026, 1, 1), date(2026, 2, 17),  # New Year; Spring Festival (CN)
    date(2026, 3, 7), date(2026, 3, 8), date(2026, 3, 9),  # US clocks go forward
    date(2026, 3, 28), date(2026, 3, 29), date(2026, 3, 30),  # UK clocks go forward
    date(2026, 7, 3), date(2026, 10, 1),  # US Independence Day (observed); CN National Day
    date(2026, 10, 24), date(2026, 10, 25), date(2026, 10, 26),  # UK clocks go back
    date(2026, 10, 31), date(2026, 11, 1), date(2026, 11, 2),  # US clocks go back
    date(2026, 12, 25), date(2026, 12, 31),
)  # fmt: skip
EDGE_TIMES = (
    wall(0), wall(0, 0, 30), wall(1, 30), wall(2, 30), wall(7, 59, 59), wall(8),
    wall(11, 59, 50), wall(20, 59, 29), wall(20, 59, 30), wall(20, 59, 45), wall(21),
    wall(21, 59, 40), wall(23, 59, 59),
)  # fmt: skip
EDGE_ZONES = (bench.SHANGHAI, bench.NEW_YORK, bench.CHICAGO, bench.LONDON)


def edge_instants() -> tuple[datetime, ...]:
    """Every (day, wall time, zone) of the edge tables as a UTC instant."""
    return tuple(
        datetime.combine(day, at, tzinfo=ZoneInfo(zone)).astimezone(UTC)
        for day in EDGE_DAYS for at in EDGE_TIMES for zone in EDGE_ZONES
    )  # fmt: skip


def retimed(job: Any, now: datetime) -> Any:
    """`job` asked at `now` instead, its history moved along with it."""
    who, history, pack, then, dial = job
    shift = now - then
    attempts = tuple(replace(a, at=a.at + shift) for a in history.attempts)
    return who, ContactHistory(attempts), pack, now, dial


def edge_jobs(jobs: list[Any]) -> Iterator[Any]:
    instants = edge_instants()
    return (retimed(job, instants[i % len(instants)]) for i, job in enumerate(jobs))


def crowded(job: Any) -> Any:
    """`job` with each earlier attempt made twice, a third and a fifth of its age
    ago: up to 16 attempts close to `now`, so the daily and weekly caps bite."""
    who, history, pack, now, dial = job
    attempts = sorted(
        (replace(a, at=now - (now - a.at) / part) for a in history.attempts for part in (3, 5)),
        key=lambda a: a.at,
    )
    return who, ContactHistory(tuple(attempts)), pack, now, dial


def decisions(jobs: Iterable[Any]) -> Iterator[Decision]:
    return (check(who, history, pack, now, dial=dial) for who, history, pack, now, dial in jobs)


def digest(decided: Iterable[Decision]) -> str:
    """SHA-256 over every decision's stored JSON and its repr, in order."""
    sha = hashlib.sha256()
    for decision in decided:
        sha.update(json.dumps(decision.as_json(), ensure_ascii=False).encode() + b"\n")
        sha.update(repr(decision).encode() + b"\n")
    return sha.hexdigest()


def golden(candidates: int, edges: int) -> tuple[str, str, str]:
    """The digests of the first `candidates` bench jobs, of `edges` edge jobs
    (built from the first `edges` bench jobs) and of the first `candidates` jobs
    crowded."""
    jobs = bench.build_jobs(max(candidates, edges))
    return (
        digest(decisions(jobs[:candidates])),
        digest(decisions(edge_jobs(jobs[:edges]))),
        digest(decisions(map(crowded, jobs[:candidates]))),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--candidates", type=int, default=20_000)
    parser.add_argument("--edges", type=int, default=20_000)
    args = parser.parse_args()
    mixed, edged, dense = golden(args.candidates, args.edges)
    print(f"bench mix, {args.candidates:,} decisions: {mixed}")
    print(f"edges,     {args.edges:,} decisions: {edged}")
    print(f"crowded,   {args.candidates:,} decisions: {dense}")


if __name__ == "__main__":
    main()
