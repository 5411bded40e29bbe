"""Blocking source addresses that keep failing authentication (password guessing).

Pure: times are passed in (aware UTC). A source that fails ``threshold`` times within
``window`` is blocked for ``block`` from the last failure. A success does not clear the
count: one valid account must not reset the counter while another is being guessed.
Addresses in ``exempt`` networks (an office NAT that every agent shares) are never
blocked. Memory is bounded: at most ``max_tracked`` sources are remembered, the oldest
forgotten first.

What a blocked source sees is the shell's choice; the registrar drops its datagrams
unanswered, before parsing, so a scanner learns nothing and costs nothing.
"""

from __future__ import annotations

import ipaddress
from collections import OrderedDict, deque
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta


@dataclass
class Lockout:
    threshold: int = 5
    window: timedelta = timedelta(minutes=5)
    block: timedelta = timedelta(minutes=15)
    exempt: Iterable[str] = ()
    max_tracked: int = 100_000
    _failures: OrderedDict[str, deque[datetime]] = field(default_factory=OrderedDict)
    _blocked: dict[str, datetime] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self._exempt = tuple(ipaddress.ip_network(net, strict=False) for net in self.exempt)

    @property
    def tracked(self) -> int:
        """How many sources have failures on record."""
        return len(self._failures)

    def is_blocked(self, host: str, now: datetime) -> bool:
        until = self._blocked.get(host)
        if until is None:
            return False
        if until <= now:
            del self._blocked[host]
            return False
        return True

    def record_failure(self, host: str, now: datetime) -> bool:
        """Count a failed authentication from ``host``; True if it is now blocked."""
        if self._is_exempt(host):
            return False
        times = self._failures.pop(host, None) or deque(maxlen=self.threshold)
        while times and now - times[0] > self.window:
            times.popleft()
        times.append(now)
        self._failures[host] = times
        while len(self._failures) > self.max_tracked:
            self._failures.popitem(last=False)
        if len(times) >= self.threshold:
            self._blocked[host] = now + self.block
            if len(self._blocked) > self.max_tracked:
                self._prune_blocked(now)
        return host in self._blocked

    def _prune_blocked(self, now: datetime) -> None:
        for host in [h for h, until in self._blocked.items() if until <= now]:
            del self._blocked[host]

    def _is_exempt(self, host: str) -> bool:
        try:
            address = ipaddress.ip_address(host)
        except ValueError:
            return False
        return any(address in net for net in self._exempt)
