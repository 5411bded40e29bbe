"""Our user agent places calls to sipp debtor phones on loopback (scenarios in
``tests/data/sipp``). sipp's exit code is part of each verdict: its scenarios require
our ACKs (with the To tag of its final response), CANCEL, BYE and answers."""

from __future__ import annotations

import asyncio
import itertools
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from telephony.sip.call import Call, CallEvent, default_answer
from telephony.sip.call_state import Outcome
from telephony.sip.login import Login
from telephony.sip.sdp import Direction, SessionDescription, offer
from telephony.sip.transaction import Timing
from telephony.sip.ua import UserAgent
from tests.telephony.sip.peers import LOOPBACK, free_port, sipp

pytestmark = pytest.mark.e2e
OFFER = bytes(offer(LOOPBACK, 40000, session_id=7))
FROM = "sip:line1@127.0.0.1"


@pytest.fixture
async def ua() -> AsyncIterator[UserAgent]:
    agent = await UserAgent.open(LOOPBACK, 0)
    yield agent
    agent.close()


async def collect(call: Call, *, until: Outcome | None = None) -> list[CallEvent]:
    """The call's events up to ``until`` (or its final event), within 10 s."""
    seen: list[CallEvent] = []
    async with asyncio.timeout(10):
        async for event in call.events():
            seen.append(event)
            if event.outcome is until:
                break
    return seen


def outcomes(events: list[CallEvent]) -> list[Outcome]:
    return [event.outcome for event in events]


def sent_count(messages_log: str, start_line: str, cseq: str) -> int:
    """How many times sipp sent a message starting ``start_line`` with CSeq ``cseq``."""
    blocks = messages_log.split("UDP message sent")[1:]
    return sum(
        1
        for b in blocks
        if b.split("\n\n", 1)[-1].startswith(start_line)
        and f"CSeq: {cseq}\n" in b.replace("\r", "")
    )


async def test_answered_call_acked_once_and_hung_up_by_us(ua: UserAgent, tmp_path: Path) -> None:
    async with sipp("uas_answer", tmp_path, trace=True) as (peer, port):
        started = time.perf_counter()
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=10)
        events = await collect(call, until=Outcome.ANSWERED)
        answered_after = time.perf_counter() - started
        assert outcomes(events) == [Outcome.TRYING, Outcome.RINGING, Outcome.ANSWERED]
        assert call.remote_sdp is not None and b"m=audio" in call.remote_sdp
        ended = await call.bye()
        assert (ended.outcome, ended.status) == (Outcome.ENDED, 200)
        assert await peer.exit_code() == 0, peer.file("*errors.log")
    # sipp resends its 200 every 500 ms until it has our ACK: one 200 means a prompt ACK.
    assert sent_count(peer.file("*messages.log"), "SIP/2.0 200 OK", "1 INVITE") == 1
    assert 0.2 <= answered_after < 1.0  # the scenario rings for 200 ms


@pytest.mark.parametrize(
    ("status", "reason", "outcome"),
    [
        ("486", "Busy Here", Outcome.BUSY),
        ("603", "Decline", Outcome.REJECTED),
        ("480", "Temporarily Unavailable", Outcome.REJECTED),
        ("404", "Not Found", Outcome.REJECTED),
    ],
)
async def test_refusals_are_acked_and_reported(
    ua: UserAgent, tmp_path: Path, status: str, reason: str, outcome: Outcome
) -> None:
    fill = {"STATUS": status, "REASON": reason}
    async with sipp("uas_reject", tmp_path, fill=fill) as (peer, port):
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=10)
        events = await collect(call)
        assert outcomes(events) == [Outcome.TRYING, Outcome.RINGING, outcome]
        assert (events[-1].status, events[-1].reason) == (int(status), reason)
        assert await peer.exit_code() == 0, peer.file("*errors.log")


async def test_early_media_then_answer(ua: UserAgent, tmp_path: Path) -> None:
    async with sipp("uas_183", tmp_path) as (peer, port):
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=10)
        events = await collect(call, until=Outcome.ANSWERED)
        assert outcomes(events) == [Outcome.EARLY_MEDIA, Outcome.ANSWERED]
        early = events[0].sdp
        assert early is not None and SessionDescription.parse(early).media[0].port > 0
        assert (await call.bye()).outcome is Outcome.ENDED
        assert await peer.exit_code() == 0, peer.file("*errors.log")


async def test_ring_timeout_cancels_and_reports_no_answer(ua: UserAgent, tmp_path: Path) -> None:
    async with sipp("uas_noanswer", tmp_path) as (peer, port):
        started = time.perf_counter()
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=0.5)
        events = await collect(call)
        assert outcomes(events) == [Outcome.TRYING, Outcome.RINGING, Outcome.NO_ANSWER]
        assert events[-1].status == 487
        assert 0.5 <= time.perf_counter() - started < 1.5
        assert await peer.exit_code() == 0, peer.file("*errors.log")  # the 487 was ACKed


