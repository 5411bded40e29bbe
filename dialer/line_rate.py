"""New calls a second on each work line, kept under the carrier's limit.

A carrier limits a trunk's new calls a second (CPS) as well as its channels, and
answers the excess with 503 or 403; a dialer that keeps the limit itself places no
call the trunk would refuse. The limit also spreads a burst: with every agent free at
once (the start of a shift, or a wave of calls of equal length ending together),
progressive dialing would place one call per agent in a single tick, and the set-ups,
answers and hang-ups of those calls would then come in the same second for as long as
they last.

Each line has a token bucket: it holds at most one second's worth of calls (at least
one) and fills at `calls_per_second`. A line without a limit always has room. Pure: the
caller passes the time (monotonic seconds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(slots=True)
class _Bucket:
    rate: float
    tokens: float
    at: float

    @property
    def size(self) -> float:
        return max(1.0, self.rate)

    def fill(self, now: float) -> None:
        if now > self.at:
            self.tokens = min(self.size, self.tokens + (now - self.at) * self.rate)
            self.at = now


class LineRates:
    """The calls each work line may place now under its calls-a-second limit."""

    def __init__(self) -> None:
        self._buckets: dict[str, _Bucket] = {}

    def room(self, line: str, calls_per_second: float | None, now: float) -> int | None:
        """How many calls `line` may place at `now`; None if it has no limit."""
        bucket = self._bucket(line, calls_per_second, now)
        if bucket is None:
            return None
        return max(0, math.floor(bucket.tokens + 1e-9))

    def took(self, line: str, calls_per_second: float | None, now: float) -> None:
        """A call was placed on `line` at `now` (an agent's own dial as well: the
        carrier counts every call)."""
        bucket = self._bucket(line, calls_per_second, now)
        if bucket is not None:
            bucket.tokens -= 1.0  # may go below zero: a call placed past the limit waits off

    def _bucket(self, line: str, calls_per_second: float | None, now: float) -> _Bucket | None:
        if calls_per_second is None:
            self._buckets.pop(line, None)
            return None
        bucket = self._buckets.get(line)
        if bucket is None or bucket.rate != calls_per_second:
            bucket = _Bucket(calls_per_second, max(1.0, calls_per_second), now)
            self._buckets[line] = bucket
        bucket.fill(now)
        return bucket
