"""Calls end to end through call control, with real peers on loopback.

A sipp debtor phone reached through a work line talks (espeak-ng speech, looped); a
baresip agent softphone, registered at our registrar with digest, answers and talks
back (other speech). Call control bridges the two and taps the debtor leg; the audio
each side heard is matched against what the other side played (normalised
cross-correlation), for longer than the 32 s a peer waits for an ACK to its 200.
Then hold and resume as RTP on the wire, a thousand calls leaking nothing, and the
failure outcomes.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import itertools
import os
import socket
import statistics
import struct
import threading
import time
import weakref
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from telephony.control import AtCapacity, CallControl, ControlledCall
from telephony.lines import LineRefused, WorkLine, WorkLines
from telephony.media.engine import MediaEngine
from telephony.media.g711 import Pcm
from telephony.media.load import LoadGauge
from telephony.media.sources import FRAME
from telephony.sip.bindings import Binding
from telephony.sip.call import Call
from telephony.sip.call_state import Outcome
from telephony.sip.incoming import IncomingCall
from telephony.sip.registrar import Passwords, Registrar
from telephony.sip.sdp import Direction, SessionDescription, answer, offer
from telephony.sip.transaction import DEFAULT_TIMING, Timing
from telephony.sip.ua import UserAgent
from tests.telephony.audio import matches, speech, wav_samples
from tests.telephony.sip.peers import LOOPBACK, Process, baresip, sipp
from tests.telephony.sip.test_ua_back_to_back import CALLER_SDP

pytestmark = pytest.mark.e2e

RTP_PORTS = (61000, 62000)  # above the ephemeral range and the peers' free_port() range
REALM = "callcase"
AGENT, AGENT_PASSWORD = "1001", "secret-1001"
DEBTOR = "+4930901820"
TALK_SECONDS = 34.0  # past 64*T1 = 32 s, when a peer without our ACK gives the call up
DEBTOR_SAYS = (
    "Hello, this is Maria Lopez. I got your letter about the account, "
    "and I would like to talk about a payment plan."
)
AGENT_SAYS = (
    "Good morning, you are speaking with Daniel from the collections office. "
    "How can I help you today?"
)
SILENCE = np.zeros(FRAME, dtype=np.int16)


# -- our side: user agent with registrar, media engine ---------------------------------


@dataclass
class Switch:
    """Our user agent (with the registrar agents register at) and media engine."""

    ua: UserAgent
    registrar: Registrar
    media: MediaEngine
    bound: dict[str, asyncio.Future[Binding | None]] = field(default_factory=dict)

    @property
    def port(self) -> int:
        return self.ua.endpoint.address[1]

    def binding(self, extension: str) -> asyncio.Future[Binding | None]:
        return self.bound.setdefault(extension, asyncio.get_running_loop().create_future())

    def on_binding(self, extension: str, binding: Binding | None) -> None:
        future = self.binding(extension)
        if not future.done():
            future.set_result(binding)

    @contextlib.asynccontextmanager
    async def control(self, *lines: WorkLine) -> AsyncIterator[CallControl]:
        control = CallControl(self.ua, self.media, WorkLines(lines), media_host=LOOPBACK)
        try:
            yield control
        finally:
            await control.close()


@pytest.fixture
async def switch() -> AsyncIterator[Switch]:
    registrar = Registrar(Passwords({AGENT: AGENT_PASSWORD}, REALM), realm=REALM)
    async with MediaEngine(host=LOOPBACK, port_range=RTP_PORTS) as media:
        ua = await UserAgent.open(LOOPBACK, 0, registrar=registrar)
        found = Switch(ua, registrar, media)
        registrar.on_binding = found.on_binding
        try:
            yield found
        finally:
            ua.close()


def trunk(port: int, name: str = "trunk1", *, active: bool = True) -> WorkLine:
    return WorkLine(name, LOOPBACK, port, caller_id="+4930901800", active=active)


async def answered(*calls: ControlledCall, within: float = 10.0) -> None:
    """Until every call is answered; fails at once if one ends without an answer."""
    async with asyncio.timeout(within):
        for call in calls:
            async for event in call.events():
                if event.outcome is Outcome.ANSWERED:
                    break
            else:
                pytest.fail(f"call {call.call_id} ended unanswered: {call.outcome}")


async def stays_up(seconds: float, *calls: ControlledCall) -> list[ControlledCall]:
    """Wait ``seconds``; the calls that ended meanwhile (none, for a good call)."""
    waiters = {asyncio.ensure_future(call.finished()): call for call in calls}
    try:
        done, _ = await asyncio.wait(waiters, timeout=seconds, return_when="FIRST_COMPLETED")
    finally:
        for waiter in waiters:
            waiter.cancel()
        await asyncio.gather(*waiters, return_exceptions=True)
    return [waiters[each] for each in done]


class Recorder:
    """A tap keeping both directions of a leg, silence on ticks that carried none."""

    def __init__(self) -> None:
        self.inbound: list[Pcm] = []
        self.outbound: list[Pcm] = []
        self.missing_inbound = 0

    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None:
        self.missing_inbound += inbound is None
        self.inbound.append(SILENCE if inbound is None else inbound)
        self.outbound.append(SILENCE if outbound is None else outbound)

    def heard(self, *, skip: float) -> Pcm:
        return np.concatenate(self.inbound[int(skip * 50) :])

    def said(self, *, skip: float) -> Pcm:
        return np.concatenate(self.outbound[int(skip * 50) :])


# -- the agent: baresip with its audio dumped ------------------------------------------


def agent_softphone(directory: Path, audio: Path, *, registrar: int
                    ) -> contextlib.AbstractAsyncContextManager[Process]:
    """peers.baresip speaking ``audio``, dumping what it heard and sent to
    ``directory/dumps``."""
    (directory / "dumps").mkdir(parents=True)
    return baresip(directory, extension=AGENT, password=AGENT_PASSWORD, registrar=registrar,
                   audio=audio, dumps=directory / "dumps")


def sent_count(messages_log: str, start_line: str, cseq: str) -> int:
    """How many times sipp sent a message starting ``start_line`` with CSeq ``cseq``."""
    blocks = messages_log.split("UDP message sent")[1:]
    return sum(
        1
        for b in blocks
        if b.split("\n\n", 1)[-1].startswith(start_line)
        and f"CSeq: {cseq}\n" in b.replace("\r", "")
    )


# -- 1 and 2: debtor and agent talk through the bridge, past 32 s -----------------------


@pytest.mark.timeout(90)
async def test_debtor_and_agent_hear_each_other_through_the_bridge_past_32_s(
    switch: Switch, tmp_path: Path
) -> None:
    debtor_voice, agent_voice = await asyncio.gather(
        speech(tmp_path, "debtor", DEBTOR_SAYS),
        speech(tmp_path, "agent", AGENT_SAYS, voice="en-gb", repeat=20),  # 20 x 5.5 s
    )
    (tmp_path / "sipp").mkdir()
    fill = {"AUDIO": str(debtor_voice.ulaw)}
    async with (
        sipp("uas_answer_speak", tmp_path / "sipp", fill=fill, trace=True) as (phone, port),
        agent_softphone(tmp_path / "agent", agent_voice.pcm_wav, registrar=switch.port) as soft,
        switch.control(trunk(port)) as control,
    ):
        async with asyncio.timeout(10):
            binding = await switch.binding(AGENT)  # registered with digest (the realm's)
        assert binding is not None
        agent_uri = str(binding.contact)
        debtor = await control.originate(DEBTOR, line="trunk1")
        agent = await control.originate(agent_uri, uri=agent_uri, ring_timeout=10)
        await answered(debtor, agent)
        control.bridge(debtor, agent)
        recorder = Recorder()
        control.tap(debtor, recorder)
        assert await stays_up(TALK_SECONDS, debtor, agent) == []
        talked = debtor.timeline.talk_seconds
        ended = await asyncio.gather(debtor.hangup(), agent.hangup())
        assert [(e.outcome, e.status) for e in ended] == [(Outcome.ENDED, 200)] * 2
        assert await phone.exit_code() == 0, phone.file("*errors.log")  # ACK, BYE as required
    assert talked is not None and talked > 33
    assert len(recorder.inbound) >= 50 * TALK_SECONDS * 0.98  # the tap ran every tick
    assert recorder.missing_inbound < 25  # no dropouts, bar the stream's first ticks
    # sipp resends its 200 every 500 ms until it has our ACK: one 200 means a prompt ACK.
    assert sent_count(phone.file("*messages.log"), "SIP/2.0 200 OK", "1 INVITE") == 1
    for leg in (debtor, agent):
        assert leg.media_stats is not None and leg.media_stats.packets_lost == 0
        assert leg.media_stats.packets_sent >= 50 * TALK_SECONDS * 0.98
    # The debtor leg heard sipp's speech and sent the agent's; the negative control shows
    # the measure tells the two voices apart.
    heard, said = recorder.heard(skip=0.5), recorder.said(skip=0.5)
    found = [found_in(heard, debtor_voice.pcm), found_in(said, agent_voice.pcm)]
    other = statistics.median(matches(heard, agent_voice.pcm))
    assert other < 0.4
    # baresip heard the debtor through the bridge (its sndfile dump of decoded audio).
    (dump,) = (soft.directory / "dumps").glob("*-dec.wav")
    found.append(found_in(wav_samples(dump), debtor_voice.pcm))
    print(
        f"setup {debtor.timeline.ring_seconds:.3f} s (debtor, 0.2 s ringing), "
        f"{agent.timeline.ring_seconds:.3f} s (agent); talk {talked:.1f} s; "
        f"debtor leg heard {found[0]}; sent {found[1]}; agent heard {found[2]}; "
        f"{recorder.missing_inbound} ticks without inbound audio; the debtor leg's inbound "
        f"against the agent's voice: median {other:.3f}"
    )


def found_in(recorded: Pcm, reference: Pcm) -> str:
    """Check that the looping ``reference`` plays through ``recorded``: one-second
    windows (those with sound: speech pauses) match it with a normalised correlation
    above 0.6, nine in ten of them, and for at least 80% of the talk."""
    scores = matches(recorded, reference)
    good = sum(score > 0.6 for score in scores)
    summary = (
        f"{good}/{len(scores)} windows > 0.6 (min {min(scores, default=0):.3f}, "
        f"median {statistics.median(scores or [0]):.3f})"
    )
    assert good >= 0.8 * (TALK_SECONDS - 1) and good >= 0.9 * len(scores), summary
    return summary


# -- 3: hold and resume, as RTP on the wire ---------------------------------------------


@dataclass(frozen=True, slots=True)
class Heard:
    """One RTP packet as it arrived at the debtor's socket."""

    at: float
    seq: int
    timestamp: int
    ssrc: int
    marker: bool


