"""FLAC, the lossless archive format of recordings: encode, prove, decode.

:func:`encode` writes the samples of a recording WAV to a FLAC file (libsndfile via
``soundfile``), syncs it, then decodes it again and compares every sample byte with
the WAV's: a FLAC that does not give back the exact bytes raises :class:`ArchiveError`
and is never kept. Only a WAV with the recorder's canonical header is encoded, so the
WAV can be rebuilt from the samples (:mod:`recording.rebuild`).

:func:`rebuild_hashes` decodes an archive and hashes the WAV it rebuilds: that is how
verification proves the chained SHA-256 without the WAV. :class:`RebuiltWav` reads
any byte range of that WAV (playback with HTTP ``Range``) by seeking in the FLAC.

``bench/archive_bench.py`` measures the saving and the speed (see
:data:`COMPRESSION_LEVEL`). Every function here blocks on the disk and the CPU: run
them in a thread.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import soundfile  # type: ignore[import-untyped]

from recording import rebuild
from recording.wavfile import CHANNELS, FRAME_BYTES, HEADER_SIZE, SAMPLE_RATE

FORMAT = "flac"
ENCODER = f"libsndfile {soundfile.__libsndfile_version__}"
# libsndfile's 0..1 scale onto FLAC's levels 0..8. Measured on 5 min of turn-taking
# speech through mu-law: level 0 is 2.6% larger than 8 on clean speech, 0.7% smaller
# with line noise under it, and archives 2.6 times as fast (3,400x real time against
# 1,300x, encode and prove) and decodes 1.5 times as fast (what verify and playback do).
COMPRESSION_LEVEL = 0.0
BLOCK_FRAMES = 1 << 16  # frames encoded, decoded or compared at once (256 kB)
_READ_BLOCK = 1 << 20


class ArchiveError(ValueError):
    """A WAV that cannot be archived losslessly, or a FLAC that is not a recording's
    lossless archive; the message says what and where."""


@dataclass(frozen=True, slots=True)
class Encoded:
    """A FLAC proved to hold exactly the samples of the WAV it was made from."""

    frames: int
    wav_sha256: str  # of the WAV as read while encoding: header and samples
    pcm_sha256: str  # of the sample bytes alone (the WAV's data chunk)
    flac_size: int
    flac_sha256: str


@dataclass(frozen=True, slots=True)
class Rebuilt:
    """What an archive decodes to: its frames and the hashes of the rebuilt WAV."""

    frames: int
    wav_sha256: str
    pcm_sha256: str


def encode(wav: Path, part: Path) -> Encoded:
    """Encode ``wav`` into ``part`` (made or truncated), sync it and prove it lossless."""
    frames, wav_sha256, pcm_sha256 = _encode(wav, part)
    _sync(part)
    _compare(wav, part, frames)
    flac_size, flac_sha256 = file_hash(part)
    return Encoded(frames, wav_sha256, pcm_sha256, flac_size, flac_sha256)


def _encode(wav: Path, part: Path) -> tuple[int, str, str]:
    with wav.open("rb") as source:
        header = source.read(HEADER_SIZE)
        size = os.fstat(source.fileno()).st_size
        if not rebuild.is_canonical(header, size):
            raise ArchiveError(f"{wav}: the header is not the recorder's for {size} bytes;"
                               " it could not be rebuilt")
        if size == HEADER_SIZE:
            raise ArchiveError(f"{wav}: no samples (libsndfile writes no FLAC for none)")
        whole, pcm = hashlib.sha256(header), hashlib.sha256()
        data_bytes = 0
        with _writer(part) as flac:
            while block := source.read(BLOCK_FRAMES * FRAME_BYTES):
                whole.update(block)
                pcm.update(block)
                data_bytes += len(block)
                flac.write(_samples(block))
    if HEADER_SIZE + data_bytes != size:
        raise ArchiveError(f"{wav}: read {HEADER_SIZE + data_bytes} of {size} bytes")
    return rebuild.frames_of(size), whole.hexdigest(), pcm.hexdigest()


def _compare(wav: Path, flac_path: Path, frames: int) -> None:
    """Raise :class:`ArchiveError` unless the FLAC decodes to the WAV's data bytes."""
    with wav.open("rb") as source, _reader(flac_path) as flac:
        _check_stream(flac, flac_path, frames)
        source.seek(HEADER_SIZE)
        offset = HEADER_SIZE
        while data := _decoded(flac, BLOCK_FRAMES):
            original = source.read(len(data))
            if data != original:
                raise ArchiveError(f"{flac_path}: differs from {wav.name} at byte"
                                   f" {offset + _first_difference(data, original)}")
            offset += len(data)
        if source.read(1):
            raise ArchiveError(f"{flac_path}: ends at byte {offset} of {wav.name}")


