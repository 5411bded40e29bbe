"""RTP timeout: a watched stream that hears nothing for the engine's ``rtp_timeout``
tells its watcher once; hold and unwatched streams never time out.

The rules on a stream with a clock of the test's own, then the engine over real UDP
on 127.0.0.1 (the check runs once a second on the media tick).
"""

from __future__ import annotations

import asyncio

import pytest

from telephony.media.engine import MediaEngine
from telephony.media.g711 import PCMU
from telephony.media.rtp import RtpSender
from telephony.media.stream import Direction, RtpStream

PORTS = (43000, 43100)
FAR_END = ("127.0.0.1", 40000)


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def packet(sender: RtpSender) -> bytes:
    return sender.frame(PCMU.silence(160))


async def test_quiet_for_counts_from_the_watch_or_the_last_packet() -> None:
    clock = Clock()
    stream = RtpStream(0, PCMU, now=clock)
    sender = RtpSender(1234, 0, 1, 1)
    assert stream.quiet_for(clock.now + 60) == 0.0  # not watched: never quiet
    stream.watch_media(lambda quiet: None)
    assert stream.quiet_for(clock.now + 3) == 3.0  # nothing heard since the watch began
    stream.datagram_received(packet(sender), FAR_END)  # arrives at 100.0
    clock.now = 105.0
    stream.datagram_received(packet(sender), FAR_END)
    assert stream.quiet_for(107.5) == 2.5
    stream.datagram_received(packet(sender), ("127.0.0.1", 40002))  # foreign: not heard
    assert stream.quiet_for(109.0) == 4.0


@pytest.mark.parametrize(
    ("direction", "quiet"),
    [(Direction.SENDRECV, 10.0), (Direction.RECVONLY, 10.0),
     (Direction.SENDONLY, 0.0), (Direction.INACTIVE, 0.0)],
)  # fmt: skip
async def test_a_stream_that_does_not_receive_is_never_quiet(
    direction: Direction, quiet: float
) -> None:
    clock = Clock()
    stream = RtpStream(0, PCMU, now=clock)
    stream.watch_media(lambda quiet: None)
    stream.set_direction(direction)  # a re-INVITE: the count starts again
    assert stream.quiet_for(clock.now + 10) == quiet


async def test_the_watcher_is_told_once() -> None:
    clock = Clock()
    stream = RtpStream(0, PCMU, now=clock)
    told: list[float] = []
    stream.watch_media(told.append)
    stream._check_quiet(clock.now + 1.9, 2.0)
    assert told == []
    stream._check_quiet(clock.now + 2.0, 2.0)
    stream._check_quiet(clock.now + 3.0, 2.0)
    assert told == [2.0]


def test_a_timeout_must_be_positive() -> None:
    with pytest.raises(ValueError, match="rtp_timeout"):
        MediaEngine(rtp_timeout=0)


async def test_the_engine_times_out_the_stream_that_stops_hearing() -> None:
    async with MediaEngine(port_range=PORTS, rtp_timeout=0.5) as engine:
        talker, listener = await engine.open_stream(0), await engine.open_stream(0)
        talker.set_remote(listener.local_address)
        listener.set_remote(talker.local_address)
        timed_out: dict[int, asyncio.Future[float]] = {}
        for stream in (talker, listener):
            timed_out[stream.port] = asyncio.get_running_loop().create_future()
            stream.watch_media(timed_out[stream.port].set_result)
        await engine.wait_ticks(75)  # 1.5 s of both sending: nobody is quiet
        assert not any(future.done() for future in timed_out.values())
        listener.set_direction(Direction.RECVONLY)  # it stops sending: the talker hears nothing
        async with asyncio.timeout(5):
            quiet = await timed_out[talker.port]
        assert 0.5 <= quiet < 2.0
        assert not timed_out[listener.port].done()  # it still hears the talker