class WireTap(asyncio.DatagramProtocol):
    """A UDP socket taking a call's RTP: what arrives is what was on the wire."""

    def __init__(self, *, keep: bool) -> None:
        self.keep = keep
        self.packets: list[Heard] = []
        self.count = 0

    def datagram_received(self, data: bytes, addr: tuple[str | object, ...]) -> None:
        self.count += 1
        if self.keep and len(data) >= 12:
            _, second, seq, timestamp, ssrc = struct.unpack_from("!BBHII", data)
            self.packets.append(Heard(time.monotonic(), seq, timestamp, ssrc, second >= 0x80))

    def between(self, start: float, end: float) -> list[Heard]:
        return [p for p in self.packets if start <= p.at < end]


@dataclass
class DebtorPhone:
    """Our second user agent as the debtor's phone: it answers every call at once,
    its SDP pointing at a :class:`WireTap`."""

    ua: UserAgent
    wire: WireTap
    rtp_port: int
    keep: bool
    answered: asyncio.Queue[Call] = field(default_factory=asyncio.Queue)

    @property
    def uri(self) -> str:
        return f"sip:debtor@{LOOPBACK}:{self.ua.endpoint.address[1]}"

    async def on_invite(self, offered: IncomingCall) -> None:
        ours = answer(SessionDescription.parse(offered.offer), LOOPBACK, self.rtp_port,
                      session_id=1)  # fmt: skip
        call = offered.answer(bytes(ours))
        if self.keep:
            self.answered.put_nowait(call)

    def sdp(self, version: int, direction: Direction) -> bytes:
        return bytes(offer(LOOPBACK, self.rtp_port, session_id=1, version=version,
                           direction=direction))  # fmt: skip


