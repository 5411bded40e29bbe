"""Crash-safe call recording: a tap per call, one writer thread per process.

:class:`RecorderPool` owns the shared writer thread (:mod:`recording.worker`), the
flush plan (:mod:`recording.schedule`) and the readiness check. ``pool.record(...)``
returns a :class:`Recording`, a media tap (``on_frame(tick, inbound, outbound)``) for
one call; ``await recording.finish()`` at hang-up returns the
:class:`~recording.files.RecordingResult` (final path, SHA-256, size, frames).

On the media tick ``on_frame`` only appends the two frames' references to two lists
(frames are read-only, so they are not copied); on the recording's flush ticks it
hands the lists to the writer thread, which interleaves them into stereo PCM (channel
1 agent, channel 2 debtor), appends them to the ``.part`` file and, on sync ticks,
``fdatasync``s it. Ticks without frames (the media clock skipped them, or the frames
were dropped) are written as silence, so the channels stay aligned with wall time.

Bounded memory: the pool counts the ticks handed to the writer and not yet written.
When that backlog reaches ``max_buffered_bytes`` (the disk stalls), new frames are
*dropped*, never waited for: the tick goes on, ``dropped_ticks`` counts them (per
recording and for the pool), the first drop of an episode is logged as an error,
``ready()`` says why it is not ready, and the writer writes the missing ticks as
silence (reported as ``dropped_frames``). Losing a few seconds of one call's audio is
better than stalling the audio of every call in the process.

PCI: ``pause(tick)`` / ``resume(tick)`` silence both channels in between
(:mod:`recording.pauses`); the result's ``pci_pauses`` says where, in ms.

Failures: a write error fails the recording (see :mod:`recording.worker`);
``finish()`` then raises :class:`~recording.files.RecordingFailed` carrying the
salvaged part. The pool keeps recording new calls (the error may be transient) but
``ready()`` answers ``False`` until a probe write succeeds, so the dialer's
compliance gate places no call while recordings cannot be written. ``ready()`` also
refuses when free space under the root is below ``min_free_bytes``; a recording
started then is still written (a call already answered is better recorded than not).
"""

from __future__ import annotations

import asyncio
import logging
import time
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from pathlib import Path
from types import TracebackType

from recording.files import PartFile, RecorderUnavailable, RecordingFailed, RecordingResult
from recording.layout import paths
from recording.pauses import Pauses
from recording.recover import scan
from recording.schedule import Cadence, FlushPlan
from recording.spans import Span
from recording.wavfile import TICK_BYTES, Samples
from recording.worker import Job, OpenFile, Sink, WriterThread

logger = logging.getLogger(__name__)


class Direction(StrEnum):
    """A tap direction: what the stream received, or what it sent."""

    INBOUND = "inbound"
    OUTBOUND = "outbound"


class _Chunk:
    """The frames of consecutive ticks since the last hand-over, from position ``first``."""

    __slots__ = ("agent", "debtor", "first")

    def __init__(self, first: int) -> None:
        self.first = first
        self.agent: list[Samples | None] = []
        self.debtor: list[Samples | None] = []


