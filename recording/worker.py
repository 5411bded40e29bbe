"""The recorder's writer thread: every file operation of every recording, in order.

One thread for the whole process (never one per call) takes jobs from a queue: open a
recording's ``.part`` file, write a run of ticks (and ``fdatasync`` it when due),
finish a recording, answer a barrier. Jobs of one recording run in the order they
were submitted, so no lock is needed: a :class:`Sink` (the file side of a recording)
is only ever touched by this thread, and the media tick only ever appends to a
queue that does not block.

A write error (``ENOSPC``, ``EIO``, ...) fails that recording (its later jobs are
skipped, what is on disk is salvaged at its finish), is logged with the call id, and
marks the storage unhealthy. While unhealthy, and otherwise every ``probe_interval``,
the thread probes the root: free space (``statvfs``), and when unhealthy a small
write, ``fdatasync`` and unlink; a probe that succeeds makes the storage healthy
again (the dialer's gate can then let calls out).
"""

from __future__ import annotations

import errno
import logging
import os
import queue
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from dataclasses import dataclass
from pathlib import Path

from recording.files import (
    RecordingFailed,
    RecordingFile,
    RecordingResult,
    RecordingState,
    free_bytes,
    make_directories,
    seal,
    sync_directory,
)
from recording.layout import RecordingPaths
from recording.recover import recover_part
from recording.wavfile import (
    MAX_DATA_SIZE,
    TICK_BYTES,
    TICK_FRAMES,
    Samples,
    WavHeader,
    interleave,
    silence,
)

logger = logging.getLogger(__name__)

OpenFile = Callable[[Path], RecordingFile]
Job = Callable[[], None]
PROBE_NAME = ".recorder-probe"
_MAX_TICKS = MAX_DATA_SIZE // TICK_BYTES


@dataclass(frozen=True, slots=True)
class StorageError:
    """The last write error: which call, what, when (``time.monotonic``)."""

    call_id: str
    error: str
    at: float


class Sink:
    """The file side of one recording; only the writer thread touches it."""

    def __init__(self, call_id: str, paths: RecordingPaths) -> None:
        self.call_id = call_id
        self.paths = paths
        self.file: RecordingFile | None = None
        self.opened = False  # the part file is this recording's (salvage only then)
        self.ticks = 0  # written to the file, silence included
        self.synced_ticks = 0
        self.filled_ticks = 0  # silence written for ticks that had no frames
        self.failure: BaseException | None = None  # read by the media tick: stop buffering