@contextlib.asynccontextmanager
async def debtor_phone(
    *, keep: bool = True, timing: Timing = DEFAULT_TIMING
) -> AsyncIterator[DebtorPhone]:
    wire = WireTap(keep=keep)
    transport, _ = await asyncio.get_running_loop().create_datagram_endpoint(
        lambda: wire, local_addr=(LOOPBACK, 0)
    )
    ua = await UserAgent.open(LOOPBACK, 0, user="debtor", timing=timing)
    phone = DebtorPhone(ua, wire, transport.get_extra_info("sockname")[1], keep)
    ua.on_invite = phone.on_invite
    try:
        yield phone
    finally:
        ua.close()
        transport.close()


def reoffer(call: ControlledCall, direction: Direction) -> bytes:
    """Our offer again for a re-INVITE: same session and port, next version."""
    ours = SessionDescription.parse(call.sip.local_sdp)
    return bytes(offer(LOOPBACK, call.stream.port, session_id=int(ours.origin.session_id),
                       version=int(ours.origin.version) + 1, direction=direction))  # fmt: skip


async def reinvite(sip: Call, sdp: bytes) -> Direction:
    """A re-INVITE offering ``sdp`` (from either side); the direction of the answer."""
    reply = SessionDescription.parse(await sip.reinvite(sdp))
    return reply.direction(reply.media[0])


