"""The recorder: channels, alignment, checksums, atomic finish, spread flushes, drops."""

from __future__ import annotations

import asyncio
import hashlib
import math
import threading
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from recording.files import PartFile, RecorderUnavailable, RecordingState
from recording.wavfile import HEADER_SIZE, TICK_BYTES, TICK_FRAMES, WavHeader, check_size
from recording.writer import Direction, RecorderPool
from telephony.media.taps import Tap
from tests.recording.frames import (
    agent_value,
    feed,
    frame,
    leftover_parts,
    read_wav,
    tick_values,
)

STARTED = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


async def test_call_is_recorded_agent_left_debtor_right(pool: RecorderPool) -> None:
    recording = pool.record("call-1", "bank", STARTED)
    tap: Tap = recording
    feed([recording], range(1000, 1123))
    async with asyncio.timeout(10):
        result = await recording.finish()
    assert tap is recording
    assert result.path == pool.root / "bank/2024/06/01/call-1.wav"
    assert result.state is RecordingState.FINALISED
    assert result.frames == 123 * TICK_FRAMES
    assert result.duration_s == 123 * 0.02
    values = tick_values(read_wav(result.path))
    assert values == [(agent_value(t), -agent_value(t)) for t in range(1000, 1123)]


async def test_agent_may_be_the_inbound_direction(pool: RecorderPool) -> None:
    recording = pool.record("call-2", "bank", STARTED, agent=Direction.INBOUND)
    for tick in range(10):
        recording.on_frame(tick, frame(5), frame(-5))  # inbound = agent here
    async with asyncio.timeout(10):
        result = await recording.finish()
    assert set(tick_values(read_wav(result.path))) == {(5, -5)}


async def test_missing_frames_and_skipped_ticks_are_silence_in_place(pool: RecorderPool) -> None:
    recording = pool.record("call-3", "bank", STARTED)
    recording.on_frame(50, frame(-1), frame(1))
    recording.on_frame(51, None, frame(2))  # debtor silent
    recording.on_frame(52, frame(-3), None)  # agent silent
    recording.on_frame(53, None, None)
    recording.on_frame(57, frame(-7), frame(7))  # the clock skipped 54..56
    recording.on_frame(57, frame(-9), frame(9))  # a tick twice: ignored
    recording.on_frame(58, frame(-8), frame(8))
    async with asyncio.timeout(10):
        result = await recording.finish()
    assert tick_values(read_wav(result.path)) == [
        (1, -1), (2, 0), (0, -3), (0, 0), (0, 0), (0, 0), (0, 0), (7, -7), (8, -8),
    ]  # fmt: skip
    assert result.dropped_frames == 3 * TICK_FRAMES  # the skipped ticks, filled
    assert recording.repeated_ticks == 1


async def test_sha256_and_size_are_those_of_the_final_file(pool: RecorderPool) -> None:
    recording = pool.record("call-4", "bank", STARTED)
    feed([recording], range(777))
    async with asyncio.timeout(10):
        result = await recording.finish()
    data = result.path.read_bytes()
    assert result.sha256 == hashlib.sha256(data).hexdigest()
    assert result.size == len(data) == HEADER_SIZE + 777 * TICK_BYTES
    check_size(WavHeader.parse(data), len(data))
    async with asyncio.timeout(10):
        assert await recording.finish() == result  # finishing again: the same result


async def test_audio_is_on_disk_in_the_part_file_and_only_renamed_at_finish(
    pool: RecorderPool,
) -> None:
    recording = pool.record("call-5", "bank", STARTED)
    part = recording.path.with_name(".call-5.wav.part")
    feed([recording], range(100))
    async with asyncio.timeout(10):
        await pool.barrier()
    assert not recording.path.exists()
    on_disk = part.stat().st_size - HEADER_SIZE
    assert on_disk >= (100 - pool.plan.cadence.flush_every) * TICK_BYTES
    assert WavHeader.parse(part.read_bytes()[:HEADER_SIZE]) == WavHeader(None)
    assert len(read_wav(part)) == on_disk // 4  # playable mid-call: streaming header
    assert recording.synced_ticks >= 100 - pool.plan.cadence.sync_every
    async with asyncio.timeout(10):
        await recording.finish()
    assert recording.path.exists() and not part.exists()


async def test_hand_overs_and_syncs_are_spread_over_ticks(pool: RecorderPool) -> None:
    recordings = [pool.record(f"c{n}", "bank", STARTED) for n in range(200)]
    cadence = pool.plan.cadence
    hand_overs, syncs = [], []
    for tick in range(3 * cadence.sync_every):
        before, synced_before = pool.hand_overs, pool.sync_hand_overs
        feed(recordings, [tick])
        hand_overs.append(pool.hand_overs - before)
        syncs.append(pool.sync_hand_overs - synced_before)
    assert max(hand_overs) == math.ceil(200 / cadence.flush_every)
    assert max(syncs) == math.ceil(200 / cadence.sync_every)
    assert (
        sum(hand_overs[cadence.sync_every :]) == 200 * 2 * cadence.sync_every // cadence.flush_every
    )
    async with asyncio.timeout(30):
        results = await asyncio.gather(*(r.finish() for r in recordings))
    assert {r.frames for r in results} == {3 * cadence.sync_every * TICK_FRAMES}


