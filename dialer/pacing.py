"""Pacing: how many calls a campaign places at each tick (pure).

Theory of operation. A campaign tick (about once a second) reads the campaign's live
capacity into a `PacingSnapshot` and asks `decide(snapshot, config, latch)` how many
attempts to start now. The answer, a `PacingDecision`, carries the number of calls
(never negative), the latch to hand back at the next tick, and a reason code. `decide`
keeps no state: the latch is the only memory between ticks. Which cases are dialed, and
whether each call is permitted, is for the campaign loop and `dialer.compliance`.

Modes (`DialMode`):

* ``preview``: an agent asks for the next case, reads it and dials it; pacing places
  nothing on its own (0).
* ``progressive``: one call per free agent: the free agents less the calls already
  ringing and the answered calls still waiting for an agent. Every answer meets an
  agent kept for it, so progressive abandons no call.
* ``predictive``: dials ahead of the agents so that answers arrive as agents come free:

  1. Warm-up. Until the answer rate rests on ``warm_up_answers`` answered calls, the
     campaign dials as progressive (1:1).
  2. Latch. It engages when the campaign's abandon budget could not absorb one more
     abandoned call: (abandoned + 1) / (abandoned + live + 1) > cap, the abandon rate
     being abandoned / (abandoned + live) over the cap's window. While engaged the
     campaign dials as progressive: every call has an agent waiting, so it adds live
     answers and no abandons. It releases once that figure is at most
     ``release_share`` of the cap (hysteresis: no flapping at the cap). At the start
     of a window nothing is answered yet, so the latch is engaged until enough live
     answers make room for one abandon.
  3. Outlook. Every ``checkpoint_s`` seconds from now until nearly every answer is in,
     the answers expected by then are set against the agents expected free by then plus
     ``answer_grace_s`` (2 s: an agent free that soon after the answer still takes the
     call). Answers: the waiting calls, each ringing call by its chance to be answered
     by then given how long it has rung, and each new call by its chance to be
     answered that fast. Agents: the free ones, and each agent in wrap-up or talk by
     their chance to be done by then. The chances come from the measured answer rate
     and mean ring, wrap-up and talk times, with assumed laws around them
     (`dialer.pacing_model`). The expected overflow at a checkpoint is the expected
     number of answers that would meet no agent: abandoned calls.
  4. Dial ahead. The largest expected overflow over the checkpoints must stay
     (a) within tau of the answers expected from all calls in flight,
     tau = ``overflow_share`` x (1 - rate / target), target = ``aim`` x cap: the
     closer the measured abandon rate comes to the target, the less risk each tick
     takes, and none at the target; and (b) within the budget:
     (abandoned + overflow) / (abandoned + live + answers) may not exceed the target.
     The campaign places the most calls meeting both, never fewer than progressive
     would, and never so many that the lines in use (ringing, waiting and new) exceed
     ``max_lines_per_agent`` per staffed agent (free, talking or wrapping up).

An answered live call that meets no agent within 2 s is abandoned: the caller plays the
information message and counts it against the cap (see compliance.md).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from fractions import Fraction

from dialer.pacing_model import (
    Checkpoint,
    Lognormal,
    ReleaseOutlook,
    RingOutlook,
    release_distribution,
)


class DialMode(StrEnum):
    """How a campaign's calls are placed."""

    PREVIEW = "preview"  # the agent reads the case, then dials it
    PROGRESSIVE = "progressive"  # one call per free agent
    PREDICTIVE = "predictive"  # dials ahead from measured rates, under the abandon cap


class PacingReason(StrEnum):
    """Why a decision placed the calls it did; stable codes for logs and supervisors."""

    PREVIEW = "preview"  # agents dial themselves
    PROGRESSIVE = "progressive"  # the campaign's mode
    WARM_UP = "warm_up"  # predictive, too few answers measured yet: 1:1
    LATCHED = "latched"  # predictive, the abandon budget is spent: 1:1
    PREDICTIVE = "predictive"  # dialed ahead