PHASE = 1.0  # seconds of RTP measured in each phase


async def test_hold_and_resume_keep_one_rtp_line_on_the_wire(switch: Switch) -> None:
    async with debtor_phone() as phone, switch.control() as control:
        call = await control.originate(phone.uri, uri=phone.uri, ring_timeout=5)
        await answered(call)
        async with asyncio.timeout(5):
            far = await phone.answered.get()
        marks = [time.monotonic()]
        await asyncio.sleep(PHASE)  # talking
        assert await reinvite(call.sip, reoffer(call, Direction.SENDONLY)) is Direction.RECVONLY
        marks.append(time.monotonic())
        await asyncio.sleep(PHASE)  # we hold the debtor: still sending (music on hold)
        assert await reinvite(call.sip, reoffer(call, Direction.SENDRECV)) is Direction.SENDRECV
        marks.append(time.monotonic())
        await asyncio.sleep(PHASE)  # talking again
        assert await reinvite(far, phone.sdp(2, Direction.SENDONLY)) is Direction.RECVONLY
        marks.append(time.monotonic())
        await asyncio.sleep(PHASE)  # the debtor holds us: we must not send
        assert await reinvite(far, phone.sdp(3, Direction.SENDRECV)) is Direction.SENDRECV
        marks.append(time.monotonic())
        await asyncio.sleep(PHASE)  # talking again
        marks.append(time.monotonic())
        assert (await call.hangup()).outcome is Outcome.ENDED
    packets = phone.wire.packets
    assert {p.ssrc for p in packets} == {call.stream.sender.ssrc}
    assert all((b.seq - a.seq) % 65536 == 1 for a, b in itertools.pairwise(packets))
    rates = [len(phone.wire.between(a + 0.1, b - 0.1)) / (b - a - 0.2)
             for a, b in itertools.pairwise(marks)]  # fmt: skip
    print(f"packets/s by phase {[round(rate, 1) for rate in rates]}, {len(packets)} packets")
    assert all(47 <= rate <= 53 for i, rate in enumerate(rates) if i != 3), rates
    assert rates[3] == 0, "we sent RTP to a debtor who put us on hold"
    pauses = [(a, b) for a, b in itertools.pairwise(packets) if b.at - a.at > 0.5]
    assert len(pauses) == 1
    ((before, after),) = pauses
    assert after.marker  # a new talkspurt
    ticks = round((after.at - before.at) / 0.02)
    assert abs((after.timestamp - before.timestamp) % 2**32 - 160 * ticks) <= 160 * 2
    steady = [b.timestamp - a.timestamp for a, b in itertools.pairwise(packets) if b is not after]
    assert set(steady) == {160}


