"""Media taps: how recording, AMD and listen-in get a stream's audio, tick by tick.

A tap is any object with ``on_frame(tick, inbound, outbound)``. On every media tick
each tapped stream calls it with the tick number and two 16-bit PCM frames of 20 ms:
``inbound``, what the far party sent (after the jitter buffer), and ``outbound``, what
the stream sent them (a clip, the bridged leg, silence). Either is ``None`` on a tick
that carried no audio that way (loss, hold, a DTMF event). Frames are read-only and
may be shared between taps: copy one before changing it.

``on_frame`` runs inside the media tick, so it must be quick and must not block: a
slow consumer uses :class:`QueueTap`, whose bounded queue drops the oldest frame (and
counts it) instead of holding the tick up. A tap that raises is detached and logged.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

from telephony.media.g711 import Pcm

logger = logging.getLogger(__name__)


class Tap(Protocol):
    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None: ...


@dataclass(frozen=True, slots=True)
class TapFrame:
    tick: int
    inbound: Pcm | None
    outbound: Pcm | None


class QueueTap:
    """A tap into a bounded :class:`asyncio.Queue`; when full, the oldest frame goes."""

    def __init__(self, maxsize: int = 50) -> None:
        if maxsize < 1:
            raise ValueError(f"a tap queue needs room for a frame, maxsize={maxsize}")
        self.queue: asyncio.Queue[TapFrame] = asyncio.Queue(maxsize)
        self.delivered = 0
        self.dropped = 0

    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None:
        queue = self.queue
        if queue.full():
            queue.get_nowait()
            self.dropped += 1
        queue.put_nowait(TapFrame(tick, inbound, outbound))
        self.delivered += 1

    async def get(self) -> TapFrame:
        return await self.queue.get()


def deliver(taps: Sequence[Tap], tick: int, inbound: Pcm | None, outbound: Pcm | None) -> list[Tap]:
    """Call every tap; the ones that raised (to be detached by the caller)."""
    failed: list[Tap] = []
    for tap in taps:
        try:
            tap.on_frame(tick, inbound, outbound)
        except Exception:  # boundary to consumer code: a broken tap must not stop the tick
            logger.exception("media tap %r failed on tick %d; detaching it", tap, tick)
            failed.append(tap)
    return failed
