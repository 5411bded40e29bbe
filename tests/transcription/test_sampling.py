"""The monthly QA sample: quota, strata, flagged calls, determinism, coverage."""

from __future__ import annotations

from collections import Counter
from fractions import Fraction

import pytest

from cases.errors import InvalidInput
from transcription.sampling import (
    FIELD_VISIT_SHARE,
    AgentCoverage,
    CoverageShort,
    Reason,
    RecordedCall,
    allocate,
    coverage,
    parse_month,
    quota,
    require_coverage,
    sample_agent,
    sample_month,
)


def calls(agent: int, n: int, *, campaigns: int = 1, flagged: set[int] | None = None,
          first_id: int = 1) -> list[RecordedCall]:
    return [RecordedCall(first_id + i, agent, i % campaigns + 1, "PTP" if i % 3 else "NA",
                         first_id + i in (flagged or set())) for i in range(n)]


@pytest.mark.parametrize(("n", "expected"), [(0, 0), (1, 1), (6, 1), (7, 2), (20, 3),
                                              (100, 15), (101, 16)])
def test_the_quota_is_fifteen_percent_rounded_up(n: int, expected: int) -> None:
    assert quota(n) == expected
    assert quota(n) >= n * 0.15


def test_field_visits_take_thirty_percent() -> None:
    assert quota(10, FIELD_VISIT_SHARE) == 3


def test_allocation_is_proportional_with_largest_remainders() -> None:
    assert allocate({"a": 10, "b": 5, "c": 5}, 3) == {"a": 1, "b": 1, "c": 1}
    assert allocate({"b": 2, "a": 10}, 3) == {"a": 3, "b": 0}  # tie on .5: by name
    assert allocate({"a": 1, "b": 1}, 0) == {"a": 0, "b": 0}
    assert sum(allocate({"x": 7, "y": 11, "z": 13}, 5).values()) == 5


@pytest.mark.parametrize("n", [1, 6, 7, 19, 40, 133])
def test_every_agent_gets_at_least_the_quota_across_strata(n: int) -> None:
    picks = sample_agent(calls(1, n, campaigns=3), "seed", "2026-11")
    assert len(picks) == quota(n)
    assert len({p.recording_id for p in picks}) == len(picks)
    if n >= 40:  # big enough for every stratum to get a share
        assert {p.stratum for p in picks} == {c.stratum for c in calls(1, n, campaigns=3)}


def test_flagged_calls_are_all_sampled_in_addition() -> None:
    picks = sample_agent(calls(1, 20, flagged={3, 9}), "seed", "2026-11")
    reasons = Counter(p.reason for p in picks)
    assert reasons == {Reason.FLAGGED: 2, Reason.RANDOM: 3}
    assert {p.recording_id for p in picks if p.reason is Reason.FLAGGED} == {3, 9}


def test_the_draw_is_deterministic_and_changes_with_the_seed() -> None:
    month = calls(1, 60, campaigns=2) + calls(2, 30, first_id=100)
    first = sample_month(month, "s1", "2026-11")
    assert sample_month(list(reversed(month)), "s1", "2026-11") == first
    assert sample_month(month, "s2", "2026-11") != first


def test_another_agents_calls_do_not_change_an_agents_sample() -> None:
    alone = sample_month(calls(1, 60), "s", "2026-11")
    together = sample_month(calls(1, 60) + calls(2, 30, first_id=100), "s", "2026-11")
    assert [p for p in together if p.agent_id == 1] == alone


def test_coverage_under_the_share_fails_loudly() -> None:
    report = coverage([(2, 20, 3, 1), (1, 10, 1, 0)])
    assert [c.agent_id for c in report] == [1, 2]
    assert report[1].as_json()["sampled_share"] == 0.15
    with pytest.raises(CoverageShort, match="1 agent") as raised:
        require_coverage("2026-11", report)
    assert raised.value.error_id == "qa.coverage_short"
    assert raised.value.details["agents"] == [report[0].as_json()]
    assert len(raised.value.details["report"]) == 2  # type: ignore[arg-type]
    require_coverage("2026-11", [AgentCoverage(1, 7, 2, 2)])
    require_coverage("2026-11", [AgentCoverage(1, 10, 1, 0)], Fraction(1, 10))


@pytest.mark.parametrize(("text", "bounds"), [("2026-11", ("2026-11-01", "2026-12-01")),
                                              ("2026-12", ("2026-12-01", "2027-01-01"))])
def test_months(text: str, bounds: tuple[str, str]) -> None:
    assert tuple(d.isoformat() for d in parse_month(text)) == bounds


@pytest.mark.parametrize("bad", ["2026-13", "2026-1", "november"])
def test_bad_months_are_refused(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_month(bad)
