"""The one WAV format recordings use: stereo, 8 kHz, 16-bit PCM, a 44-byte header.

Channel 1 is the agent, channel 2 the debtor. The header is the canonical one the
stdlib ``wave`` module writes: ``RIFF`` chunk, ``WAVE``, a 16-byte ``fmt `` chunk
(format 1, PCM), then the ``data`` chunk, whose bytes follow the header directly.
:class:`WavHeader` parses and serialises it (``WavHeader.parse(data)``,
``bytes(header)``); anything else raises :class:`WavFormatError` saying what and
where.

While a call is being recorded its size is unknown, so the file starts with a
*provisional* header whose RIFF and data sizes are both ``0xFFFFFFFF``
(``WavHeader(None)``), the "streaming WAV" convention: most tools (sox, ffmpeg, the
stdlib ``wave`` module) then read the data up to the end of the file, so even a
``.part`` left by a crash plays as it is. Finishing writes the real sizes; start-up
recovery computes them from the file size with :func:`repair`.

:func:`interleave` turns the frames of a run of media ticks into the data bytes.
Pure: no IO.
"""

from __future__ import annotations

import struct
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

CHANNELS = 2
SAMPLE_RATE = 8000
SAMPLE_WIDTH = 2  # bytes per sample, 16-bit little-endian signed
FRAME_BYTES = CHANNELS * SAMPLE_WIDTH  # one sample of each channel: WAV's block align
TICK_FRAMES = 160  # sample frames per 20 ms media tick
TICK_BYTES = TICK_FRAMES * FRAME_BYTES
HEADER_SIZE = 44
UNKNOWN_SIZE = 0xFFFFFFFF  # RIFF and data size of a provisional header
MAX_DATA_SIZE = (UNKNOWN_SIZE - 1 - (HEADER_SIZE - 8)) // FRAME_BYTES * FRAME_BYTES  # ~37 h

_HEADER = struct.Struct("<4sI4s4sIHHIIHH4sI")
_PCM = 1
_FMT_SIZE = 16

Samples = npt.NDArray[np.int16]


class WavFormatError(ValueError):
    """Bytes that are not a recording WAV of this format; the message says why."""


@dataclass(frozen=True, slots=True)
class WavHeader:
    """The header of a recording; ``data_size`` in bytes, ``None`` while provisional."""

    data_size: int | None

    def __post_init__(self) -> None:
        size = self.data_size
        if size is not None and not (0 <= size <= MAX_DATA_SIZE and size % FRAME_BYTES == 0):
            raise WavFormatError(
                f"data size {size} is not a whole number of {FRAME_BYTES}-byte frames"
                f" between 0 and {MAX_DATA_SIZE}"
            )

    @property
    def frames(self) -> int | None:
        """Sample frames (one sample per channel) in the data, if known."""
        return None if self.data_size is None else self.data_size // FRAME_BYTES

    @property
    def file_size(self) -> int | None:
        return None if self.data_size is None else HEADER_SIZE + self.data_size

    def __bytes__(self) -> bytes:
        data = UNKNOWN_SIZE if self.data_size is None else self.data_size
        riff = UNKNOWN_SIZE if self.data_size is None else HEADER_SIZE - 8 + self.data_size
        return _HEADER.pack(
            b"RIFF", riff, b"WAVE", b"fmt ", _FMT_SIZE, _PCM, CHANNELS, SAMPLE_RATE,
            SAMPLE_RATE * FRAME_BYTES, FRAME_BYTES, SAMPLE_WIDTH * 8, b"data", data,
        )  # fmt: skip

    @classmethod
    def parse(cls, data: bytes) -> WavHeader:
        """The header at the start of ``data`` (at least 44 bytes of a file)."""
        riff, data_size = _parse_fields(data)
        if data_size == UNKNOWN_SIZE and riff == UNKNOWN_SIZE:
            return cls(None)
        if riff != HEADER_SIZE - 8 + data_size:
            raise WavFormatError(
                f"RIFF size {riff} at offset 4 does not match data size {data_size}"
                f" at offset 40 (expected {HEADER_SIZE - 8 + data_size})"
            )
        return cls(data_size)


