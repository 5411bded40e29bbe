"""Recorder bench: N concurrent crash-safe recordings fed by a fake 20 ms media tick.

Two runs, each recording N calls (default 200) of ``--seconds`` (default 10) of audio
through one :class:`recording.writer.RecorderPool` (one writer thread):

* throughput: the ticks are fed back to back (one event-loop turn between ticks), as
  fast as the writer keeps up; prints audio seconds recorded per wall second, the
  writer thread's CPU, drops, and how long finishing all N took.
* real time: the ticks are fed on their absolute 20 ms deadlines, as the media clock
  would; prints the time spent inside ``on_frame`` per tick for all N recordings
  (median, p99, max), the slowest single ``on_frame``, tick lateness, the writer
  thread's and the whole process's CPU (100% = one core), and drops.

Frames are fresh numpy arrays per call and tick, as the media engine hands them over.
Finally it times SHA-256 of a ten-minute recording read back from disk (what finishing
a long call adds on the writer thread).

    .venv/bin/python bench/recording_bench.py
    .venv/bin/python bench/recording_bench.py -n 400 --seconds 20 --root /var/recordings
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recording.files import PartFile
from recording.wavfile import TICK_BYTES
from recording.writer import RecorderPool, Recording

PERIOD = 0.02
Frames = list[tuple[np.ndarray, np.ndarray]]


def frames_for(calls: int, tick: int) -> Frames:
    base = np.arange(160, dtype=np.int16)
    return [(base + (tick + call) % 1000, base - call) for call in range(calls)]


def start_calls(pool: RecorderPool, calls: int, run: str) -> list[Recording]:
    now = datetime.now(UTC)
    return [pool.record(f"{run}-{call}", "bench", now) for call in range(calls)]


def feed_tick(recordings: list[Recording], tick: int, frames: Frames) -> float:
    """Feed one tick to every recording; seconds spent inside ``on_frame`` (all of them)."""
    start = time.perf_counter()
    for recording, (inbound, outbound) in zip(recordings, frames, strict=True):
        recording.on_frame(tick, inbound, outbound)
    return time.perf_counter() - start


def feed_tick_timed(recordings: list[Recording], tick: int, frames: Frames) -> float:
    """Feed one tick; the longest single ``on_frame`` (a hand-over, for some)."""
    slowest = 0.0
    clock = time.perf_counter
    for recording, (inbound, outbound) in zip(recordings, frames, strict=True):
        start = clock()
        recording.on_frame(tick, inbound, outbound)
        slowest = max(slowest, clock() - start)
    return slowest


async def finish_all(recordings: list[Recording]) -> float:
    start = time.perf_counter()
    await asyncio.gather(*(recording.finish() for recording in recordings))
    return time.perf_counter() - start


async def throughput(root: Path, calls: int, ticks: int, **options: float) -> None:
    async with RecorderPool(root / "throughput", min_free_bytes=0, **options) as pool:
        recordings = start_calls(pool, calls, "fast")
        cpu0, wall0 = pool.writer.cpu_seconds, time.perf_counter()
        frames = frames_for(calls, 0)
        for tick in range(ticks):
            feed_tick(recordings, tick, frames)
            await asyncio.sleep(0)
        await pool.barrier()
        wall = time.perf_counter() - wall0
        finish = await finish_all(recordings)
        stats = pool.stats()
    audio = calls * ticks * PERIOD
    rate = calls * ticks * TICK_BYTES / wall / 1e6
    print(
        f"throughput: {calls} calls x {ticks * PERIOD:.0f} s = {audio:.0f} s of audio in"
        f" {wall:.2f} s ({audio / wall:.0f} audio s/s, {rate:.1f} MB/s)"
        f"; writer CPU {stats.writer_cpu_seconds - cpu0:.2f} s; dropped ticks"
        f" {stats.dropped_ticks}; finishing all {calls}: {finish * 1000:.0f} ms"
    )


async def real_time(root: Path, calls: int, ticks: int, **options: float) -> None:
    async with RecorderPool(root / "realtime", min_free_bytes=0, **options) as pool:
        recordings = start_calls(pool, calls, "rt")
        inside, late, slowest = [], [], 0.0
        cpu0, process0 = pool.writer.cpu_seconds, time.process_time()
        origin = time.perf_counter() + PERIOD
        for tick in range(ticks):
            await asyncio.sleep(max(0.0, origin + tick * PERIOD - time.perf_counter()))
            late.append(time.perf_counter() - (origin + tick * PERIOD))
            frames = frames_for(calls, tick)
            if tick % 2:  # odd ticks: each call timed alone (adds the timer's own cost)
                slowest = max(slowest, feed_tick_timed(recordings, tick, frames))
            else:
                inside.append(feed_tick(recordings, tick, frames))
        wall = time.perf_counter() - origin
        writer_cpu, process_cpu = pool.writer.cpu_seconds - cpu0, time.process_time() - process0
        finish = await finish_all(recordings)
        stats = pool.stats()
    inside_ms = sorted(1000 * t for t in inside)
    print(
        f"real time: {calls} calls x {ticks * PERIOD:.0f} s; inside on_frame per (even)"
        f" tick, all {calls}: median {statistics.median(inside_ms):.3f} ms, p99"
        f" {inside_ms[int(0.99 * len(inside_ms))]:.3f} ms, max {inside_ms[-1]:.3f} ms;"
        f" slowest single on_frame {slowest * 1e6:.0f} us; tick lateness max"
        f" {1000 * max(late):.2f} ms; writer thread CPU {100 * writer_cpu / wall:.1f}% of a core,"
        f" process {100 * process_cpu / wall:.1f}%; dropped ticks {stats.dropped_ticks};"
        f" finishing all {calls}: {finish * 1000:.0f} ms"
    )


def hash_cost(root: Path) -> None:
    path = root / "ten-minutes.part"
    file = PartFile.create(path)
    size = 10 * 60 * 8000 * 4
    file.append(bytes(size))
    file.sync()
    start = time.perf_counter()
    file.sha256(size)
    elapsed = time.perf_counter() - start
    file.close()
    path.unlink()
    print(
        f"sha256 of a 10 min recording ({size / 1e6:.1f} MB, page cache): {elapsed * 1000:.1f} ms"
    )


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-n", "--calls", type=int, default=200)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--root", type=Path, help="where to write (default: a temporary dir)")
    parser.add_argument("--flush", type=float, default=0.2, help="flush interval, s")
    parser.add_argument("--sync", type=float, default=1.0, help="sync interval, s")
    args = parser.parse_args()
    ticks = round(args.seconds / PERIOD)
    options = {"flush_interval": args.flush, "sync_interval": args.sync}
    print(f"flush every {args.flush} s, fdatasync every {args.sync} s, one writer thread")
    with tempfile.TemporaryDirectory(dir=args.root) as temporary:
        root = Path(temporary)
        await throughput(root, args.calls, ticks, **options)
        await real_time(root, args.calls, ticks, **options)
        hash_cost(root)


if __name__ == "__main__":
    asyncio.run(main())