class WriterThread:
    """The shared writer thread; see the module docstring."""

    def __init__(
        self, root: Path, open_file: OpenFile, *, min_free_bytes: int, probe_interval: float
    ) -> None:
        self.root = root
        self.min_free_bytes = min_free_bytes
        self.probe_interval = probe_interval
        self._open_file = open_file
        self._jobs: queue.SimpleQueue[Job | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="recording-writer", daemon=True)
        self._next_probe = 0.0
        # Written only by this thread, read by the event loop's thread.
        self.ticks_done = 0  # ticks of the submitted chunks that were written or discarded
        self.error: StorageError | None = None
        self.free: int | None = None  # bytes available under the root, at the last probe
        self.cpu_seconds = 0.0
        self.stopped: Future[None] = Future()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    def start(self) -> None:
        self._thread.start()

    def submit(self, job: Job) -> None:
        """Queue ``job``; never blocks (the queue is unbounded: the pool bounds it)."""
        self._jobs.put(job)

    def stop(self) -> None:
        """Stop after the jobs already queued; ``stopped`` resolves then."""
        self._jobs.put(None)

    def _run(self) -> None:
        try:
            while (job := self._next_job()) is not None:
                try:
                    job()
                except Exception:  # thread boundary: a bug in one job must not stop recording
                    logger.exception("recording writer job %r failed", job)
                self.cpu_seconds = time.thread_time()
        finally:
            self.stopped.set_result(None)

    def _next_job(self) -> Job | None:
        while True:
            wait = self._next_probe - time.monotonic()
            if wait <= 0:
                self.probe()
                continue
            try:
                return self._jobs.get(timeout=wait)
            except queue.Empty:
                continue

    # -- jobs --------------------------------------------------------------------------

    def open(self, sink: Sink) -> None:
        """Create the directories and the ``.part`` file with a provisional header."""
        paths = sink.paths
        try:
            make_directories(self.root, paths.directory)
            if paths.final.exists():
                raise FileExistsError(
                    errno.EEXIST, "a recording of this call exists", str(paths.final)
                )
            sink.file = self._open_file(paths.part)
            sink.opened = True
            sink.file.append(bytes(WavHeader(None)))
            sink.file.sync(metadata=True)
            sync_directory(paths.directory)
            self._check_free(sink.call_id)
        except OSError as error:
            self._fail(sink, error)
            return
        logger.info("call_id=%s recording to %s", sink.call_id, paths.part)

    def write(
        self,
        sink: Sink,
        first: int,
        agent: Sequence[Samples | None],
        debtor: Sequence[Samples | None],
        sync: bool,
    ) -> None:
        """Write ticks ``first ..`` of a recording (silence before them if missing)."""
        try:
            if sink.failure is None and sink.file is not None:
                self._append(sink, sink.file, first, agent, debtor)
                if sync:
                    sink.file.sync()
                    sink.synced_ticks = sink.ticks
        except OSError as error:
            self._fail(sink, error)
        finally:
            self.ticks_done += len(agent)

    def _append(
        self,
        sink: Sink,
        file: RecordingFile,
        first: int,
        agent: Sequence[Samples | None],
        debtor: Sequence[Samples | None],
    ) -> None:
        gap = first - sink.ticks
        if gap < 0:
            raise ValueError(f"call_id={sink.call_id}: tick {first} after tick {sink.ticks}")
        if first + len(agent) > _MAX_TICKS:
            raise OSError(errno.EFBIG, "recording longer than a WAV file can hold", str(file.path))
        if gap:
            logger.warning(
                "call_id=%s recording: %d ticks (%.2f s) had no frames (buffers full or"
                " clock stalled); written as silence",
                sink.call_id,
                gap,
                gap * 0.02,
            )
            sink.filled_ticks += gap
        file.append(silence(gap) + interleave(agent, debtor) if gap else interleave(agent, debtor))
        sink.ticks = first + len(agent)

    def finish(self, sink: Sink, end: int, done: Future[RecordingResult]) -> None:
        """Seal the recording (``end`` ticks long) or salvage what reached the disk."""
        try:
            result = self._seal_or_salvage(sink, end)
        except RecordingFailed as failed:
            done.set_exception(failed)
        except Exception as error:  # thread boundary: whoever awaits must hear of it
            logger.exception("call_id=%s recording could not be finished", sink.call_id)
            done.set_exception(error)
        else:
            logger.info(
                "call_id=%s recording finished: %s, %.2f s, sha256 %s",
                sink.call_id,
                result.path,
                result.duration_s,
                result.sha256,
            )
            done.set_result(result)

    def _seal_or_salvage(self, sink: Sink, end: int) -> RecordingResult:
        if sink.failure is None and sink.file is not None:
            try:
                self._append(sink, sink.file, end, (), ())
                return seal(
                    sink.file, sink.paths.final, WavHeader(sink.ticks * TICK_BYTES),
                    RecordingState.FINALISED, sink.filled_ticks * TICK_FRAMES,
                )  # fmt: skip
            except OSError as error:
                self._fail(sink, error)
        failure = sink.failure or RuntimeError("recording file was never opened")
        raise RecordingFailed(sink.call_id, failure, self._salvage(sink))

    def barrier(self, done: Future[None]) -> None:
        done.set_result(None)

    # -- failures and health -----------------------------------------------------------

    def _fail(self, sink: Sink, error: OSError) -> None:
        logger.error("call_id=%s recording failed: %s", sink.call_id, error)
        sink.failure = error
        self.error = StorageError(sink.call_id, str(error), time.monotonic())
        self._next_probe = time.monotonic() + self.probe_interval
        if sink.file is not None:
            try:
                sink.file.close()
            except OSError as close_error:
                logger.error("call_id=%s closing the recording: %s", sink.call_id, close_error)
        sink.file = None

    def _salvage(self, sink: Sink) -> RecordingResult | None:
        if not sink.opened or not sink.paths.part.exists():
            return None
        try:
            return recover_part(sink.paths.part)
        except (OSError, ValueError) as error:
            logger.error(
                "call_id=%s failed recording left in %s for start-up recovery: %s",
                sink.call_id,
                sink.paths.part,
                error,
            )
            return None

    def _check_free(self, call_id: str) -> None:
        self.free = free_bytes(self.root)
        if self.free < self.min_free_bytes:
            logger.warning(
                "call_id=%s recording although only %d bytes are free under %s (minimum %d)",
                call_id,
                self.free,
                self.root,
                self.min_free_bytes,
            )

    def probe(self) -> None:
        """Measure free space; when unhealthy, try a small synced write."""
        self._next_probe = time.monotonic() + self.probe_interval
        try:
            self.free = free_bytes(self.root)
            if self.error is not None:
                self._probe_write()
                logger.warning(
                    "recording storage %s works again (after: %s)", self.root, self.error.error
                )
                self.error = None
        except OSError as error:
            logger.error("recording storage %s probe failed: %s", self.root, error)
            self.error = StorageError("-", str(error), time.monotonic())

    def _probe_write(self) -> None:
        path = self.root / PROBE_NAME
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o600)
        try:
            os.write(fd, bytes(4096))
            os.fdatasync(fd)
        finally:
            os.close(fd)
            os.unlink(path)
