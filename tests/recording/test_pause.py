"""PCI pause and resume: the span is silence in both channels, and reported."""

from __future__ import annotations

import asyncio
import errno
from datetime import UTC, datetime
from pathlib import Path

import pytest

from recording.files import RecordingFailed, RecordingResult
from recording.pauses import Pauses
from recording.spans import Span
from recording.wavfile import TICK_BYTES
from recording.writer import RecorderPool, Recording
from tests.recording.frames import agent_value, feed, read_wav, tick_values
from tests.recording.test_failures import FailingDisk

STARTED = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


async def finished(recording: Recording) -> RecordingResult:
    async with asyncio.timeout(10):
        return await recording.finish()


def silent_ticks(result: RecordingResult, first: int = 0) -> list[int]:
    values = tick_values(read_wav(result.path))
    for n, value in enumerate(values):
        if value != (0, 0):
            assert value == (agent_value(first + n), -agent_value(first + n))
    return [n for n, value in enumerate(values) if value == (0, 0)]


def span_ticks(result: RecordingResult) -> list[int]:
    return [t for s in result.pci_pauses for t in range(s.start_ms // 20, s.end_ms // 20)]


async def test_paused_ticks_are_silence_in_both_channels(pool: RecorderPool) -> None:
    recording = pool.record("pci-1", "bank", STARTED)
    feed([recording], range(1000, 1020))
    recording.pause(1020)
    feed([recording], range(1020, 1045))
    recording.resume(1045)
    feed([recording], range(1045, 1100))
    result = await finished(recording)
    assert result.pci_pauses == (Span(400, 900),)  # ms from the first tick, 1000
    assert silent_ticks(result, 1000) == list(range(20, 45)) == span_ticks(result)
    assert result.frames == 100 * 160  # the pause keeps its place in time


async def test_a_pause_before_the_first_frame_and_several_spans(pool: RecorderPool) -> None:
    recording = pool.record("pci-2", "bank", STARTED)
    recording.pause(0)
    recording.resume(3)
    recording.pause(10)  # scheduled ahead: both spans are known before their ticks
    recording.resume(12)
    feed([recording], range(20))
    result = await finished(recording)
    assert result.pci_pauses == (Span(0, 60), Span(200, 240))
    assert silent_ticks(result) == [0, 1, 2, 10, 11] == span_ticks(result)


async def test_a_late_pause_silences_the_frames_not_yet_written(pool: RecorderPool) -> None:
    recording = pool.record("pci-3", "bank", STARTED)  # hands over on ticks 0, 5, 10 ...
    feed([recording], range(9))  # ticks 6, 7 and 8 are still buffered
    recording.pause(7)  # the agent pressed pause during tick 7
    feed([recording], range(9, 12))
    recording.resume(12)
    feed([recording], range(12, 20))
    result = await finished(recording)
    assert silent_ticks(result) == [7, 8, 9, 10, 11] == span_ticks(result)


async def test_a_pause_too_late_starts_at_the_first_tick_it_can(pool: RecorderPool) -> None:
    recording = pool.record("pci-4", "bank", STARTED)
    feed([recording], range(9))  # ticks up to 5 are with the writer already
    recording.pause(3)
    recording.resume(5)  # past as well: the pause lasts until the next tick, 9
    feed([recording], range(9, 15))
    result = await finished(recording)
    assert result.pci_pauses == (Span(120, 180),)
    assert silent_ticks(result) == [6, 7, 8] == span_ticks(result)


async def test_a_pause_still_open_at_hang_up_lasts_to_the_end(pool: RecorderPool) -> None:
    recording = pool.record("pci-5", "bank", STARTED)
    feed([recording], range(10))
    recording.pause(10)
    feed([recording], range(10, 30))
    result = await finished(recording)
    assert result.pci_pauses == (Span(200, 600),)
    recording.pause(40)  # after hang-up: nothing to pause any more
    recording.resume(41)
    assert await finished(recording) == result


async def test_pause_twice_or_resume_unpaused_is_an_error(pool: RecorderPool) -> None:
    recording = pool.record("pci-6", "bank", STARTED)
    with pytest.raises(ValueError, match="not paused"):
        recording.resume(0)
    recording.pause(0)
    with pytest.raises(ValueError, match="already paused since tick 0"):
        recording.pause(1)
    recording.resume(1)
    with pytest.raises(ValueError, match="not paused"):
        recording.resume(2)
    feed([recording], range(5))
    assert (await finished(recording)).pci_pauses == (Span(0, 20),)


async def test_a_salvaged_recording_keeps_its_pauses_cut_to_its_length(tmp_path: Path) -> None:
    room = 44 + 100 * TICK_BYTES  # the disk fills up after 100 ticks
    pool = RecorderPool(
        tmp_path, flush_interval=0.1, sync_interval=0.5, min_free_bytes=0, probe_interval=3600,
        open_file=lambda path: FailingDisk(path, errno.ENOSPC, room),
    )  # fmt: skip
    async with pool:
        recording = pool.record("pci-7", "bank", STARTED)
        feed([recording], range(50))
        recording.pause(50)
        feed([recording], range(50, 300))
        with pytest.raises(RecordingFailed) as failed:
            await finished(recording)
    salvaged = failed.value.salvaged
    assert salvaged is not None and salvaged.frames == 100 * 160
    assert salvaged.pci_pauses == (Span(1000, 2000),)
    assert silent_ticks(salvaged) == list(range(50, 100))


def test_pauses_in_ticks() -> None:
    pauses = Pauses()
    assert pauses.pause(10) == 10
    pauses.resume(10)  # silenced nothing: dropped
    assert pauses.pause(10) == 10 and pauses.paused
    pauses.resume(20)
    assert pauses.pause(15) == 20  # never overlaps the span before
    pauses.resume(25)
    pauses.pause(40)
    assert [t for t in range(50) if pauses.silenced(t)] == [*range(10, 25), *range(40, 50)]
    assert pauses.spans(12, 20) == (Span(0, 160), Span(160, 260))  # ticks 12..31 recorded
    assert pauses.spans(0, 45) == (Span(200, 400), Span(400, 500), Span(800, 900))
