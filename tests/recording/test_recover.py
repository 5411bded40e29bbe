"""Start-up recovery of .part files, including one left by a process killed for real."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import signal
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from recording.files import RecordingState
from recording.layout import paths
from recording.recover import scan
from recording.schedule import Cadence
from recording.wavfile import HEADER_SIZE, TICK_BYTES, TICK_FRAMES, WavHeader, interleave
from tests.recording import child_recorder
from tests.recording.frames import agent_value, frame, read_wav, tick_values

REPO = Path(__file__).resolve().parents[2]
STARTED = datetime(2024, 6, 1, 9, 0, tzinfo=UTC)


def ticks_data(count: int) -> bytes:
    return interleave(
        [frame(agent_value(t)) for t in range(count)],
        [frame(-agent_value(t)) for t in range(count)],
    )


def leave_part(root: Path, call_id: str, content: bytes) -> Path:
    where = paths(root, "bank", call_id, STARTED)
    where.directory.mkdir(parents=True, exist_ok=True)
    where.part.write_bytes(content)
    return where.part


def test_scan_repairs_renames_and_hashes_what_a_crash_left(tmp_path: Path) -> None:
    provisional = bytes(WavHeader(None))
    leave_part(tmp_path, "a", provisional + ticks_data(30) + b"\x01\x02\x03")  # partial frame
    leave_part(tmp_path, "b", bytes(HEADER_SIZE) + ticks_data(2))  # header never synced
    leave_part(tmp_path, "c", b"")  # created, then the crash
    results = {r.path.name: r for r in scan(tmp_path)}
    assert sorted(results) == ["a.wav", "b.wav", "c.wav"]
    assert [r.frames for r in (results["a.wav"], results["b.wav"], results["c.wav"])] == [
        30 * TICK_FRAMES, 2 * TICK_FRAMES, 0,
    ]  # fmt: skip
    for result in results.values():
        assert result.state is RecordingState.RECOVERED
        assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
        assert result.size == result.path.stat().st_size
        assert len(read_wav(result.path)) == result.frames
    assert tick_values(read_wav(results["a.wav"].path)) == [
        (agent_value(t), -agent_value(t)) for t in range(30)
    ]
    assert not list(tmp_path.rglob("*.part"))
    assert scan(tmp_path) == []  # nothing left to do


def test_scan_leaves_foreign_files_and_never_overwrites(tmp_path: Path) -> None:
    mono = bytearray(bytes(WavHeader(None)))
    mono[22] = 1
    foreign = leave_part(tmp_path, "mono", bytes(mono) + bytes(640))
    clash = leave_part(tmp_path, "taken", bytes(WavHeader(None)) + ticks_data(3))
    final = clash.with_name("taken.wav")
    final.write_bytes(b"an earlier recording")
    other = tmp_path / "bank" / "notes.txt"
    other.write_text("not a recording")
    assert scan(tmp_path) == []
    assert foreign.exists() and clash.exists() and other.exists()
    assert final.read_bytes() == b"an earlier recording"


async def test_recording_killed_mid_call_is_recovered(tmp_path: Path) -> None:
    child = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "tests.recording.child_recorder", str(tmp_path),
        cwd=REPO, stdout=subprocess.PIPE,
    )  # fmt: skip
    assert child.stdout is not None
    try:
        async with asyncio.timeout(30):
            while True:
                progress = json.loads(await child.stdout.readline())
                if progress["fed"] >= 140 and progress["synced"] > 0:
                    break
    finally:
        os.kill(child.pid, signal.SIGKILL)
        await child.wait()
    assert child.returncode == -signal.SIGKILL
    assert_recovered(tmp_path, progress)


def assert_recovered(root: Path, progress: dict[str, Any]) -> None:
    """The killed call's audio is recovered: all that was written, whole ticks, in place."""
    part = Path(progress["part"])
    assert part.exists() and not part.with_name(f"{child_recorder.CALL_ID}.wav").exists()

    [result] = scan(root)

    assert result.state is RecordingState.RECOVERED
    assert result.path == part.with_name(f"{child_recorder.CALL_ID}.wav")
    samples = read_wav(result.path)
    assert len(samples) == result.frames
    assert result.frames % TICK_FRAMES == 0  # the writer writes whole ticks
    recovered = result.frames // TICK_FRAMES
    cadence = Cadence.from_seconds(child_recorder.FLUSH_INTERVAL, child_recorder.SYNC_INTERVAL)
    # kill -9 loses nothing the writer wrote; a power cut would keep what it synced
    assert progress["synced"] <= progress["written"] <= recovered <= progress["fed"] + 1
    assert progress["fed"] - recovered <= cadence.sync_every + 1
    assert tick_values(samples) == [(agent_value(t), -agent_value(t)) for t in range(recovered)]
    assert result.sha256 == hashlib.sha256(result.path.read_bytes()).hexdigest()
    assert result.size == HEADER_SIZE + recovered * TICK_BYTES
    sox = subprocess.run(
        ["sox", "--i", str(result.path)], capture_output=True, text=True, check=True, timeout=30
    )
    assert "Channels       : 2" in sox.stdout and "Sample Rate    : 8000" in sox.stdout
    assert f"= {result.frames} samples" in sox.stdout
