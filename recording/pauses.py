"""PCI pauses of one recording, kept in media ticks while the call is recorded.

While the debtor reads out card details the agent pauses the recording: from the
pause to the resume, both channels are written as silence (the ticks still count, so
the recording stays aligned with the call) and the span is reported with the result,
to be stored in ``recordings.pci_pauses``.

:class:`Pauses` holds the spans, ``[start, end)`` in ticks of the shared media clock,
at most one open (paused, not yet resumed). Spans never overlap: a pause starting
before the end of the previous span starts at that end. :meth:`Pauses.silenced` is
asked for every tick of a paused recording; :meth:`Pauses.spans` turns the spans
into milliseconds from the recording's first tick. Pure: no IO, no clock.
"""

from __future__ import annotations

from recording.spans import Span

TICK_MS = 20


class Pauses:
    """The pauses of one recording; see the module docstring."""

    __slots__ = ("_closed", "_open")

    def __init__(self) -> None:
        self._closed: list[tuple[int, int]] = []
        self._open: int | None = None  # first silenced tick of the pause not yet resumed

    @property
    def paused(self) -> bool:
        return self._open is not None

    def pause(self, start: int) -> int:
        """Open a pause at tick ``start`` (or the end of the last span); the start tick."""
        if self._open is not None:
            raise ValueError(f"already paused since tick {self._open}")
        if self._closed:
            start = max(start, self._closed[-1][1])
        self._open = start
        return start

    def resume(self, end: int) -> None:
        """Close the open pause before tick ``end``; a pause that silenced no tick is dropped."""
        if self._open is None:
            raise ValueError("not paused")
        if end > self._open:
            self._closed.append((self._open, end))
        self._open = None

    def silenced(self, tick: int) -> bool:
        if self._open is not None and tick >= self._open:
            return True
        for start, end in reversed(self._closed):
            if tick >= end:
                return False  # every earlier span ends earlier still
            if tick >= start:
                return True
        return False

    def spans(self, first_tick: int, ticks: int) -> tuple[Span, ...]:
        """The spans within the ``ticks`` ticks from ``first_tick``, in ms from it."""
        end_tick = first_tick + ticks
        spans = list(self._closed)
        if self._open is not None:
            spans.append((self._open, end_tick))
        clipped = [(max(s, first_tick), min(e, end_tick)) for s, e in spans]
        return tuple(
            Span((s - first_tick) * TICK_MS, (e - first_tick) * TICK_MS)
            for s, e in clipped
            if s < e
        )


def clip(spans: tuple[Span, ...], duration_ms: int) -> tuple[Span, ...]:
    """``spans`` cut to a recording of ``duration_ms`` (a salvaged one may be shorter)."""
    return tuple(
        Span(s.start_ms, min(s.end_ms, duration_ms)) for s in spans if s.start_ms < duration_ms
    )
