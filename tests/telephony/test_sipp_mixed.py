"""A campaign's worth of debtors behind one work line: one sipp, tests/data/sipp/uas_mixed.xml,
behaving by the last digit of the number dialled.

Six calls at once through call control, to numbers ending 1 to 6: busy, declined, ringing
out at the 15 s floor, answered and hung up by the debtor, an answering machine and a
debtor who talks until we hang up. Each gets its own outcome from the one peer, and the
two answered calls we end heard their own audio (espeak-ng speech, looped by sipp), not
each other's. sipp exits 0 after the six calls: every ACK, CANCEL and BYE it required came.
"""

from __future__ import annotations

import asyncio
import contextlib
import statistics
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest

from telephony.control import CallControl, ControlledCall
from telephony.lines import WorkLines
from telephony.media.engine import MediaEngine
from telephony.media.g711 import Pcm
from telephony.sip.call_state import Outcome
from telephony.sip.ua import UserAgent
from tests.telephony.audio import Clip, matches, speech
from tests.telephony.sip.peers import LOOPBACK, sipp
from tests.telephony.test_e2e_calls import sent_count, trunk

pytestmark = pytest.mark.e2e

RTP_PORTS = (61000, 62000)  # above the ephemeral range and the peers' free_port() range
PREFIX = "+861380000001"  # the last digit picks the debtor's behaviour
RING_TIMEOUT = 15.0  # the work-line floor
TALK = 3.0  # seconds we stay on the calls we hang up ourselves
DEBTOR_SAYS = "Hello? Yes, this is Wei Zhang speaking. Who is calling, please?"
MACHINE_SAYS = (
    "Hello, you have reached the voicemail of Li Na. I am not able to take your call "
    "right now. Please leave your name, your number and a short message after the tone, "
    "and I will call you back as soon as I can. Thank you, and have a nice day."
)
Trace = list[tuple[Outcome, int | None]]


class Heard:
    """A tap keeping what the far end sent, the ticks that carried audio."""

    def __init__(self) -> None:
        self.frames: list[Pcm] = []

    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None:
        if inbound is not None:
            self.frames.append(inbound.copy())

    def audio(self, *, skip: float) -> Pcm:
        return np.concatenate(self.frames[int(skip * 50) :])


@contextlib.asynccontextmanager
async def call_control(port: int) -> AsyncIterator[CallControl]:
    """Our user agent and media engine, with work line "trunk1" to ``port``."""
    async with MediaEngine(host=LOOPBACK, port_range=RTP_PORTS) as media:
        ua = await UserAgent.open(LOOPBACK, 0)
        control = CallControl(ua, media, WorkLines((trunk(port),)), media_host=LOOPBACK)
        try:
            yield control
        finally:
            await control.close()
            ua.close()


async def trace(
    call: ControlledCall,
    *,
    hang_up_after: float | None = None,
    tap: Heard | None = None,
    control: CallControl | None = None,
) -> Trace:
    """The call's outcomes with their status codes, to the final one; once answered,
    with ``tap`` attached (to ``control``) and hung up after ``hang_up_after`` s."""
    seen: Trace = []
    async for event in call.events():
        seen.append((event.outcome, event.status))
        if event.outcome is Outcome.ANSWERED:
            if tap is not None and control is not None:
                control.tap(call, tap)
            if hang_up_after is not None:
                await asyncio.sleep(hang_up_after)
                await call.hangup()
    return seen


def best(heard: Pcm, clip: Clip) -> float:
    """The median match of one-second windows of ``heard`` against ``clip``."""
    return statistics.median(matches(heard, clip.pcm) or [0.0])


@pytest.mark.timeout(60)
async def test_one_sipp_behind_one_work_line_answers_each_number_by_its_last_digit(
    tmp_path: Path,
) -> None:
    voice, greeting = await asyncio.gather(
        speech(tmp_path, "debtor", DEBTOR_SAYS),
        speech(tmp_path, "machine", MACHINE_SAYS, voice="en-gb"),
    )
    (tmp_path / "sipp").mkdir()
    fill = {"AUDIO": str(voice.ulaw), "MACHINE": str(greeting.ulaw)}
    machine_heard, debtor_heard = Heard(), Heard()
    async with (
        sipp("uas_mixed", tmp_path / "sipp", fill=fill, calls=6, trace=True) as (phone, port),
        call_control(port) as control,
    ):
        calls = await asyncio.gather(*(
            control.originate(f"{PREFIX}{digit}", line="trunk1", ring_timeout=RING_TIMEOUT)
            for digit in range(1, 7)
        ))  # fmt: skip
        busy, declined, rings_out, hangs_up, machine, debtor = calls
        async with asyncio.timeout(RING_TIMEOUT + 5):
            traces = await asyncio.gather(
                trace(busy), trace(declined), trace(rings_out), trace(hangs_up),
                trace(machine, hang_up_after=TALK, tap=machine_heard, control=control),
                trace(debtor, hang_up_after=TALK, tap=debtor_heard, control=control),
            )  # fmt: skip
        exit_code = await phone.exit_code()  # after the 6th call, once all have ended
        errors, messages = phone.file("*errors.log"), phone.file("*messages.log")
    trying, ringing = (Outcome.TRYING, 100), (Outcome.RINGING, 180)
    answered = (Outcome.ANSWERED, 200)
    assert list(traces) == [
        [trying, (Outcome.BUSY, 486)],
        [trying, ringing, (Outcome.REJECTED, 603)],
        [trying, ringing, (Outcome.NO_ANSWER, 487)],
        [trying, ringing, answered, (Outcome.HUNG_UP, None)],
        [trying, ringing, answered, (Outcome.ENDED, 200)],
        [trying, ringing, answered, (Outcome.ENDED, 200)],
    ], traces
    assert exit_code == 0, errors  # every ACK, the CANCEL, both BYEs and our 200 came
    for digit in range(1, 7):  # the numbers dialled, as sipp got them
        assert f"INVITE sip:{PREFIX}{digit}@{LOOPBACK}:{port};user=phone SIP/2.0" in messages
    # sipp resends a final response until it has our ACK: each sent once, prompt ACKs.
    finals = {
        final: sent_count(messages, f"SIP/2.0 {final}", "1 INVITE")
        for final in ("200 OK", "486 Busy Here", "603 Decline", "487 Request Terminated")
    }
    assert finals == {"200 OK": 3, "486 Busy Here": 1, "603 Decline": 1,
                      "487 Request Terminated": 1}, finals  # fmt: skip
    rang = rings_out.timeline.ring_seconds
    assert rang is not None and rang >= RING_TIMEOUT
    talked = hangs_up.timeline.talk_seconds
    assert talked is not None and talked > 2.5  # the debtor's BYE, about 3 s in
    assert debtor.media_stats is not None and debtor.media_stats.packets_received > 0
    for call in (hangs_up, machine, debtor):
        assert call.media_stats is not None
        assert call.media_stats.packets_received >= 50 * (TALK - 1)
    # Each answered call heard its own audio: the greeting is not the debtor's voice.
    scores = {
        "debtor/voice": best(debtor_heard.audio(skip=0.5), voice),
        "debtor/greeting": best(debtor_heard.audio(skip=0.5), greeting),
        "machine/greeting": best(machine_heard.audio(skip=0.5), greeting),
        "machine/voice": best(machine_heard.audio(skip=0.5), voice),
    }
    print({name: round(score, 3) for name, score in scores.items()})
    assert scores["debtor/voice"] > 0.6 and scores["machine/greeting"] > 0.6, scores
    assert scores["debtor/greeting"] < 0.4 and scores["machine/voice"] < 0.4, scores
