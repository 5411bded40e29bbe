"""What became of each call to the simulated network, and the tally of a run: pure.

Each call ends in one :class:`CallReport` (one printed line); a :class:`Tally` counts
them by behaviour and result for the summary at the end.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from enum import StrEnum

from telephony.simulated.behaviour import Behaviour
from telephony.sip.message import REASONS

INVALID = "invalid"  # the behaviour column of an INVITE refused before any behaviour


class Result(StrEnum):
    REFUSED = "refused"  # a bad INVITE (no number, unusable SDP): 400, 404, 488
    REJECTED = "rejected"  # the final response: 486, 603, 408 (rang out), 480 (closing)
    CANCELLED = "cancelled"  # the caller gave up while it rang: 487
    CALLER_HUNG_UP = "caller_hung_up"
    PHONE_HUNG_UP = "phone_hung_up"  # the phone sent BYE (its script, max talk, closing)


@dataclass(frozen=True, slots=True)
class CallReport:
    call_id: str
    number: str
    behaviour: Behaviour | None  # None: refused before a behaviour was drawn
    result: Result
    status: int  # our final response to the INVITE (200 when answered)
    ring_seconds: float = 0.0  # from the INVITE to the final response
    talk_seconds: float | None = None  # from the answer to the BYE
    note: str = ""

    def line(self) -> str:
        return f"{self.number or '-':<16} {self.behaviour or INVALID:<13} {self._outcome()}"

    def _outcome(self) -> str:
        ring, talk = self.ring_seconds, self.talk_seconds or 0.0
        reason = REASONS.get(self.status, "")
        if self.result is Result.REFUSED:
            return f"refused: {self.status} {reason} ({self.note})"
        if self.result is Result.REJECTED:
            return f"{self.status} {reason} after {ring:.1f} s"
        if self.result is Result.CANCELLED:
            return f"rang {ring:.1f} s, cancelled by the caller (487)"
        who = "the caller" if self.result is Result.CALLER_HUNG_UP else "the phone"
        note = f" ({self.note})" if self.note else ""
        return f"answered after {ring:.1f} s, {who} hung up after {talk:.1f} s{note}"


@dataclass
class Tally:
    """Calls counted by behaviour and result."""

    counts: Counter[tuple[str, Result]] = field(default_factory=Counter)

    def add(self, report: CallReport) -> None:
        self.counts[str(report.behaviour or INVALID), report.result] += 1

    @property
    def calls(self) -> int:
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        """``N calls`` then one line per behaviour seen: its count and its results."""
        found = [*Behaviour, INVALID]
        lines = [f"{self.calls} calls"]
        for behaviour in found:
            results = {r: n for (b, r), n in self.counts.items() if b == behaviour}
            if results:
                detail = ", ".join(f"{result} {n}" for result, n in sorted(results.items()))
                lines.append(f"  {behaviour:<13} {sum(results.values()):>5}  ({detail})")
        return lines