# -- 4: many calls leak nothing ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Resources:
    """What calls hold while they last, all of which must come back."""

    streams: int
    ports_free: int
    calls: int  # call control's, both user agents' dialogs and offered INVITEs
    transactions: int
    tasks: int
    fds: int
    threads: int

    @classmethod
    def now(cls, media: MediaEngine, control: CallControl, *uas: UserAgent) -> Resources:
        gc.collect()  # a socket closed by the collector mid-count would skew it
        return cls(
            len(media.streams), media.ports.available,
            len(control.calls) + sum(len(ua.calls) + len(ua.offered) for ua in uas),
            sum(len(ua.endpoint.clients) + len(ua.endpoint.servers) for ua in uas),
            len(asyncio.all_tasks()), len(os.listdir("/proc/self/fd")),
            threading.active_count(),
        )  # fmt: skip


async def drained(*uas: UserAgent) -> float:
    """Until the transactions of finished calls are gone (64*T1 after the last); how
    long that took. Their timers have no event to await: re-checked every 50 ms."""
    started = time.perf_counter()
    async with asyncio.timeout(10):
        while any(ua.endpoint.clients or ua.endpoint.servers for ua in uas):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
    return time.perf_counter() - started


CALLS, AT_ONCE = 1000, 25
QUICK = Timing(t1=0.05, t2=0.4, t4=0.5, d=1.0)  # transactions linger 3.2 s, not 32 s


@pytest.mark.timeout(90)
async def test_a_thousand_calls_leak_nothing(switch: Switch) -> None:
    caller = await UserAgent.open(LOOPBACK, 0, timing=QUICK)
    try:
        async with debtor_phone(keep=False, timing=QUICK) as phone:
            control = CallControl(caller, switch.media, WorkLines(), media_host=LOOPBACK)
            before = Resources.now(switch.media, control, caller, phone.ua)
            assert before.streams == 0 and before.ports_free == switch.media.ports.capacity
            elapsed, setup, placed = await place_calls(control, phone.uri)
            lingering = Resources.now(switch.media, control, caller, phone.ua).transactions
            waited = await drained(caller, phone.ua)
            after = Resources.now(switch.media, control, caller, phone.ua)
            await control.close()
    finally:
        caller.close()
    print(
        f"{CALLS} calls in {elapsed:.1f} s, setup median {statistics.median(setup):.1f} ms "
        f"p99 {sorted(setup)[int(len(setup) * 0.99)]:.1f} ms, RTP {phone.wire.count}, "
        f"{lingering} transactions drained in {waited:.1f} s"
    )
    assert after == before
    assert len(placed) == 0  # nothing keeps a finished call (or its stream) alive
    assert phone.wire.count >= CALLS  # RTP did flow


@pytest.mark.timeout(60)
async def test_a_finished_call_is_freed_by_reference_counting_alone(switch: Switch) -> None:
    """No reference cycle holds a finished leg, its SIP call or its RTP stream: the
    cyclic collector would have to find them, and its full passes stop the process
    (60-220 ms with 200 calls up). Each used to be in a cycle of its own."""
    caller = await UserAgent.open(LOOPBACK, 0, timing=QUICK)
    legs: weakref.WeakSet[object] = weakref.WeakSet()
    gc.collect()
    gc.disable()
    try:
        async with debtor_phone(keep=False, timing=QUICK) as phone:
            control = CallControl(caller, switch.media, WorkLines(), media_host=LOOPBACK)
            for _ in range(5):
                call = await control.originate(phone.uri, uri=phone.uri, ring_timeout=5)
                legs.update((call, call.sip, call.stream))
                await answered(call)
                await control.media.wait_ticks(2)
                assert (await call.hangup()).outcome is Outcome.ENDED
            del call
            await drained(caller, phone.ua)  # the BYEs' transactions end
            for _ in range(5):  # the calls' tasks finish
                await asyncio.sleep(0)
            assert sorted(type(leg).__name__ for leg in legs) == []
            await control.close()
    finally:
        gc.enable()
        caller.close()