async def test_answer_crossing_our_cancel_is_acked_and_hung_up(
    ua: UserAgent, tmp_path: Path
) -> None:
    async with sipp("uas_cancel_race", tmp_path) as (peer, port):
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=10)
        assert outcomes(await collect(call, until=Outcome.RINGING)) == [Outcome.RINGING]
        call.cancel()
        final = (await collect(call))[-1]
        assert (final.outcome, final.status) == (Outcome.CANCELLED, 200)
        assert await peer.exit_code() == 0, peer.file("*errors.log")  # ACK, then BYE


async def test_far_end_hangs_up(ua: UserAgent, tmp_path: Path) -> None:
    async with sipp("uas_hangup", tmp_path) as (peer, port):
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=10)
        notified: list[CallEvent] = []
        call.on_remote_bye = notified.append
        events = await collect(call)
        assert outcomes(events) == [Outcome.ANSWERED, Outcome.HUNG_UP]
        assert notified == events[-1:] and "cause=16" in notified[0].reason
        assert await peer.exit_code() == 0, peer.file("*errors.log")  # our 200 to its BYE


async def test_hold_and_resume_both_ways(ua: UserAgent, tmp_path: Path) -> None:
    async with sipp("uas_reinvite", tmp_path) as (peer, port):
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=10)
        await collect(call, until=Outcome.ANSWERED)
        held = offer(LOOPBACK, 40000, session_id=7, version=2, direction=Direction.SENDONLY)
        answer = SessionDescription.parse(await call.reinvite(bytes(held)))
        assert answer.direction(answer.media[0]) is Direction.RECVONLY
        resumed = offer(LOOPBACK, 40000, session_id=7, version=3)
        answer = SessionDescription.parse(await call.reinvite(bytes(resumed)))
        assert answer.direction(answer.media[0]) is Direction.SENDRECV
        offered = asyncio.Event()

        def answer_offer(remote: bytes) -> bytes | None:
            offered.set()
            return default_answer(call.local_sdp, remote)

        call.answer_offer = answer_offer
        async with asyncio.timeout(5):
            await offered.wait()
        assert (await call.bye()).outcome is Outcome.ENDED
        assert await peer.exit_code() == 0, peer.file("*errors.log")  # our 200 had recvonly


async def test_digest_authentication_as_a_trunk_client(ua: UserAgent, tmp_path: Path) -> None:
    async with sipp("uas_auth", tmp_path) as (peer, port):
        call = ua.invite(
            f"sip:+8613800000000@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=10,
            credentials=Login("trunk", "s3cret"),
        )  # fmt: skip
        events = await collect(call, until=Outcome.ANSWERED)
        assert outcomes(events) == [Outcome.ANSWERED]
        assert call.invite.cseq.number == 2 and "Authorization" in call.invite.headers
        assert (await call.bye()).outcome is Outcome.ENDED
        assert await peer.exit_code() == 0, peer.file("*errors.log")


class _Silent(asyncio.DatagramProtocol):
    """A peer that hears everything and answers nothing."""

    def __init__(self) -> None:
        self.arrivals: list[float] = []

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.arrivals.append(time.perf_counter())


async def test_unanswered_invite_fails_on_timer_b() -> None:
    timing = Timing(t1=0.05)  # B = 64*T1 = 3.2 s instead of 32 s
    ua = await UserAgent.open(LOOPBACK, 0, timing=timing)
    silent = _Silent()
    port = free_port()
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: silent, local_addr=(LOOPBACK, port)
    )
    try:
        started = time.perf_counter()
        call = ua.invite(f"sip:debtor@{LOOPBACK}:{port}", OFFER, from_uri=FROM, ring_timeout=60)
        events = await collect(call)
        elapsed = time.perf_counter() - started
    finally:
        transport.close()
        ua.close()
    assert outcomes(events) == [Outcome.FAILED] and "timeout" in events[0].reason
    assert elapsed >= 3.2  # never before timer B (a busy machine may be later)
    sends = [t - started for t in silent.arrivals]  # timer A: 0.05 s doubling
    assert 6 <= len(sends) <= 7  # the INVITE and its retransmissions within B (the last
    # is due at 3.15 s, a hair before B: a loaded machine may fire B first)
    gaps = [b - a for a, b in itertools.pairwise(sends)]
    assert all(gap >= 0.05 * 2**n * 0.9 for n, gap in enumerate(gaps)), gaps  # never early
