"""A tap that writes a stereo 8 kHz 16-bit WAV of one stream (stdlib ``wave``).

Channel 0 is the inbound audio (the far party), channel 1 the outbound (what the
stream sent: for a debtor leg bridged to an agent, the agent's voice); pass
``inbound_channel=1`` to swap. Every tick writes 160 sample frames, silence where a
direction carried nothing, so the two channels stay aligned with each other and with
wall-clock time. Frames of other lengths are cut or zero-padded to 160.

Writes are buffered and flushed every ``flush_every`` ticks, on a tick offset derived
from the file name: with many recordings, flushes spread over the ticks instead of all
landing on one (which stalls the clock for tens of ms). Given an ``executor`` (one
shared for the process, never a thread per call), the file IO runs there: chunks queue
per writer and a lock keeps them in order whatever the executor's width.

This is the small writer for tests and the bench; crash-safe recording with checksums
belongs to the recording package.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import wave
import zlib
from collections import deque
from concurrent.futures import Executor
from pathlib import Path

import numpy as np

from telephony.media.g711 import Pcm
from telephony.media.sources import FRAME

logger = logging.getLogger(__name__)


class WavTapWriter:
    """Stereo WAV of one tapped stream; see the module docstring."""

    def __init__(
        self,
        path: str | Path,
        *,
        flush_every: int = 50,
        executor: Executor | None = None,
        inbound_channel: int = 0,
    ) -> None:
        if flush_every < 1 or inbound_channel not in (0, 1):
            raise ValueError(f"bad flush_every={flush_every} or inbound_channel")
        self.path = Path(path)
        self.flush_every = flush_every
        self.ticks = 0
        self._phase = zlib.crc32(str(self.path).encode()) % flush_every
        self._inbound = inbound_channel
        self._executor = executor
        # Two lists of arrays, not a tuple per tick: numpy arrays are not tracked by the
        # cyclic GC, tuples are, and thousands of them held for a second get promoted and
        # make full collections (milliseconds, inside the media tick) more frequent.
        self._inbound_frames: list[Pcm | None] = []
        self._outbound_frames: list[Pcm | None] = []
        self._pending: deque[bytes] = deque()
        self._lock = threading.Lock()
        self._closed = False
        self._wav = wave.open(str(self.path), "wb")  # noqa: SIM115 - closed by close()
        self._wav.setnchannels(2)
        self._wav.setsampwidth(2)
        self._wav.setframerate(8000)

    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None:
        if self._closed:
            return
        self._inbound_frames.append(inbound)  # frames are read-only: no copy needed
        self._outbound_frames.append(outbound)
        self.ticks += 1
        if (tick + self._phase) % self.flush_every == 0:
            self.flush()

    def flush(self) -> None:
        """Hand the buffered frames to the file (inline, or on the executor)."""
        if not self._inbound_frames:
            return
        stereo = np.empty((len(self._inbound_frames) * FRAME, 2), dtype="<i2")
        stereo[:, self._inbound] = _channel(self._inbound_frames)
        stereo[:, 1 - self._inbound] = _channel(self._outbound_frames)
        self._pending.append(stereo.tobytes())
        self._inbound_frames, self._outbound_frames = [], []
        if self._executor is None:
            self._drain()
        else:
            self._executor.submit(self._drain)

    async def aclose(self) -> None:
        """Flush what is buffered and finish the file (header sizes, close)."""
        if self._closed:
            return
        self.flush()
        self._closed = True
        if self._executor is None:
            self._finish()
        else:
            await asyncio.get_running_loop().run_in_executor(self._executor, self._finish)

    def _drain(self) -> None:
        with self._lock:
            while self._pending:
                self._wav.writeframesraw(self._pending.popleft())

    def _finish(self) -> None:
        self._drain()
        with self._lock:
            self._wav.close()
        logger.debug("recording %s closed after %d ticks", self.path, self.ticks)


_SILENCE = np.zeros(FRAME, dtype=np.int16)


def _channel(frames: list[Pcm | None]) -> Pcm:
    """One channel of 160 samples per tick: silence for ``None``, others cut or padded."""
    fitted = [
        _SILENCE if pcm is None else pcm if len(pcm) == FRAME else _fit(pcm) for pcm in frames
    ]
    return np.concatenate(fitted)


def _fit(pcm: Pcm) -> Pcm:
    fitted = np.zeros(FRAME, dtype=np.int16)
    fitted[: min(FRAME, len(pcm))] = pcm[:FRAME]
    return fitted
