"""The original WAV of an archived recording, rebuilt from its samples.

The recorder writes one canonical header (:class:`recording.wavfile.WavHeader`), a
function of the data size alone, and the samples straight after it; nothing else is
in the file. So the bytes of the WAV that was catalogued (and whose SHA-256 is in the
chain) are ``bytes(WavHeader(4 * frames)) + samples``: a lossless archive that keeps
the samples keeps the WAV, and verification recomputes the chained SHA-256 from the
archive alone. :func:`header_for` is that header; :func:`locate` says which header
bytes and which sample frames make up any byte range of the rebuilt WAV, which is
what playback with HTTP ``Range`` reads.

Only a WAV whose header is exactly :func:`header_for` its size may be archived
(:func:`is_canonical`); one that is not could not be rebuilt byte for byte. Pure: no IO.
"""

from __future__ import annotations

from dataclasses import dataclass

from recording.wavfile import FRAME_BYTES, HEADER_SIZE, WavFormatError, WavHeader


def header_for(frames: int) -> bytes:
    """The 44 header bytes of a recording of ``frames`` sample frames."""
    return bytes(WavHeader(frames * FRAME_BYTES))


def wav_size(frames: int) -> int:
    return HEADER_SIZE + frames * FRAME_BYTES


def frames_of(wav_bytes: int) -> int:
    """The sample frames of a canonical WAV of ``wav_bytes`` bytes; ``WavFormatError``
    if no canonical WAV has that size."""
    data = wav_bytes - HEADER_SIZE
    if data < 0 or data % FRAME_BYTES:
        raise WavFormatError(f"{wav_bytes} bytes is not a header and whole frames")
    return data // FRAME_BYTES


def is_canonical(header: bytes, file_size: int) -> bool:
    """Whether ``header`` (the first 44 bytes of a file of ``file_size`` bytes) is the
    one the recorder writes for that size, so that the file can be rebuilt."""
    try:
        return header == header_for(frames_of(file_size))
    except WavFormatError:
        return False


@dataclass(frozen=True, slots=True)
class Located:
    """Bytes ``offset`` to ``offset + length`` of a rebuilt WAV: ``header`` (the part of
    the header in the range), then ``data_length`` data bytes that start ``skip`` bytes
    into frame ``first_frame`` (``frames`` frames cover them)."""

    header: bytes
    first_frame: int
    frames: int
    skip: int
    data_length: int

    @property
    def length(self) -> int:
        return len(self.header) + self.data_length


def locate(offset: int, size: int, frames: int) -> Located:
    """Where up to ``size`` bytes from ``offset`` of the rebuilt WAV of ``frames``
    frames come from (fewer at the end, none past it)."""
    if offset < 0 or size < 0:
        raise ValueError(f"a read of {size} bytes at {offset}")
    end = min(offset + size, wav_size(frames))
    header = header_for(frames)[offset:end]
    start_data = max(offset, HEADER_SIZE) - HEADER_SIZE
    end_data = end - HEADER_SIZE
    if end_data <= start_data:
        return Located(header, 0, 0, 0, 0)
    first = start_data // FRAME_BYTES
    last = -(-end_data // FRAME_BYTES)  # the frame after the one holding the last byte
    return Located(header, first, last - first, start_data - first * FRAME_BYTES,
                   end_data - start_data)