async def place_calls(
    control: CallControl, uri: str
) -> tuple[float, list[float], weakref.WeakSet[ControlledCall]]:
    """CALLS calls, AT_ONCE at a time, each answered, two ticks of RTP, hung up: the
    time taken, each call's setup time (ms), and weak references to the calls."""
    placed: weakref.WeakSet[ControlledCall] = weakref.WeakSet()
    slots, setup = asyncio.Semaphore(AT_ONCE), []

    async def one_call() -> None:
        async with slots:
            call = await control.originate(uri, uri=uri, ring_timeout=5)
            placed.add(call)
            await answered(call)
            setup.append(1000 * (call.timeline.ring_seconds or 0.0))
            await control.media.wait_ticks(2)
            ended = await call.hangup()
            assert (ended.outcome, ended.status) == (Outcome.ENDED, 200)
            assert call.stream.closed

    started = time.perf_counter()
    async with asyncio.timeout(60):
        await asyncio.gather(*(one_call() for _ in range(CALLS)))
    return time.perf_counter() - started, setup, placed


# -- 5: failures through call control ---------------------------------------------------


async def events_of(call: ControlledCall) -> list[Outcome]:
    async with asyncio.timeout(10):
        return [event.outcome async for event in call.events()]


def assert_released(switch: Switch, call: ControlledCall) -> None:
    assert call.stream.closed and call.media_stats is not None
    assert switch.media.streams == () and switch.media.ports.in_use == 0


async def test_busy_ends_busy_and_releases_the_stream(switch: Switch, tmp_path: Path) -> None:
    fill = {"STATUS": "486", "REASON": "Busy Here"}
    async with (
        sipp("uas_reject", tmp_path, fill=fill) as (phone, port),
        switch.control(trunk(port)) as control,
    ):
        call = await control.originate(DEBTOR, line="trunk1")
        assert switch.media.ports.in_use == 1
        assert await events_of(call) == [Outcome.TRYING, Outcome.RINGING, Outcome.BUSY]
        final = await call.finished()
        assert (final.outcome, final.status) == (Outcome.BUSY, 486)
        assert_released(switch, call)
        assert control.calls == {}
        assert await phone.exit_code() == 0, phone.file("*errors.log")  # our ACK for 486


async def test_ring_timeout_ends_no_answer(switch: Switch, tmp_path: Path) -> None:
    async with sipp("uas_noanswer", tmp_path) as (phone, port), switch.control() as control:
        uri = f"sip:debtor@{LOOPBACK}:{port}"
        call = await control.originate(uri, uri=uri, ring_timeout=1.0)
        assert await events_of(call) == [Outcome.TRYING, Outcome.RINGING, Outcome.NO_ANSWER]
        assert call.timeline.ring_seconds is not None and 1.0 <= call.timeline.ring_seconds < 2
        assert_released(switch, call)
        assert await phone.exit_code() == 0, phone.file("*errors.log")  # CANCEL, ACK of 487


async def test_a_work_line_rings_at_least_15_s(switch: Switch, tmp_path: Path) -> None:
    async with (
        sipp("uas_noanswer", tmp_path) as (phone, port),
        switch.control(trunk(port)) as control,
    ):
        call = await control.originate(DEBTOR, line="trunk1", ring_timeout=1.0)
        assert call.sip.ring_timeout == 15.0  # the compliance floor, not the 1 s asked for
        async with asyncio.timeout(5):
            async for event in call.events():
                if event.outcome is Outcome.RINGING:
                    break
        final = await call.hangup()
        assert final.outcome is Outcome.CANCELLED
        assert_released(switch, call)
        assert await phone.exit_code() == 0, phone.file("*errors.log")


async def test_a_line_that_is_not_a_work_line_is_refused_before_anything_is_sent(
    switch: Switch,
) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk_socket:
        trunk_socket.bind((LOOPBACK, 0))
        trunk_socket.setblocking(False)
        port = trunk_socket.getsockname()[1]
        lines = (trunk(port), trunk(port, "old", active=False))
        async with switch.control(*lines) as control:
            for name in ("private", "old"):
                with pytest.raises(LineRefused):
                    await control.originate(DEBTOR, line=name)
            with pytest.raises(ValueError, match="phone number"):
                await control.originate("sip:x@example.com", line="trunk1")
            with pytest.raises(ValueError):  # after its stream was opened: given back
                await control.originate("", uri="sip:not a uri@")
            assert control.calls == {}
        assert switch.ua.endpoint.stats.sent == 0 and not switch.ua.endpoint.clients
        with pytest.raises(BlockingIOError):  # loopback delivers within sendto()
            trunk_socket.recv(2048)
        assert switch.media.streams == () and switch.media.ports.in_use == 0