async def test_shutdown_finishes_every_recording(tmp_path: Path) -> None:
    pool = RecorderPool(tmp_path, min_free_bytes=0)
    await pool.start()
    recordings = [pool.record(f"c{n}", "bank", STARTED) for n in range(3)]
    feed(recordings, range(37))
    async with asyncio.timeout(10):
        await pool.close()
    for recording in recordings:
        assert len(read_wav(recording.path)) == 37 * TICK_FRAMES
    assert not leftover_parts(tmp_path)
    assert pool.ready() == (False, f"recorder on {tmp_path} is not running")


async def test_not_running_pool_refuses_recordings(tmp_path: Path) -> None:
    pool = RecorderPool(tmp_path)
    assert not pool.ready()[0]
    try:
        pool.record("c", "bank", STARTED)
    except RecorderUnavailable as error:
        assert error.error_id == "recorder_unavailable"
    else:
        raise AssertionError("a pool that was not started recorded")


async def test_one_recording_per_call(pool: RecorderPool) -> None:
    recording = pool.record("dup", "bank", STARTED)
    try:
        pool.record("dup", "bank", STARTED)
    except ValueError as error:
        assert "already being recorded" in str(error)
    else:
        raise AssertionError("two recordings of one call")
    async with asyncio.timeout(10):
        await recording.finish()


async def test_ready_refuses_below_the_free_space_minimum(tmp_path: Path) -> None:
    async with RecorderPool(tmp_path, min_free_bytes=1 << 62) as pool:
        ready, reason = pool.ready()
        assert not ready and "below the minimum 4611686018427387904" in reason
        recording = pool.record("c", "bank", STARTED)  # an answered call is still recorded
        feed([recording], range(10))
        async with asyncio.timeout(10):
            assert (await recording.finish()).frames == 10 * TICK_FRAMES


class StalledDisk:
    """A part file whose writes wait until the test lets them through."""

    def __init__(self, path: Path, gate: threading.Event) -> None:
        self._file = PartFile.create(path)
        self._gate = gate
        self.path = path

    def append(self, data: bytes) -> None:
        assert self._gate.wait(20), "the test never opened the gate"
        self._file.append(data)

    def write_at(self, offset: int, data: bytes) -> None:
        self._file.write_at(offset, data)

    def sync(self, *, metadata: bool = False) -> None:
        self._file.sync(metadata=metadata)

    def sha256(self, size: int) -> str:
        return self._file.sha256(size)

    def close(self) -> None:
        self._file.close()


async def test_a_stalled_disk_drops_frames_instead_of_blocking_the_tick(tmp_path: Path) -> None:
    gate = threading.Event()
    pool = RecorderPool(
        tmp_path, flush_interval=0.1, max_buffered_bytes=20 * TICK_BYTES, min_free_bytes=0,
        open_file=lambda path: StalledDisk(path, gate),
    )  # fmt: skip
    async with pool:
        recording = pool.record("slow", "bank", STARTED)
        feed([recording], range(200))  # would hang here if a frame waited for the disk
        assert recording.dropped_ticks == pool.dropped_ticks >= 200 - 20 - 5
        ready, reason = pool.ready()
        assert not ready and "recording buffers full" in reason
        gate.set()
        async with asyncio.timeout(10):
            await pool.barrier()
        feed([recording], range(200, 220))
        assert pool.ready() == (True, "recording storage ready")
        async with asyncio.timeout(10):
            result = await recording.finish()
    values = tick_values(read_wav(result.path))
    assert len(values) == 220  # aligned with the clock: dropped ticks are silence
    assert values.count((0, 0)) == recording.dropped_ticks
    assert result.dropped_frames == recording.dropped_ticks * TICK_FRAMES
    kept = [tick for tick, value in enumerate(values) if value != (0, 0)]
    assert all(values[tick] == (agent_value(tick), -agent_value(tick)) for tick in kept)


async def test_writer_reports_its_cpu_and_backlog(pool: RecorderPool) -> None:
    recording = pool.record("c", "bank", STARTED)
    feed([recording], range(50))
    async with asyncio.timeout(10):
        await pool.barrier()
        stats = pool.stats()
        assert (stats.recordings, stats.backlog_ticks, stats.dropped_ticks) == (1, 0, 0)
        assert stats.writer_cpu_seconds > 0
        await recording.finish()
    assert np.asarray(read_wav(recording.path)).shape == (50 * TICK_FRAMES, 2)