def _parse_fields(data: bytes) -> tuple[int, int]:
    """Check every fixed field of the header; the RIFF and data sizes, unchecked."""
    if len(data) < HEADER_SIZE:
        raise WavFormatError(f"truncated header: {len(data)} bytes, need {HEADER_SIZE}")
    (riff_id, riff, wave, fmt_id, fmt_size, fmt, channels, rate, byte_rate, align, bits,
     data_id, data_size) = _HEADER.unpack_from(data)  # fmt: skip
    expected: tuple[tuple[str, int, object, object], ...] = (
        ("RIFF id", 0, riff_id, b"RIFF"),
        ("WAVE id", 8, wave, b"WAVE"),
        ("fmt chunk id", 12, fmt_id, b"fmt "),
        ("fmt chunk size", 16, fmt_size, _FMT_SIZE),
        ("format (1 = PCM)", 20, fmt, _PCM),
        ("channels", 22, channels, CHANNELS),
        ("sample rate", 24, rate, SAMPLE_RATE),
        ("byte rate", 28, byte_rate, SAMPLE_RATE * FRAME_BYTES),
        ("block align", 32, align, FRAME_BYTES),
        ("bits per sample", 34, bits, SAMPLE_WIDTH * 8),
        ("data chunk id", 36, data_id, b"data"),
    )
    for name, offset, found, wanted in expected:
        if found != wanted:
            raise WavFormatError(f"{name} at offset {offset} is {found!r}, expected {wanted!r}")
    return riff, data_size


@dataclass(frozen=True, slots=True)
class Repair:
    """How to make a file whole: cut it to ``file_size`` and write ``header``."""

    header: WavHeader
    file_size: int


def repair(head: bytes, file_size: int) -> Repair:
    """The header a file of ``file_size`` bytes starting with ``head`` should have.

    The sizes in ``head`` are ignored (provisional, or stale after a crash); its fixed
    fields must be those of this format. A trailing partial frame is cut off. A file
    too short to hold a header, or whose header never reached the disk (zeros), was
    created by the recorder just before a crash: it gets a fresh header.
    """
    if len(head) >= HEADER_SIZE and any(head[:HEADER_SIZE]):
        _parse_fields(head)
    data_size = max(0, file_size - HEADER_SIZE) // FRAME_BYTES * FRAME_BYTES
    data_size = min(MAX_DATA_SIZE, data_size)
    return Repair(WavHeader(data_size), HEADER_SIZE + data_size)


def check_size(header: WavHeader, file_size: int) -> None:
    """Raise unless a file of ``file_size`` bytes holds exactly what ``header`` says."""
    if header.file_size is None:
        raise WavFormatError(f"provisional header (sizes unknown) in a file of {file_size} bytes")
    if header.file_size != file_size:
        raise WavFormatError(
            f"header says {header.file_size} bytes ({header.data_size} of data),"
            f" the file has {file_size}"
        )


_SILENCE: Samples = np.zeros(TICK_FRAMES, dtype=np.int16)


def interleave(agent: Sequence[Samples | None], debtor: Sequence[Samples | None]) -> bytes:
    """The data bytes of ``len(agent)`` ticks: 160 frames each, silence for ``None``.

    Frames of another length are cut or zero-padded to 160 samples, so both channels
    stay aligned with each other and with the ticks.
    """
    if len(agent) != len(debtor):
        raise ValueError(f"{len(agent)} agent frames but {len(debtor)} debtor frames")
    stereo = np.empty((len(agent) * TICK_FRAMES, CHANNELS), dtype="<i2")
    stereo[:, 0] = _channel(agent)
    stereo[:, 1] = _channel(debtor)
    return stereo.tobytes()


def silence(ticks: int) -> bytes:
    return bytes(ticks * TICK_BYTES)


def _channel(frames: Sequence[Samples | None]) -> Samples:
    if not frames:
        return _SILENCE[:0]
    return np.concatenate(
        [
            _SILENCE if pcm is None else pcm if len(pcm) == TICK_FRAMES else _fit(pcm)
            for pcm in frames
        ]
    )


def _fit(pcm: Samples) -> Samples:
    fitted = np.zeros(TICK_FRAMES, dtype=np.int16)
    fitted[: min(TICK_FRAMES, len(pcm))] = pcm[:TICK_FRAMES]
    return fitted
