"""A recording file: its result, its errors, and the disk operations the writer and
start-up recovery share.

A recording is written to its ``.part`` file through a :class:`RecordingFile`
(:class:`PartFile` on a real disk; tests substitute one that fails like a full disk)
and made final by :func:`seal`: the real header written over the provisional one,
``fsync``, SHA-256 of the bytes as they are on disk (read back: at 32 kB/s a ten
minute call is 19 MB, about 10 ms of hashing, and it checks what was written rather
than what was meant to be), then an atomic ``os.replace`` onto the final name and an
``fsync`` of the directory so the rename survives a power cut.

Every function here blocks on the disk: call them on the recorder's writer thread.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
from dataclasses import dataclass, replace
from enum import StrEnum
from pathlib import Path
from typing import Protocol

from recording.pauses import clip
from recording.spans import Span
from recording.wavfile import SAMPLE_RATE, WavHeader

logger = logging.getLogger(__name__)

_READ_BLOCK = 1 << 20


class RecordingState(StrEnum):
    FINALISED = "finalised"  # finished by the writer at the end of the call
    RECOVERED = "recovered"  # repaired from a .part left by a crash or a failed write


@dataclass(frozen=True, slots=True)
class RecordingResult:
    """A finished recording file, as the store will register it."""

    path: Path
    sha256: str  # hex digest of the whole file, header included
    size: int  # bytes
    frames: int  # sample frames per channel
    state: RecordingState
    dropped_frames: int = 0  # frames written as silence because the buffers were full
    pci_pauses: tuple[Span, ...] = ()  # silenced for card details (Recording.pause)

    @property
    def duration_s(self) -> float:
        return self.frames / SAMPLE_RATE

    @property
    def duration_ms(self) -> int:
        return self.frames * 1000 // SAMPLE_RATE

    def with_pauses(self, spans: tuple[Span, ...]) -> RecordingResult:
        """This result with the PCI pauses ``spans``, cut to its duration."""
        return replace(self, pci_pauses=clip(spans, self.duration_ms))


class RecorderUnavailable(RuntimeError):
    """The recorder pool is not running: no recording can be started."""

    error_id = "recorder_unavailable"


class RecordingFailed(Exception):
    """A recording could not be written to the end (disk full, I/O error, ...).

    ``error`` is the cause. What reached the disk before it was salvaged into a valid
    WAV when possible: ``salvaged`` (state ``recovered``), else ``None`` and the
    ``.part`` file is left for start-up recovery.
    """

    error_id = "recording_failed"

    def __init__(
        self, call_id: str, error: BaseException, salvaged: RecordingResult | None
    ) -> None:
        kept = f"{salvaged.duration_s:.2f} s salvaged" if salvaged else "nothing salvaged yet"
        super().__init__(f"recording of call {call_id} failed: {error} ({kept})")
        self.call_id = call_id
        self.error = error
        self.salvaged = salvaged


class RecordingFile(Protocol):
    """The temporary file of a recording being written (see :class:`PartFile`)."""

    path: Path

    def append(self, data: bytes) -> None:
        """Write all of ``data`` at the end, or raise ``OSError``."""

    def write_at(self, offset: int, data: bytes) -> None: ...

    def sync(self, *, metadata: bool = False) -> None:
        """``fdatasync``, or a full ``fsync`` with ``metadata``."""

    def sha256(self, size: int) -> str:
        """The digest of the first ``size`` bytes."""

    def close(self) -> None:
        """Idempotent."""


class PartFile:
    """A recording's ``.part`` file through its descriptor (no Python buffering)."""

    def __init__(self, path: Path, fd: int) -> None:
        self.path = path
        self._fd = fd

    @classmethod
    def create(cls, path: Path) -> PartFile:
        """A new empty file; ``FileExistsError`` if there is one already."""
        return cls(path, os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o640))

    @classmethod
    def open(cls, path: Path) -> PartFile:
        return cls(path, os.open(path, os.O_RDWR | os.O_CLOEXEC))

    def size(self) -> int:
        return os.fstat(self._fd).st_size

    def read_at(self, offset: int, size: int) -> bytes:
        return os.pread(self._fd, size, offset)

    def append(self, data: bytes) -> None:
        view = memoryview(data)
        while view:
            view = view[os.write(self._fd, view) :]

    def write_at(self, offset: int, data: bytes) -> None:
        if os.pwrite(self._fd, data, offset) != len(data):
            raise OSError(
                errno.EIO, f"short write of {len(data)} bytes at {offset}", str(self.path)
            )

    def truncate(self, size: int) -> None:
        os.ftruncate(self._fd, size)

    def sync(self, *, metadata: bool = False) -> None:
        (os.fsync if metadata else os.fdatasync)(self._fd)

    def sha256(self, size: int) -> str:
        digest = hashlib.sha256()
        offset = 0
        while offset < size:
            block = os.pread(self._fd, min(_READ_BLOCK, size - offset), offset)
            if not block:
                raise OSError(errno.EIO, f"file ended at {offset} of {size} bytes", str(self.path))
            digest.update(block)
            offset += len(block)
        return digest.hexdigest()

    def close(self) -> None:
        """Close the descriptor; again is a no-op (never a reused descriptor number)."""
        fd, self._fd = self._fd, -1
        if fd >= 0:
            os.close(fd)


def seal(
    file: RecordingFile, final: Path, header: WavHeader, state: RecordingState, dropped: int = 0
) -> RecordingResult:
    """Write ``header``, sync, hash, rename ``file`` onto ``final``; ``file`` is closed."""
    size = header.file_size
    if size is None:
        raise ValueError("a sealed recording needs a header with its real sizes")
    try:
        file.write_at(0, bytes(header))
        file.sync(metadata=True)
        sha256 = file.sha256(size)
    finally:
        file.close()
    os.replace(file.path, final)
    sync_directory(final.parent)
    return RecordingResult(final, sha256, size, header.frames or 0, state, dropped)


def sync_directory(path: Path) -> None:
    """``fsync`` a directory, so the names created or renamed in it are durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_directories(root: Path, directory: Path) -> None:
    """Create ``directory`` (under ``root``), syncing the parent of each one created."""
    missing: list[Path] = []
    while not directory.is_dir():
        if directory == root or directory.parent == directory:
            raise FileNotFoundError(errno.ENOENT, "recording root is missing", str(root))
        missing.append(directory)
        directory = directory.parent
    for each in reversed(missing):
        try:
            each.mkdir()
        except FileExistsError:
            continue
        sync_directory(each.parent)


def free_bytes(path: Path) -> int:
    """Bytes available to this (unprivileged-reserve aware) process under ``path``."""
    stat = os.statvfs(path)
    return stat.f_bavail * stat.f_frsize