class Recording:
    """One call's recording, a media tap; created by :meth:`RecorderPool.record`."""

    def __init__(
        self, pool: RecorderPool, sink: Sink, phase: int, agent: Direction = Direction.OUTBOUND
    ) -> None:
        self.call_id = sink.call_id
        self.path = sink.paths.final
        self.dropped_ticks = 0
        self.repeated_ticks = 0
        self._pool = pool
        self._sink = sink
        self._phase = phase
        self._agent_outbound = agent is Direction.OUTBOUND
        self._cadence = pool.plan.cadence
        self._first_tick: int | None = None
        self._next_tick = -1
        self._dropped_until = 0
        self._flush_at = 0
        self._sync_at = 0
        self._chunk = _Chunk(0)
        self._done: Future[RecordingResult] | None = None
        self._pauses: Pauses | None = None
        self._paused_spans: tuple[Span, ...] = ()

    @property
    def failure(self) -> BaseException | None:
        return self._sink.failure

    @property
    def written_ticks(self) -> int:
        """Ticks written to the file so far (the writer thread's count)."""
        return self._sink.ticks

    @property
    def synced_ticks(self) -> int:
        return self._sink.synced_ticks

    def on_frame(self, tick: int, inbound: Samples | None, outbound: Samples | None) -> None:
        if self._done is not None or self._sink.failure is not None:
            return
        if tick != self._next_tick and not self._jump(tick):
            return
        pool = self._pool
        if pool.handed_ticks - pool.writer.ticks_done >= pool.max_buffered_ticks:
            self._drop(tick)
            return
        if self._pauses is not None and self._pauses.silenced(tick):
            inbound = outbound = None
        chunk = self._chunk
        if self._agent_outbound:
            chunk.agent.append(outbound)
            chunk.debtor.append(inbound)
        else:
            chunk.agent.append(inbound)
            chunk.debtor.append(outbound)
        self._next_tick = tick + 1
        if tick >= self._flush_at:
            self._hand_over(sync=tick >= self._sync_at)
            self._flush_at = self._cadence.next_flush(tick, self._phase)
            self._sync_at = self._cadence.next_sync(tick, self._phase)

    def _jump(self, tick: int) -> bool:
        """Start, or go on after missing ticks; ``False`` for a tick already past."""
        if self._first_tick is None:
            self._first_tick = tick
            self._flush_at = self._cadence.next_flush(tick - 1, self._phase)
            self._sync_at = self._cadence.next_sync(tick - 1, self._phase)
        elif tick < self._next_tick:  # a tap on two streams? the first frame of a tick wins
            self.repeated_ticks += 1
            if self.repeated_ticks == 1:
                logger.error("call_id=%s recording: tick %d again, ignored", self.call_id, tick)
            return False
        else:
            self._hand_over(sync=False)
        self._chunk = _Chunk(tick - self._first_tick)
        self._next_tick = tick
        return True

    def pause(self, at_tick: int) -> None:
        """Silence both channels from ``at_tick`` until :meth:`resume` (PCI), frames not yet
        handed to the writer included; if ``at_tick`` was handed over, from the first tick
        that was not. ``ValueError`` if paused already; ignored once finishing."""
        if self._done is not None:
            return
        self._pauses = self._pauses or Pauses()
        chunk, first = self._chunk, self._first_tick
        start = self._pauses.pause(at_tick if first is None else max(at_tick, first + chunk.first))
        for index in range(0 if first is None else start - first - chunk.first, len(chunk.agent)):
            chunk.agent[index] = chunk.debtor[index] = None

    def resume(self, at_tick: int) -> None:
        """Record again from ``at_tick`` (or the next tick, if that one is past).
        ``ValueError`` if not paused; ignored once finishing."""
        if self._done is None:
            (self._pauses or Pauses()).resume(max(at_tick, self._next_tick))

    def _drop(self, tick: int) -> None:
        self.dropped_ticks += 1
        self._dropped_until = tick + 1
        self._pool.note_drop(self.call_id)

    def _hand_over(self, *, sync: bool) -> None:
        chunk = self._chunk
        if chunk.agent:
            self._pool.hand_over(self._sink, chunk.first, chunk.agent, chunk.debtor, sync)
            self._chunk = _Chunk(chunk.first + len(chunk.agent))

    async def finish(self) -> RecordingResult:
        """Write what is buffered, seal the file; the result (same one if called again).

        Raises :class:`~recording.files.RecordingFailed` if the recording failed.
        """
        if self._done is None:
            self._hand_over(sync=False)
            end = 0
            if self._first_tick is not None:
                end = max(self._next_tick, self._dropped_until) - self._first_tick
                if self._pauses is not None:
                    self._paused_spans = self._pauses.spans(self._first_tick, end)
            self._done = self._pool.finish(self._sink, self._phase, end)
        try:
            return (await asyncio.wrap_future(self._done)).with_pauses(self._paused_spans)
        except RecordingFailed as failed:
            if failed.salvaged is not None:
                failed.salvaged = failed.salvaged.with_pauses(self._paused_spans)
            raise


@dataclass(frozen=True, slots=True)
class RecorderStats:
    recordings: int  # being recorded now
    backlog_ticks: int  # handed to the writer thread, not yet written
    dropped_ticks: int  # since the pool started, all recordings
    failed: int  # recordings that failed since the pool started
    writer_cpu_seconds: float


