"""Pacing (pure): preview places nothing, progressive one call per free agent not spoken
for, predictive dials ahead from what it measured, one to one while warming up or
latched on the abandon budget; the model's sums checked against brute force; and
properties over generated campaigns (never negative, never under progressive, within
the line cap, monotone in free agents and in abandons, the latch's hysteresis)."""

from __future__ import annotations

import math
from dataclasses import replace
from fractions import Fraction
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dialer.pacing import (
    DialMode,
    PacingConfig,
    PacingDecision,
    PacingLatch,
    PacingReason,
    PacingSnapshot,
    decide,
    progressive_calls,
)
from dialer.pacing_model import (
    Checkpoint,
    Lognormal,
    ReleaseOutlook,
    RingOutlook,
    poisson,
    poisson_excess,
    release_distribution,
)

CAP = Fraction(3, 100)
CONFIG = PacingConfig()
RELEASED = PacingLatch()
ENGAGED = PacingLatch(engaged=True)


def snapshot(**changes: Any) -> PacingSnapshot:
    """A predictive campaign an hour into its shift: 20 agents, 4 of them free, an
    answer rate of 1 in 6, no abandon yet."""
    base = PacingSnapshot(
        mode=DialMode.PREDICTIVE,
        free_agents=4,
        talking=(60.0,) * 14,
        wrapping_up=(5.0, 12.0),
        attempts=600,
        answers=100,
        mean_ring_s=10.0,
        mean_talk_s=165.0,
        mean_wrap_up_s=22.0,
        abandoned=0,
        live=500,
        abandon_cap=CAP,
    )
    return replace(base, **changes)


def calls(latch: PacingLatch = RELEASED, config: PacingConfig = CONFIG, **changes: Any) -> int:
    return decide(snapshot(**changes), config, latch).calls


# Preview and progressive.


def test_preview_places_nothing_even_with_every_agent_free() -> None:
    decision = decide(snapshot(mode=DialMode.PREVIEW, free_agents=20), CONFIG, ENGAGED)
    assert decision == PacingDecision(0, ENGAGED, PacingReason.PREVIEW)


@pytest.mark.parametrize(
    ("free", "ringing", "waiting", "expected"),
    [
        (5, 0, 0, 5),
        (5, 2, 1, 2),  # two ringing and one waiting already have an agent kept for them
        (2, 3, 0, 0),  # more calls out than free agents: never negative
        (0, 0, 0, 0),
    ],
)
def test_progressive_places_one_call_per_free_agent_not_spoken_for(
    free: int, ringing: int, waiting: int, expected: int
) -> None:
    progressive = snapshot(
        mode=DialMode.PROGRESSIVE, free_agents=free, ringing=(3.0,) * ringing, waiting=waiting
    )
    assert decide(progressive, CONFIG, RELEASED) == PacingDecision(
        expected, RELEASED, PacingReason.PROGRESSIVE
    )


def test_progressive_leaves_the_latch_as_it_was_even_past_the_cap() -> None:
    past_cap = snapshot(mode=DialMode.PROGRESSIVE, abandoned=40, live=500)
    assert decide(past_cap, CONFIG, RELEASED).latch == RELEASED


# Predictive: dialing ahead.


def test_predictive_dials_ahead_of_the_free_agents_at_a_low_answer_rate() -> None:
    decision = decide(snapshot(), CONFIG, RELEASED)
    assert decision.reason is PacingReason.PREDICTIVE
    assert decision.calls > 4
    assert not decision.agent_guaranteed


def test_predictive_dials_more_the_lower_the_answer_rate() -> None:
    assert calls(answers=60) > calls(answers=100) > calls(answers=250) >= 4


def test_predictive_places_nothing_when_no_agent_will_be_free_in_time() -> None:
    assert calls(free_agents=0, talking=(10.0,) * 20, wrapping_up=()) == 0


def test_agents_about_to_finish_their_wrap_up_are_dialed_for() -> None:
    assert calls(free_agents=0, wrapping_up=(21.0, 21.0, 21.0)) > 0
    assert calls(free_agents=0, wrapping_up=(1.0, 1.0, 1.0)) == 0


