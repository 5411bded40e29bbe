"""Media taps over real loopback UDP: both directions per tick, bounded queues that
drop instead of blocking, broken taps detached, stereo WAV recordings."""

from __future__ import annotations

import asyncio
import logging
import wave
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest

from telephony.media.engine import MediaEngine
from telephony.media.g711 import PCMU, Pcm
from telephony.media.stream import RtpStream
from telephony.media.taps import QueueTap
from telephony.media.wavtap import WavTapWriter


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    async with MediaEngine(port_range=(43000, 44000)) as engine:
        yield engine


async def connect(engine: MediaEngine) -> tuple[RtpStream, RtpStream]:
    a, b = await engine.open_stream(0), await engine.open_stream(0)
    a.set_remote(b.local_address)
    b.set_remote(a.local_address)
    return a, b


def tone(freq: float, seconds: float) -> Pcm:
    t = np.arange(int(seconds * 8000)) / 8000
    return (8000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def dominant_hz(pcm: npt.NDArray[np.int16]) -> float:
    spectrum = np.abs(np.fft.rfft(pcm.astype(np.float64)))
    return float(np.argmax(spectrum) * 8000 / len(pcm))


async def test_tap_gets_both_directions_every_tick(engine: MediaEngine) -> None:
    near, far = await connect(engine)
    tap = QueueTap(500)
    near.add_tap(tap)
    far.play(tone(500, 2), loop=True)
    near.play(tone(1500, 2), loop=True)
    await engine.wait_ticks(10)  # past the jitter buffer's priming
    async with asyncio.timeout(3):
        frames = [await tap.get() for _ in range(60)]
    frames = frames[-40:]
    assert [f.tick for f in frames] == list(range(frames[0].tick, frames[0].tick + 40))
    inbound = np.concatenate([f.inbound for f in frames if f.inbound is not None])
    outbound = np.concatenate([f.outbound for f in frames if f.outbound is not None])
    assert len(inbound) == len(outbound) == 40 * 160
    assert dominant_hz(inbound) == pytest.approx(500, abs=10)
    assert dominant_hz(outbound) == pytest.approx(1500, abs=10)
    assert not frames[-1].outbound.flags.writeable  # type: ignore[union-attr]


async def test_slow_consumer_loses_oldest_frames_not_ticks(engine: MediaEngine) -> None:
    stream, _ = await connect(engine)
    tap = QueueTap(maxsize=3)
    stream.add_tap(tap)
    start = engine.clock.ticks
    await engine.wait_ticks(12)
    assert tap.queue.qsize() == 3 and tap.dropped >= 9
    assert engine.clock.ticks - start >= 12
    newest = [tap.queue.get_nowait().tick for _ in range(3)]
    assert newest == sorted(newest) and newest[-1] >= engine.clock.last_tick - 1


class BrokenTap:
    def __init__(self) -> None:
        self.calls = 0

    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None:
        self.calls += 1
        raise RuntimeError("consumer bug")


async def test_failing_tap_is_detached_and_the_stream_carries_on(
    engine: MediaEngine, caplog: pytest.LogCaptureFixture
) -> None:
    stream, _ = await connect(engine)
    broken, healthy = BrokenTap(), QueueTap(100)
    stream.add_tap(broken)
    stream.add_tap(healthy)
    with caplog.at_level(logging.ERROR, logger="telephony.media.taps"):
        await engine.wait_ticks(5)
    assert broken.calls == 1 and healthy.delivered >= 5
    assert "detaching it" in caplog.text


@pytest.mark.parametrize("threaded", [False, True], ids=["inline", "executor"])
async def test_wav_writer_records_stereo_aligned_with_ticks(
    engine: MediaEngine, tmp_path: Path, threaded: bool
) -> None:
    debtor_leg, debtor = await connect(engine)
    debtor.play(tone(400, 3), loop=True)
    debtor_leg.play(tone(1200, 3), loop=True)  # what the agent says to the debtor
    with ThreadPoolExecutor(max_workers=1) as executor:
        writer = WavTapWriter(
            tmp_path / "call.wav", flush_every=7, executor=executor if threaded else None
        )
        debtor_leg.add_tap(writer)
        await engine.wait_ticks(40)
        debtor_leg.remove_tap(writer)
        await writer.aclose()
    with wave.open(str(tmp_path / "call.wav"), "rb") as wav:
        assert (wav.getnchannels(), wav.getsampwidth(), wav.getframerate()) == (2, 2, 8000)
        assert wav.getnframes() == writer.ticks * 160 and writer.ticks >= 40
        samples = np.frombuffer(wav.readframes(wav.getnframes()), "<i2").reshape(-1, 2)
    tail = samples[-20 * 160 :]
    assert dominant_hz(tail[:, 0]) == pytest.approx(400, abs=10)  # debtor channel
    assert dominant_hz(tail[:, 1]) == pytest.approx(1200, abs=10)  # agent channel
    expected = PCMU.decode(PCMU.encode(tone(1200, 3)))
    assert any(np.array_equal(tail[:160, 1], expected[i : i + 160]) for i in range(0, 8000, 160))
