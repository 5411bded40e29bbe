"""New calls from one source beyond a rate: that source is flooding (pure).

The service dials out; INVITEs from outside are a carrier's or a debtor's call back, a
softphone's, or a flood (a scanner, a misconfigured trunk, an attack). Each source
address gets a token bucket: ``rate`` new INVITEs a second with bursts of ``burst``.
A source that runs out is *flooding* and stays so until it has sent nothing over its
rate for ``hold`` seconds: every INVITE it sends meanwhile is answered 503 with
Retry-After before any other work (as Kamailio's pike module does), so one source
cannot take the service's capacity from the calls in progress or from other sources,
and a flood is refused the same way whatever the service's state. Times are passed in
(monotonic seconds). Memory is bounded: at most ``max_tracked`` sources, the longest
quiet forgotten first.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field


@dataclass
class Bucket:
    tokens: float
    at: float  # when `tokens` was counted
    flooding_until: float = float("-inf")


@dataclass
class FloodGuard:
    rate: float = 10.0  # new INVITEs a second, per source
    burst: int = 20
    hold: float = 5.0  # seconds a flooding source stays refused after its last excess
    max_tracked: int = 10_000
    _sources: OrderedDict[str, Bucket] = field(default_factory=OrderedDict)

    def __post_init__(self) -> None:
        if self.rate <= 0 or self.burst < 1 or self.hold < 0 or self.max_tracked < 1:
            raise ValueError(f"a flood guard needs a positive rate and burst: {self!r}")

    @property
    def tracked(self) -> int:
        return len(self._sources)

    def admit(self, host: str, now: float) -> bool:
        """Whether a new INVITE from `host` at `now` may be looked at; False: 503."""
        bucket = self._sources.pop(host, None)
        if bucket is None:
            bucket = Bucket(float(self.burst), now)
        else:
            bucket.tokens = min(float(self.burst), bucket.tokens + (now - bucket.at) * self.rate)
            bucket.at = now
        self._sources[host] = bucket  # the most recent last
        while len(self._sources) > self.max_tracked:
            self._sources.popitem(last=False)
        if bucket.tokens >= 1.0:
            bucket.tokens -= 1.0
            return now >= bucket.flooding_until  # within its rate, and not flooding lately
        bucket.flooding_until = now + self.hold
        return False

    def flooding(self, host: str, now: float) -> bool:
        bucket = self._sources.get(host)
        return bucket is not None and now < bucket.flooding_until
