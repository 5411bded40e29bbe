"""One admitted attempt, from the INVITE to its result written back.

    ring --no answer/busy/rejected/failed--> result
      |
    answer: recording starts; AMD listens (unless the campaign turned it off)
      |-- machine: hang up (machine), or leave the pack's message (voicemail)
      |-- the debtor hangs up first: hung_up
      |-- a live person: routing has `AGENT_DEADLINE` seconds to bridge an agent;
      |     none: the information message is played and the call ends (abandoned)
      |-- bridged: until either side hangs up (connected, with the agent)
    end: the recording is finalised and the attempt closed with its result; the
    retry policy pushes the case's next action time.

The attempt row exists before this starts (`dialer.gate`); whatever happens here,
the `finally` closes it, trying again while the database is away (a call that
was up when PostgreSQL restarted still gets its result). If the process dies
instead, `dialer.store.recover` closes it on restart.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime

import asyncpg
import numpy as np

from cases.durable import until_stored
from dialer import store
from dialer.amd import AmdConfig, AmdDetector, AmdResult, Cause, Verdict
from dialer.campaign import AmdPolicy, AttemptResult, Campaign
from dialer.gate import Admitted
from dialer.ports import AgentRouter, CallInfo, CallRecorder, Connected
from telephony.control import AtCapacity, CallControl, ControlledCall
from telephony.media.g711 import Pcm
from telephony.sip.call import CallEvent
from telephony.sip.call_state import Outcome

logger = logging.getLogger(__name__)

AGENT_DEADLINE = 2.0  # seconds from the end of the greeting to an agent on the line
SILENCE = bytes(320)
AMD = AmdConfig()

UNANSWERED: dict[Outcome, AttemptResult] = {
    Outcome.BUSY: AttemptResult.BUSY,
    Outcome.REJECTED: AttemptResult.REJECTED,
    Outcome.NO_ANSWER: AttemptResult.NO_ANSWER,
    Outcome.CANCELLED: AttemptResult.NO_ANSWER,
}


@dataclass(frozen=True, slots=True)
class Prompts:
    """8 kHz 16-bit PCM: the information message for a call no agent could take
    (company name and a number to call back), and the limited-content voicemail."""

    abandon: bytes
    voicemail: bytes


@dataclass(slots=True)
class Ending:
    result: AttemptResult
    cause: str
    agent_id: int | None = None
    amd: AmdResult | None = None
    at: datetime | None = None  # when the call ended, if known before the result is written


@dataclass(slots=True)
class CallDeps:
    pool: asyncpg.Pool
    control: CallControl
    router: AgentRouter
    recorder: CallRecorder
    prompts: Prompts
    clock: Callable[[], datetime]
    on_end: Callable[[Admitted, Ending], None] = field(default=lambda admitted, ending: None)
    on_answer: Callable[[Admitted], None] = field(default=lambda admitted: None)


class AmdTap:
    """Feeds the debtor's inbound frames to a detector until it decides."""

    def __init__(self, detector: AmdDetector) -> None:
        self.detector = detector
        self.decided: asyncio.Future[AmdResult] = asyncio.get_running_loop().create_future()

    def on_frame(self, tick: int, inbound: Pcm | None, outbound: Pcm | None) -> None:
        if self.decided.done():
            return
        frame = SILENCE if inbound is None else inbound.astype(np.int16).tobytes()
        result = self.detector.feed(frame)
        if result is not None:
            self.decided.set_result(result)


async def run_attempt(deps: CallDeps, campaign: Campaign, admitted: Admitted,
                      client: tuple[int, str]) -> Ending:
    """Place the admitted call and see it to its end; always closes the attempt."""
    ending = Ending(AttemptResult.FAILED, "the call could not be placed")
    writes = AttemptWrites(admitted.attempt_id)
    try:
        ending = await _place(deps, campaign, admitted, client, writes)
    except AtCapacity as full:  # nothing was sent
        logger.warning("attempt %s: not placed: %s", admitted.attempt_id, full)
        ending = Ending(AttemptResult.FAILED, f"not placed: at the call-leg limit ({full})")
    except Exception as error:  # a task boundary: the attempt must still be closed
        logger.exception("attempt %s: call failed", admitted.attempt_id)
        ending = Ending(AttemptResult.FAILED, f"dialer error: {type(error).__name__}")
    finally:
        await writes.settled()
        at = ending.at or deps.clock()
        await until_stored(lambda: store.end_attempt(
            deps.pool, admitted.attempt_id, ending.result, at=at, cause=ending.cause,
            retry_after=campaign.retry_after(ending.result), agent_id=ending.agent_id,
            amd=None if ending.amd is None else ending.amd.as_json(),
        ), f"attempt {admitted.attempt_id}: result")  # fmt: skip
        deps.on_end(admitted, ending)
    return ending


