"""The day's report the demo ends with (and operators can print any time): what the
dialer did, what the rules refused, what the agents achieved, what was recorded."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import asyncpg


@dataclass
class DayReport:
    since: datetime
    attempts: dict[str, int] = field(default_factory=dict)
    refusals: dict[str, int] = field(default_factory=dict)
    actions: dict[str, int] = field(default_factory=dict)
    promises: tuple[int, float] = (0, 0.0)
    disputes: int = 0
    recordings: list[asyncpg.Record] = field(default_factory=list)
    recorded_seconds: float = 0.0
    abandon_rate: float | None = None
    transcripts: int = 0
    flags: dict[str, int] = field(default_factory=dict)
    flagged: list[int] = field(default_factory=list)
    sample: dict[str, int] = field(default_factory=dict)

    def lines(self, base_url: str) -> list[str]:
        placed = sum(self.attempts.values())
        out = [f"Attempts since {self.since:%Y-%m-%d %H:%M} UTC: {placed}"]
        out += [f"  {result:<12} {n:>5}" for result, n in sorted(self.attempts.items())]
        if self.abandon_rate is not None:
            out.append(f"  abandon rate {self.abandon_rate:.2%} (cap 3%)")
        out.append(f"Compliance refusals: {sum(self.refusals.values())}")
        out += [f"  {reason:<28} {n:>5}" for reason, n in self.refusals.items()]
        out.append(f"Action codes filed: {sum(self.actions.values())}")
        out += [f"  {code:<6} {n:>5}" for code, n in self.actions.items()]
        out.append(f"Promises to pay: {self.promises[0]}, total {self.promises[1]:,.2f}")
        out.append(f"Disputes (case on hold, bank notified): {self.disputes}")
        out.append(f"Recordings: {len(self.recordings)}, {self.recorded_seconds / 60:.1f} minutes")
        for row in self.recordings[:5]:
            out.append(f"  #{row['id']} {row['duration_ms'] / 1000:6.1f} s sha256 {row['sha256']}"
                       f"  {base_url}/recordings/{row['id']}/audio")
        if len(self.recordings) > 5:
            out.append(f"  ... {len(self.recordings) - 5} more: {base_url}/recordings")
        out.append(f"Transcripts (local ASR): {self.transcripts}; QA flags: "
                   + (", ".join(f"{k} {n}" for k, n in self.flags.items()) or "none"))
        out += [f"  flagged: {base_url}/recordings/{rid}/transcript" for rid in self.flagged[:5]]
        if self.sample:
            out.append("QA sample of the month: " + ", ".join(
                f"{reason} {n}" for reason, n in self.sample.items())
                + f"; queue: {base_url}/qa/queue, coverage: {base_url}/qa/coverage")
        out.append(f"Web console (wallboard, QA review, agent desk): {base_url}/console/")
        return out


async def day_report(pool: asyncpg.Pool, since: datetime) -> DayReport:
    report = DayReport(since)
    report.attempts = await _counts(pool, "SELECT coalesce(result, 'in_progress'), count(*)"
                                    " FROM attempts WHERE placed_at >= $1 GROUP BY 1", since)
    report.refusals = await _counts(pool, "SELECT reason, count(*) FROM refusals,"
                                    " unnest(reasons) AS reason WHERE at >= $1 GROUP BY 1"
                                    " ORDER BY 2 DESC", since)
    report.actions = await _counts(pool, "SELECT code, count(*) FROM actions"
                                   " WHERE created_at >= $1 GROUP BY 1 ORDER BY 2 DESC", since)
    row = await pool.fetchrow("SELECT count(*), coalesce(sum(amount), 0) FROM promises"
                              " WHERE created_at >= $1", since)
    assert row is not None  # an aggregate always gives a row
    report.promises = (row[0], float(row[1]))
    report.disputes = await pool.fetchval(
        "SELECT count(*) FROM case_holds WHERE reason IN ('dispute', 'fraud')"
        " AND placed_at >= $1", since)
    report.recordings = await pool.fetch(
        "SELECT id, call_id, duration_ms, sha256 FROM recordings WHERE started_at >= $1"
        " ORDER BY id", since)
    report.recorded_seconds = sum(r["duration_ms"] for r in report.recordings) / 1000
    live = report.attempts.get("connected", 0)
    abandoned = report.attempts.get("abandoned", 0)
    report.abandon_rate = abandoned / (live + abandoned) if live + abandoned else None
    await _qa(pool, report, since)
    return report


async def _qa(pool: asyncpg.Pool, report: DayReport, since: datetime) -> None:
    report.transcripts = await pool.fetchval(
        "SELECT count(*) FROM transcripts t JOIN recordings r ON r.id = t.recording_id"
        " WHERE r.started_at >= $1", since)
    report.flags = await _counts(pool, "SELECT f.kind, count(*) FROM qa_flags f JOIN"
                                 " recordings r ON r.id = f.recording_id WHERE r.started_at >= $1"
                                 " GROUP BY 1 ORDER BY 2 DESC", since)
    report.flagged = [row[0] for row in await pool.fetch(
        "SELECT DISTINCT f.recording_id FROM qa_flags f JOIN recordings r"
        " ON r.id = f.recording_id WHERE r.started_at >= $1 ORDER BY 1", since)]
    report.sample = await _counts(pool, "SELECT s.reason, count(*) FROM qa_samples s JOIN"
                                  " recordings r ON r.id = s.recording_id WHERE r.started_at >= $1"
                                  " GROUP BY 1 ORDER BY 1", since)


async def _counts(pool: asyncpg.Pool, query: str, since: datetime) -> dict[str, int]:
    return {row[0]: row[1] for row in await pool.fetch(query, since)}