def test_a_wrap_up_running_far_past_the_usual_is_not_counted_on() -> None:
    assert calls(free_agents=0, wrapping_up=(25.0,) * 3) > 0
    assert calls(free_agents=0, wrapping_up=(300.0,) * 3) == 0


def test_a_call_ringing_for_long_is_unlikely_to_be_answered() -> None:
    young, old = calls(ringing=(2.0,) * 8), calls(ringing=(22.0,) * 8)
    assert old > young


def test_answered_calls_waiting_take_the_free_agents_first() -> None:
    assert calls(waiting=2) < calls(waiting=0)
    assert calls(free_agents=2, waiting=2, wrapping_up=(), talking=(10.0,) * 18) == 0


def test_lines_in_use_never_exceed_the_cap_per_staffed_agent() -> None:
    tight = PacingConfig(max_lines_per_agent=1)
    staffed = snapshot(ringing=(1.0,) * 15).staffed
    assert calls(config=tight, ringing=(1.0,) * 15, answers=30) == staffed - 15


def test_at_the_target_abandon_rate_predictive_takes_no_risk() -> None:
    # 2% is two thirds of the 3% cap: no dial-ahead, but one call per free agent.
    decision = decide(snapshot(abandoned=20, live=980), CONFIG, RELEASED)
    assert (decision.calls, decision.reason) == (4, PacingReason.PREDICTIVE)


def test_predictive_dials_less_as_abandons_come() -> None:
    assert calls(abandoned=0) > calls(abandoned=5) >= calls(abandoned=9) >= 4


# Predictive: warm-up and latch.


def test_predictive_warms_up_one_to_one_until_enough_answers() -> None:
    decision = decide(snapshot(answers=24, ringing=(2.0,)), CONFIG, RELEASED)
    assert (decision.calls, decision.reason) == (3, PacingReason.WARM_UP)
    assert decision.agent_guaranteed
    assert calls(answers=25) > 4


def test_the_latch_engages_when_one_more_abandon_would_exceed_the_cap() -> None:
    decision = decide(snapshot(abandoned=3, live=97), CONFIG, RELEASED)  # 4 / 101 > 3%
    assert decision == PacingDecision(4, ENGAGED, PacingReason.LATCHED)
    assert decision.agent_guaranteed


def test_a_fresh_window_starts_latched() -> None:
    assert decide(snapshot(abandoned=0, live=0), CONFIG, RELEASED).latch == ENGAGED
    assert decide(snapshot(abandoned=0, live=40), CONFIG, RELEASED).latch == RELEASED


@pytest.mark.parametrize(
    ("abandoned", "live", "before", "after"),
    [
        (2, 98, ENGAGED, ENGAGED),  # 3 / 101 = 2.97%: under the cap, not under 2.4%
        (2, 98, RELEASED, RELEASED),
        (2, 123, ENGAGED, RELEASED),  # 3 / 126 = 2.38%
        (3, 97, RELEASED, ENGAGED),
    ],
)
def test_the_latch_releases_only_well_under_the_cap(
    abandoned: int, live: int, before: PacingLatch, after: PacingLatch
) -> None:
    decision = decide(snapshot(abandoned=abandoned, live=live), CONFIG, before)
    assert decision.latch == after
    reason = PacingReason.LATCHED if after.engaged else PacingReason.PREDICTIVE
    assert decision.reason is reason


# Values.


@pytest.mark.parametrize(
    "changes",
    [
        {"free_agents": -1},
        {"waiting": -1},
        {"abandoned": -1},
        {"answers": 601},
        {"mean_ring_s": 0.0},
        {"mean_talk_s": 0.0},
        {"mean_wrap_up_s": -1.0},
        {"abandon_cap": Fraction(0)},
        {"abandon_cap": Fraction(1)},
    ],
)
def test_an_impossible_snapshot_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        snapshot(**changes)


