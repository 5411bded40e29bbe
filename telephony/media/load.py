"""Whether the media clock keeps time: the process's overload signal (pure).

Every call's audio leaves from the one 20 ms tick of the process
(:mod:`telephony.media.clock`). When the process has more to do than its core can,
ticks run late and every call's audio suffers at once. The leg limit
(``CallControl.max_legs``) is a count set in advance; this gauge measures the machine
as it is: the average lateness of each tick's last packet over about a second
(exponentially weighted, one tick's weight 1/50); ticks skipped outright (a stall
past the clock's catch-up) count as one tick as late as the time they covered.

It reads *overloaded* once the average passes ``high`` (20 ms: a whole tick late on
average, the process no longer doing a tick's work within the tick), and clear again
only when the average falls under ``low`` (5 ms), so that admission does not flap
around one value. (A burst of call set-ups keeps the average around 10 ms here:
busy, still keeping time.) While overloaded the service places no new call and
answers new INVITEs 503 with Retry-After; the calls up keep the core. A single long
pause (a 200 ms collection, or ticks skipped over it) moves the average by 4 ms: one
stall does not refuse calls, a machine that stays behind does.
"""

from __future__ import annotations

WEIGHT = 1 / 50  # one tick's share of the average: about a second of ticks
HIGH = 0.020  # seconds: overloaded above this average lateness
LOW = 0.005  # seconds: clear again below this one


class LoadGauge:
    __slots__ = ("average", "high", "low", "overloaded", "weight")

    def __init__(self, *, high: float = HIGH, low: float = LOW, weight: float = WEIGHT) -> None:
        if not 0 <= low < high:
            raise ValueError(f"need 0 <= low {low} < high {high}")
        if not 0 < weight <= 1:
            raise ValueError(f"the weight of one tick must be in (0, 1], not {weight}")
        self.high = high
        self.low = low
        self.weight = weight
        self.average = 0.0
        self.overloaded = False

    def record(self, late: float) -> None:
        """One tick ran: its last packet left `late` seconds after its deadline."""
        average = self.average + self.weight * (max(late, 0.0) - self.average)
        self.average = average
        if self.overloaded:
            self.overloaded = average >= self.low
        else:
            self.overloaded = average > self.high

    def skipped(self, seconds: float) -> None:
        """Ticks covering `seconds` were skipped (the process stalled past the clock's
        catch-up): one stall, counted as one tick that late. Stalls that keep coming
        add up to an overload; one does not (a 220 ms stall adds 4.4 ms)."""
        self.record(seconds)
