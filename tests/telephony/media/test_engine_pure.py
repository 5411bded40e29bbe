"""Pure parts of the media engine: tick schedule, latency histogram, inbound rules,
playback and DTMF send plans. No sockets, no loop except where futures need one."""

from __future__ import annotations

import asyncio
import socket
from typing import cast

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.media.clock import MediaClock
from telephony.media.dtmf import TelephoneEvent
from telephony.media.g711 import PCMA, PCMU
from telephony.media.histogram import LatencyHistogram
from telephony.media.inbound import Inbound
from telephony.media.rtp import RtpPacket
from telephony.media.schedule import Due, TickSchedule
from telephony.media.sources import DtmfSend, Playback, as_pcm
from telephony.media.stream import RtpStream

ADDR = ("127.0.0.1", 40000)
OTHER = ("127.0.0.1", 40002)


def test_ticks_run_on_absolute_deadlines_without_drift() -> None:
    schedule = TickSchedule(100.0)
    assert schedule.take(99.99) == Due(0, 0)
    assert schedule.take(100.0007) == Due(0, 1)
    assert schedule.take(100.0201) == Due(1, 1)
    # A million ticks on, the deadline is still origin + n * period, not a running sum.
    assert schedule.deadline(1_000_000) == pytest.approx(100.0 + 20_000.0, abs=1e-9)


def test_late_loop_catches_up_every_due_tick() -> None:
    schedule = TickSchedule(0.0)
    schedule.take(0.0)
    assert schedule.take(0.0905) == Due(1, 4)  # ticks 1..4 are due at 20..80 ms
    assert schedule.take(0.0995) == Due(5, 0)
    assert schedule.skipped == 0


def test_far_behind_skips_ahead_and_counts_the_skip() -> None:
    schedule = TickSchedule(0.0, max_behind=0.2)
    schedule.take(0.0)
    assert schedule.take(0.5) == Due(25, 1, skipped=24)
    assert schedule.skipped == 24
    assert schedule.take(0.52) == Due(26, 1)


def test_early_allows_a_tick_just_before_its_deadline() -> None:
    schedule = TickSchedule(0.0, early=0.001)
    assert schedule.take(-0.0015) == Due(0, 0)
    assert schedule.take(-0.0005) == Due(0, 1)


@given(st.lists(st.floats(min_value=0.0, max_value=0.5), min_size=1, max_size=50))
def test_every_passed_deadline_is_run_or_skipped_exactly_once(gaps: list[float]) -> None:
    schedule = TickSchedule(0.0)
    now, seen = 0.0, 0
    for gap in gaps:
        now += gap
        due = schedule.take(now)
        assert due.first == seen + due.skipped
        seen += due.skipped + due.count
    assert seen == schedule.next_tick
    assert now < schedule.deadline(seen)
    assert seen == 0 or schedule.deadline(seen - 1) <= now


def test_deadline_and_take_agree_despite_float_rounding() -> None:
    schedule = TickSchedule(0.0)
    schedule.take(0.5)
    due = schedule.take(0.7)  # 0.7 / 0.02 == 35.0, but deadline(35) is 0.7000000000000001
    assert due == Due(26, 9) and schedule.deadline(35) > 0.7


def test_histogram_percentiles_and_overflow() -> None:
    histogram = LatencyHistogram(resolution=0.001, limit=0.1)
    for ms in range(1, 101):
        histogram.record(ms / 1000 - 0.0005)
    histogram.record(3.0)  # beyond the limit: counted, and the max is exact
    histogram.record(-0.002)  # early: counts as on time
    summary = histogram.summary()
    assert summary.count == 102
    assert summary.p50 == pytest.approx(0.050)
    assert summary.p99 == pytest.approx(0.1)
    assert (summary.max, summary.min) == (3.0, -0.002)
    histogram.reset()
    assert histogram.summary().count == 0


def packet(seq: int, *, pt: int = 0, ssrc: int = 7, payload: bytes = b"\xff" * 160) -> bytes:
    return bytes(RtpPacket(pt, seq, seq * 160, ssrc, payload))


def test_inbound_latches_on_first_good_packet_and_counts_the_rest() -> None:
    inbound = Inbound()
    inbound.set_remote(("127.0.0.1", 9))
    assert inbound.receive(b"\x80", OTHER, 0.0) == ()  # malformed: no latch
    assert not inbound.latched
    inbound.receive(packet(1), ADDR, 0.0)
    assert (inbound.remote, inbound.latched) == (ADDR, True)
    inbound.receive(packet(2), OTHER, 0.02)
    inbound.receive(bytes([0x81, 200, 0, 1, 0, 0, 0, 7]), ADDR, 0.02)  # RTCP RR
    assert (inbound.foreign, inbound.malformed, inbound.rtcp, inbound.received) == (1, 1, 1, 1)


def test_inbound_discards_while_not_receiving_and_restarts_on_new_ssrc() -> None:
    inbound = Inbound()
    inbound.receive(packet(1), ADDR, 0.0)
    inbound.receiving = False
    inbound.receive(packet(2), ADDR, 0.02)
    inbound.receiving = True
    inbound.receive(packet(500, ssrc=8), ADDR, 0.04)
    assert (inbound.discarded, inbound.sources, inbound.received, inbound.lost) == (1, 2, 2, 0)


