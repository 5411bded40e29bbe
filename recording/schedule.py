"""When each recording hands its audio to the writer thread and when it is synced.

Each recording buffers the frames of its ticks in memory (the media tick must never
wait for a disk) and hands them to the shared writer thread every ``flush_every``
ticks; every ``sync_every`` ticks the handed-over write is followed by an
``fdatasync``, so a power cut loses at most ``sync_every`` ticks of a call and a
killed process at most ``flush_every`` (plus whatever the writer had not reached).

Flushing every recording on the same tick stalls the whole process (measured: 18-30
ms for all WAV writes in one tick), so each recording gets a *phase*: it flushes on
the ticks ``t`` with ``(t + phase) % flush_every == 0`` and syncs on those with
``(t + phase) % sync_every == 0``, ``t`` being the shared media clock's tick. Phases
are handed out least-loaded first: the flush slot (``phase % flush_every``) with the
fewest recordings, then, within it, the sync slot (``phase``) with the fewest. With
``n`` recordings no tick has more than ``ceil(n / flush_every)`` flushes nor more than
``ceil(n / sync_every)`` syncs, as long as phases are released when calls end.

Ticks the clock skipped are not a problem: the next flush is the first tick at or
after the planned one. Pure: no IO, no clock.
"""

from __future__ import annotations

from dataclasses import dataclass

TICK_SECONDS = 0.02


@dataclass(frozen=True, slots=True)
class Cadence:
    """Flush every ``flush_every`` ticks, sync every ``sync_every`` (a multiple of it)."""

    flush_every: int
    sync_every: int

    def __post_init__(self) -> None:
        if self.flush_every < 1 or self.sync_every < 1 or self.sync_every % self.flush_every:
            raise ValueError(
                f"need flush_every >= 1 dividing sync_every, got flush_every"
                f" {self.flush_every}, sync_every {self.sync_every}"
            )

    @classmethod
    def from_seconds(cls, flush_interval: float, sync_interval: float) -> Cadence:
        """The cadence nearest to the intervals, in 20 ms ticks (sync rounded up to flush)."""
        flush = max(1, round(flush_interval / TICK_SECONDS))
        sync = max(1, -(-round(sync_interval / TICK_SECONDS) // flush)) * flush
        return cls(flush, sync)

    def next_flush(self, tick: int, phase: int) -> int:
        """The first flush tick after ``tick``."""
        return _next(tick, phase, self.flush_every)

    def next_sync(self, tick: int, phase: int) -> int:
        """The first sync tick after ``tick``."""
        return _next(tick, phase, self.sync_every)


def _next(tick: int, phase: int, every: int) -> int:
    after = tick + 1
    return after + (-(after + phase)) % every


class FlushPlan:
    """The phases of the live recordings; see the module docstring."""

    __slots__ = ("_flush_load", "_sync_load", "cadence")

    def __init__(self, cadence: Cadence) -> None:
        self.cadence = cadence
        self._sync_load = [0] * cadence.sync_every
        self._flush_load = [0] * cadence.flush_every

    def assign(self) -> int:
        """A phase for a new recording, in the least-loaded slots."""
        every = self.cadence.flush_every
        flush_slot = min(range(every), key=self._flush_load.__getitem__)
        phase = min(
            range(flush_slot, self.cadence.sync_every, every), key=self._sync_load.__getitem__
        )
        self._flush_load[flush_slot] += 1
        self._sync_load[phase] += 1
        return phase

    def release(self, phase: int) -> None:
        """Give back the phase of a recording that ended."""
        if not 0 <= phase < self.cadence.sync_every or self._sync_load[phase] == 0:
            raise ValueError(f"phase {phase} is not assigned")
        self._sync_load[phase] -= 1
        self._flush_load[phase % self.cadence.flush_every] -= 1

    @property
    def recordings(self) -> int:
        return sum(self._flush_load)

    def flushes_at(self, tick: int) -> int:
        """How many recordings hand their audio over on ``tick``."""
        return self._flush_load[-tick % self.cadence.flush_every]

    def syncs_at(self, tick: int) -> int:
        """How many recordings are synced on ``tick``."""
        return self._sync_load[-tick % self.cadence.sync_every]
