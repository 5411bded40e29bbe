"""The media engine over real UDP on 127.0.0.1: bridging, transcoding, latching,
malformed input, hold/resume, DTMF, playback, clock catch-up, uvloop.

Every wait is on an event or queue under ``asyncio.timeout``; the engine's
``wait_ticks`` hook stands in for "let N media ticks pass".
"""

from __future__ import annotations

import asyncio
import itertools
import random
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import cast

import numpy as np
import numpy.typing as npt
import pytest
import uvloop

from telephony.media.engine import MediaEngine
from telephony.media.g711 import PCMA, PCMU, Pcm
from telephony.media.inbound import Address
from telephony.media.rtp import RtpPacket, RtpSender
from telephony.media.stream import Direction, RtpStream
from telephony.media.taps import QueueTap

PORTS = (42000, 43000)


@pytest.fixture
async def engine() -> AsyncIterator[MediaEngine]:
    async with MediaEngine(port_range=PORTS) as engine:
        yield engine


class Probe(asyncio.DatagramProtocol):
    """A bare UDP socket on loopback that records what arrives and sends raw bytes."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[tuple[bytes, float]] = asyncio.Queue()
        self.transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.DatagramTransport, transport)

    def datagram_received(self, data: bytes, addr: Address) -> None:
        self.queue.put_nowait((data, time.monotonic()))

    @property
    def address(self) -> Address:
        assert self.transport is not None
        return cast(Address, self.transport.get_extra_info("sockname")[:2])

    def send(self, data: bytes, to: RtpStream) -> None:
        assert self.transport is not None
        self.transport.sendto(data, to.local_address)

    async def packets(self, count: int) -> list[tuple[RtpPacket, float]]:
        async with asyncio.timeout(5):
            return [
                (RtpPacket.parse(data), at)
                for data, at in [await self.queue.get() for _ in range(count)]
            ]


@pytest.fixture
async def probe_factory() -> AsyncIterator[Callable[[], Awaitable[Probe]]]:
    opened: list[Probe] = []

    async def open_probe() -> Probe:
        loop = asyncio.get_running_loop()
        _, probe = await loop.create_datagram_endpoint(Probe, local_addr=("127.0.0.1", 0))
        opened.append(probe)
        return probe

    yield open_probe
    for probe in opened:
        assert probe.transport is not None
        probe.transport.close()
    await asyncio.sleep(0)  # let the transports' connection_lost run


async def connect(engine: MediaEngine, a_pt: int, b_pt: int) -> tuple[RtpStream, RtpStream]:
    a, b = await engine.open_stream(a_pt), await engine.open_stream(b_pt)
    a.set_remote(b.local_address)
    b.set_remote(a.local_address)
    return a, b


def bursts(freqs: tuple[int, ...], burst: float = 0.08, gap: float = 0.04) -> Pcm:
    """Distinct tone bursts with gaps: one sharp cross-correlation peak."""
    t = np.arange(int(burst * 8000)) / 8000
    parts = []
    for freq in freqs:
        parts += [8000 * np.sin(2 * np.pi * freq * t), np.zeros(int(gap * 8000))]
    return np.concatenate(parts).astype(np.int16)


def best_match(received: npt.NDArray[np.int16], sent: Pcm) -> tuple[int, float]:
    """The lag (samples) where ``sent`` best matches inside ``received``, and the
    normalised cross-correlation there (1.0 = identical shape)."""
    r, s = received.astype(np.float64), sent.astype(np.float64)
    corr = np.correlate(r, s, "valid")
    energy = np.convolve(r * r, np.ones(len(s)), "valid")
    score = corr / (np.linalg.norm(s) * np.sqrt(np.maximum(energy, 1e-9)))
    lag = int(np.argmax(score))
    return lag, float(score[lag])


async def record(tap: QueueTap, ticks: int, *, inbound: bool = True) -> npt.NDArray[np.int16]:
    """``ticks`` consecutive tap frames of one direction, silence where none."""
    frames = []
    async with asyncio.timeout(ticks * 0.02 + 3):
        for _ in range(ticks):
            frame = await tap.get()
            pcm = frame.inbound if inbound else frame.outbound
            frames.append(np.zeros(160, np.int16) if pcm is None else pcm)
    return np.concatenate(frames)


async def until(engine: MediaEngine, predicate: Callable[[], bool]) -> None:
    async with asyncio.timeout(3):
        while not predicate():
            await engine.wait_ticks(1)


SIGNAL_A = bursts((350, 620, 940, 1330, 1770))
SIGNAL_B = bursts((1900, 1210, 800, 500, 300))


@pytest.mark.parametrize(("far_pt", "near_pt"), [(0, 0), (8, 0), (8, 8)], ids=str)
async def test_bridge_carries_played_audio_both_ways(
    engine: MediaEngine, far_pt: int, near_pt: int
) -> None:
    caller, a = await connect(engine, far_pt, far_pt)
    b, callee = await connect(engine, near_pt, near_pt)
    engine.bridge(a, b)
    caller_tap, callee_tap = QueueTap(500), QueueTap(500)
    caller.add_tap(caller_tap)
    callee.add_tap(callee_tap)
    caller.play(SIGNAL_A)
    callee.play(SIGNAL_B)
    ticks = len(SIGNAL_A) // 160 + 15
    at_callee, at_caller = await asyncio.gather(
        record(callee_tap, ticks), record(caller_tap, ticks)
    )
    for received, sent in ((at_callee, SIGNAL_A), (at_caller, SIGNAL_B)):
        lag, score = best_match(received, sent)
        assert score > 0.97
        assert lag % 160 == 0 and lag <= 12 * 160  # whole frames, jitter buffers only
    assert a.stats().packets_lost == b.stats().packets_lost == 0


async def test_pcma_leg_carries_real_a_law(
    engine: MediaEngine, probe_factory: Callable[[], Awaitable[Probe]]
) -> None:
    probe = await probe_factory()
    a = await engine.open_stream(8, remote=probe.address)
    b, callee = await connect(engine, 0, 0)
    engine.bridge(a, b)
    callee.play(SIGNAL_A)
    packets = await probe.packets(len(SIGNAL_A) // 160 + 12)
    assert {p.payload_type for p, _ in packets} == {8}
    wire = b"".join(p.payload for p, _ in packets)
    assert best_match(PCMA.decode(wire), SIGNAL_A)[1] > 0.97
    # Bit-exact: the μ-law frames the callee sent, decoded and re-encoded as A-law, with
    # A-law's own silence code (0xD5, μ-law's is 0xFF) around them.
    expected = PCMA.encode(PCMU.decode(PCMU.encode(SIGNAL_A)))
    assert expected in wire
    assert wire.startswith(b"\xd5" * 160)


async def test_unbridge_returns_both_legs_to_silence(engine: MediaEngine) -> None:
    caller, a = await connect(engine, 0, 0)
    b, callee = await connect(engine, 0, 0)
    engine.bridge(a, b)
    tap = QueueTap(500)
    callee.add_tap(tap)
    caller.play(SIGNAL_A, loop=True)
    assert np.abs(await record(tap, 20)).max() > 4000
    engine.unbridge(b)
    assert a.bridged_to is None and b.bridged_to is None
    await engine.wait_ticks(8)  # frames already in the jitter buffers play out
    tap.queue = asyncio.Queue(500)
    assert np.abs(await record(tap, 10)).max() == 0


async def test_latching_follows_first_sender_and_ignores_foreign(
    engine: MediaEngine, probe_factory: Callable[[], Awaitable[Probe]]
) -> None:
    sdp_peer, nat_peer, intruder = [await probe_factory() for _ in range(3)]
    stream = await engine.open_stream(0, remote=sdp_peer.address)
    await sdp_peer.packets(2)  # before any packet comes in, the SDP address gets media
    sender = RtpSender(1234, 0, 100, 0)
    nat_peer.send(sender.frame(PCMU.silence(160)), stream)
    await until(engine, lambda: stream.latched)
    assert stream.remote == nat_peer.address
    for seq in range(5):
        intruder.send(bytes(RtpPacket(0, seq, 0, 999, PCMU.silence(160))), stream)
    await until(engine, lambda: stream.stats().packets_foreign == 5)
    await nat_peer.packets(5)
    assert intruder.queue.empty()
    assert stream.remote == nat_peer.address and stream.stats().packets_received == 1


MALFORMED = [
    b"\x80",  # one byte
    bytes(11),  # short header
    bytes([0x40, 0]) + bytes(10),  # RTP version 1
    bytes([0x8F, 0]) + bytes(20),  # 15 CSRCs announced, 5 present
    bytes([0xA0, 0]) + bytes(10) + b"\x00",  # padding bit with padding length 0
    bytes([0x90, 0]) + bytes(10) + b"\x00\x00\x00\x09",  # extension of 9 missing words
    bytes(RtpPacket(101, 1, 1, 77, b"\x01\x02\x03")),  # telephone-event of 3 bytes
]


async def test_malformed_datagrams_are_counted_and_the_stream_carries_on(
    engine: MediaEngine, probe_factory: Callable[[], Awaitable[Probe]]
) -> None:
    probe = await probe_factory()
    stream = await engine.open_stream(0, remote=probe.address)
    tap = QueueTap(500)
    stream.add_tap(tap)
    rng = random.Random(4733)
    garbage = [bytes([rng.randrange(64)]) + rng.randbytes(rng.randrange(200)) for _ in range(20)]
    sender = RtpSender(77, 0, 0, 0)
    tone = bursts((440,), burst=0.4, gap=0.0)
    for index, bad in enumerate(MALFORMED + garbage):
        probe.send(bad, stream)
        probe.send(sender.frame(PCMU.encode(tone[index * 160 : index * 160 + 160])), stream)
        await engine.wait_ticks(1)  # a real peer sends one frame per 20 ms
    await until(engine, lambda: stream.stats().packets_received >= 27)
    stats = stream.stats()
    assert (stats.packets_received, stats.packets_malformed, stats.packets_lost) == (27, 27, 0)
    inbound = await record(tap, 27 + 8)
    assert best_match(inbound, tone[: 27 * 160])[1] > 0.97
    assert len(await probe.packets(10)) == 10  # still sending


async def test_hold_and_resume_keep_one_ssrc_and_sequence_line(
    engine: MediaEngine, probe_factory: Callable[[], Awaitable[Probe]]
) -> None:
    probe = await probe_factory()
    stream = await engine.open_stream(0, remote=probe.address)
    before = await probe.packets(25)
    stream.set_direction(Direction.INACTIVE)
    await engine.wait_ticks(15)
    stream.set_direction("sendrecv")
    after = await probe.packets(25)
    packets = [p for p, _ in before + after]
    assert {p.ssrc for p in packets} == {stream.sender.ssrc}
    seqs = [p.sequence_number for p in packets]
    assert seqs == [(seqs[0] + i) & 0xFFFF for i in range(len(seqs))]
    steps = timestamp_steps(packets)
    held = [i for i, step in enumerate(steps) if step != 160]
    assert len(held) == 1 and steps[held[0]] >= 14 * 160 and steps[held[0]] % 160 == 0
    assert packets[held[0] + 1].marker
    for run in (before, after):  # ~50 packets a second while sending
        span = run[-1][1] - run[0][1]
        assert 0.35 < span < 0.8, span


async def test_recvonly_keeps_receiving_and_sendonly_discards(
    engine: MediaEngine, probe_factory: Callable[[], Awaitable[Probe]]
) -> None:
    probe = await probe_factory()
    stream = await engine.open_stream(0, remote=probe.address, direction="recvonly")
    sender = RtpSender(5, 0, 0, 0)
    probe.send(sender.frame(PCMU.silence(160)), stream)
    await until(engine, lambda: stream.stats().packets_received == 1)
    stream.set_direction(Direction.SENDONLY)
    probe.send(sender.frame(PCMU.silence(160)), stream)
    await until(engine, lambda: stream.stats().packets_discarded == 1)
    assert stream.stats().packets_sent > 0 and stream.stats().packets_received == 1


async def test_dtmf_digits_are_detected_once_on_the_other_side(engine: MediaEngine) -> None:
    caller, callee = await connect(engine, 8, 8)
    caller.send_dtmf("19#*", duration=640)
    async with asyncio.timeout(5):
        digits = [await callee.dtmf.get() for _ in range(4)]
    assert [(d.digit, d.duration) for d in digits] == [(c, 640) for c in "19#*"]
    await engine.wait_ticks(20)  # the redundant end packets have all arrived
    assert callee.dtmf.empty()


async def test_dtmf_waits_for_resume_and_completes(engine: MediaEngine) -> None:
    caller, callee = await connect(engine, 0, 0)
    caller.set_direction(Direction.INACTIVE)
    sent = caller.send_dtmf("7")
    await engine.wait_ticks(10)
    assert not sent.done() and callee.dtmf.empty()
    caller.set_direction(Direction.SENDRECV)
    async with asyncio.timeout(3):
        assert await sent is True
        assert (await callee.dtmf.get()).digit == "7"


async def test_playback_completes_stops_and_is_replaced(engine: MediaEngine) -> None:
    stream, _ = await connect(engine, 0, 0)
    async with asyncio.timeout(3):
        assert await stream.play(np.zeros(800, np.int16)) is True
        looping = stream.play(SIGNAL_A, loop=True)
        await engine.wait_ticks(3)
        replacing = stream.play(SIGNAL_B.tobytes())
        assert await looping is False
        await engine.wait_ticks(2)
        stream.stop_playback()
        assert await replacing is False
        final = stream.play(SIGNAL_A)
    await engine.close_stream(stream)
    assert await final is False


def stall(seconds: float) -> None:
    time.sleep(seconds)  # blocks the event loop on purpose: a stalled process


async def test_clock_catches_up_short_stalls_and_skips_long_ones(
    engine: MediaEngine, probe_factory: Callable[[], Awaitable[Probe]]
) -> None:
    probe = await probe_factory()
    await engine.open_stream(0, remote=probe.address)
    await probe.packets(3)
    asyncio.get_running_loop().call_soon(stall, 0.3)  # a long GC pause: caught up
    caught_up = [p for p, _ in await probe.packets(15)]
    assert timestamp_steps(caught_up) == [160] * 14  # every due frame was sent
    assert engine.clock.skipped == 0 and engine.stats().completion.max > 0.06
    asyncio.get_running_loop().call_soon(stall, 0.7)
    skipped = [p for p, _ in await probe.packets(15)]
    assert engine.clock.skipped >= 15
    steps = timestamp_steps(caught_up + skipped)
    jumps = [i for i, step in enumerate(steps) if step != 160]
    assert len(jumps) == 1 and steps[jumps[0]] >= 16 * 160
    assert (caught_up + skipped)[jumps[0] + 1].marker


def send_paced(packets: list[bytes], to: Address) -> None:
    """A real peer: one packet every 20 ms on its own clock, whatever our loop does."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        start = time.monotonic()
        for n, packet in enumerate(packets):
            time.sleep(max(0.0, start + n * 0.02 - time.monotonic()))
            sock.sendto(packet, to)