@pytest.mark.parametrize(
    "changes",
    [
        {"max_lines_per_agent": 0},
        {"warm_up_answers": 0},
        {"checkpoint_s": 0},
        {"ring_cv": 0.0},
        {"aim": Fraction(0)},
        {"release_share": Fraction(1)},
        {"overflow_share": -0.1},
        {"answer_grace_s": -1.0},
    ],
)
def test_an_impossible_config_is_refused(changes: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        PacingConfig(**changes)


# The model.


@pytest.mark.parametrize("mean", [0.0, 0.3, 1.7, 6.0])
def test_poisson_excess_matches_the_sum_it_stands_for(mean: float) -> None:
    law = poisson(mean)
    for level, excess in enumerate(poisson_excess(mean, 8)):
        brute = sum(max(0, k - level) * chance for k, chance in enumerate(law))
        assert excess == pytest.approx(brute, abs=1e-8)


def test_release_distribution_counts_certain_agents_apart() -> None:
    certain, law = release_distribution([1.0, 0.0, 0.5, 0.5], 0.0)
    assert certain == 1
    assert law == pytest.approx([0.25, 0.5, 0.25])


def test_release_distribution_adds_agents_in_talk_as_a_poisson_law() -> None:
    certain, law = release_distribution([0.5], 0.2)
    assert certain == 0
    assert sum(law) == pytest.approx(1.0)
    assert sum(k * chance for k, chance in enumerate(law)) == pytest.approx(0.7)


def test_overflow_with_no_answer_coming_is_zero() -> None:
    assert Checkpoint(0.0, 0.1, 0, (1.0,)).overflow(0) == 0.0


def test_answers_waiting_beyond_the_agents_overflow_for_sure() -> None:
    # Two answered calls waiting, one free agent, nothing else: one will be abandoned.
    assert Checkpoint(0.0, 0.1, -1, (1.0,)).overflow(0) == pytest.approx(1.0)


def test_the_assumed_ring_law_has_the_measured_mean() -> None:
    law = Lognormal.of(10.0, 0.5)
    assert law.survival(0.0) == 1.0
    assert law.survival(math.exp(law.mu)) == pytest.approx(0.5)
    mean = sum(law.survival(s / 10) for s in range(2000)) / 10  # integral of the survival
    assert mean == pytest.approx(10.0, rel=0.01)


def test_a_call_is_answered_less_likely_the_longer_it_rings() -> None:
    ring = RingOutlook(0.2, Lognormal.of(10.0, 0.5))
    totals = [ring.in_flight([age], [5.0])[0] for age in (0.0, 10.0, 30.0)]
    assert totals[0] == pytest.approx(0.2)
    assert totals[0] > totals[1] > totals[2]
    assert totals[2] < 0.01
    assert ring.new_call(60.0) == pytest.approx(0.2, rel=1e-4)


def test_release_without_wrap_up_is_the_end_of_the_talk() -> None:
    release = ReleaseOutlook(None, 100.0)
    assert release.wrapping_up(0.0, [1.0]) == [1.0]
    assert release.talking([10.0, 20.0]) == pytest.approx([0.1, 0.2])


def test_an_agent_in_talk_is_not_free_before_the_wrap_up_could_end() -> None:
    release = ReleaseOutlook(Lognormal.of(30.0, 0.1), 165.0)
    short, long = release.talking([5.0, 60.0])
    assert short < 1e-6 < long


# Properties.


@st.composite
def snapshots(draw: st.DrawFn) -> PacingSnapshot:
    attempts = draw(st.integers(0, 2000))
    abandoned = draw(st.integers(0, 60))
    near_the_cap = st.integers(20, 60).map(lambda ratio: abandoned * ratio)
    return PacingSnapshot(
        mode=draw(st.sampled_from(DialMode)),
        free_agents=draw(st.integers(0, 20)),
        talking=tuple(draw(st.lists(st.floats(0, 900), max_size=20))),
        wrapping_up=tuple(draw(st.lists(st.floats(0, 120), max_size=6))),
        ringing=tuple(draw(st.lists(st.floats(0, 40), max_size=40))),
        waiting=draw(st.integers(0, 3)),
        attempts=attempts,
        answers=draw(st.integers(0, attempts)),
        mean_ring_s=draw(st.floats(1, 30)),
        mean_talk_s=draw(st.floats(20, 600)),
        mean_wrap_up_s=draw(st.sampled_from([0.0, 5.0, 22.0, 60.0])),
        abandoned=abandoned,
        live=draw(st.one_of(st.integers(0, 3000), near_the_cap)),
        abandon_cap=draw(st.sampled_from([Fraction(1, 100), Fraction(3, 100), Fraction(5, 100)])),
    )


LATCHES = st.sampled_from([RELEASED, ENGAGED])


@given(snapshots(), LATCHES)
def test_calls_are_never_negative_never_under_progressive_and_within_the_lines(
    taken: PacingSnapshot, latch: PacingLatch
) -> None:
    placed = decide(taken, CONFIG, latch).calls
    one_to_one = progressive_calls(taken)
    lines = CONFIG.max_lines_per_agent * taken.staffed - len(taken.ringing) - taken.waiting
    if taken.mode is DialMode.PREVIEW:
        assert placed == 0
    else:
        assert one_to_one <= placed <= max(lines, one_to_one)


@given(snapshots(), LATCHES)
def test_one_more_free_agent_never_means_fewer_calls(
    taken: PacingSnapshot, latch: PacingLatch
) -> None:
    more = replace(taken, free_agents=taken.free_agents + 1)
    assert decide(more, CONFIG, latch).calls >= decide(taken, CONFIG, latch).calls


@given(snapshots(), LATCHES)
def test_one_more_abandon_never_means_more_calls(taken: PacingSnapshot, latch: PacingLatch) -> None:
    worse = replace(taken, abandoned=taken.abandoned + 1)
    assert decide(worse, CONFIG, latch).calls <= decide(taken, CONFIG, latch).calls


@settings(max_examples=400)
@given(snapshots(), LATCHES, st.integers(0, 40), st.integers(15, 130))
def test_the_latch_engages_at_the_cap_and_releases_under_its_share(
    taken: PacingSnapshot, latch: PacingLatch, abandoned: int, ratio: int
) -> None:
    # Abandoned and live near the caps' bands: one in 16 to one in 131 abandoned.
    taken = replace(taken, mode=DialMode.PREDICTIVE, abandoned=abandoned, live=abandoned * ratio)
    after = decide(taken, CONFIG, latch).latch
    at_risk = Fraction(taken.abandoned + 1, taken.abandoned + taken.live + 1)
    if at_risk > taken.abandon_cap:
        assert after.engaged
    else:
        kept = latch.engaged and at_risk > taken.abandon_cap * CONFIG.release_share
        assert after.engaged is kept


@given(snapshots(), LATCHES, st.sampled_from([DialMode.PREVIEW, DialMode.PROGRESSIVE]))
def test_other_modes_leave_the_latch_alone(
    taken: PacingSnapshot, latch: PacingLatch, mode: DialMode
) -> None:
    assert decide(replace(taken, mode=mode), CONFIG, latch).latch == latch


@given(
    st.floats(0, 8),
    st.integers(-3, 10),
    st.lists(st.floats(0, 1), max_size=5),
    st.floats(0, 0.5),
    st.integers(0, 30),
)
def test_overflow_grows_with_calls_and_lies_between_its_bounds(
    answers: float, agents: int, chances: list[float], per_call: float, placed: int
) -> None:
    certain, law = release_distribution(chances, 0.0)
    point = Checkpoint(answers, per_call, agents + certain, tuple(law))
    mean_answers = answers + placed * per_call
    mean_agents = agents + sum(chances)
    overflow = point.overflow(placed)
    assert point.overflow(placed + 1) >= overflow - 1e-12
    assert overflow >= max(mean_answers - mean_agents, 0.0) - 1e-9  # Jensen
    assert overflow <= mean_answers + max(-agents, 0) + 1e-9