def rebuild_hashes(flac_path: Path) -> Rebuilt:
    """Decode ``flac_path`` and hash the WAV it rebuilds; ``ArchiveError`` if it does
    not decode to a whole recording."""
    with _reader(flac_path) as flac:
        frames = int(flac.frames)
        _check_stream(flac, flac_path, frames)
        whole, pcm = hashlib.sha256(rebuild.header_for(frames)), hashlib.sha256()
        decoded = 0
        while data := _decoded(flac, BLOCK_FRAMES):
            whole.update(data)
            pcm.update(data)
            decoded += len(data) // FRAME_BYTES
    if decoded != frames:
        raise ArchiveError(f"{flac_path}: declares {frames} frames, decodes {decoded}")
    return Rebuilt(frames, whole.hexdigest(), pcm.hexdigest())


class RebuiltWav:
    """The WAV an archive rebuilds, read at any offset (see :mod:`recording.rebuild`)."""

    def __init__(self, flac_path: Path) -> None:
        self._flac: Any = _reader(flac_path)
        try:
            self.frames = int(self._flac.frames)
            _check_stream(self._flac, flac_path, self.frames)
        except BaseException:
            self._flac.close()
            raise
        self.size = rebuild.wav_size(self.frames)
        self._position = 0  # the frame the decoder reads next

    def read(self, offset: int, size: int) -> bytes:
        """Up to ``size`` bytes from ``offset`` (fewer only at the end)."""
        where = rebuild.locate(offset, size, self.frames)
        if not where.frames:
            return where.header
        if where.first_frame != self._position:  # a seek costs; reading on does not
            self._flac.seek(where.first_frame)
        data = _decoded(self._flac, where.frames)
        self._position = where.first_frame + len(data) // FRAME_BYTES
        return where.header + data[where.skip : where.skip + where.data_length]

    def close(self) -> None:
        self._flac.close()


def file_hash(path: Path) -> tuple[int, str]:
    """The size and SHA-256 of a file."""
    digest, size = hashlib.sha256(), 0
    with path.open("rb", buffering=0) as file:
        while block := file.read(_READ_BLOCK):
            digest.update(block)
            size += len(block)
    return size, digest.hexdigest()


def _writer(path: Path) -> Any:
    return soundfile.SoundFile(str(path), "w", SAMPLE_RATE, CHANNELS, "PCM_16",
                               format="FLAC", compression_level=COMPRESSION_LEVEL)


def _reader(path: Path) -> Any:
    if not path.exists():
        raise FileNotFoundError(2, "No such file or directory", str(path))
    try:
        return soundfile.SoundFile(str(path))
    except RuntimeError as exc:  # soundfile.LibsndfileError: not a sound file we can read
        raise ArchiveError(f"{path}: {exc}") from None


def _check_stream(flac: Any, path: Path, frames: int) -> None:
    found = (flac.format, flac.subtype, flac.channels, flac.samplerate, flac.frames)
    wanted = ("FLAC", "PCM_16", CHANNELS, SAMPLE_RATE, frames)
    if found != wanted:
        raise ArchiveError(f"{path}: (format, subtype, channels, rate, frames) {found},"
                           f" expected {wanted}")


def _decoded(flac: Any, frames: int) -> bytes:
    """The next ``frames`` frames (fewer at the end) as WAV data bytes."""
    try:
        block = flac.read(frames, dtype="int16", always_2d=True)
    except RuntimeError as exc:
        raise ArchiveError(f"{flac.name}: {exc}") from None
    return bytes(block.astype("<i2", copy=False).tobytes())


def _samples(block: bytes) -> Any:
    return np.frombuffer(block, dtype="<i2").reshape(-1, CHANNELS)


def _first_difference(a: bytes, b: bytes) -> int:
    return next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                min(len(a), len(b)))


def _sync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
