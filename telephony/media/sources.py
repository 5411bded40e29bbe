"""What a stream can send besides silence and bridged audio: a clip, a run of DTMF.

A :class:`Playback` holds one clip of 8 kHz 16-bit PCM cut into 20 ms frames; it
encodes the clip once per codec (so a re-INVITE to another codec mid-clip just works)
and hands out one frame per media tick. ``await playback`` gives ``True`` once the last
frame is sent, ``False`` if it was stopped, replaced by another clip, or its stream
closed. A looping clip only ends by being stopped.

A :class:`DtmfSend` is the per-tick plan for a string of digits: each digit's RFC 4733
packets (:func:`~telephony.media.dtmf.digit_events`) then ``gap_ticks`` ticks of
ordinary audio. ``await`` it to know when the last packet is out.
"""

from __future__ import annotations

import asyncio
from collections.abc import Generator
from typing import Any

import numpy as np

from telephony.media.dtmf import digit_events
from telephony.media.g711 import G711, Pcm

FRAME = 160  # samples per 20 ms at 8 kHz

# A payload and, when already known, its exact decoding (else decoded only if tapped).
AudioFrame = tuple[bytes, Pcm | None]


def as_pcm(audio: Pcm | bytes) -> Pcm:
    """A read-only int16 copy of 8 kHz mono PCM, zero-padded to whole 20 ms frames."""
    if isinstance(audio, bytes | bytearray | memoryview):
        if len(audio) % 2:
            raise ValueError(f"16-bit PCM needs an even byte count, got {len(audio)}")
        samples = np.frombuffer(audio, dtype="<i2").astype(np.int16)
    elif isinstance(audio, np.ndarray) and audio.dtype == np.int16 and audio.ndim == 1:
        samples = audio
    else:
        raise TypeError("play() takes bytes of 16-bit PCM or a 1-D int16 numpy array")
    padded = np.zeros(-(-len(samples) // FRAME) * FRAME, dtype=np.int16)
    padded[: len(samples)] = samples
    padded.flags.writeable = False
    return padded


class Playback:
    """One clip on one stream; see the module docstring."""

    __slots__ = ("_encoded", "_future", "_position", "frames", "loop", "pcm")

    def __init__(self, pcm: Pcm, future: asyncio.Future[bool], *, loop: bool = False) -> None:
        self.pcm = pcm
        self.frames = len(pcm) // FRAME
        if loop and not self.frames:
            raise ValueError("cannot loop an empty clip")
        self.loop = loop
        self._future = future
        self._encoded: dict[int, bytes] = {}
        self._position = 0
        if not self.frames:
            self.finish(True)

    @property
    def position(self) -> int:
        """Frames sent so far (of the current pass, for a looping clip)."""
        return self._position

    def done(self) -> bool:
        return self._future.done()

    def stop(self) -> None:
        """Stop playing; the stream sends its bridge or silence from the next tick."""
        self.finish(False)

    def finish(self, completed: bool) -> None:
        if not self._future.done():
            self._future.set_result(completed)

    def next_frame(self, codec: G711) -> AudioFrame:
        """The next 20 ms payload; completes the playback after the last frame. The PCM
        is left for the tap to decode: taps hear what went out, after G.711."""
        encoded = self._encoded.get(codec.payload_type)
        if encoded is None:
            encoded = self._encoded[codec.payload_type] = codec.encode(self.pcm)
        start = self._position * FRAME
        self._position += 1
        if self._position == self.frames:
            if self.loop:
                self._position = 0
            else:
                self.finish(True)
        return encoded[start : start + FRAME], None

    def __await__(self) -> Generator[Any, None, bool]:
        return self._future.__await__()


DtmfStep = tuple[bytes, bool] | None


class DtmfSend:
    """The steps (event payload, start flag) or ``None`` for an audio gap, one per tick."""

    __slots__ = ("_future", "_index", "steps")

    def __init__(
        self,
        digits: str,
        future: asyncio.Future[bool],
        *,
        duration: int = 800,
        volume: int = 10,
        gap_ticks: int = 3,
    ) -> None:
        steps: list[DtmfStep] = []
        for digit in digits:
            events = digit_events(digit, duration=duration, volume=volume)
            steps += [(bytes(event), index == 0) for index, event in enumerate(events)]
            steps += [None] * gap_ticks
        self.steps = steps
        self._future = future
        self._index = 0
        if not steps:
            self.finish(True)

    def done(self) -> bool:
        return self._future.done()

    def finish(self, completed: bool) -> None:
        if not self._future.done():
            self._future.set_result(completed)

    def next_step(self) -> DtmfStep:
        """This tick's event packet, or ``None`` to send audio; the last step completes."""
        step = self.steps[self._index]
        self._index += 1
        if self._index == len(self.steps):
            self.finish(True)
        return step

    def __await__(self) -> Generator[Any, None, bool]:
        return self._future.__await__()
