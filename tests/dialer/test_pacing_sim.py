"""The pacing simulator, short runs: every mode places calls and keeps agents talking;
progressive and preview never abandon (an agent is kept for every call); predictive
stays under the 3% cap and places more calls than progressive; runs repeat by seed;
and the targets it prints can fail."""

from __future__ import annotations

import importlib
from typing import Any

import pytest

from dialer.pacing import DialMode

# bench/ is scripts, not a package: imported by name so that mypy, given the script as a
# file, does not see it under two names.
sim = importlib.import_module("bench.pacing_sim")

HALF_HOUR = 0.5


def short(mode: DialMode, answer_rate: float = 0.25, seed: int = 1) -> Any:
    return sim.run(sim.RunConfig(mode, answer_rate, seed, agents=10, hours=HALF_HOUR))


@pytest.mark.parametrize("mode", [DialMode.PREVIEW, DialMode.PROGRESSIVE])
def test_modes_with_an_agent_kept_for_every_call_never_abandon(mode: DialMode) -> None:
    result = short(mode)
    assert result.abandoned == 0
    assert result.live > 20
    assert 0 < result.talk_minutes_per_agent_hour < 60
    assert 0 < result.occupancy < 1


def test_predictive_dials_ahead_and_stays_under_the_cap() -> None:
    predictive = sim.run(sim.RunConfig(DialMode.PREDICTIVE, 0.15, 2, agents=20, hours=1.0))
    progressive = sim.run(sim.RunConfig(DialMode.PROGRESSIVE, 0.15, 2, agents=20, hours=1.0))
    assert predictive.abandon_rate <= sim.CAP
    assert predictive.placed > progressive.placed
    assert predictive.live > progressive.live


def test_a_run_repeats_with_its_seed() -> None:
    assert short(DialMode.PREDICTIVE, seed=5) == short(DialMode.PREDICTIVE, seed=5)
    assert short(DialMode.PREDICTIVE, seed=5) != short(DialMode.PREDICTIVE, seed=6)


def test_the_answer_rate_is_measured_over_the_recent_attempts_only() -> None:
    meter = sim.Meter()
    for _ in range(1000):
        meter.finished(True, 8.0)
    for _ in range(1000):
        meter.finished(False, 25.0)
    meter.finished(True, 12.0)
    assert (len(meter.recent), meter.answers, meter.mean_ring_s) == (1000, 1, 12.0)


def fake(mode: DialMode, rate: float, abandoned: int, talk_s: float) -> Any:
    config = sim.RunConfig(mode, rate, 0, agents=1, hours=1.0)
    return sim.RunResult(config, 100, 100 - abandoned, abandoned, talk_s, 0.0)


def test_the_targets_fail_on_a_run_over_the_cap_or_a_small_gain() -> None:
    rows = [
        sim.Row(DialMode.PROGRESSIVE, 0.15, (fake(DialMode.PROGRESSIVE, 0.15, 0, 1800.0),)),
        sim.Row(
            DialMode.PREDICTIVE,
            0.15,
            (
                fake(DialMode.PREDICTIVE, 0.15, 1, 2400.0),
                fake(DialMode.PREDICTIVE, 0.15, 4, 2400.0),
            ),
        ),
    ]
    assert [holds for holds, _ in sim.checks(rows)] == [False, True]
    slower = [
        rows[0],
        sim.Row(DialMode.PREDICTIVE, 0.15, (fake(DialMode.PREDICTIVE, 0.15, 1, 2300.0),)),
    ]
    assert [holds for holds, _ in sim.checks(slower)] == [True, False]
