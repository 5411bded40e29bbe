"""What one decision looks at (pure): the inputs, with the callee's zones, calling
window and local dates resolved once, and the signature of a rule.

A `Context` is built per decision and per step of the next-permitted search, so it
is a plain slots class (a frozen dataclass costs several times as much to build);
nothing assigns to it after `__init__` (rules only read it, and `at` makes a new
one). It is also what a `Decision` builds its stored inputs summary from.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, datetime
from functools import lru_cache
from zoneinfo import ZoneInfo

from dialer.compliance.model import Candidate, ContactHistory, DialContext, Reason
from dialer.compliance.packs import RulePack
from dialer.compliance.summary import summarize
from dialer.compliance.windows import DailyWindow, local_days, zones_named

NO_DAYS: frozenset[date] = frozenset()


class Context:
    __slots__ = ("candidate", "closed_days", "days", "dial", "history", "now", "pack",
                 "window", "zones")  # fmt: skip

    candidate: Candidate
    history: ContactHistory
    pack: RulePack
    dial: DialContext
    now: datetime
    zones: tuple[ZoneInfo, ...]  # empty when unknown or any name is not a zone
    window: DailyWindow | None  # None: the agreed window lies wholly outside the limit
    closed_days: frozenset[date]  # holidays when the client forbids them
    days: tuple[date, ...]  # the local date at `now` in each of `zones`

    def __init__(
        self,
        candidate: Candidate,
        history: ContactHistory,
        pack: RulePack,
        dial: DialContext,
        now: datetime,
    ) -> None:
        self.candidate = candidate
        self.history = history
        self.pack = pack
        self.dial = dial
        self.now = now
        self.zones = zones = zones_named(candidate.time_zones)
        agreed = candidate.agreed_window
        self.window = pack.window if agreed is None else clipped(agreed, pack.window_limit)
        self.closed_days = (
            (candidate.holidays or NO_DAYS) if candidate.no_holiday_calls else NO_DAYS
        )
        self.days = local_days(now, zones)

    def at(self, moment: datetime) -> Context:
        """The same decision asked at `moment` instead (the next-permitted search)."""
        return Context(self.candidate, self.history, self.pack, self.dial, moment)

    def summary(self) -> dict[str, object]:
        """The inputs summary stored with the decision (`Decision.inputs`)."""
        return summarize(self)


Check = Callable[[Context], tuple[Reason, ...]]


@lru_cache(maxsize=256)
def clipped(agreed: DailyWindow, limit: DailyWindow) -> DailyWindow | None:
    """`agreed.clip(limit)`, memoized: debtors agree to a few usual windows."""
    return agreed.clip(limit)