class RecorderPool:
    """The recorder of one process; see the module docstring.

    ``flush_interval`` and ``sync_interval`` (seconds, rounded to 20 ms ticks) bound what
    a killed process and a power cut lose; ``max_buffered_bytes`` of PCM bound the
    writer's backlog (the frames take about 1.4 times that in memory).
    """

    def __init__(
        self,
        root: Path,
        *,
        flush_interval: float = 0.2,
        sync_interval: float = 1.0,
        max_buffered_bytes: int = 64 << 20,
        min_free_bytes: int = 1 << 30,
        probe_interval: float = 5.0,
        open_file: OpenFile = PartFile.create,
    ) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes
        self.plan = FlushPlan(Cadence.from_seconds(flush_interval, sync_interval))
        self.max_buffered_ticks = max(1, max_buffered_bytes // TICK_BYTES)
        self.writer = WriterThread(
            root, open_file, min_free_bytes=min_free_bytes, probe_interval=probe_interval
        )
        self.handed_ticks = 0  # event loop thread only; the writer counts ticks_done
        self.dropped_ticks = 0
        self.failed = 0
        self.hand_overs = 0  # ticks' frames handed to the writer: every flush
        self.sync_hand_overs = 0  # of which followed by an fdatasync
        self._dropping = False
        self._running = False
        self._live: dict[str, Recording] = {}

    async def start(self) -> list[RecordingResult]:
        """Recover what a crash left (see :mod:`recording.recover`), then start writing.

        Returns the recovered recordings, for the store to register.
        """
        if self._running or self.writer.stopped.done():
            raise RecorderUnavailable("a recorder pool starts once")
        self.root.mkdir(parents=True, exist_ok=True)
        recovered = await asyncio.to_thread(scan, self.root)
        self.writer.start()
        self._running = True
        await self.barrier()  # the first probe has run: free space is known
        return recovered

    async def __aenter__(self) -> RecorderPool:
        await self.start()
        return self

    async def __aexit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def record(
        self,
        call_id: str,
        client: str,
        started_at: datetime,
        *,
        agent: Direction = Direction.OUTBOUND,
    ) -> Recording:
        """A new recording of ``call_id``; attach it to the stream as a tap.

        ``agent`` is the tap direction that carries the agent (channel 1): for a debtor
        leg bridged to an agent, the outbound one. Never blocks: the file is created
        on the writer thread, frames are buffered meanwhile.
        """
        if not self._running:
            raise RecorderUnavailable(f"recorder pool on {self.root} is not running")
        if call_id in self._live:
            raise ValueError(f"call {call_id} is already being recorded")
        sink = Sink(call_id, paths(self.root, client, call_id, started_at))
        recording = Recording(self, sink, self.plan.assign(), agent)
        self._live[call_id] = recording
        self.writer.submit(lambda: self.writer.open(sink))
        return recording

    def hand_over(
        self,
        sink: Sink,
        first: int,
        agent: list[Samples | None],
        debtor: list[Samples | None],
        sync: bool,
    ) -> None:
        """Queue ticks ``first ..`` of a recording for the writer thread (never blocks)."""
        self.handed_ticks += len(agent)
        self.hand_overs += 1
        self.sync_hand_overs += sync
        self.writer.submit(lambda: self.writer.write(sink, first, agent, debtor, sync))
        if self._dropping and self.backlog_ticks < self.max_buffered_ticks // 2:
            self._dropping = False
            logger.warning("recording buffers below half their limit again: no more drops")

    def note_drop(self, call_id: str) -> None:
        self.dropped_ticks += 1
        if not self._dropping:
            self._dropping = True
            logger.error(
                "call_id=%s recording buffers full (%d ticks waiting for the disk):"
                " dropping audio, written later as silence",
                call_id,
                self.backlog_ticks,
            )

    def finish(self, sink: Sink, phase: int, end: int) -> Future[RecordingResult]:
        del self._live[sink.call_id]
        self.plan.release(phase)
        done: Future[RecordingResult] = Future()
        done.add_done_callback(self._count_failure)
        self.writer.submit(lambda: self.writer.finish(sink, end, done))
        return done

    def _count_failure(self, done: Future[RecordingResult]) -> None:
        if done.exception() is not None:
            self.failed += 1  # the writer thread is the only one to run this callback

    @property
    def backlog_ticks(self) -> int:
        return self.handed_ticks - self.writer.ticks_done

    @property
    def healthy(self) -> bool:
        """No write error since the last successful probe, and the writer is alive."""
        return self._running and self.writer.alive and self.writer.error is None

    def ready(self) -> tuple[bool, str]:
        """Whether calls may be placed, and if not why (for the compliance gate).

        Reads state the writer thread keeps up to date; never touches the disk.
        """
        writer = self.writer
        if not self._running or not writer.alive:
            return False, f"recorder on {self.root} is not running"
        if writer.error is not None:
            ago = time.monotonic() - writer.error.at
            return False, (
                f"recording storage failed {ago:.0f} s ago (call {writer.error.call_id}):"
                f" {writer.error.error}"
            )
        if writer.free is None or writer.free < self.min_free_bytes:
            return False, (
                f"free space under {self.root} is {writer.free} bytes,"
                f" below the minimum {self.min_free_bytes}"
            )
        if self._dropping:
            return False, f"recording buffers full ({self.backlog_ticks} ticks): disk too slow"
        return True, "recording storage ready"

    async def check(self) -> tuple[bool, str]:
        """Probe the storage now (free space, and a test write if it had failed)."""
        if self._running:
            await self._run(self.writer.probe)
        return self.ready()

    async def barrier(self) -> None:
        """Wait until the writer has done every job queued so far."""
        done: Future[None] = Future()
        self.writer.submit(lambda: self.writer.barrier(done))
        await asyncio.wrap_future(done)

    async def _run(self, job: Job) -> None:
        self.writer.submit(job)
        await self.barrier()

    def stats(self) -> RecorderStats:
        return RecorderStats(
            len(self._live), self.backlog_ticks, self.dropped_ticks, self.failed,
            self.writer.cpu_seconds,
        )  # fmt: skip

    async def close(self) -> None:
        """Finish every recording in progress, then stop the writer thread."""
        if not self._running:
            return
        self._running = False  # no new recording from here on
        live = list(self._live.values())
        results = await asyncio.gather(*(each.finish() for each in live), return_exceptions=True)
        for recording, result in zip(live, results, strict=True):
            if isinstance(result, BaseException):
                logger.error("call_id=%s recording at shutdown: %s", recording.call_id, result)
        self.writer.stop()
        await asyncio.wrap_future(self.writer.stopped)
