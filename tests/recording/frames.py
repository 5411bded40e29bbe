"""Recognisable test audio: every tick's frame says which tick and channel it is.

The agent's frame of tick ``t`` is 160 samples of ``agent_value(t)``, the debtor's of
``-agent_value(t)``: reading a WAV back tells where each tick landed on which channel.
"""

from __future__ import annotations

import wave
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from recording.wavfile import TICK_FRAMES
from recording.writer import Recording

Pcm = npt.NDArray[np.int16]


def agent_value(tick: int) -> int:
    return tick % 30000 + 1


def frame(value: int) -> Pcm:
    pcm = np.full(TICK_FRAMES, value, dtype=np.int16)
    pcm.flags.writeable = False
    return pcm


def feed(recordings: Iterable[Recording], ticks: Iterable[int]) -> None:
    """Tap frames into each recording as the media clock would (outbound = agent)."""
    listed = list(recordings)
    for tick in ticks:
        agent, debtor = frame(agent_value(tick)), frame(-agent_value(tick))
        for recording in listed:
            recording.on_frame(tick, debtor, agent)


def read_wav(path: Path) -> npt.NDArray[np.int16]:
    """The samples of a recording WAV, shape (frames, 2), read by the stdlib."""
    with wave.open(str(path)) as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        data = wav.readframes(wav.getnframes())
    return np.frombuffer(data, dtype="<i2").reshape(-1, 2)


def tick_values(samples: npt.NDArray[np.int16]) -> list[tuple[int, int]]:
    """(agent, debtor) value of each tick, a partial last one included; asserts each
    tick's frame is one value."""
    values = []
    for start in range(0, len(samples), TICK_FRAMES):
        tick = samples[start : start + TICK_FRAMES]
        assert (tick == tick[0]).all(), f"the tick at frame {start} is not one value"
        values.append((int(tick[0, 0]), int(tick[0, 1])))
    return values


def leftover_parts(root: Path) -> list[Path]:
    return sorted(root.rglob(".*.wav.part"))
