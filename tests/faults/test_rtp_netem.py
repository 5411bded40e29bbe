"""Network trouble on RTP: calls survive it or end cleanly with the RTP-timeout cause,
and recordings keep their timing.

Each test runs the call in a network namespace of its own (:mod:`tests.faults.netns`):
a sipp debtor phone through a work line, bridged to a baresip agent registered with
digest, the debtor's leg recorded as the call path records it (:mod:`rtp_call`). The
delay line on the namespace's loopback impairs RTP only; SIP stays clean, so a call
that ends, ends by a BYE its peer answers.

* 5% loss and 40 ms of jitter on every RTP packet of the call: the call stays up,
  the lost and late packets are silent 20 ms frames in the recording, and the
  recording is as long as the call.
* A 5 s blackout of the debtor's RTP: with an RTP timeout longer than that the call
  survives and the blackout is 5 s of silence in a recording as long as the call;
  with a shorter one the debtor's leg ends ``media_timeout`` during the blackout,
  and its recording, finished, is as long as the call was.
* Every RTP packet lost for longer than the timeout: both legs end
  ``media_timeout``, the recording is finished, and no stream, port, call, task,
  file descriptor or thread is left behind.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, replace
from pathlib import Path

import pytest

from telephony.control import ControlledCall
from telephony.sip.call_state import Outcome
from tests.faults.netns import DelayLine, Impairment, NamespaceUnavailable, Rule, private_network
from tests.faults.rtp_call import (
    DEBTOR_RTP,
    ENGINE_RTP,
    STEERED,
    Conversation,
    OurSide,
    Recorded,
    agent_phone,
    converse,
    debtor_phone,
    our_side,
)
from tests.telephony.sip.peers import Process
from tests.telephony.test_e2e_calls import stays_up

pytestmark = pytest.mark.e2e

TICK = 0.02
TIMING_SLACK = 0.3  # seconds a recording may differ from the call's wall time
BLACKOUT = 5.0
LONG_TIMEOUT, SHORT_TIMEOUT = 8.0, 2.0


@pytest.fixture
def network() -> Iterator[None]:
    stack = contextlib.ExitStack()
    try:
        stack.enter_context(private_network())
    except NamespaceUnavailable as error:
        pytest.skip(f"no network namespace of the test's own (run as root): {error}")
    with stack:
        yield


@pytest.fixture
def line(network: None) -> Iterator[DelayLine]:
    with DelayLine(STEERED, seed=11) as line:
        yield line


@dataclass
class Floor:
    side: OurSide
    debtor_phone: Process
    agent_phone: Process


@contextlib.asynccontextmanager
async def floor(tmp_path: Path, rtp_timeout: float) -> AsyncIterator[Floor]:
    async with (
        our_side(tmp_path / "recordings", rtp_timeout=rtp_timeout) as side,
        debtor_phone(tmp_path / "debtor") as debtor,
        agent_phone(tmp_path / "agent") as agent,
    ):
        yield Floor(side, debtor, agent)


def assert_timing_kept(conversation: Conversation, recorded: Recorded) -> float:
    """The recording lasts as long as the debtor's leg did from the tap; that length."""
    ended = conversation.debtor.timeline.ended
    assert ended is not None
    wall = ended - conversation.recorded_from
    length = recorded.result.duration_s
    print(f"call {wall:.2f} s from the tap, recording {length:.2f} s")
    assert abs(length - wall) <= TIMING_SLACK, (length, wall)
    return length


async def hang_up(*calls: ControlledCall) -> list[Outcome]:
    ended = await asyncio.gather(*(call.hangup() for call in calls))
    return [event.outcome for event in ended]


@pytest.mark.timeout(90)
async def test_loss_and_jitter_keep_the_call_and_the_recording_timing(
    line: DelayLine, tmp_path: Path
) -> None:
    async with floor(tmp_path, LONG_TIMEOUT) as f:
        talk = await converse(f.side)
        line.impair(Rule(Impairment(loss=0.05, jitter=0.04)))  # every RTP packet of the call
        assert await stays_up(10.0, talk.debtor, talk.agent) == []
        line.impair()
        assert await hang_up(talk.debtor, talk.agent) == [Outcome.ENDED, Outcome.ENDED]
        recorded = Recorded.read(await talk.recording.finish())
        assert await f.debtor_phone.exit_code() == 0, f.debtor_phone.file("*errors.log")
    stats = line.stats
    print(f"delay line: {stats}; debtor leg {talk.debtor.media_stats}")
    assert 0.03 <= stats.dropped / stats.seen <= 0.08  # the loss did happen, at about 5%
    assert talk.debtor.media_stats is not None and talk.debtor.media_stats.packets_lost > 0
    assert_timing_kept(talk, recorded)
    for name, channel in (("debtor", recorded.debtor), ("agent", recorded.agent)):
        silent = Recorded.silent_frames(channel)
        share = silent.mean()
        print(f"{name}: {share:.1%} of {len(silent)} frames silent")
        # lost and late packets are silent frames, in place: most frames carry the tone
        assert 0.02 <= share <= 0.25, (name, share)


