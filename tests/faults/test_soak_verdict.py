"""The soak's verdict (`bench.soak_verdict`, `bench.soak`): growth is judged at an
equal number of calls in progress, so a load that swings does not pass for a leak, and
a leak under a swinging load still shows; the recordings must keep their audio; the
agents on baresip must have worked. Pure: made-up samples."""

from __future__ import annotations

import math
from types import SimpleNamespace
from typing import Any, cast

import numpy as np

from bench.soak import softphones
from bench.soak_verdict import FLAT, Heard, Sample, audio_lines, overlaps, trends

SPAN_S = 1800.0
STEP_S = 10.0


def samples(calls_at: list[int], *, fds_leak_per_s: float = 0.0) -> list[Sample]:
    """Samples every 10 s: fds, tasks and ports follow the calls up exactly."""
    found = []
    for i, calls in enumerate(calls_at):
        at = 60.0 + i * STEP_S
        found.append(Sample(
            at=at, calls=calls, ports=2 * calls, rss_mb=140.0,
            fds=100 + 3 * calls + math.floor(fds_leak_per_s * (at - 60.0)),
            threads=6, tasks=11 + 5 * calls, backlog=0, redis_keys=400, redis_mb=3.0,
            redis_queues=0, transcripts_queued=0, ended=i * 5, failed=0, loss=0.0,
            late_p99_ms=2.0, cpu=0.8, load1=1.5,
        ))  # fmt: skip
    return found


def swing_that_ends_high() -> list[int]:
    """The overload gauge's swing: calls up between 44 and 200, more of them late."""
    n = int(SPAN_S / STEP_S)
    rng = np.random.default_rng(7)
    return [int(np.clip(80 + 100 * i / n + 50 * math.sin(i / 9) + rng.normal(0, 10), 44, 200))
            for i in range(n)]


def by_metric(found: list[Sample]) -> dict[str, object]:
    return {t.metric: t for t in trends(found)}


def test_resources_that_follow_a_swinging_load_are_flat() -> None:
    calls = swing_that_ends_high()
    found = by_metric(samples(calls))
    assert set(found) == set(FLAT)
    assert all(t.flat for t in found.values()), found  # type: ignore[attr-defined]
    # against time alone, the same samples look like growth: the check matters
    at = np.array([60.0 + i * STEP_S for i in range(len(calls))])
    fds = np.array([100 + 3 * c for c in calls], dtype=float)
    naive = float(np.polyfit(at, fds, 1)[0]) * float(at[-1] - at[0])
    assert naive > max(FLAT["fds"][0] * float(np.median(fds)), FLAT["fds"][1])


def test_a_leak_under_a_swinging_load_still_shows() -> None:
    # one file descriptor every 30 s: 60 over the half hour
    found = by_metric(samples(swing_that_ends_high(), fds_leak_per_s=1 / 30))
    assert not found["fds"].flat, found["fds"]  # type: ignore[attr-defined]
    assert 50 < found["fds"].growth < 70  # type: ignore[attr-defined]
    assert found["tasks"].flat and found["ports"].flat  # type: ignore[attr-defined]


def test_an_equal_load_is_judged_on_time_alone() -> None:
    n = int(SPAN_S / STEP_S)
    assert all(t.flat for t in trends(samples([200] * n)))
    leaking = by_metric(samples([200] * n, fds_leak_per_s=1 / 30))
    assert not leaking["fds"].flat  # type: ignore[attr-defined]


def test_too_few_samples_judge_nothing() -> None:
    assert trends(samples([200, 200])) == []


def test_a_recording_overlaps_a_window_it_was_under_way_in() -> None:
    def heard(start: float, end: float) -> Heard:
        return Heard(finished_at=end, seconds=end - start, agent_silent=0.0, debtor_silent=0.0)

    census = (100.0, 120.0)
    assert overlaps(heard(90, 130), census) and overlaps(heard(110, 115), census)
    assert overlaps(heard(90, 100), census) and overlaps(heard(120, 150), census)
    assert not overlaps(heard(60, 99.9), census) and not overlaps(heard(120.1, 150), census)


def test_the_recordings_fail_the_verdict_when_over_one_in_a_hundred_lost_their_audio() -> None:
    def heard(silent: float) -> Heard:
        return Heard(finished_at=60.0, seconds=30.0, agent_silent=0.0, debtor_silent=silent)

    ok, (line,) = audio_lines("steady", [heard(0.001)] * 99 + [heard(0.5)])
    assert ok and line.startswith("steady: ok 99/100 recordings kept their audio")
    ok, (line,) = audio_lines("steady", [heard(0.001)] * 98 + [heard(0.021)] * 2)
    assert not ok and line.startswith("steady: SILENT 98/100")
    assert audio_lines("steady", [])[0] is False  # no recording: nothing was proved


def phone(extension: str, *, up: bool = True) -> Any:
    return SimpleNamespace(agent=SimpleNamespace(extension=extension),
                           proc=SimpleNamespace(returncode=None if up else -9))


def test_the_softphones_must_each_have_taken_calls_and_still_be_up() -> None:
    phones = [phone("7001"), phone("7002")]
    took = {"7001": 40, "7002": 38, "7003": 41, "7004": 39}
    ok, (line,) = softphones(cast(Any, phones), took)
    assert ok and "2 agents on baresip took 78 calls (38-40 each; an agent on sipp 40.0" in line
    assert not softphones(cast(Any, phones), {**took, "7002": 0})[0]
    assert not softphones(cast(Any, [phone("7001"), phone("7002", up=False)]), took)[0]
    assert softphones([], took) == (True, [])
