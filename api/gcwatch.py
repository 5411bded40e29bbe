"""How long the cyclic garbage collector stops the process, per generation.

A collection runs inside whatever callback allocated the object that crossed the
threshold, the media tick included, and holds the event loop for as long as it
takes. A full (generation 2) collection walks every tracked object not frozen by
`gc.freeze()`; with a few hundred calls up that is hundreds of thousands of objects.
The call path installs one watch for the process (`CallPath.open`): every collection
is timed, the totals go into the call path's status, and a pause longer than
`warn_s` is logged with its generation, so a stalled media clock can be told apart
from a GC pause.
"""

from __future__ import annotations

import gc
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

WARN_S = 0.05


@dataclass
class Generation:
    collections: int = 0
    seconds: float = 0.0
    longest: float = 0.0


@dataclass
class GcWatch:
    warn_s: float = WARN_S
    clock: Callable[[], float] = time.perf_counter
    generations: list[Generation] = field(default_factory=lambda: [Generation() for _ in range(3)])
    _started: float | None = field(default=None, init=False)

    def install(self) -> None:
        if self._callback not in gc.callbacks:
            gc.callbacks.append(self._callback)

    def remove(self) -> None:
        if self._callback in gc.callbacks:
            gc.callbacks.remove(self._callback)

    def status(self) -> dict[str, object]:
        return {f"gen{n}": {"collections": g.collections, "seconds": round(g.seconds, 3),
                            "longest_ms": round(g.longest * 1e3, 1)}
                for n, g in enumerate(self.generations)}

    def _callback(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = self.clock()
            return
        if self._started is None:
            return
        took, self._started = self.clock() - self._started, None
        generation = self.generations[info["generation"]]
        generation.collections += 1
        generation.seconds += took
        generation.longest = max(generation.longest, took)
        if took >= self.warn_s:
            logger.warning("garbage collection of generation %d stopped the process for"
                           " %.0f ms (%d objects freed)", info["generation"], took * 1e3,
                           info.get("collected", 0))
