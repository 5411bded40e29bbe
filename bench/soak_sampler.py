"""The soak's measurements, taken inside the process under test.

`Sampler.take()` reads one :class:`~bench.soak_verdict.Sample`: what the call path
holds (RTP ports, the recorder's backlog), what the process holds (RSS, file
descriptors, threads, asyncio tasks), Redis (keys, memory, the lengths of its lists,
sorted sets and streams), PostgreSQL (attempts open, ended and failed; transcription
jobs queued), and, since the previous sample, RTP loss, the media tick's p99 and CPU.
`Listener.sweep()` checks each finished recording for silent frames (a tick that
carried no audio), then deletes it unless asked to keep it.
"""

from __future__ import annotations

import asyncio
import os
import re
import threading
import time
import wave
from pathlib import Path

import asyncpg
import numpy as np
from redis.asyncio import Redis

from api.callpath import CallPath
from bench.soak_verdict import Heard, Sample, silent_share

_ATTEMPTS = """SELECT count(*) FILTER (WHERE ended_at IS NULL) AS open,
  count(*) FILTER (WHERE ended_at IS NOT NULL) AS ended,
  count(*) FILTER (WHERE ended_at IS NOT NULL AND result <> 'connected') AS failed
FROM attempts"""


class Sampler:
    """One :class:`Sample` every call of :meth:`take`, deltas since the last one."""

    def __init__(self, path: CallPath, pool: asyncpg.Pool, redis: Redis, started: float) -> None:
        self.path, self.pool, self.redis, self.started = path, pool, redis, started
        self.rows: list[Sample] = []
        self._media = path.media.stats()
        self._cpu, self._wall = time.process_time(), time.monotonic()

    async def take(self) -> Sample:
        media, clock = self.path.media.stats(), self.path.media.clock
        received = media.packets_received - self._media.packets_received
        lost = media.packets_lost - self._media.packets_lost
        cpu, wall = time.process_time(), time.monotonic()
        attempts = await self.pool.fetchrow(_ATTEMPTS)
        assert attempts is not None
        queued = await self.pool.fetchval(
            "SELECT count(*) FROM transcription_jobs WHERE state = 'queued'"
        )
        keys, memory, queues = await self._redis()
        row = Sample(
            at=round(wall - self.started, 1),
            calls=attempts["open"],
            ports=self.path.media.ports.in_use,
            rss_mb=_rss_mb(),
            fds=len(os.listdir("/proc/self/fd")),
            threads=threading.active_count(),
            tasks=len(asyncio.all_tasks()),
            backlog=self.path.recordings.recorder.backlog_ticks,
            redis_keys=keys,
            redis_mb=memory,
            redis_queues=queues,
            transcripts_queued=queued,
            ended=attempts["ended"],
            failed=attempts["failed"],
            loss=lost / received if received > 0 else 0.0,
            late_p99_ms=clock.completion.summary().p99 * 1000,
            cpu=(cpu - self._cpu) / max(wall - self._wall, 1e-9),
            load1=os.getloadavg()[0],
        )
        clock.reset_latency()
        self._media, self._cpu, self._wall = media, cpu, wall
        self.rows.append(row)
        return row

    async def _redis(self) -> tuple[int, float, int]:
        keys = [key async for key in self.redis.scan_iter(count=1000)]
        types = await _each(self.redis, "type", keys)
        lengths = {b"list": "llen", b"zset": "zcard", b"stream": "xlen"}
        measured = [
            (key, lengths[kind]) for key, kind in zip(keys, types, strict=True) if kind in lengths
        ]
        async with self.redis.pipeline(transaction=False) as pipe:
            for key, command in measured:
                getattr(pipe, command)(key)
            sizes = await pipe.execute()
        info = await self.redis.info("memory")
        return len(keys), info["used_memory"] / 2**20, sum(sizes)


async def _each(redis: Redis, command: str, keys: list[bytes]) -> list[bytes]:
    async with redis.pipeline(transaction=False) as pipe:
        for key in keys:
            getattr(pipe, command)(key)
        return list(await pipe.execute())


def _rss_mb() -> float:
    found = re.search(r"VmRSS:\s+(\d+) kB", Path("/proc/self/status").read_text())
    return int(found.group(1)) / 1024 if found else 0.0


class Listener:
    """Checks each finished recording for silent frames, then deletes it."""

    def __init__(self, root: Path, started: float, *, keep: bool) -> None:
        self.root, self.started, self.keep = root, started, keep
        self.heard: list[Heard] = []
        self._seen: set[Path] = set()

    async def sweep(self) -> None:
        await asyncio.to_thread(self._sweep, time.monotonic() - self.started)

    def _sweep(self, now: float) -> None:
        for path in sorted(self.root.rglob("*.wav")):
            if path in self._seen:
                continue
            self._seen.add(path)
            with wave.open(str(path), "rb") as wav:
                stereo = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
            self.heard.append(
                Heard(
                    now, len(stereo) / 8000, silent_share(stereo[:, 0]), silent_share(stereo[:, 1])
                )
            )
            if not self.keep:
                path.unlink()
