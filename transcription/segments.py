"""Where each speaker talks: voice-activity segments per channel of a recording.

Theory of operation. Each channel is cut into frames of 10, 20 or 30 ms. A frame is
*speech* when all three hold:

* webrtcvad hears a voice in it (aggressiveness ``vad_mode``);
* it is louder than ``silence_threshold_dbfs`` and stands ``noise_margin_db`` above
  the channel's noise floor. The floor follows the quietest frames at once and
  creeps up by ``floor_rise_db`` per frame, so hiss, hum and babble on a noisy line
  stay silence (webrtcvad alone calls everything speech below 5 dB SNR);
* on a stereo recording, the frame is louder than the *other* channel's same frame
  minus ``dominance_db`` (the channel-dominance gate). A line leaks each side into
  the other (hybrid echo, crosstalk at -25 to -15 dB): without this gate the leak
  is counted as the other speaker talking and overtalk comes out many times too high.

Speech frames make *segments*: a run of speech frames begins one, and it ends at its
last speech frame once ``hangover_ms`` of silence follow (shorter pauses, between
words, stay inside). Runs shorter than ``min_speech_ms`` (a click, a breath) are
dropped. Segment times are seconds from the start of the recording.

Pure and deterministic: samples in, segments out; no IO.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
import webrtcvad

Pcm = npt.NDArray[np.int16]
Flags = npt.NDArray[np.bool_]
Levels = npt.NDArray[np.float64]
VAD_RATES = (8000, 16000, 32000, 48000)
_FLOOR_DB = -100.0  # digital silence is this quiet, not -inf
_FULL_SCALE = 32768.0


@dataclass(frozen=True, slots=True, kw_only=True)
class VadConfig:
    frame_ms: int = 20
    vad_mode: int = 3  # webrtcvad aggressiveness, 0-3
    silence_threshold_dbfs: float = -50.0
    noise_margin_db: float = 8.0
    floor_rise_db: float = 0.05  # per frame: follows a rising noise at 2.5 dB/s (20 ms)
    dominance_db: float = 10.0
    hangover_ms: int = 400
    min_speech_ms: int = 60

    def __post_init__(self) -> None:
        bad = []
        if self.frame_ms not in (10, 20, 30):
            bad.append(f"frame_ms={self.frame_ms} (10, 20 or 30)")
        if self.vad_mode not in range(4):
            bad.append(f"vad_mode={self.vad_mode} (0-3)")
        if self.hangover_ms < 0 or self.min_speech_ms < 0:
            bad.append("hangover_ms and min_speech_ms must not be negative")
        if self.floor_rise_db <= 0:
            bad.append(f"floor_rise_db={self.floor_rise_db}")
        if bad:
            raise ValueError(f"invalid VAD settings: {', '.join(bad)}")


@dataclass(frozen=True, slots=True)
class Segment:
    """Speech on one channel, in seconds from the start of the recording."""

    start: float
    end: float

    @property
    def duration(self) -> float:
        return self.end - self.start


def frame_samples(rate: int, config: VadConfig) -> int:
    if rate not in VAD_RATES:
        raise ValueError(f"webrtcvad takes {VAD_RATES} Hz, not {rate}")
    return rate * config.frame_ms // 1000


def frame_levels(pcm: Pcm, size: int) -> Levels:
    """Each whole frame's RMS level in dBFS."""
    frames = pcm[: len(pcm) // size * size].astype(np.float64).reshape(-1, size)
    power = np.mean(frames * frames, axis=1) / (_FULL_SCALE * _FULL_SCALE)
    with np.errstate(divide="ignore"):
        levels: Levels = np.maximum(10.0 * np.log10(power), _FLOOR_DB)
    return levels


def voiced(pcm: Pcm, rate: int, config: VadConfig) -> Flags:
    """webrtcvad's decision for each whole frame."""
    vad = webrtcvad.Vad(config.vad_mode)
    size = frame_samples(rate, config)
    data = pcm[: len(pcm) // size * size].astype("<i2").tobytes()
    step = size * 2
    return np.array([vad.is_speech(data[i:i + step], rate) for i in range(0, len(data), step)],
                    dtype=np.bool_)


def above_floor(levels: Levels, config: VadConfig) -> Flags:
    """Frames loud enough and ``noise_margin_db`` above the tracked noise floor."""
    out = np.zeros(len(levels), dtype=np.bool_)
    floor = levels[0] if len(levels) else _FLOOR_DB
    for i, level in enumerate(levels):
        floor = min(float(level), floor + config.floor_rise_db)
        out[i] = level > config.silence_threshold_dbfs and level > floor + config.noise_margin_db
    return out


def dominant(levels: Levels, other: Levels, config: VadConfig) -> Flags:
    """Frames where this channel is louder than the other minus ``dominance_db``."""
    return np.asarray(levels > other - config.dominance_db, dtype=np.bool_)


def speech_frames(channels: Sequence[Pcm], rate: int, config: VadConfig) -> list[Flags]:
    """Speech flags per channel (the module docstring's three tests)."""
    size = frame_samples(rate, config)
    levels = [frame_levels(pcm, size) for pcm in channels]
    flags = [voiced(pcm, rate, config) & above_floor(lv, config)
             for pcm, lv in zip(channels, levels, strict=True)]
    if len(channels) == 2:
        flags = [flags[0] & dominant(levels[0], levels[1], config),
                 flags[1] & dominant(levels[1], levels[0], config)]
    return flags


def segments_of(flags: Flags, config: VadConfig) -> list[Segment]:
    """Runs of speech frames joined across pauses under ``hangover_ms``."""
    frame = config.frame_ms / 1000
    gap = math.ceil(config.hangover_ms / config.frame_ms)
    runs = _runs(flags)
    joined: list[tuple[int, int]] = []
    for start, end in runs:
        if joined and start - joined[-1][1] < gap:
            joined[-1] = (joined[-1][0], end)
        else:
            joined.append((start, end))
    shortest = config.min_speech_ms / config.frame_ms
    return [Segment(round(s * frame, 3), round(e * frame, 3))
            for s, e in joined if e - s >= shortest]


def _runs(flags: Flags) -> list[tuple[int, int]]:
    """[start, end) frame indexes of each run of True."""
    padded = np.concatenate(([False], flags, [False])).astype(np.int8)
    edges = np.flatnonzero(np.diff(padded))
    return [(int(a), int(b)) for a, b in zip(edges[::2], edges[1::2], strict=True)]


def find_segments(channels: Sequence[Pcm], rate: int, config: VadConfig) -> list[list[Segment]]:
    """Speech segments of each channel of one recording."""
    return [segments_of(flags, config) for flags in speech_frames(channels, rate, config)]
