"""Opening and closing streams leaks nothing: ports, sockets, tasks, streams; on the
default asyncio loop and on uvloop (which owns sockets differently)."""

from __future__ import annotations

import asyncio
import gc
import os

import uvloop

from telephony.media.engine import MediaEngine
from telephony.media.taps import QueueTap


def open_fds() -> int:
    """Descriptors open now, after collecting garbage that earlier tests left (a socket
    closed by the collector in the middle of this test would skew the count)."""
    gc.collect()
    return len(os.listdir("/proc/self/fd"))


async def open_and_close_a_thousand(ports: tuple[int, int]) -> None:
    async with MediaEngine(port_range=ports) as engine:
        available, fds, tasks = engine.ports.available, open_fds(), len(asyncio.all_tasks())
        for _ in range(10):
            streams = [await engine.open_stream(8) for _ in range(100)]
            assert len({s.port for s in streams}) == 100 == engine.ports.in_use
            a, b = streams[0], streams[1]
            a.set_remote(b.local_address)
            b.set_remote(a.local_address)
            engine.bridge(a, b)
            a.add_tap(QueueTap(5))
            pending = a.play(b"\x00\x01" * 8000)
            await engine.wait_ticks(1)
            await asyncio.gather(*(engine.close_stream(s) for s in streams))
            assert await pending is False
            assert all(s.port % 2 == 0 and s.closed for s in streams)
        assert engine.streams == () and engine.ports.in_use == 0
        assert engine.ports.available == available
        assert len(asyncio.all_tasks()) == tasks
        assert open_fds() == fds
        assert engine.stats().packets_sent > 0


async def test_a_thousand_open_close_cycles_leak_nothing() -> None:
    await open_and_close_a_thousand((44000, 44400))


def test_a_thousand_open_close_cycles_leak_nothing_on_uvloop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        runner.run(open_and_close_a_thousand((44400, 44800)))
