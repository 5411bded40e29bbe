"""Call control: what the dialer, routing and recording use to place and join calls.

`CallControl.originate` places a call through a registered work line (or, for
agents' softphones and operator tests, straight to a SIP URI), with an RTP stream
of the process's media engine behind its SDP offer. A small watcher per call
applies what the far end says to the media: early media and the answer set the
stream's far end and codec; a final outcome closes the stream and frees its port.
A re-INVITE from the far end (it holds or resumes) is answered from the same stream,
and the stream follows it (held, it stops sending). When the media engine has an RTP
timeout, an answered call from which nothing has arrived for that long is hung up
(BYE) and ends ``media_timeout``. Consumers read
`ControlledCall.events()` (trying, ringing, early media, answered, then exactly one
final outcome), `bridge` two calls, `play` audio into one, and `tap` both directions
as 16-bit PCM frames.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from telephony.lines import WorkLines
from telephony.media.engine import MediaEngine
from telephony.media.sources import Playback
from telephony.media.stream import RtpStream, StreamStats
from telephony.media.taps import Tap
from telephony.sip.call import CallEvent, default_answer
from telephony.sip.call_state import Outcome
from telephony.sip.login import Login
from telephony.sip.outgoing import OutgoingCall
from telephony.sip.sdp import (
    SdpNegotiationError,
    SdpParseError,
    SessionDescription,
    negotiate,
    offer,
)
from telephony.sip.ua import UserAgent

logger = logging.getLogger(__name__)

MIN_RING_TIMEOUT = 15.0  # ring at least 15 s before calling it no answer (compliance.md)


@dataclass
class Timeline:
    """When things happened, on the monotonic clock."""

    started: float = field(default_factory=time.monotonic)
    ringing: float | None = None
    answered: float | None = None
    ended: float | None = None

    @property
    def ring_seconds(self) -> float | None:
        end = self.answered or self.ended
        return None if end is None else end - self.started

    @property
    def talk_seconds(self) -> float | None:
        if self.answered is None:
            return None
        return (self.ended or time.monotonic()) - self.answered


class ControlledCall:
    """One call leg: its SIP dialog, its RTP stream, and what happened to it."""

    def __init__(self, sip: OutgoingCall, stream: RtpStream, line: str | None) -> None:
        self.sip = sip
        self.stream = stream
        self.line = line
        self.timeline = Timeline()
        self.history: list[CallEvent] = []
        self.answered = asyncio.Event()
        self.media_stats: StreamStats | None = None  # the stream's figures when it closed
        self.quiet_for: float | None = None  # seconds without RTP when the RTP timeout hit
        self._events: asyncio.Queue[CallEvent] = asyncio.Queue()
        self._done: asyncio.Future[CallEvent] = asyncio.get_running_loop().create_future()

    @property
    def call_id(self) -> str:
        return self.sip.call_id

    @property
    def outcome(self) -> CallEvent | None:
        return self._done.result() if self._done.done() else None

    async def events(self) -> AsyncIterator[CallEvent]:
        """Progress events, then exactly one final event."""
        while True:
            event = await self._events.get()
            yield event
            if event.outcome.final:
                return

    async def finished(self) -> CallEvent:
        return await asyncio.shield(self._done)

    async def hangup(self) -> CallEvent:
        """BYE when answered, CANCEL when still ringing; returns the final event."""
        if not self._done.done():
            await self.sip.bye()
        return await self.finished()

    def _record(self, event: CallEvent) -> None:
        self.history.append(event)
        now = time.monotonic()
        if event.outcome in (Outcome.RINGING, Outcome.EARLY_MEDIA) and \
                self.timeline.ringing is None:
            self.timeline.ringing = now
        elif event.outcome is Outcome.ANSWERED:
            self.timeline.answered = now
            self.answered.set()
        elif event.outcome.final:
            self.timeline.ended = now
        self._events.put_nowait(event)


class AtCapacity(RuntimeError):
    """No call placed: the service holds as many call legs as it is allowed."""

    error_id = "telephony.at_capacity"


class CallControl:
    """`max_legs`: how many call legs (a debtor bridged to an agent is two) may be up at
    once; beyond it `originate` raises `AtCapacity` and new INVITEs from outside are
    answered 503 with Retry-After, so calls in progress keep their share of the machine.
    While the media clock is overloaded (its ticks late on average:
    `telephony.media.load`) `legs_free()` is 0 whatever the count, so the campaign
    loop places no new call, and new INVITEs are answered 503 the same way."""

    def __init__(self, ua: UserAgent, media: MediaEngine, lines: WorkLines,
                 *, media_host: str = "127.0.0.1", max_legs: int | None = None) -> None:
        if max_legs is not None and max_legs < 1:
            raise ValueError(f"max_legs must be at least 1, not {max_legs}")
        self.ua = ua
        self.media = media
        self.lines = lines
        self.media_host = media_host
        self.max_legs = max_legs
        self.calls: dict[str, ControlledCall] = {}
        self._watchers: set[asyncio.Task[None]] = set()
        ua.admit = self.has_room

    def has_room(self) -> bool:
        return self.legs_free() != 0

    def legs_free(self) -> int | None:
        """How many more call legs may be placed now; None: no limit. 0 while the
        media clock is overloaded."""
        if self.media.clock.load.overloaded:
            return 0
        return None if self.max_legs is None else max(0, self.max_legs - len(self.calls))

    async def originate(self, to: str, *, line: str | None = None, uri: str | None = None,
                        ring_timeout: float = 30.0, call_id: str | None = None
                        ) -> ControlledCall:
        """Call `to` (a phone number) through work line `line`, or call SIP `uri` directly.
        `call_id`: one from `new_call_id()`, when the call must be named before it is
        placed (an agent rung first for the call they are about to make).

        Raises `LineRefused` for a line that is not a registered, active work line,
        `AtCapacity` when the service holds `max_legs` call legs already. The media
        clock's overload does not refuse here: it holds back new calls where they are
        decided (`legs_free()`, read by the campaign loop before it writes an attempt;
        inbound INVITEs), while a call already decided, or a leg joining a call
        already up (an agent for an answered debtor, a supervisor), is placed.
        """
        if (line is None) == (uri is None):
            raise ValueError("give a work line and a number, or a SIP URI")
        if self.max_legs is not None and len(self.calls) >= self.max_legs:
            raise AtCapacity(f"{len(self.calls)} call legs up, the limit is {self.max_legs}")
        ring_timeout = max(ring_timeout, MIN_RING_TIMEOUT) if line else ring_timeout
        target, caller, login = uri or "", "sip:callcase@" + self.media_host, None
        if line is not None:
            work_line = self.lines.get(line)
            target, caller = work_line.request_uri(to), work_line.from_uri
            if work_line.username and work_line.password:
                login = Login(work_line.username, work_line.password)
        stream = await self.media.open_stream(0)
        try:
            sdp = offer(self.media_host, stream.port, session_id=secrets.randbelow(2**31))
            sip = self.ua.invite(target, bytes(sdp), from_uri=caller,
                                 ring_timeout=ring_timeout, credentials=login, call_id=call_id)
        except BaseException:  # a bad URI: nothing was sent; give the port back
            await self.media.close_stream(stream)
            raise
        call = ControlledCall(sip, stream, line)
        sip.answer_offer = lambda body: self._answer_offer(call, body)
        self.calls[call.call_id] = call
        task = asyncio.create_task(self._watch(call), name=f"call {call.call_id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)
        return call

    async def _watch(self, call: ControlledCall) -> None:
        final: CallEvent | None = None
        try:
            async for event in call.sip.events():  # progress, then the final event
                if event.outcome.final:
                    final = event
                    continue
                if event.sdp and event.outcome in (Outcome.EARLY_MEDIA, Outcome.ANSWERED):
                    self._apply_sdp(call, event.sdp)
                if event.outcome is Outcome.ANSWERED:
                    call.stream.watch_media(lambda quiet: self._media_timeout(call, quiet))
                call._record(event)
        except Exception:  # the task boundary: log, and still end the call below
            logger.exception("call %s: watcher failed", call.call_id)
        finally:
            await self._finish(
                call, final or CallEvent(Outcome.FAILED, reason="call control lost the call")
            )

    def _apply_sdp(self, call: ControlledCall, body: bytes) -> None:
        try:
            session = negotiate(SessionDescription.parse(body))
        except (SdpParseError, SdpNegotiationError) as exc:
            logger.warning("call %s: unusable SDP from the far end: %s", call.call_id, exc)
            return
        call.stream.set_codec(session.codec.payload_type)
        call.stream.set_remote((session.address, session.port))
        call.stream.set_direction(str(session.direction))

    def _answer_offer(self, call: ControlledCall, body: bytes) -> bytes | None:
        """The far end's re-INVITE (its hold or resume): our answer from the same
        stream, which then follows it (held: it stops sending); None answers 488."""
        reply = default_answer(call.sip.local_sdp, body)
        if reply is not None:
            self._apply_sdp(call, body)
        return reply

    def _media_timeout(self, call: ControlledCall, quiet: float) -> None:
        """The media engine heard nothing from the far end for its RTP timeout."""
        logger.warning("call %s: no RTP for %.1f s, hanging up (RTP timeout)",
                       call.call_id, quiet)
        call.quiet_for = quiet
        task = asyncio.create_task(self._hang_up(call), name=f"RTP timeout {call.call_id}")
        self._watchers.add(task)
        task.add_done_callback(self._watchers.discard)

    async def _hang_up(self, call: ControlledCall) -> None:
        await call.sip.bye()

    async def _finish(self, call: ControlledCall, outcome: CallEvent) -> None:
        """Close the stream and free its port, then report the final outcome: whoever
        sees it, through `events()` or `finished()`, finds the media released."""
        call.media_stats = call.stream.stats()
        if call.quiet_for is not None and outcome.outcome is Outcome.ENDED:
            outcome = CallEvent(Outcome.MEDIA_TIMEOUT, outcome.status,
                                f"no RTP from the far end for {call.quiet_for:.0f} s")
        try:
            await self.media.close_stream(call.stream)
        finally:
            call.sip.answer_offer = None  # it holds the call: a cycle for the GC to find
            self.calls.pop(call.call_id, None)
            call._record(outcome)
            if not call._done.done():
                call._done.set_result(outcome)
        logger.info("call %s ended: %s %s", call.call_id, outcome.outcome,
                    outcome.status or "")

    def new_call_id(self) -> str:
        return self.ua.new_call_id()

    def bridge(self, a: ControlledCall, b: ControlledCall) -> None:
        self.media.bridge(a.stream, b.stream)

    def play(self, call: ControlledCall, audio: bytes, *, loop: bool = False) -> Playback:
        return call.stream.play(audio, loop=loop)

    def tap(self, call: ControlledCall, tap: Tap) -> None:
        call.stream.add_tap(tap)

    async def close(self) -> None:
        for call in list(self.calls.values()):
            await call.hangup()
        for task in list(self._watchers):
            task.cancel()
        await asyncio.gather(*self._watchers, return_exceptions=True)
