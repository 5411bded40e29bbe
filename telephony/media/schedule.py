"""When media ticks are due: absolute deadlines, catch-up, and skipping ahead.

Tick ``n`` is due at ``origin + n * period``: deadlines are computed, never
accumulated, so a late wake-up does not shift later ticks (no drift). On each wake-up
the clock asks :meth:`TickSchedule.take` which ticks to run now:

* nothing, if the next deadline (less ``early``) has not come yet;
* every tick whose deadline has passed, oldest first, if the loop was late by at most
  ``max_behind`` seconds (catch-up: the frames that are due are all sent);
* only the latest due tick, if the loop fell further behind (a stall of the whole
  process): the ticks before it are skipped, reported in ``skipped`` so each stream can
  move its RTP timestamps on, and counted by the clock.

``max_behind`` (0.4 s) is set by what stalls a busy process: a full collection of the
cyclic garbage collector took 60-220 ms with 200 calls up (`api.gcwatch`, measured in
the soak). Caught up, such a stall costs the recording nothing: the packets that
waited on the sockets are read at once and played by the catch-up ticks (the jitter
buffer holds that many, `telephony.media.jitter`). Skipped, it cost each call's
recording that long a silence.

``early`` lets a tick run a little before its deadline, to absorb the millisecond
granularity of event-loop timers. Pure: no IO, no clock; the caller passes ``now``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

PERIOD = 0.02
MAX_BEHIND = 0.4  # a full collection of the cyclic GC with 200 calls up: 60-220 ms


@dataclass(frozen=True, slots=True)
class Due:
    """Run ticks ``first .. first + count - 1`` now, after skipping ``skipped`` ticks."""

    first: int
    count: int
    skipped: int = 0

    @property
    def ticks(self) -> range:
        return range(self.first, self.first + self.count)


class TickSchedule:
    """The deadlines of one media clock; see the module docstring for the rules."""

    __slots__ = ("early", "max_behind", "next_tick", "origin", "period", "skipped")

    def __init__(
        self,
        origin: float,
        *,
        period: float = PERIOD,
        max_behind: float = MAX_BEHIND,
        early: float = 0.0,
    ) -> None:
        if not 0 <= early < period <= max_behind:
            raise ValueError(
                f"need 0 <= early {early} < period {period} <= max_behind {max_behind}"
            )
        self.origin = origin
        self.period = period
        self.max_behind = max_behind
        self.early = early
        self.next_tick = 0
        self.skipped = 0

    def deadline(self, tick: int) -> float:
        return self.origin + tick * self.period

    @property
    def next_deadline(self) -> float:
        return self.deadline(self.next_tick)

    def take(self, now: float) -> Due:
        """The ticks to run at ``now``; they are then no longer due."""
        first = self.next_tick
        if now + self.early < self.deadline(first):
            return Due(first, 0)
        latest = math.floor((now + self.early - self.origin) / self.period)
        if self.deadline(latest) > now + self.early:  # the division rounded up
            latest -= 1
        latest = max(first, latest)
        self.next_tick = latest + 1
        if now - self.deadline(first) > self.max_behind:
            skipped = latest - first
            self.skipped += skipped
            return Due(latest, 1, skipped)
        return Due(first, latest - first + 1)
