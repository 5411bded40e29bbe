"""Listen-in, whisper and barge over real UDP on 127.0.0.1: three phones, each
playing its own tone; what each phone hears is read from the spectrum of what
arrives at it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass

import numpy as np
import pytest

from telephony.media.engine import MediaEngine
from telephony.media.g711 import Pcm
from telephony.media.monitor import HEARS, Leg, MonitorMode, mix
from telephony.media.stream import RtpStream
from telephony.media.taps import QueueTap
from tests.telephony.media.test_engine import connect, record

TONES = {Leg.DEBTOR: 440, Leg.AGENT: 1000, Leg.SUPERVISOR: 1800}


def tone(freq: int, seconds: float = 1.0) -> Pcm:
    t = np.arange(int(seconds * 8000)) / 8000
    return (6000 * np.sin(2 * np.pi * freq * t)).astype(np.int16)


def heard(signal: Pcm) -> set[Leg]:
    """The legs whose tone stands out in ``signal``."""
    spectrum = np.abs(np.fft.rfft(signal.astype(np.float64)))
    freqs = np.fft.rfftfreq(len(signal), 1 / 8000)
    levels = {leg: spectrum[np.abs(freqs - f) < 15].max() for leg, f in TONES.items()}
    loudest = max(spectrum.max(), 1e6)  # a silent signal has no tone in it
    return {leg for leg, level in levels.items() if level > 0.1 * loudest}


@dataclass
class Call:
    engine: MediaEngine
    phones: dict[Leg, RtpStream]  # the far ends: debtor's phone, agent's, supervisor's
    legs: dict[Leg, RtpStream]  # our streams towards each phone
    taps: dict[Leg, QueueTap]

    async def hearing(self) -> dict[Leg, set[Leg]]:
        await self.engine.wait_ticks(8)  # what the jitter buffers held plays out
        for tap in self.taps.values():
            tap.queue = asyncio.Queue(500)
        signals = await asyncio.gather(*(record(tap, 40) for tap in self.taps.values()))
        return {leg: heard(s) for leg, s in zip(self.taps, signals, strict=True)}


@pytest.fixture
async def call() -> AsyncIterator[Call]:
    async with MediaEngine(port_range=(44000, 44100)) as engine:
        phones, legs, taps = {}, {}, {}
        for leg in Leg:
            phones[leg], legs[leg] = await connect(engine, 0, 0)
            taps[leg] = QueueTap(500)
            phones[leg].add_tap(taps[leg])
            phones[leg].play(tone(TONES[leg]), loop=True)
        engine.bridge(legs[Leg.DEBTOR], legs[Leg.AGENT])
        yield Call(engine, phones, legs, taps)


def expected(mode: MonitorMode) -> dict[Leg, set[Leg]]:
    return {leg: set(sources) for leg, sources in HEARS[mode].items()}


async def test_before_monitoring_the_supervisor_hears_nothing(call: Call) -> None:
    assert await call.hearing() == {
        Leg.DEBTOR: {Leg.AGENT}, Leg.AGENT: {Leg.DEBTOR}, Leg.SUPERVISOR: set()}


@pytest.mark.parametrize("mode", list(MonitorMode))
async def test_each_mode_lets_each_party_hear_what_the_table_says(
    call: Call, mode: MonitorMode
) -> None:
    legs = call.legs
    call.engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], legs[Leg.SUPERVISOR], mode)
    assert await call.hearing() == expected(mode)


async def test_switching_modes_and_leaving_restore_the_plain_call(call: Call) -> None:
    legs, engine = call.legs, call.engine
    engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], legs[Leg.SUPERVISOR], MonitorMode.LISTEN)
    engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], legs[Leg.SUPERVISOR], MonitorMode.BARGE)
    assert await call.hearing() == expected(MonitorMode.BARGE)
    engine.end_monitor(legs[Leg.SUPERVISOR])
    assert engine.monitored_by(legs[Leg.DEBTOR]) is None
    assert await call.hearing() == {
        Leg.DEBTOR: {Leg.AGENT}, Leg.AGENT: {Leg.DEBTOR}, Leg.SUPERVISOR: set()}


async def test_the_supervisor_hanging_up_ends_the_monitor(call: Call) -> None:
    legs, engine = call.legs, call.engine
    engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], legs[Leg.SUPERVISOR], MonitorMode.BARGE)
    await engine.close_stream(legs[Leg.SUPERVISOR])
    assert engine.monitored_by(legs[Leg.AGENT]) is None
    assert legs[Leg.AGENT]._mix == () and legs[Leg.DEBTOR]._mix == ()
    hearing = await call.hearing()
    assert hearing[Leg.DEBTOR] == {Leg.AGENT} and hearing[Leg.AGENT] == {Leg.DEBTOR}


async def test_the_call_ending_ends_the_monitor(call: Call) -> None:
    legs, engine = call.legs, call.engine
    engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], legs[Leg.SUPERVISOR], MonitorMode.LISTEN)
    await engine.close_stream(legs[Leg.DEBTOR])
    assert engine.monitored_by(legs[Leg.SUPERVISOR]) is None
    assert legs[Leg.SUPERVISOR]._mix == ()


async def test_refuses_legs_that_are_not_one_call(call: Call) -> None:
    legs, engine = call.legs, call.engine
    with pytest.raises(ValueError, match="not bridged"):
        engine.monitor(legs[Leg.AGENT], legs[Leg.SUPERVISOR], legs[Leg.DEBTOR],
                       MonitorMode.LISTEN)
    with pytest.raises(ValueError, match="leg of its own"):
        engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], legs[Leg.AGENT], MonitorMode.LISTEN)
    engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], legs[Leg.SUPERVISOR], MonitorMode.LISTEN)
    second = await engine.open_stream(0)
    with pytest.raises(ValueError, match="another supervisor"):
        engine.monitor(legs[Leg.AGENT], legs[Leg.DEBTOR], second, MonitorMode.LISTEN)


def test_mix_sums_and_clips() -> None:
    a = np.array([1000, 30000, -30000, 0], np.int16)
    b = np.array([-500, 10000, -10000, 7], np.int16)
    assert mix([a, b]).tolist() == [500, 32767, -32768, 7]
    assert mix([a]) is a
    with pytest.raises(ValueError):
        mix([])