async def test_packets_that_waited_through_a_stall_are_all_played_and_tapped(
    engine: MediaEngine, probe_factory: Callable[[], Awaitable[Probe]]
) -> None:
    """A loop iteration slower than a tick leaves several packets on the socket; they
    are all read before the catch-up ticks and the jitter buffer holds them, so the
    recording keeps every frame (with 150 ms stalls, 3 of 100 were silent before, 8
    with only the reads: the jitter buffer skipped ahead)."""
    probe = await probe_factory()
    stream = await engine.open_stream(0, remote=probe.address)
    tap = QueueTap(1000)
    stream.add_tap(tap)
    tone = bursts((440,), burst=2.0, gap=0.0)
    sender = RtpSender(77, 0, 0, 0)
    packets = [sender.frame(PCMU.encode(tone[n * 160:(n + 1) * 160])) for n in range(100)]
    peer = asyncio.create_task(asyncio.to_thread(send_paced, packets, stream.local_address))
    await asyncio.sleep(0.5)
    for seconds in (0.15, 0.3, 0.15):  # 7, 15 and 7 ticks late (a GC pause), none skipped
        asyncio.get_running_loop().call_soon(stall, seconds)
        await asyncio.sleep(0.3)
    await peer
    await until(engine, lambda: stream.stats().packets_received == 100)
    await engine.wait_ticks(10)
    heard = [tap.queue.get_nowait().inbound for _ in range(tap.queue.qsize())]
    first = next(n for n, pcm in enumerate(heard) if pcm is not None and pcm.any())
    tapped = heard[first:first + 100]
    assert engine.clock.skipped == 0
    assert sum(pcm is None or not pcm.any() for pcm in tapped) == 0
    assert stream.stats().packets_late == 0 and stream.stats().concealed == 0


def timestamp_steps(packets: list[RtpPacket]) -> list[int]:
    return [(b.timestamp - a.timestamp) & 0xFFFF_FFFF for a, b in itertools.pairwise(packets)]


async def scenario_on_any_loop() -> float:
    async with MediaEngine(port_range=PORTS) as engine:
        caller, a = await connect(engine, 0, 0)
        b, callee = await connect(engine, 8, 8)
        engine.bridge(a, b)
        tap = QueueTap(500)
        callee.add_tap(tap)
        caller.play(SIGNAL_A)
        return best_match(await record(tap, len(SIGNAL_A) // 160 + 15), SIGNAL_A)[1]


def test_runs_on_uvloop() -> None:
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        assert isinstance(runner.get_loop(), uvloop.Loop)
        assert runner.run(scenario_on_any_loop()) > 0.97