def test_inbound_reports_a_digit_whose_end_was_lost_after_the_timeout() -> None:
    inbound = Inbound(dtmf_payload_type=101)
    start = bytes(TelephoneEvent(5, duration=160))
    inbound.receive(packet(1, pt=101, payload=start), ADDR, 1.0)
    assert inbound.flush_dtmf(1.1, 0.3) == ()
    (digit,) = inbound.flush_dtmf(1.4, 0.3)
    assert digit.digit == "5"
    assert inbound.flush_dtmf(2.0, 0.3) == ()


async def test_playback_frames_complete_once_the_last_is_out() -> None:
    clip = np.arange(400, dtype=np.int16)  # 2.5 frames: padded to 3
    playback = Playback(as_pcm(clip), asyncio.get_running_loop().create_future())
    payloads = [playback.next_frame(PCMA) for _ in range(3)]
    assert playback.done() and await playback
    assert b"".join(p for p, _ in payloads) == PCMA.encode(as_pcm(clip))
    assert [len(p) for p, _ in payloads] == [160, 160, 160]
    assert all(pcm is None for _, pcm in payloads)  # taps decode what went out


async def test_looping_playback_wraps_and_ends_only_when_stopped() -> None:
    clip = as_pcm(np.full(320, 1000, dtype=np.int16))
    playback = Playback(clip, asyncio.get_running_loop().create_future(), loop=True)
    frames = [playback.next_frame(PCMU)[0] for _ in range(5)]
    assert frames[0] == frames[2] == frames[4] and not playback.done()
    playback.stop()
    assert await playback is False


async def test_dtmf_send_plan_has_events_then_audio_gaps() -> None:
    send = DtmfSend("1#", asyncio.get_running_loop().create_future(), gap_ticks=2)
    steps = [send.next_step() for _ in range(len(send.steps))]
    events = [TelephoneEvent.parse(step[0]) for step in steps if step is not None]
    assert [e.digit for e in events if e.end] == ["1"] * 3 + ["#"] * 3
    assert [step[1] for step in steps if step is not None].count(True) == 2
    assert steps.count(None) == 4
    assert await send


def test_as_pcm_accepts_bytes_and_int16_only() -> None:
    assert len(as_pcm(b"\x01\x00" * 10)) == 160
    with pytest.raises(ValueError, match="even byte count"):
        as_pcm(b"\x01")
    with pytest.raises(TypeError):
        as_pcm(np.zeros(10, dtype=np.float32))


class FailingListener:
    def __init__(self) -> None:
        self.ticks: list[int] = []

    def on_tick(self, tick: int) -> None:
        self.ticks.append(tick)
        raise RuntimeError("listener bug")

    def after_tick(self, tick: int) -> None:
        pass

    def on_skip(self, ticks: int) -> None:
        pass


async def test_clock_logs_a_failing_listener_and_keeps_ticking(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = MediaClock()
    listener = FailingListener()
    clock.add_listener(listener)
    clock.start()
    try:
        async with asyncio.timeout(2):
            last = await clock.wait_ticks(3)
    finally:
        await clock.stop()
    assert listener.ticks == [0, 1, 2] and last == 2
    assert caplog.text.count("media clock listener failed on tick") == 3
    assert clock.lateness.count == clock.completion.count == clock.finish.count == 3


def test_inbound_gives_the_stream_back_to_the_address_sdp_gave() -> None:
    """RTP the far end of a lost call still sends to a reused port latches first (a
    restart after kill -9); the address SDP gave takes the stream back for good."""
    inbound = Inbound()
    inbound.set_remote(ADDR)
    inbound.receive(packet(1, ssrc=9), OTHER, 0.0)
    assert (inbound.remote, inbound.latched) == (OTHER, True)
    inbound.receive(packet(1), ADDR, 0.01)
    inbound.receive(packet(2, ssrc=9), OTHER, 0.02)
    inbound.receive(packet(2), ADDR, 0.03)
    assert (inbound.remote, inbound.foreign, inbound.received) == (ADDR, 1, 3)


class WaitingSocket:
    """A non-blocking UDP socket's reads: the datagrams waiting, then EAGAIN."""

    def __init__(self) -> None:
        self.waiting: list[tuple[bytes, tuple[str, int]]] = []
        self.reads = 0

    def recvfrom(self, size: int) -> tuple[bytes, tuple[str, int]]:
        self.reads += 1
        if not self.waiting:
            raise BlockingIOError
        return self.waiting.pop(0)


async def test_a_stream_reads_what_waits_on_its_socket_only_after_a_late_datagram() -> None:
    """Datagrams 20 ms apart cost no extra read; one that comes after a gap (the loop
    was held up) takes every datagram waiting behind it, before the tick runs."""
    now = [100.0]
    stream = RtpStream(30000, PCMU, now=lambda: now[0])
    sock = WaitingSocket()
    stream._attach_socket(cast(socket.socket, sock))
    far = ("127.0.0.1", 40000)
    for seq in range(5):  # in time
        stream.datagram_received(packet(seq), far)
        now[0] += 0.02
    assert sock.reads == 1  # the first datagram of the stream looks
    now[0] += 0.2  # the loop stalled: 10 more came meanwhile
    sock.waiting = [(packet(seq), far) for seq in range(6, 16)]
    stream.datagram_received(packet(5), far)
    assert sock.waiting == [] and stream.stats().packets_received == 16
    assert sock.reads == 1 + 11  # ten datagrams and the read that found none
