"""One simulated debtor's phone on one call (asyncio): ring, then refuse or answer and talk.

A :class:`DebtorPhone` runs a :class:`~telephony.simulated.behaviour.Plan` on an
offered call. It sends 180 if the plan rings, and after the ring time either the
plan's final status or the answer: an RTP stream on the carrier's media engine (the
codec the caller offered first of PCMU and PCMA), its SDP answer in the 200, the
opening played once, then the loop until the call ends. The phone hangs up itself
``hangs_up_after`` seconds after its opening when the plan says so, after
``max_talk`` seconds in any case, or when the carrier closes; otherwise the caller's
BYE ends the call. A CANCEL while it rings ends it with 487 (the user agent sends
it). All waiting is on the call's own events and the plan's times; the process's
media clock sends the audio, no task per stream.
"""

from __future__ import annotations

import asyncio
import secrets
import time
from collections.abc import Awaitable
from dataclasses import dataclass

from telephony.media.engine import MediaEngine
from telephony.media.g711 import Pcm
from telephony.media.stream import RtpStream
from telephony.simulated.behaviour import Plan
from telephony.simulated.report import CallReport, Result
from telephony.sip.call import Call
from telephony.sip.call_state import Outcome
from telephony.sip.incoming import IncomingCall
from telephony.sip.sdp import AudioSession, SessionDescription, answer

_CALLER, _CLOSING, _PLAYED = 0, 1, 2  # which of a phone's waits ended first


@dataclass(frozen=True, slots=True)
class Audio:
    """A plan's sound, rendered: the opening, and the loop (``None``: silence)."""

    opening: Pcm
    loop: Pcm | None


async def first_of(*waits: Awaitable[object], deadline: float | None = None) -> int | None:
    """The index of the first of ``waits`` to finish, or ``None`` once the loop's clock
    reaches ``deadline``; the others are cancelled."""
    tasks = [asyncio.ensure_future(wait) for wait in waits]
    timeout = None if deadline is None else max(0.0, deadline - asyncio.get_running_loop().time())
    try:
        done, _ = await asyncio.wait(tasks, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    return next((index for index, task in enumerate(tasks) if task in done), None)


class DebtorPhone:
    """See the module docstring."""

    def __init__(
        self,
        offered: IncomingCall,
        plan: Plan,
        audio: Audio,
        media: MediaEngine,
        *,
        offer: SessionDescription,
        session: AudioSession,
        max_talk: float,
        closing: asyncio.Event,
    ) -> None:
        self.offered, self.plan, self.audio, self.media = offered, plan, audio, media
        self.offer, self.session = offer, session
        self.max_talk, self.closing = max_talk, closing
        self.started = time.monotonic()
        self.answered: float | None = None

    async def run(self) -> CallReport:
        offered, plan = self.offered, self.plan
        if plan.rings:
            offered.ring()
        deadline = asyncio.get_running_loop().time() + plan.ring_seconds
        first = await first_of(offered.cancelled.wait(), self.closing.wait(), deadline=deadline)
        if first == _CALLER or not offered.pending:
            return self._report(Result.CANCELLED, 487)
        if first == _CLOSING:
            offered.reject(480)
            return self._report(Result.REJECTED, 480, "the carrier closed")
        if plan.final_status is not None:
            offered.reject(plan.final_status)
            return self._report(Result.REJECTED, plan.final_status)
        return await self._answer()

    async def _answer(self) -> CallReport:
        session = self.session
        stream = await self.media.open_stream(
            session.codec.payload_type, remote=(session.address, session.port),
            direction=str(session.direction),
        )  # fmt: skip
        try:
            if not self.offered.pending:  # cancelled while the stream opened
                return self._report(Result.CANCELLED, 487)
            call = self.offered.answer(self._sdp(stream.port))
            self.answered = time.monotonic()
            result, note = await self._talk(call, stream)
            return self._report(result, 200, note)
        finally:
            await self.media.close_stream(stream)

    def _sdp(self, port: int) -> bytes:
        """Our answer: the caller's first of PCMU and PCMA, at our stream's port."""
        sdp = answer(self.offer, self.media.host, port, session_id=secrets.randbelow(2**31))
        return bytes(sdp)

    async def _talk(self, call: Call, stream: RtpStream) -> tuple[Result, str]:
        """Play the opening, then stay on (looping) or hang up as planned."""
        now = asyncio.get_running_loop().time
        deadline, why = now() + self.max_talk, "max talk"
        opening = asyncio.shield(stream.play(self.audio.opening))
        first = await first_of(call.finished(), self.closing.wait(), opening, deadline=deadline)
        if first == _PLAYED:
            stays = self.plan.hangs_up_after
            if stays is not None and now() + stays < deadline:
                deadline, why = now() + stays, ""
            elif stays is None and self.audio.loop is not None:
                stream.play(self.audio.loop, loop=True)
            first = await first_of(call.finished(), self.closing.wait(), deadline=deadline)
        return await self._end(call, "the carrier closed" if first == _CLOSING else why)

    async def _end(self, call: Call, why: str) -> tuple[Result, str]:
        """Hang up unless the call has ended already (the caller's BYE, no ACK); who
        ended it, and why when it was the phone."""
        final = call.outcome
        if final is not None:
            why = final.reason
        else:
            final = await call.bye()
        if final.outcome is Outcome.HUNG_UP:
            return Result.CALLER_HUNG_UP, ""
        return Result.PHONE_HUNG_UP, why

    def _report(self, result: Result, status: int, note: str = "") -> CallReport:
        answered, now = self.answered, time.monotonic()
        return CallReport(
            self.offered.request.call_id, self.plan.number, self.plan.behaviour, result,
            status, ring_seconds=(answered or now) - self.started,
            talk_seconds=None if answered is None else now - answered, note=note,
        )  # fmt: skip
