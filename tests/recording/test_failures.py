"""Write errors: the recording fails, what reached the disk is salvaged, the dialer's
gate is told, and the storage is trusted again only after a probe write works.

Two disks: a seam (a part file that fails like a full or broken disk, always run) and
a real 256 KiB tmpfs filled up for real (needs root to mount; skipped otherwise).
"""

from __future__ import annotations

import asyncio
import errno
import hashlib
import subprocess
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recording.files import PartFile, RecordingFailed, RecordingState
from recording.wavfile import TICK_BYTES, TICK_FRAMES
from recording.writer import RecorderPool
from tests.recording.frames import agent_value, feed, read_wav, tick_values

STARTED = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


class FailingDisk:
    """A real part file that fails with ``error`` once ``room`` bytes are written
    (keeping what fitted, as a full disk does), or on the first data sync."""

    def __init__(self, path: Path, error: int, room: int, on_sync: bool = False) -> None:
        self._file = PartFile.create(path)
        self._error = error
        self._room = room
        self._on_sync = on_sync
        self.path = path

    def append(self, data: bytes) -> None:
        fits = data[: max(0, self._room)]
        self._file.append(fits)
        self._room -= len(data)
        if len(fits) < len(data):
            raise OSError(self._error, errno.errorcode[self._error], str(self.path))

    def write_at(self, offset: int, data: bytes) -> None:
        self._file.write_at(offset, data)

    def sync(self, *, metadata: bool = False) -> None:
        if self._on_sync and not metadata:
            raise OSError(self._error, errno.errorcode[self._error], str(self.path))
        self._file.sync(metadata=metadata)

    def sha256(self, size: int) -> str:
        return self._file.sha256(size)

    def close(self) -> None:
        self._file.close()


async def record_until_failure(pool: RecorderPool, ticks: int) -> RecordingFailed:
    recording = pool.record("doomed", "bank", STARTED)
    feed([recording], range(ticks))
    async with asyncio.timeout(10):
        await pool.barrier()
    assert recording.failure is not None
    with pytest.raises(RecordingFailed) as failed:
        async with asyncio.timeout(10):
            await recording.finish()
    return failed.value


def assert_salvaged(failed: RecordingFailed, most_frames: int) -> None:
    """What reached the disk is a valid WAV, its audio where it was, cut to whole frames."""
    salvaged = failed.salvaged
    assert salvaged is not None and salvaged.state is RecordingState.RECOVERED
    samples = read_wav(salvaged.path)
    assert 0 < len(samples) == salvaged.frames <= most_frames
    values = tick_values(samples)
    assert values == [(agent_value(t), -agent_value(t)) for t in range(len(values))]
    assert salvaged.sha256 == hashlib.sha256(salvaged.path.read_bytes()).hexdigest()
    assert not list(salvaged.path.parent.glob(".*.part"))


@pytest.mark.parametrize(
    ("error", "on_sync"), [(errno.ENOSPC, False), (errno.EIO, False), (errno.EIO, True)]
)
async def test_write_error_fails_the_recording_and_the_readiness(
    tmp_path: Path, error: int, on_sync: bool
) -> None:
    room = 44 + 100 * TICK_BYTES + 7  # 100 ticks and a bit of one, then the disk is full
    pool = RecorderPool(
        tmp_path, flush_interval=0.1, sync_interval=0.5, min_free_bytes=0, probe_interval=3600,
        open_file=lambda path: FailingDisk(path, error, room, on_sync),
    )  # fmt: skip
    async with pool:
        failed = await record_until_failure(pool, 300)
        assert isinstance(failed.error, OSError) and failed.error.errno == error
        assert failed.error_id == "recording_failed" and "doomed" in str(failed)
        assert_salvaged(failed, 100 * TICK_FRAMES + 1)  # 7 bytes: 1 frame
        assert not pool.healthy
        ready, reason = pool.ready()
        assert not ready and errno.errorcode[error] in reason and "call doomed" in reason
        assert pool.stats().failed == 1
        # the error may have been transient: a probe write that works clears it
        assert await pool.check() == (True, "recording storage ready")
        assert pool.healthy


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 256 KiB tmpfs (about 8 s of recording), mounted for the test."""
    mount = tmp_path / "small"
    mount.mkdir()
    command = ["mount", "-t", "tmpfs", "-o", "size=256k,mode=0700", "tmpfs", str(mount)]
    try:
        subprocess.run(command, check=True, capture_output=True, timeout=10)
    except (OSError, subprocess.SubprocessError) as error:
        pytest.skip(f"cannot mount a tmpfs here (needs root): {error}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", "-l", str(mount)], check=True, timeout=10)


async def test_a_really_full_disk(small_disk: Path) -> None:
    pool = RecorderPool(small_disk, min_free_bytes=32 << 10, probe_interval=3600)
    async with pool:
        assert pool.ready() == (True, "recording storage ready")
        failed = await record_until_failure(pool, 600)  # 12 s: does not fit
        assert isinstance(failed.error, OSError) and failed.error.errno == errno.ENOSPC
        assert_salvaged(failed, 600 * TICK_FRAMES)
        ready, reason = pool.ready()
        assert not ready and "No space left on device" in reason
        assert failed.salvaged is not None
        failed.salvaged.path.unlink()  # someone makes room
        assert await pool.check() == (True, "recording storage ready")
        recording = pool.record("next", "bank", STARTED)
        feed([recording], range(50))
        async with asyncio.timeout(10):
            assert (await recording.finish()).frames == 50 * TICK_FRAMES
