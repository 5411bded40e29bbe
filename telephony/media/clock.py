"""The process's one media clock: a single asyncio task that ticks every 20 ms.

Every RTP stream of the process is driven from here (never a task or thread per
stream). Listeners (normally one :class:`~telephony.media.engine.MediaEngine`) get, for
each due tick, ``on_tick(tick)`` (send this tick's packets: the latency-critical part)
then, once every listener has sent, ``after_tick(tick)`` (feed taps); and
``on_skip(ticks)`` when the process stalled so long that ticks were skipped (see
:mod:`telephony.media.schedule`). Three histograms, in seconds against the tick's
absolute deadline: ``lateness`` when the tick starts (its first packet), ``completion``
when every ``on_tick`` has run (its last packet), ``finish`` after ``after_tick``;
and ``load`` (:mod:`telephony.media.load`), whether the process keeps time at all.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Protocol

from telephony.media.histogram import LatencyHistogram
from telephony.media.load import LoadGauge
from telephony.media.schedule import MAX_BEHIND, PERIOD, TickSchedule

logger = logging.getLogger(__name__)


class TickListener(Protocol):
    def on_tick(self, tick: int) -> None: ...

    def after_tick(self, tick: int) -> None: ...

    def on_skip(self, ticks: int) -> None: ...


class MediaClock:
    """One 20 ms tick for the whole process; start it once, add listeners to it.

    ``now`` is the monotonic clock deadlines and latencies are measured with (seconds);
    the task sleeps with the running loop's timers, so ``now`` must run at real speed.
    ``early`` is how long before its deadline a tick may run (timer granularity).
    """

    def __init__(
        self,
        *,
        period: float = PERIOD,
        max_behind: float = MAX_BEHIND,
        early: float = 0.0,
        now: Callable[[], float] = time.monotonic,
    ) -> None:
        self.period = period
        self.max_behind = max_behind
        self.early = early
        self.now = now
        self.lateness = LatencyHistogram()
        self.completion = LatencyHistogram()
        self.finish = LatencyHistogram()
        self.load = LoadGauge()
        self.ticks = 0
        self.last_tick = -1
        self._schedule: TickSchedule | None = None
        self._listeners: list[TickListener] = []
        self._waiters: list[tuple[int, asyncio.Future[int]]] = []
        self._task: asyncio.Task[None] | None = None

    @property
    def running(self) -> bool:
        return self._task is not None and not self._task.done()

    @property
    def skipped(self) -> int:
        return 0 if self._schedule is None else self._schedule.skipped

    def add_listener(self, listener: TickListener) -> None:
        if listener not in self._listeners:
            self._listeners = [*self._listeners, listener]

    def remove_listener(self, listener: TickListener) -> None:
        self._listeners = [each for each in self._listeners if each is not listener]

    def start(self) -> None:
        """Start ticking on the running loop; the first tick is one period from now."""
        if self.running:
            return
        self._schedule = TickSchedule(
            self.now() + self.period,
            period=self.period,
            max_behind=self.max_behind,
            early=self.early,
        )
        self._task = asyncio.get_running_loop().create_task(self._run(), name="media-clock")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for _, waiter in self._waiters:
            waiter.cancel()
        self._waiters = []

    async def wait_ticks(self, count: int = 1) -> int:
        """Wait until ``count`` more ticks have run (a test and bench hook); the last
        tick's number. Skipped ticks count as run."""
        if not self.running:
            raise RuntimeError("the media clock is not running")
        waiter: asyncio.Future[int] = asyncio.get_running_loop().create_future()
        self._waiters.append((self.last_tick + count, waiter))
        return await waiter

    def reset_latency(self) -> None:
        self.lateness.reset()
        self.completion.reset()
        self.finish.reset()

    async def _run(self) -> None:
        schedule = self._schedule
        assert schedule is not None
        now = self.now
        while True:
            delay = schedule.next_deadline - schedule.early - now()
            if delay > 0:
                await asyncio.sleep(delay)
            due = schedule.take(now())
            if due.skipped:
                logger.warning("media clock fell behind: skipped %d ticks", due.skipped)
                self.load.skipped(due.skipped * self.period)
                self._notify_skip(due.skipped)
            for tick in due.ticks:
                self._run_tick(tick, schedule.deadline(tick))

    @staticmethod
    def _log_load(load: LoadGauge) -> None:
        if load.overloaded:
            logger.warning("media clock overloaded (%.1f ms late on average): new calls are "
                           "refused until it keeps time", load.average * 1e3)
        else:
            logger.warning("media clock keeps time again (%.1f ms late on average): new calls "
                           "are taken", load.average * 1e3)

    def _notify_skip(self, ticks: int) -> None:
        for listener in self._listeners:
            try:
                listener.on_skip(ticks)
            except Exception:  # the clock task's boundary: one listener must not stop it
                logger.exception("media clock listener failed on skip of %d ticks", ticks)

    def _run_tick(self, tick: int, deadline: float) -> None:
        self.lateness.record(self.now() - deadline)
        listeners = self._listeners
        for listener in listeners:
            try:
                listener.on_tick(tick)
            except Exception:  # the clock task's boundary: one listener must not stop it
                logger.exception("media clock listener failed on tick %d", tick)
        completed = self.now() - deadline
        self.completion.record(completed)
        load, was = self.load, self.load.overloaded
        load.record(completed)
        if load.overloaded is not was:
            self._log_load(load)
        for listener in listeners:
            try:
                listener.after_tick(tick)
            except Exception:  # the clock task's boundary: one listener must not stop it
                logger.exception("media clock listener failed after tick %d", tick)
        self.finish.record(self.now() - deadline)
        self.ticks += 1
        self.last_tick = tick
        if self._waiters:
            self._wake(tick)

    def _wake(self, tick: int) -> None:
        waiting = []
        for target, waiter in self._waiters:
            if target <= tick:
                if not waiter.done():
                    waiter.set_result(tick)
            else:
                waiting.append((target, waiter))
        self._waiters = waiting
