"""`callcase simulate carrier`: the simulated telephone network, over real SIP and RTP.

The carrier runs in this process on an ephemeral loopback port; call control reaches it
through a work line, as the dialer would, and a tap on our leg hears what each phone
says (matched against the carrier's own clips). Every behaviour at once (the one that
never answers rings out our 15 s floor, which bounds the test), a hundred calls on one
media clock, malformed INVITEs, the command. Pure parts: tests/telephony/test_simulated.py.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import re
import signal
import socket
import sys
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pytest

from api import cli_simulate
from telephony.control import CallControl, ControlledCall
from telephony.lines import WorkLine, WorkLines
from telephony.media.clock import MediaClock
from telephony.media.engine import MediaEngine
from telephony.media.g711 import Pcm
from telephony.media.sources import FRAME
from telephony.simulated.behaviour import (
    Behaviour,
    Plan,
    Profile,
    Weights,
    plan_for,
)
from telephony.simulated.carrier import SimulatedCarrier
from telephony.simulated.report import CallReport, Result
from telephony.simulated.sounds import render
from telephony.simulated.speech import Speech
from telephony.sip.call_state import Outcome
from telephony.sip.message import SipMessage, SipResponse
from telephony.sip.ua import UserAgent
from tests.telephony.audio import matches

pytestmark = pytest.mark.e2e

LOOPBACK = "127.0.0.1"
SEED = 7
CARRIER_RTP, OUR_RTP = (62400, 62800), (62800, 63200)  # above the ephemeral port range
LOUD = 300.0  # RMS of a 20 ms frame that carries sound, not silence
QUICK_RING = 3.0  # the behaviour test picks numbers that ring at most this long


# -- the network: carrier, call control, and ears on our legs ---------------------------


@pytest.fixture(scope="module")
def cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One speech cache for the module: espeak-ng runs once per sentence."""
    return tmp_path_factory.mktemp("sim-audio")


@dataclass
class Network:
    carrier: SimulatedCarrier
    control: CallControl
    reports: dict[str, asyncio.Future[CallReport]] = field(default_factory=dict)

    def report(self, number: str) -> asyncio.Future[CallReport]:
        return self.reports.setdefault(number, asyncio.get_running_loop().create_future())

    def on_report(self, report: CallReport) -> None:
        self.report(report.number).set_result(report)

    async def call(self, number: str, ear: Ear | None = None) -> ControlledCall:
        call = await self.control.originate(number, line="sim", ring_timeout=15)
        if ear is not None:
            self.control.tap(call, ear)
        return call


@contextlib.asynccontextmanager
async def dialling(port: int, media: MediaEngine) -> AsyncIterator[CallControl]:
    """Our call control with one work line, "sim", to the carrier at ``port``."""
    ua = await UserAgent.open(LOOPBACK, 0)
    line = WorkLine("sim", LOOPBACK, port, caller_id="4008001234")
    control = CallControl(ua, media, WorkLines((line,)), media_host=LOOPBACK)
    try:
        yield control
    finally:
        await control.close()
        ua.close()


@contextlib.asynccontextmanager
async def network(cache: Path, profile: Profile) -> AsyncIterator[Network]:
    """The carrier and our call control, their two media engines on one clock."""
    clock = MediaClock()
    async with (
        MediaEngine(host=LOOPBACK, port_range=CARRIER_RTP, clock=clock) as carrier_media,
        MediaEngine(host=LOOPBACK, port_range=OUR_RTP, clock=clock) as our_media,
    ):
        carrier = await SimulatedCarrier.open(LOOPBACK, 0, profile=profile,
                                              speech=Speech(cache), media=carrier_media)
        try:
            async with dialling(carrier.address[1], our_media) as control:
                net = Network(carrier, control)
                carrier.on_report = net.on_report
                yield net
        finally:
            await carrier.close()
    await clock.stop()


def loud(frame: Pcm) -> bool:
    return float(np.sqrt(np.mean(frame.astype(np.float64) ** 2))) > LOUD


def loud_frames(pcm: Pcm) -> int:
    return sum(loud(pcm[i : i + FRAME]) for i in range(0, len(pcm) - FRAME + 1, FRAME))