async def test_while_the_media_clock_is_overloaded_there_is_no_room_and_invites_get_503(
    switch: Switch,
) -> None:
    """Admission by the machine as it is: with the media clock behind there is no room
    for new calls whatever the leg count (`legs_free()` 0, which the campaign loop
    reads) and new INVITEs get 503 with Retry-After, while a call already decided or a
    leg joining one is placed; once the clock keeps time again there is room (an
    unsolicited INVITE then gets the usual 480). The gauge is the clock's own, given a
    tiny weight per tick so that it stays behind until the test says otherwise."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk_socket:
        trunk_socket.bind((LOOPBACK, 0))
        port = trunk_socket.getsockname()[1]
        control = CallControl(switch.ua, switch.media, WorkLines((trunk(port),)),
                              media_host=LOOPBACK)  # fmt: skip
        outsider = await UserAgent.open(LOOPBACK, 0)
        gauge = switch.media.clock.load
        switch.media.clock.load = slow = LoadGauge(weight=1e-9)
        try:
            slow.average, slow.overloaded = 1.0, True  # a second behind on average
            sent = switch.ua.endpoint.stats.sent
            assert control.legs_free() == 0 and not control.has_room()
            # A call already decided, or a leg joining a call already up (an agent for
            # an answered debtor) is placed: the campaign loop reads legs_free().
            joining = await control.originate(DEBTOR, line="trunk1")
            assert joining.outcome is None and len(control.calls) == 1
            assert switch.ua.endpoint.stats.sent > sent
            await joining.hangup()
            offered = outsider.invite(f"sip:x@{LOOPBACK}:{switch.port}", CALLER_SDP,
                                      from_uri="sip:q@127.0.0.1")  # fmt: skip
            final = await offered.finished()
            assert (final.outcome, final.status) == (Outcome.FAILED, 503)
            switch.media.clock.load = gauge  # on time again
            assert control.has_room() and control.legs_free() is None
            again = outsider.invite(f"sip:x@{LOOPBACK}:{switch.port}", CALLER_SDP,
                                    from_uri="sip:q@127.0.0.1")  # fmt: skip
            assert (await again.finished()).status == 480
        finally:
            switch.media.clock.load = gauge
            outsider.close()
            await control.close()


async def test_at_its_call_leg_limit_the_service_places_nothing_and_answers_503(
    switch: Switch,
) -> None:
    """Admission control: with `max_legs` legs up, `originate` refuses before anything
    is sent and new INVITEs get 503 with Retry-After; the call up is untouched, and
    once it ends there is room again (an unsolicited INVITE then gets the usual 480)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as trunk_socket:
        trunk_socket.bind((LOOPBACK, 0))  # a trunk that never answers: the call rings
        port = trunk_socket.getsockname()[1]
        control = CallControl(switch.ua, switch.media, WorkLines((trunk(port),)),
                              media_host=LOOPBACK, max_legs=1)  # fmt: skip
        outsider = await UserAgent.open(LOOPBACK, 0)
        try:
            ringing = await control.originate(DEBTOR, line="trunk1", ring_timeout=60)
            sent = switch.ua.endpoint.stats.sent
            with pytest.raises(AtCapacity):
                await control.originate(DEBTOR, line="trunk1")
            assert switch.ua.endpoint.stats.sent == sent and len(control.calls) == 1
            assert control.legs_free() == 0
            offered = outsider.invite(f"sip:x@{LOOPBACK}:{switch.port}", CALLER_SDP,
                                      from_uri="sip:q@127.0.0.1")  # fmt: skip
            final = await offered.finished()
            assert (final.outcome, final.status) == (Outcome.FAILED, 503)
            assert ringing.outcome is None  # the call up goes on
            await ringing.hangup()
            assert control.has_room() and control.legs_free() == 1
            again = outsider.invite(f"sip:x@{LOOPBACK}:{switch.port}", CALLER_SDP,
                                    from_uri="sip:q@127.0.0.1")  # fmt: skip
            assert (await again.finished()).status == 480
        finally:
            outsider.close()
            await control.close()