@pytest.mark.timeout(90)
async def test_a_blackout_shorter_than_the_rtp_timeout_is_survived(
    line: DelayLine, tmp_path: Path
) -> None:
    async with floor(tmp_path, LONG_TIMEOUT) as f:
        talk = await converse(f.side)
        assert await stays_up(1.0, talk.debtor, talk.agent) == []
        line.impair(Rule(Impairment(loss=1.0), source={DEBTOR_RTP}))  # the debtor's RTP
        assert await stays_up(BLACKOUT, talk.debtor, talk.agent) == []
        line.impair()
        assert await stays_up(2.0, talk.debtor, talk.agent) == []
        assert await hang_up(talk.debtor, talk.agent) == [Outcome.ENDED, Outcome.ENDED]
        recorded = Recorded.read(await talk.recording.finish())
        assert await f.debtor_phone.exit_code() == 0, f.debtor_phone.file("*errors.log")
    assert_timing_kept(talk, recorded)
    debtor = Recorded.silent_frames(recorded.debtor)
    gap = Recorded.longest_run(debtor) * TICK
    print(f"debtor channel: longest silence {gap:.2f} s, {debtor.mean():.1%} silent")
    assert BLACKOUT - 0.3 <= gap <= BLACKOUT + 0.5  # the blackout, in its place
    assert not debtor[-50:].any()  # the debtor was heard again after it
    assert Recorded.longest_run(Recorded.silent_frames(recorded.agent)) < 5  # agent unaffected


@pytest.mark.timeout(90)
async def test_a_blackout_longer_than_the_rtp_timeout_ends_the_call_with_that_cause(
    line: DelayLine, tmp_path: Path
) -> None:
    async with floor(tmp_path, SHORT_TIMEOUT) as f:
        talk = await converse(f.side)
        assert await stays_up(1.0, talk.debtor, talk.agent) == []
        line.impair(Rule(Impairment(loss=1.0), source={DEBTOR_RTP}))
        started = time.monotonic()
        assert await stays_up(BLACKOUT, talk.debtor, talk.agent) == [talk.debtor]
        final = await talk.debtor.finished()
        ended = talk.debtor.timeline.ended
        line.impair()
        assert (final.outcome, final.status) == (Outcome.MEDIA_TIMEOUT, 200), final
        assert await hang_up(talk.agent) == [Outcome.ENDED]  # as routing releases the agent
        recorded = Recorded.read(await talk.recording.finish())
        assert await f.debtor_phone.exit_code() == 0, f.debtor_phone.file("*errors.log")
    assert ended is not None and ended - started >= SHORT_TIMEOUT
    print(f"ended {ended - started:.2f} s into the blackout: {final.reason}")
    length = assert_timing_kept(talk, recorded)
    tail = Recorded.longest_run(Recorded.silent_frames(recorded.debtor)[-int(length / TICK) :])
    assert tail * TICK >= SHORT_TIMEOUT - 0.3  # the silence before the hang-up is recorded


@pytest.mark.timeout(90)
async def test_total_loss_ends_both_legs_and_leaves_nothing_behind(
    line: DelayLine, tmp_path: Path
) -> None:
    async with floor(tmp_path, SHORT_TIMEOUT) as f:
        before = f.side.held()
        talk = await converse(f.side)
        assert await stays_up(1.0, talk.debtor, talk.agent) == []
        line.impair(Rule(Impairment(loss=1.0)))  # every RTP packet, both ways, both legs
        async with asyncio.timeout(15):  # a hang guard: the timeout is 2 s
            finals = await asyncio.gather(talk.debtor.finished(), talk.agent.finished())
        assert [event.outcome for event in finals] == [Outcome.MEDIA_TIMEOUT] * 2, finals
        result = await talk.recording.finish()
        assert await f.debtor_phone.exit_code() == 0, f.debtor_phone.file("*errors.log")
        after = f.side.held()
        recordings = sorted(p.name for p in (tmp_path / "recordings").rglob("*") if p.is_file())
    print(f"held before {before}, after {after}; recordings {recordings}")
    assert replace(after, threads=before.threads) == before
    assert after.threads <= before.threads  # fewer: sipp's exit-watcher thread is gone
    assert after.streams == after.ports_in_use == after.calls == 0
    assert recordings == [result.path.name]  # finished: no .part left
    assert_timing_kept(talk, Recorded.read(result))
    assert line.stats.dropped > 0 and ENGINE_RTP[0] <= talk.debtor.stream.port < ENGINE_RTP[1]
