"""The monthly QA sample and its coverage report (the bank's 15% rule).

Each month, for each agent, :func:`sample_month` picks

* at random, ``ceil(share x calls)`` of the agent's recorded calls that carry no
  flag (``share`` 15% for calls; 30% for field-visit records), spread over the
  agent's *strata* (campaign and outcome) in proportion to their size: each stratum
  gets the whole part of its share, and the remaining picks go to the strata with
  the largest remainders (ties: stratum name). When the unflagged calls are fewer
  than the quota, all of them;
* and every flagged call, in addition.

The draw is deterministic: a stratum's calls are shuffled by a generator seeded with
``seed``, the month, the agent and the stratum, so the same inputs give the same
sample, and adding one agent's calls never changes another agent's sample.

:func:`coverage` reports per agent the calls, the sampled share and the reviewed
share; :func:`require_coverage` raises :class:`CoverageShort` when an agent's
sampled share is under ``share`` (a month that was never sampled, or a sample
changed by hand). Pure: no IO.
"""

from __future__ import annotations

import math
import random
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from fractions import Fraction

from cases.errors import Conflict, InvalidInput

CALL_SHARE = Fraction(15, 100)
FIELD_VISIT_SHARE = Fraction(30, 100)


class Reason(StrEnum):
    RANDOM = "random"
    FLAGGED = "flagged"


@dataclass(frozen=True, slots=True)
class RecordedCall:
    recording_id: int
    agent_id: int
    campaign_id: int | None
    outcome: str | None  # the action code filed on the call
    flagged: bool

    @property
    def stratum(self) -> str:
        return f"{self.campaign_id or '-'}/{self.outcome or '-'}"


@dataclass(frozen=True, slots=True)
class Pick:
    recording_id: int
    agent_id: int
    reason: Reason
    stratum: str


def parse_month(text: str) -> tuple[date, date]:
    """``YYYY-MM`` as its first day and the first day of the next month."""
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise InvalidInput("qa.bad_month", "month must be YYYY-MM", {"month": text})
    year, month = int(text[:4]), int(text[5:])
    try:
        return date(year, month, 1), date(year + month // 12, month % 12 + 1, 1)
    except ValueError:  # year 0, or 9999-12 (its next month is past date.max)
        raise InvalidInput("qa.bad_month", "no such month", {"month": text}) from None


def quota(calls: int, share: Fraction = CALL_SHARE) -> int:
    """At least ``share`` of ``calls``, rounded up (exact: no float)."""
    return math.ceil(calls * share)


def allocate(sizes: dict[str, int], picks: int) -> dict[str, int]:
    """``picks`` spread over strata in proportion to their size (largest remainder)."""
    total = sum(sizes.values())
    if total == 0:
        return dict.fromkeys(sizes, 0)
    exact = {s: Fraction(n * picks, total) for s, n in sizes.items()}
    out = {s: math.floor(x) for s, x in exact.items()}
    left = picks - sum(out.values())
    for s in sorted(sizes, key=lambda s: (-(exact[s] - out[s]), s))[:left]:
        out[s] += 1
    return out


def _draw(calls: Sequence[RecordedCall], picks: int, key: str) -> list[RecordedCall]:
    ordered = sorted(calls, key=lambda c: c.recording_id)
    random.Random(key).shuffle(ordered)
    return ordered[:picks]


def sample_agent(calls: Sequence[RecordedCall], seed: str, month: str,
                 share: Fraction = CALL_SHARE) -> list[Pick]:
    """One agent's sample of a month (``calls`` are all that agent's)."""
    strata: dict[str, list[RecordedCall]] = defaultdict(list)
    for call in calls:
        if not call.flagged:
            strata[call.stratum].append(call)
    wanted = min(quota(len(calls), share), sum(len(v) for v in strata.values()))
    shares = allocate({s: len(v) for s, v in strata.items()}, wanted)
    picks = [Pick(c.recording_id, c.agent_id, Reason.FLAGGED, c.stratum)
             for c in calls if c.flagged]
    for stratum, members in sorted(strata.items()):
        key = f"{seed}:{month}:{members[0].agent_id}:{stratum}"
        picks.extend(Pick(c.recording_id, c.agent_id, Reason.RANDOM, stratum)
                     for c in _draw(members, shares[stratum], key))
    return sorted(picks, key=lambda p: p.recording_id)


def sample_month(calls: Iterable[RecordedCall], seed: str, month: str,
                 share: Fraction = CALL_SHARE) -> list[Pick]:
    """Every agent's sample of a month."""
    by_agent: dict[int, list[RecordedCall]] = defaultdict(list)
    for call in calls:
        by_agent[call.agent_id].append(call)
    return [p for agent in sorted(by_agent)
            for p in sample_agent(by_agent[agent], seed, month, share)]


@dataclass(frozen=True, slots=True)
class AgentCoverage:
    agent_id: int
    calls: int
    sampled: int
    reviewed: int

    @property
    def sampled_share(self) -> float:
        return self.sampled / self.calls if self.calls else 1.0

    @property
    def reviewed_share(self) -> float:
        return self.reviewed / self.calls if self.calls else 1.0

    def short(self, share: Fraction = CALL_SHARE) -> bool:
        return self.sampled < quota(self.calls, share)

    def as_json(self) -> dict[str, object]:
        return {"agent_id": self.agent_id, "calls": self.calls, "sampled": self.sampled,
                "reviewed": self.reviewed, "sampled_share": round(self.sampled_share, 4),
                "reviewed_share": round(self.reviewed_share, 4), "short": self.short()}


class CoverageShort(Conflict):
    """A month's sample is under the bank's share for some agent."""


def coverage(counts: Iterable[tuple[int, int, int, int]]) -> list[AgentCoverage]:
    """Rows of (agent, calls, sampled, reviewed) as a report, by agent."""
    return sorted((AgentCoverage(*row) for row in counts), key=lambda c: c.agent_id)


def require_coverage(month: str, report: Sequence[AgentCoverage],
                     share: Fraction = CALL_SHARE) -> None:
    short = [c for c in report if c.short(share)]
    if short:
        raise CoverageShort(
            "qa.coverage_short",
            f"{month}: {len(short)} agent(s) sampled under {float(share):.0%} of their calls",
            {"month": month, "agents": [c.as_json() for c in short],
             "report": [c.as_json() for c in report]})
