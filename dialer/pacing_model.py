"""The predictive model behind `dialer.pacing`: over the next seconds, how many answers
the campaign's calls in flight will bring and how many agents there will be to take
them (pure).

The campaign measures means; the model assumes their laws:

* Ring. An answered call is answered after a lognormal time with the measured mean ring
  and the coefficient of variation ``ring_cv``; a call not answered live rings at least
  as long as any answered one. So a call that has rung a seconds is still to be
  answered with p·S(a) / (p·S(a) + 1 - p), p the answer rate, S(a) the share of
  answered calls not yet answered after a seconds, and is answered within the next t
  seconds with p·(S(a) - S(a + t)) / (p·S(a) + 1 - p). A call placed now is answered
  within t with p·(1 - S(t)).
* Release. A wrap-up lasts a lognormal time with the measured mean and
  ``wrap_up_cv``: an agent a seconds into it is done within t with
  (W(a) - W(a + t)) / W(a), W its survival; a wrap-up far past the usual is not
  counted on (the agent may have stepped away). The remaining talk is memoryless with
  the mean talk: an agent in talk is free within t when the talk ends in some second
  s < t and the wrap-up lasts less than t - s.
* Answers by a checkpoint follow a Poisson law with the expected count (a sum of many
  small chances). Agents are the free ones, the releases certain by then, and the
  uncertain releases counted exactly (Poisson-binomial) for agents in wrap-up, as a
  Poisson law for agents in talk. The expected overflow E[max(0, answers - agents)]
  is the expected number of answers that meet no agent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

_SQRT2 = math.sqrt(2.0)
NEGLIGIBLE = 1e-9  # a chance or an expected count below this is taken as nothing
_LAST_ANSWERS = 2.576  # the ring outlook ends where 99.5% of answers are in (z score)


@dataclass(frozen=True, slots=True)
class Lognormal:
    """A duration's assumed law, from its mean and coefficient of variation."""

    mu: float
    sigma: float

    @classmethod
    def of(cls, mean: float, cv: float) -> Lognormal:
        sigma2 = math.log1p(cv * cv)
        return cls(math.log(mean) - sigma2 / 2, math.sqrt(sigma2))

    def survival(self, seconds: float) -> float:
        """The share lasting longer than `seconds`."""
        if seconds <= 0.0:
            return 1.0
        return 0.5 * math.erfc((math.log(seconds) - self.mu) / (self.sigma * _SQRT2))

    def quantile(self, z: float) -> float:
        """The duration `z` standard deviations up, on the log scale."""
        return math.exp(self.mu + z * self.sigma)


@dataclass(frozen=True, slots=True)
class RingOutlook:
    """When the calls will be answered."""

    answer_rate: float
    ring: Lognormal

    @property
    def horizon_s(self) -> int:
        """Seconds by which nearly every answer is in."""
        return math.ceil(self.ring.quantile(_LAST_ANSWERS))

    def in_flight(self, ages: Iterable[float], times: Sequence[float]) -> tuple[float, list[float]]:
        """Expected answers from calls ringing for `ages`: in all, and within each of
        `times` seconds."""
        p, survival = self.answer_rate, self.ring.survival
        total, by = 0.0, [0.0] * len(times)
        for age in ages:
            still = p * survival(age)
            weight = still + 1.0 - p
            if still <= NEGLIGIBLE * weight:
                continue  # rung past nearly every answer
            total += still / weight
            for i, within in enumerate(times):
                by[i] += (still - p * survival(age + within)) / weight
        return total, by

    def new_call(self, within: float) -> float:
        """A call placed now: its chance to be answered within `within` seconds."""
        return self.answer_rate * (1.0 - self.ring.survival(within))


@dataclass(frozen=True, slots=True)
class ReleaseOutlook:
    """When busy agents will be free."""

    wrap_up: Lognormal | None  # None: no wrap-up (codes filed during the talk)
    mean_talk_s: float

    def wrapping_up(self, elapsed_s: float, withins: Sequence[float]) -> list[float]:
        """An agent `elapsed_s` into wrap-up: the chance to be done within each of
        `withins` seconds."""
        if self.wrap_up is None:
            return [1.0] * len(withins)
        survival = self.wrap_up.survival
        left = survival(elapsed_s)
        if left <= NEGLIGIBLE:
            return [0.0] * len(withins)
        return [(left - survival(elapsed_s + within)) / left for within in withins]

    def talking(self, withins: Sequence[float]) -> list[float]:
        """An agent in talk: the chance to be through talk and wrap-up within each of
        `withins`: the talk ends in second s (1 / mean talk each), the wrap-up lasts
        less than the seconds left."""
        longest = math.ceil(max(withins, default=0.0))
        done, through = [0.0], 0.0
        for second in range(1, longest + 1):
            through += 1.0 if self.wrap_up is None else 1.0 - self.wrap_up.survival(second)
            done.append(through)
        return [min(done[int(within)] / self.mean_talk_s, 1.0) for within in withins]


def release_distribution(chances: Iterable[float], pooled: float) -> tuple[int, list[float]]:
    """The agents certain to be free and the distribution of the others: a
    Poisson-binomial over `chances` convolved with a Poisson law of mean `pooled`."""
    certain, dist = 0, [1.0]
    for chance in chances:
        if chance <= NEGLIGIBLE:
            continue
        if chance >= 1.0 - NEGLIGIBLE:
            certain += 1
        else:
            dist = [
                (dist[i] if i < len(dist) else 0.0) * (1.0 - chance)
                + (dist[i - 1] * chance if i else 0.0)
                for i in range(len(dist) + 1)
            ]
    return certain, _convolve(dist, poisson(pooled)) if pooled > NEGLIGIBLE else dist


def poisson(mean: float) -> list[float]:
    """The Poisson law of `mean`, up to where the tail is negligible."""
    term = math.exp(-mean)
    law, k, mass = [term], 0, term
    while 1.0 - mass > NEGLIGIBLE and k < 1000:
        k += 1
        term *= mean / k
        law.append(term)
        mass += term
    return law


def _convolve(first: list[float], second: list[float]) -> list[float]:
    out = [0.0] * (len(first) + len(second) - 1)
    for i, a in enumerate(first):
        for j, b in enumerate(second):
            out[i + j] += a * b
    return out


def poisson_excess(mean: float, levels: int) -> list[float]:
    """E[max(0, X - a)] for X Poisson of `mean`, for a = 0 .. levels - 1."""
    excess: list[float] = []
    gap, term = mean, math.exp(-mean)
    below = term
    for a in range(levels):
        if gap < NEGLIGIBLE:
            return excess + [0.0] * (levels - a)
        excess.append(gap)
        gap -= 1.0 - below  # E[(X - a - 1)+] = E[(X - a)+] - P(X > a)
        term *= mean / (a + 1)
        below += term
    return excess


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """Answers by t seconds against agents by t + grace."""

    answers: float  # expected answers by then from the calls ringing
    per_call: float  # a call placed now: its chance to be answered by then
    agents: int  # free agents less waiting answers, plus releases certain by then
    releases: tuple[float, ...]  # distribution of the uncertain releases by then

    def overflow(self, calls: int) -> float:
        """Expected answers that find no agent, with `calls` more calls placed now."""
        mean = self.answers + calls * self.per_call
        excess = poisson_excess(mean, max(self.agents + len(self.releases), 0))
        total = 0.0
        for extra, chance in enumerate(self.releases):
            level = self.agents + extra
            total += chance * (mean - level if level < 0 else excess[level])
        return total
