"""Latency histogram for the media clock: fixed-width buckets, cheap to record.

The media tick records how late each tick ran (its start and the moment its last
packet went out) relative to its absolute deadline. Recording is one division and one
list increment, so it can run 50 times a second forever; percentiles are read from the
buckets (to the bucket's upper edge, never more than the exact maximum). Negative
values (a tick run a little before its deadline) count as 0 and are kept in ``min``.
Pure: no IO, no clock.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class LatencySummary:
    """A snapshot of a histogram, in seconds."""

    count: int
    p50: float
    p99: float
    max: float
    min: float
    mean: float

    def as_ms(self) -> str:
        return (
            f"p50 {self.p50 * 1e3:.2f} ms, p99 {self.p99 * 1e3:.2f} ms, "
            f"max {self.max * 1e3:.2f} ms (n={self.count})"
        )


class LatencyHistogram:
    """Counts of values in ``resolution``-wide buckets up to ``limit``; above goes to
    the last bucket (its percentile then reads as the exact maximum)."""

    __slots__ = ("_counts", "_resolution", "count", "max", "min", "total")

    def __init__(self, resolution: float = 50e-6, limit: float = 0.5) -> None:
        if not 0 < resolution < limit:
            raise ValueError(f"need 0 < resolution {resolution} < limit {limit}")
        self._resolution = resolution
        self._counts = [0] * (math.ceil(limit / resolution) + 1)
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf

    def record(self, seconds: float) -> None:
        if seconds < self.min:
            self.min = seconds
        if seconds < 0.0:
            seconds = 0.0
        index = int(seconds / self._resolution)
        counts = self._counts
        counts[index if index < len(counts) else -1] += 1
        self.count += 1
        self.total += seconds
        if seconds > self.max:
            self.max = seconds

    def percentile(self, q: float) -> float:
        """The value below which ``q`` percent of the recorded values fall (0 if empty)."""
        if not 0 <= q <= 100:
            raise ValueError(f"percentile {q} outside 0..100")
        if not self.count:
            return 0.0
        rank = max(1, math.ceil(self.count * q / 100))
        seen = 0
        for index, count in enumerate(self._counts):
            seen += count
            if seen >= rank:
                return min((index + 1) * self._resolution, self.max)
        return self.max  # pragma: no cover - the loop always reaches rank

    def summary(self) -> LatencySummary:
        mean = self.total / self.count if self.count else 0.0
        low = self.min if self.count else 0.0
        return LatencySummary(
            self.count, self.percentile(50), self.percentile(99), self.max, low, mean
        )

    def reset(self) -> None:
        self._counts = [0] * len(self._counts)
        self.count = 0
        self.total = 0.0
        self.max = 0.0
        self.min = math.inf