class AttemptWrites:
    """The attempt's progress (its call id, its answer) written in order without
    holding up the call: each is tried until the database takes it (`until_stored`),
    and the result is written only after them (`settled`)."""

    def __init__(self, attempt_id: int) -> None:
        self.attempt_id = attempt_id
        self._last: asyncio.Future[None] | None = None

    def later(self, what: str, write: Callable[[], Awaitable[object]]) -> None:
        previous = self._last

        async def run() -> None:
            if previous is not None:
                await asyncio.gather(previous, return_exceptions=True)
            try:
                await until_stored(write, f"attempt {self.attempt_id}: {what}")
            except Exception:  # a task of its own: logged; the result is still written
                logger.exception("attempt %s: %s not written", self.attempt_id, what)

        self._last = asyncio.ensure_future(run())

    async def settled(self) -> None:
        if self._last is not None:
            await self._last


async def _place(deps: CallDeps, campaign: Campaign, admitted: Admitted,
                 client: tuple[int, str], writes: AttemptWrites) -> Ending:
    who = admitted.candidate
    call = await deps.control.originate(
        who.number, line=admitted.work_line,
        ring_timeout=campaign.settings.ring_timeout.total_seconds())
    writes.later("call id", lambda: store.set_call_id(deps.pool, admitted.attempt_id,
                                                     call.call_id))  # fmt: skip
    final = await _until_answered(call)
    if final is not None:
        return Ending(UNANSWERED.get(final.outcome, AttemptResult.FAILED),
                      f"{final.outcome} {final.status or ''} {final.reason}".strip())
    answered_at = deps.clock()
    deps.on_answer(admitted)
    writes.later("answer", lambda: store.mark_answered(deps.pool, admitted.attempt_id,
                                                       answered_at))  # fmt: skip
    info = CallInfo(
        attempt_id=admitted.attempt_id, campaign_id=campaign.id, case_id=who.case_id,
        client_id=client[0], client_code=client[1], phone_id=who.phone_id,
        party=str(who.party), answered_at=answered_at,
        notes=tuple(str(n) for n in admitted.decision.notes),
    )
    recording = deps.recorder.begin(call, info)
    ending: Ending | None = None
    try:
        ending = await _answered(deps, campaign, call, info, writes)
        if ending.agent_id is not None:
            recording.note_agent(ending.agent_id)
        return ending
    finally:
        if call.outcome is None:
            await call.hangup()
        if ending is not None:
            ending.at = deps.clock()  # the call's end, not the catalogue's (it may wait)
        await recording.finish()


async def _until_answered(call: ControlledCall) -> CallEvent | None:
    """None once answered; the final event when the call ended without an answer."""
    async for event in call.events():
        if event.outcome is Outcome.ANSWERED:
            return None
        if event.outcome.final:
            return event
    return await call.finished()


async def _answered(deps: CallDeps, campaign: Campaign, call: ControlledCall,
                    info: CallInfo, writes: AttemptWrites) -> Ending:
    """AMD and the agent's softphone at once: the agent is rung from the answer, so a
    softphone that takes a second to pick up is ready when AMD calls a person; a
    machine or a hang-up withdraws the offer. The agent who takes the call is written
    on the attempt at once: a call the process dies in still names them."""
    listening = campaign.settings.amd_policy is not AmdPolicy.OFF
    budget = AMD.total_analysis_ms / 1000 + AGENT_DEADLINE if listening else AGENT_DEADLINE
    offer = asyncio.ensure_future(
        deps.router.connect(call, campaign.settings.queue_id, info, budget))
    try:
        verdict = await _listen(deps.control, call) if listening else None
        if listening and (verdict is None or verdict.verdict is Verdict.MACHINE):
            await _withdraw(deps, offer)
            if verdict is None:
                return Ending(AttemptResult.HUNG_UP, "hung up during the greeting")
            return await _machine(deps, campaign, call, verdict)
        connected = await _agent_within(deps, offer, agent_deadline(verdict))
    except BaseException:
        await _withdraw(deps, offer)
        raise
    if connected is not None and call.outcome is None:
        agent_id = connected.agent_id
        writes.later("agent", lambda: store.note_agent(deps.pool, info.attempt_id, agent_id))
    return await _bridge_or_abandon(deps, call, connected, verdict)