class Ear:
    """A tap on our leg keeping what the phone sent from its first sound on; ``heard``
    is set once ``need`` frames of sound have arrived."""

    def __init__(self, need: int) -> None:
        self.need, self.sounds, self.heard = need, 0, asyncio.Event()
        self.frames: list[Pcm] = []

    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None:
        if inbound is None or not (self.frames or loud(inbound)):
            return
        self.frames.append(inbound)
        self.sounds += loud(inbound)
        if self.sounds >= self.need:
            self.heard.set()

    def said(self, reference: Pcm) -> bool:
        """Every half second heard with sound in it is the reference (followed by
        silence), within G.711's error."""
        seconds = -(-len(reference) // 8000) + 2  # whole seconds: a quick FFT size
        padded = np.zeros(seconds * 8000, np.int16)
        padded[: len(reference)] = reference
        scores = matches(np.concatenate(self.frames), padded, window=4000)
        return bool(scores) and min(scores) > 0.9


def numbers(profile: Profile) -> dict[Behaviour, str]:
    """A number for each behaviour, ringing at most QUICK_RING s where it rings at all
    (the one that never answers rings until we give up)."""
    found: dict[Behaviour, str] = {}
    for n in range(100_000):
        number = f"+86138{n:08d}"
        plan = plan_for(number, profile)
        quick = plan.ring_seconds <= QUICK_RING or plan.behaviour is Behaviour.NO_ANSWER
        if quick and plan.behaviour not in found:
            found[plan.behaviour] = number
        if len(found) == len(Behaviour):
            return found
    raise AssertionError(f"no number found for {set(Behaviour) - found.keys()}")


async def outcome(call: ControlledCall) -> tuple[list[Outcome], int | None]:
    seen = [event async for event in call.events()]
    return [event.outcome for event in seen], seen[-1].status


# -- every behaviour, as the caller sees it ---------------------------------------------


@pytest.mark.timeout(40)
async def test_each_behaviour_as_the_caller_sees_it(cache: Path) -> None:
    profile = Profile(seed=SEED)
    number = numbers(profile)
    plan = {behaviour: plan_for(n, profile) for behaviour, n in number.items()}
    async with network(cache, profile) as net:
        said = {b: render(p.opening, net.carrier.speech.say) for b, p in plan.items() if p.answers}
        ear = {b: Ear(loud_frames(pcm) - 5) for b, pcm in said.items()}  # the whole opening
        ear[Behaviour.TALKS].need += 25  # and half a second of the conversation after it
        said[Behaviour.TALKS] = render((*plan[Behaviour.TALKS].opening,
                                        *plan[Behaviour.TALKS].loop), net.carrier.speech.say)
        call = {b: await net.call(n, ear.get(b)) for b, n in number.items()}
        ringing, rejected = [Outcome.TRYING, Outcome.RINGING], Outcome.REJECTED
        async with asyncio.timeout(25):
            await asyncio.gather(
                ends(call[Behaviour.BUSY], [Outcome.TRYING, Outcome.BUSY], 486),
                ends(call[Behaviour.DECLINE], [*ringing, rejected], 603),
                ends(call[Behaviour.NO_ANSWER], [*ringing, Outcome.NO_ANSWER], 487),
                *(stays_on(call[b], ear[b], said[b]) for b in (Behaviour.TALKS, Behaviour.MACHINE)),
                *(hangs_up(call[b], ear[b], said[b], plan[b])
                  for b in (Behaviour.WRONG_NUMBER, Behaviour.HANGS_UP)),
            )  # fmt: skip
            reports = {b: await net.report(n) for b, n in number.items()}
    for behaviour, each in plan.items():  # the callee rang as long as its plan says
        ring = call[behaviour].timeline.ring_seconds
        if behaviour is Behaviour.NO_ANSWER:
            assert ring is not None and ring >= 15  # until our ring timeout and CANCEL
        elif each.rings:
            assert ring is not None and ring >= each.ring_seconds - 0.05  # never shorter
    last = [frame for frame in ear[Behaviour.MACHINE].frames if loud(frame)][-1]
    assert np.argmax(np.abs(np.fft.rfft(last))) * 8000 / FRAME == 1000  # the machine's beep
    assert {b: (r.result, r.status) for b, r in reports.items()} == {
        Behaviour.TALKS: (Result.CALLER_HUNG_UP, 200), Behaviour.BUSY: (Result.REJECTED, 486),
        Behaviour.NO_ANSWER: (Result.CANCELLED, 487), Behaviour.DECLINE: (Result.REJECTED, 603),
        Behaviour.MACHINE: (Result.CALLER_HUNG_UP, 200),
        Behaviour.WRONG_NUMBER: (Result.PHONE_HUNG_UP, 200),
        Behaviour.HANGS_UP: (Result.PHONE_HUNG_UP, 200),
    }  # fmt: skip
    assert net.carrier.tally.calls == 7 and net.carrier.active == 0
    print("\n".join(report.line() for report in reports.values()))


async def ends(call: ControlledCall, events: list[Outcome], status: int) -> None:
    assert await outcome(call) == (events, status)


async def answered(call: ControlledCall) -> None:
    async for event in call.events():
        if event.outcome is Outcome.ANSWERED:
            return
    pytest.fail(f"call {call.call_id} ended unanswered: {call.outcome}")


async def stays_on(call: ControlledCall, ear: Ear, said: Pcm) -> None:
    """Says its piece and stays on (talking on, or recording) until we hang up."""
    await answered(call)
    await ear.heard.wait()
    assert call.outcome is None
    ended = await call.hangup()
    assert (ended.outcome, ended.status) == (Outcome.ENDED, 200)
    assert ear.said(said)


async def hangs_up(call: ControlledCall, ear: Ear, opening: Pcm, plan: Plan) -> None:
    """Says its opening, then hangs up by itself ``hangs_up_after`` s later."""
    assert plan.hangs_up_after is not None
    assert (await outcome(call))[0][-1] is Outcome.HUNG_UP
    assert ear.heard.is_set() and ear.said(opening)
    talk, planned = call.timeline.talk_seconds, len(opening) / 8000 + plan.hangs_up_after
    assert talk is not None and planned - 0.1 < talk < planned + 0.5


# -- a hundred at once ------------------------------------------------------------------


@pytest.mark.timeout(30)
async def test_a_hundred_calls_at_once_on_one_media_clock(cache: Path) -> None:
    profile = Profile(seed=SEED, weights=Weights({Behaviour.TALKS: 1}), ring=(0.5, 1.5))
    async with network(cache, profile) as net:
        ears = [Ear(25) for _ in range(100)]  # half a second of speech each
        dialled = [f"+8613900{n:05d}" for n in range(100)]
        calls = [await net.call(number, ear) for number, ear in zip(dialled, ears, strict=True)]
        async with asyncio.timeout(15):
            await asyncio.gather(*(answered(call) for call in calls))
            await asyncio.gather(*(ear.heard.wait() for ear in ears))
            assert net.carrier.active == 100 and len(net.carrier.media.streams) == 100
            ended = await asyncio.gather(*(call.hangup() for call in calls))
            reports = await asyncio.gather(*(net.report(number) for number in dialled))
        assert {(e.outcome, e.status) for e in ended} == {(Outcome.ENDED, 200)}
        assert Counter(r.result for r in reports) == {Result.CALLER_HUNG_UP: 100}
        assert net.carrier.media.streams == () and net.carrier.active == 0
        stats = net.carrier.media.stats()
    greeting = render(plan_for(dialled[0], profile).opening, net.carrier.speech.say)
    assert all(ear.said(greeting) for ear in ears)
    print(f"carrier: {stats.packets_sent} RTP packets sent, {stats.packets_lost} lost, "
          f"{stats.skipped_ticks} ticks skipped, tick lateness {stats.lateness}")


# -- malformed INVITEs ------------------------------------------------------------------


def request(method: str, port: int, us: int, number: str, call_id: str, *, cseq: str = "1",
            to_tag: str = "", body: bytes = b"") -> bytes:  # fmt: skip
    """An INVITE (or the ACK of its non-2xx answer) as our raw socket at ``us`` sends it."""
    head = (
        f"{method} sip:{number}@{LOOPBACK}:{port};user=phone SIP/2.0\r\n"
        f"Via: SIP/2.0/UDP {LOOPBACK}:{us};branch=z9hG4bK{call_id}\r\n"
        f"From: <sip:4008001234@{LOOPBACK}>;tag=t{call_id}\r\n"
        f"To: <sip:{number}@{LOOPBACK}>{to_tag and ';tag=' + to_tag}\r\n"
        f"Call-ID: {call_id}\r\nCSeq: {cseq} {method}\r\nMax-Forwards: 70\r\n"
        f"Contact: <sip:dialer@{LOOPBACK}:{us}>\r\nContent-Type: application/sdp\r\n"
        f"Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


async def final_response(sock: socket.socket) -> bytes:
    """The first final response arriving on ``sock`` (1xx skipped)."""
    loop = asyncio.get_running_loop()
    while True:
        data = await loop.sock_recv(sock, 4096)
        if not data.startswith(b"SIP/2.0 1"):
            return data


async def test_a_malformed_invite_gets_400_and_the_carrier_carries_on(cache: Path) -> None:
    profile = Profile(seed=SEED)
    busy = numbers(profile)[Behaviour.BUSY]
    async with network(cache, profile) as net:
        port, loop = net.carrier.address[1], asyncio.get_running_loop()
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((LOOPBACK, 0))
            sock.setblocking(False)
            us = sock.getsockname()[1]
            async with asyncio.timeout(5):
                bad_cseq = request("INVITE", port, us, busy, "cseq", cseq="one")  # no parse
                await loop.sock_sendto(sock, bad_cseq, (LOOPBACK, port))
                assert (await final_response(sock)).startswith(b"SIP/2.0 400 ")
                bad_sdp = request("INVITE", port, us, busy, "sdp", body=b"hello, carrier\r\n")
                await loop.sock_sendto(sock, bad_sdp, (LOOPBACK, port))
                response = SipMessage.parse(await final_response(sock))
                assert isinstance(response, SipResponse) and response.status == 400
                ack = request("ACK", port, us, busy, "sdp", to_tag=response.to.tag or "")
                await loop.sock_sendto(sock, ack, (LOOPBACK, port))
                refusal = await net.report(busy)
        assert (refusal.result, refusal.status, refusal.behaviour) == (Result.REFUSED, 400, None)
        assert refusal.note.startswith("bad SDP: ")
        del net.reports[busy]
        call = await net.call(busy)  # the same number, properly: the carrier carries on
        async with asyncio.timeout(5):
            assert await outcome(call) == ([Outcome.TRYING, Outcome.BUSY], 486)
        stats = net.carrier.ua.endpoint.stats
        assert (stats.malformed, stats.errors) == (1, 0)


# -- the command ------------------------------------------------------------------------

COMMAND = """\
import argparse, asyncio, sys
from api import cli_simulate
from api.settings import Settings
parser = argparse.ArgumentParser(prog="callcase")
cli_simulate.add_parser(parser.add_subparsers(dest="command", required=True))
sys.exit(asyncio.run(cli_simulate.run(parser.parse_args(), Settings.from_env({}))))
"""


@pytest.mark.timeout(30)
async def test_the_command_prints_each_call_and_a_summary_at_sigterm(cache: Path) -> None:
    number = numbers(Profile(seed=SEED))
    busy, ringing = number[Behaviour.BUSY], number[Behaviour.NO_ANSWER]
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-c", COMMAND, "simulate", "carrier", "--port", "0",
        "--seed", str(SEED), "--cache", str(cache), "--rtp-ports", "63200-63400",
        stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    assert proc.stdout is not None
    try:
        async with asyncio.timeout(20):
            banner = (await proc.stdout.readline()).decode()
            assert banner.startswith(f"simulated carrier on {LOOPBACK}:"), banner
            while not (await proc.stdout.readline()).strip().startswith(b"Ctrl-C"):
                pass
            port = int(banner.split(":")[1].split(",")[0])
            async with MediaEngine(host=LOOPBACK, port_range=OUR_RTP) as media, \
                    dialling(port, media) as control:  # fmt: skip
                call = await control.originate(busy, line="sim")
                assert await outcome(call) == ([Outcome.TRYING, Outcome.BUSY], 486)
                call = await control.originate(ringing, line="sim")
                events = call.events()
                heard = [(await anext(events)).outcome for _ in range(2)]
                assert heard == [Outcome.TRYING, Outcome.RINGING]
                proc.send_signal(signal.SIGTERM)  # while it rings: the closing network's 480
                assert [(e.outcome, e.status) async for e in events] == [(Outcome.REJECTED, 480)]
            out, errors = await proc.communicate()
    finally:
        if proc.returncode is None:
            proc.kill()
    assert proc.returncode == 0, errors.decode()
    assert re.search(rf"^[0-9:]+  {re.escape(busy)} +busy +486 Busy Here after 0\.\d s$"
                     rf"\n[0-9:]+  {re.escape(ringing)} +no_answer +480 Temporarily "
                     r"Unavailable after \d\.\d s$\n^simulated carrier:\n2 calls\n"
                     r" +busy +1 +\(rejected 1\)\n +no_answer +1 +\(rejected 1\)$",
                     out.decode(), re.M), out.decode()  # fmt: skip


def test_the_command_line_takes_loopback_only_and_explains_itself(
    capsys: pytest.CaptureFixture[str],
) -> None:
    parser = argparse.ArgumentParser(prog="callcase")
    simulate = cli_simulate.add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["simulate", "carrier", "--weights", "busy=50", "--ring", "1-3"])
    assert (args.host, args.port, args.ring) == (LOOPBACK, 5070, (1, 3))
    assert args.weights.shares[Behaviour.BUSY] == 50 and args.simulate is cli_simulate.run_carrier
    for bad, why in ((["--host", "192.0.2.1"], "not a loopback address"),
                     (["--ring", "8-2"], "not MIN-MAX seconds"),
                     (["--rtp-ports", "80-90"], "not LOW-HIGH ports")):  # fmt: skip
        with pytest.raises(SystemExit):
            parser.parse_args(["simulate", "carrier", *bad])
        assert why in capsys.readouterr().err
    assert "busy=10" in simulate.choices["carrier"].format_help()