@dataclass(frozen=True, slots=True)
class PacingLatch:
    """Whether predictive has fallen back to progressive on the abandon budget."""

    engaged: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingConfig:
    """How predictive dials; the defaults are the ones `bench/pacing_sim.py` measures."""

    max_lines_per_agent: int = 3  # lines in use per staffed agent, at most
    warm_up_answers: int = 25  # answered calls measured before dialing ahead
    answer_grace_s: float = 2.0  # an agent may come this long after the answer
    checkpoint_s: int = 3  # seconds between the checkpoints of the outlook
    ring_cv: float = 0.5  # spread of the time to answer: sd / mean (assumed)
    wrap_up_cv: float = 0.3  # spread of wrap-ups: sd / mean (assumed)
    aim: Fraction = Fraction(2, 3)  # share of the cap the dial-ahead aims at
    release_share: Fraction = Fraction(4, 5)  # the latch releases under this share of the cap
    overflow_share: float = 0.005  # expected overflow per expected answer, with no abandons yet

    def __post_init__(self) -> None:
        if min(self.max_lines_per_agent, self.warm_up_answers, self.checkpoint_s) < 1:
            raise ValueError(f"lines, warm-up answers and checkpoint must be >= 1: {self!r}")
        if not (0 < self.aim <= 1 and 0 < self.release_share < 1):
            raise ValueError(f"aim must be in (0, 1], release_share in (0, 1): {self!r}")
        if min(self.ring_cv, self.wrap_up_cv) <= 0:
            raise ValueError(f"the spreads must be positive: {self!r}")
        if self.answer_grace_s < 0 or self.overflow_share < 0:
            raise ValueError(f"grace and overflow share must not be negative: {self!r}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PacingSnapshot:
    """A campaign's live capacity at one tick, as the campaign loop reads it. Agents in
    talk are only counted: the model takes their remaining talk as memoryless."""

    mode: DialMode
    free_agents: int  # available, idle and ready for a call
    talking: tuple[float, ...] = ()  # per agent in talk: seconds since the bridge
    wrapping_up: tuple[float, ...] = ()  # per agent in wrap-up: seconds since it began
    ringing: tuple[float, ...] = ()  # per call placed and not yet answered: seconds rung
    waiting: int = 0  # answered live calls waiting for an agent
    attempts: int = 0  # finished attempts the answer rate is measured over
    answers: int = 0  # live answers among them
    mean_ring_s: float  # answered calls: seconds from dialing to the answer
    mean_talk_s: float
    mean_wrap_up_s: float  # 0: action codes are filed during the talk
    abandoned: int  # over the cap's window
    live: int  # live answers that reached an agent, over the cap's window
    abandon_cap: Fraction  # the pack's cap, or the campaign's own where the pack has none

    def __post_init__(self) -> None:
        counts = (self.free_agents, self.waiting, self.attempts, self.abandoned, self.live)
        if min(counts) < 0 or not 0 <= self.answers <= self.attempts:
            raise ValueError(f"counts must not be negative, nor answers exceed attempts: {self!r}")
        if min(self.mean_ring_s, self.mean_talk_s) <= 0 or self.mean_wrap_up_s < 0:
            raise ValueError(f"mean ring and talk must be positive, wrap-up not negative: {self!r}")
        if not 0 < self.abandon_cap < 1:
            raise ValueError(f"the abandon cap must be in (0, 1): {self!r}")

    @property
    def staffed(self) -> int:
        """Agents serving the campaign: free, talking or wrapping up."""
        return self.free_agents + len(self.talking) + len(self.wrapping_up)

    @property
    def answer_rate(self) -> float:
        """Live answers per finished attempt; 0 before any attempt."""
        return self.answers / self.attempts if self.attempts else 0.0

    @property
    def abandon_rate(self) -> Fraction:
        """abandoned / (abandoned + live) over the cap's window; 0 before any answer."""
        answered = self.abandoned + self.live
        return Fraction(self.abandoned, answered) if answered else Fraction(0)


@dataclass(frozen=True, slots=True)
class PacingDecision:
    calls: int  # attempts to start now, never negative
    latch: PacingLatch  # hand back at the next tick
    reason: PacingReason

    @property
    def agent_guaranteed(self) -> bool:
        """Every call placed has a free agent kept for it (all but a dial-ahead), as
        `dialer.compliance` means it: such calls may go on when the budget is spent."""
        return self.reason is not PacingReason.PREDICTIVE


def decide(snapshot: PacingSnapshot, config: PacingConfig, latch: PacingLatch) -> PacingDecision:
    """How many calls the campaign places now, under its mode (see the module doc)."""
    if snapshot.mode is DialMode.PREVIEW:
        return PacingDecision(0, latch, PacingReason.PREVIEW)
    one_to_one = progressive_calls(snapshot)
    if snapshot.mode is DialMode.PROGRESSIVE:
        return PacingDecision(one_to_one, latch, PacingReason.PROGRESSIVE)
    latch = next_latch(snapshot, config, latch)
    if snapshot.answers < config.warm_up_answers:
        return PacingDecision(one_to_one, latch, PacingReason.WARM_UP)
    if latch.engaged:
        return PacingDecision(one_to_one, latch, PacingReason.LATCHED)
    return PacingDecision(dial_ahead(snapshot, config, one_to_one), latch, PacingReason.PREDICTIVE)


def progressive_calls(snapshot: PacingSnapshot) -> int:
    """One call per free agent not already spoken for by a ringing or waiting call."""
    return max(snapshot.free_agents - len(snapshot.ringing) - snapshot.waiting, 0)


def next_latch(snapshot: PacingSnapshot, config: PacingConfig, latch: PacingLatch) -> PacingLatch:
    """Engage when one more abandon would exceed the cap; release under release_share."""
    answered = snapshot.abandoned + snapshot.live
    at_risk = Fraction(snapshot.abandoned + 1, answered + 1)
    if at_risk > snapshot.abandon_cap:
        return PacingLatch(engaged=True)
    if latch.engaged and at_risk > snapshot.abandon_cap * config.release_share:
        return latch
    return PacingLatch(engaged=False)


def dial_ahead(snapshot: PacingSnapshot, config: PacingConfig, floor: int) -> int:
    """The most calls, from `floor` up to the line cap, whose overflow stays acceptable."""
    in_flight, points = outlook(snapshot, config)
    lines = config.max_lines_per_agent * snapshot.staffed
    ceiling = max(lines - len(snapshot.ringing) - snapshot.waiting, floor)
    allowed = allowance(snapshot, config)
    calls = floor
    while calls < ceiling:
        limit = allowed(in_flight + (calls + 1) * snapshot.answer_rate)
        if any(point.overflow(calls + 1) > limit for point in points):
            break
        calls += 1
    return calls


def allowance(snapshot: PacingSnapshot, config: PacingConfig) -> Callable[[float], float]:
    """The expected overflow a tick may risk for the answers it expects: tau of them,
    and no more than keeps the projected abandon rate at the target."""
    target = float(snapshot.abandon_cap * config.aim)
    tau = config.overflow_share * max(1.0 - float(snapshot.abandon_rate) / target, 0.0)
    budget = target * (snapshot.abandoned + snapshot.live) - snapshot.abandoned
    return lambda answers: min(tau * answers, budget + target * answers)


def outlook(snapshot: PacingSnapshot, config: PacingConfig) -> tuple[float, list[Checkpoint]]:
    """The answers all calls in flight will bring, and the checkpoints every
    `checkpoint_s` seconds until nearly every answer is in."""
    ring, release = laws(snapshot, config)
    last = ring.horizon_s
    times = [*range(config.checkpoint_s, last, config.checkpoint_s), last]
    in_flight, answers = ring.in_flight(snapshot.ringing, times)
    agents_by = [t + config.answer_grace_s for t in times]
    talking = release.talking(agents_by)
    wrapping_up = [release.wrapping_up(elapsed, agents_by) for elapsed in snapshot.wrapping_up]
    points = [
        checkpoint(snapshot, answers[i], ring.new_call(t), [c[i] for c in wrapping_up], talking[i])
        for i, t in enumerate(times)
    ]
    return snapshot.waiting + in_flight, points


def laws(snapshot: PacingSnapshot, config: PacingConfig) -> tuple[RingOutlook, ReleaseOutlook]:
    """The assumed laws around the measured means (`dialer.pacing_model`)."""
    ring = Lognormal.of(snapshot.mean_ring_s, config.ring_cv)
    wrap_up = snapshot.mean_wrap_up_s
    wrap_up_law = Lognormal.of(wrap_up, config.wrap_up_cv) if wrap_up > 0 else None
    return (
        RingOutlook(snapshot.answer_rate, ring),
        ReleaseOutlook(wrap_up_law, snapshot.mean_talk_s),
    )


def checkpoint(
    snapshot: PacingSnapshot,
    answers: float,
    per_call: float,
    wrapping_up: list[float],
    talking: float,
) -> Checkpoint:
    """Answers by a checkpoint against agents by the checkpoint plus grace: the free
    ones, each agent in wrap-up by their chance `wrapping_up` to be done by then, and
    each agent in talk by the chance `talking`."""
    certain, uncertain = release_distribution(wrapping_up, len(snapshot.talking) * talking)
    return Checkpoint(
        answers=answers,
        per_call=per_call,
        agents=snapshot.free_agents - snapshot.waiting + certain,
        releases=tuple(uncertain),
    )