async def _agent_within(deps: CallDeps, offer: asyncio.Future[Connected | None],
                        seconds: float) -> Connected | None:
    """The agent connected within `seconds`, or None (the offer withdrawn).

    An agent whose softphone answered in time but whose state routing was still
    writing (a starved process) is withdrawn all the same: the debtor was not
    connected within the 2 s, which is what an abandoned call is (47 CFR
    64.1200(a)(7), Ofcom). Bridging late would leave the call out of the abandon
    rate, its call tally and the no-redial rule; counting a late bridge as
    abandoned is not built. Routing logs where the offer's time went
    (`routing.dispatch.OfferTrace`)."""
    done, _ = await asyncio.wait({offer}, timeout=seconds)
    if offer in done:
        return offer.result()
    # The dispatcher withdraws the reservation and hangs up its leg; an agent who
    # came all the same (a cancel swallowed on the way) is released: too late.
    await _withdraw(deps, offer)
    return None


async def _withdraw(deps: CallDeps, offer: asyncio.Future[Connected | None]) -> None:
    """Cancel an offer; an agent who had already answered is released."""
    offer.cancel()
    (result,) = await asyncio.gather(offer, return_exceptions=True)
    if result is not None and not isinstance(result, BaseException):
        await deps.router.release(result, ended_at=deps.clock())


async def _bridge_or_abandon(deps: CallDeps, call: ControlledCall, connected: Connected | None,
                             verdict: AmdResult | None) -> Ending:
    if call.outcome is not None:
        if connected is not None:
            await deps.router.release(connected, ended_at=deps.clock())
        return Ending(AttemptResult.HUNG_UP, "hung up before an agent came", amd=verdict)
    if connected is None:
        await _say(deps.control, call, deps.prompts.abandon)
        return Ending(AttemptResult.ABANDONED, f"no agent {AGENT_DEADLINE:g} s after the greeting",
                      amd=verdict)
    deps.control.bridge(call, connected.leg)
    return await talk(deps, call, connected, verdict)


def agent_deadline(verdict: AmdResult | None, config: AmdConfig = AMD) -> float:
    """Seconds routing has left: AMD calls a person once a silence of
    `after_greeting_silence_ms` follows the greeting, and that silence counts
    against the 2 s."""
    if verdict is None or verdict.cause is not Cause.AFTER_GREETING_SILENCE:
        return AGENT_DEADLINE
    return max(0.5, AGENT_DEADLINE - config.after_greeting_silence_ms / 1000)


async def _listen(control: CallControl, call: ControlledCall) -> AmdResult | None:
    tap = AmdTap(AmdDetector(AMD))
    control.tap(call, tap)
    try:
        ended = asyncio.ensure_future(call.finished())
        waiters: set[asyncio.Future[object]] = {tap.decided, ended}  # type: ignore[arg-type]
        await asyncio.wait(waiters, return_when=asyncio.FIRST_COMPLETED)
        ended.cancel()
        return tap.decided.result() if tap.decided.done() else None
    finally:
        call.stream.remove_tap(tap)


async def _machine(deps: CallDeps, campaign: Campaign, call: ControlledCall,
                   verdict: AmdResult) -> Ending:
    if campaign.settings.amd_policy is AmdPolicy.MESSAGE:
        await _say(deps.control, call, deps.prompts.voicemail)
        return Ending(AttemptResult.VOICEMAIL, "limited-content message left", amd=verdict)
    return Ending(AttemptResult.MACHINE, f"answering machine ({verdict.cause})", amd=verdict)


async def _say(control: CallControl, call: ControlledCall, audio: bytes) -> None:
    """Play a message to its end, unless the callee hangs up first."""
    playing = asyncio.ensure_future(control.play(call, audio))
    ended = asyncio.ensure_future(call.finished())
    await asyncio.wait({playing, ended}, return_when=asyncio.FIRST_COMPLETED)
    playing.cancel()
    ended.cancel()


async def talk(deps: CallDeps, call: ControlledCall, connected: Connected,
                verdict: AmdResult | None) -> Ending:
    debtor = asyncio.ensure_future(call.finished())
    agent = asyncio.ensure_future(connected.leg.finished())
    done, _ = await asyncio.wait({debtor, agent}, return_when=asyncio.FIRST_COMPLETED)
    who, first = ("debtor", debtor) if debtor in done else ("agent", agent)
    silent = first.result().outcome is Outcome.MEDIA_TIMEOUT
    for waiter in (debtor, agent):
        waiter.cancel()
    await deps.router.release(connected, ended_at=deps.clock())
    cause = f"no RTP from the {who} (RTP timeout)" if silent else f"{who} hung up"
    return Ending(AttemptResult.CONNECTED, cause, agent_id=connected.agent_id, amd=verdict)
