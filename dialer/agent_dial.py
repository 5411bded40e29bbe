"""An agent dials a case themselves: a case assigned to them, or one they read in a
preview campaign. The same compliance check as every call the dialer places.

    find the campaign: the request's, else a running campaign of the case's bank
      whose queue the agent is in (a preview campaign first)
    admit (one transaction, `dialer.gate`'s locks): the chosen phone, or the case's
      phones in the dialer's order; the first one the check allows gets the attempt
      row (agent guaranteed: the agent is on the line before the debtor's phone
      rings, so the call cannot be abandoned); refused phones get refusal rows
      -> the answer to the agent: the attempt and call id, or every refusal reason
    ring the agent's softphone (routing claims the agent for the call's id)
      not answered: the attempt ends `failed`, nothing was dialled
    dial the debtor on the campaign's work line with that call id
      unanswered, or the agent hangs up while it rings: the result, agent released
      answered: recording starts, the legs are bridged until either side hangs up

The attempt row may end without a call leaving (the agent's phone did not answer):
it still counts against the caps, which errs on the safe side of a ceiling.
"""

from __future__ import annotations

import asyncio
import json
import logging
from dataclasses import dataclass
from datetime import datetime

import asyncpg

from cases.durable import until_stored
from cases.store import Conn, Db
from dialer import store
from dialer.calls import UNANSWERED, AttemptWrites, CallDeps, Ending, talk
from dialer.campaign import AttemptResult, Campaign
from dialer.candidates import PhoneFacts, phones_of
from dialer.compliance import (
    CampaignState,
    Decision,
    DialContext,
    Resources,
    RulePack,
    pack_named,
)
from dialer.gate import Admitted, LinePicker, decide, lock_contact, write_refusal
from dialer.ports import CallInfo, Connected
from telephony.control import ControlledCall

logger = logging.getLogger(__name__)

AGENT_RING_S = 15.0  # how long the agent's own softphone rings before giving up


@dataclass(frozen=True, slots=True)
class DialRequest:
    agent_id: int
    case_id: int
    phone_id: int | None = None
    campaign_id: int | None = None


@dataclass(frozen=True, slots=True)
class NotDialed:
    """Why nothing was dialled: no campaign, no line, or every phone refused."""

    why: str
    refusals: tuple[tuple[int, Decision], ...] = ()  # (phone id, decision)

    def as_json(self) -> dict[str, object]:
        return {"ok": False, "why": self.why, "refusals": [
            {"phone_id": phone_id, "reasons": [r.as_json() for r in d.reasons],
             "next_permitted_at": None if d.next_permitted_at is None
             else d.next_permitted_at.isoformat()} for phone_id, d in self.refusals]}


_CAMPAIGN = """
SELECT c.id FROM campaigns c
JOIN cases k ON k.client_id = c.client_id AND k.id = $1
JOIN queue_members m ON m.queue_id = c.queue_id AND m.agent_id = $2
WHERE c.state = 'running' AND ($3::bigint IS NULL OR c.id = $3)
ORDER BY (c.mode = 'preview') DESC, c.id
LIMIT 1
"""


async def find_campaign(db: Db, request: DialRequest) -> Campaign | None:
    campaign_id = await db.fetchval(_CAMPAIGN, request.case_id, request.agent_id,
                                    request.campaign_id)
    return None if campaign_id is None else await store.get_campaign(db, campaign_id)


def context(campaign: Campaign, *, recording: bool) -> DialContext:
    return DialContext(
        campaign_id=campaign.id, ring_timeout=campaign.settings.ring_timeout,
        agent_guaranteed=True, campaign=CampaignState(0, 0),
        resources=Resources(work_line=True, recording=recording))


async def admit_one(pool: asyncpg.Pool, campaign: Campaign, request: DialRequest,
                    lines: LinePicker, dialer: str, now: datetime, *, recording: bool
                    ) -> Admitted | NotDialed:
    """Check the request's phone (or the case's phones) and write the attempt."""
    pack = pack_named(campaign.settings.rule_pack)
    dial = context(campaign, recording=recording)
    async with pool.acquire() as conn, conn.transaction():
        phones = (await phones_of(conn, [request.case_id], now))[request.case_id]
        if request.phone_id is not None:
            phones = [p for p in phones if p.candidate.phone_id == request.phone_id]
            if not phones:
                return NotDialed("that phone is not one of the case's")
        refusals: list[tuple[int, Decision]] = []
        for facts in phones:
            found = await _try(conn, campaign, facts, request, lines, dialer, now, pack, dial)
            if isinstance(found, Admitted):
                return found
            if found is not None:
                refusals.append((facts.candidate.phone_id, found))
    why = "every phone was refused" if refusals else "no phone of the case may be called now"
    return NotDialed(why, tuple(refusals))


async def _try(conn: Conn, campaign: Campaign, facts: PhoneFacts, request: DialRequest,
               lines: LinePicker, dialer: str, now: datetime, pack: RulePack,
               dial: DialContext) -> Admitted | Decision | None:
    who = facts.candidate
    if facts.invalid or who.party not in campaign.settings.parties:
        return None
    if not await lock_contact(conn, who):
        return None  # a call to this debtor or number is being placed right now
    decision = await decide(conn, who, pack, now, dial)
    if not decision.allowed:
        await write_refusal(conn, campaign.id, who, decision, now)
        return decision
    line = lines.take()
    attempt_id = await conn.fetchval(
        "INSERT INTO attempts (campaign_id, case_id, debtor_id, phone_id, number, party,"
        " agent_id, work_line, dialer, placed_at, decision, pack, pack_version)"
        " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) RETURNING id",
        campaign.id, who.case_id, who.debtor_id, who.phone_id, who.number, str(who.party),
        request.agent_id, line, dialer, now, json.dumps(decision.as_json()),
        decision.pack, decision.pack_version)
    return Admitted(attempt_id, who, decision, line)


async def run_agent_attempt(deps: CallDeps, campaign: Campaign, admitted: Admitted,
                            client: tuple[int, str], agent_id: int, call_id: str) -> Ending:
    """Ring the agent, then the debtor; always closes the attempt."""
    ending = Ending(AttemptResult.FAILED, "the call could not be placed", agent_id=agent_id)
    writes = AttemptWrites(admitted.attempt_id)
    try:
        claimed = await deps.router.claim(agent_id, call_id, AGENT_RING_S)
        if isinstance(claimed, str):
            ending = Ending(AttemptResult.FAILED, f"not dialled: {claimed}", agent_id=agent_id)
        else:
            ending = await _dial(deps, campaign, admitted, client, claimed, call_id, writes)
    except Exception as error:  # a task boundary: the attempt must still be closed
        logger.exception("attempt %s: agent's call failed", admitted.attempt_id)
        ending = Ending(AttemptResult.FAILED, f"dialer error: {type(error).__name__}",
                        agent_id=agent_id)
    finally:
        await writes.settled()
        at = ending.at or deps.clock()
        await until_stored(lambda: store.end_attempt(
            deps.pool, admitted.attempt_id, ending.result, at=at, cause=ending.cause,
            retry_after=campaign.retry_after(ending.result), agent_id=ending.agent_id,
        ), f"attempt {admitted.attempt_id}: result")  # fmt: skip
        deps.on_end(admitted, ending)
    return ending


async def _dial(deps: CallDeps, campaign: Campaign, admitted: Admitted,
                client: tuple[int, str], connected: Connected, call_id: str,
                writes: AttemptWrites) -> Ending:
    who, agent_id = admitted.candidate, connected.agent_id
    call = await deps.control.originate(
        who.number, line=admitted.work_line, call_id=call_id,
        ring_timeout=campaign.settings.ring_timeout.total_seconds())
    writes.later("call id", lambda: store.set_call_id(deps.pool, admitted.attempt_id,
                                                     call.call_id))  # fmt: skip
    unanswered = await _ring(call, connected.leg)
    if unanswered is not None:
        await deps.router.release(connected, ended_at=deps.clock())
        return Ending(unanswered[0], unanswered[1], agent_id=agent_id)
    answered_at = deps.clock()
    deps.on_answer(admitted)
    writes.later("answer", lambda: store.mark_answered(deps.pool, admitted.attempt_id,
                                                       answered_at))  # fmt: skip
    info = CallInfo(
        attempt_id=admitted.attempt_id, campaign_id=campaign.id, case_id=who.case_id,
        client_id=client[0], client_code=client[1], phone_id=who.phone_id,
        party=str(who.party), answered_at=answered_at,
        notes=tuple(str(n) for n in admitted.decision.notes))
    recording = deps.recorder.begin(call, info)
    recording.note_agent(agent_id)
    ending: Ending | None = None
    try:
        deps.control.bridge(call, connected.leg)
        ending = await talk(deps, call, connected, None)
        return ending
    finally:
        if call.outcome is None:
            await call.hangup()
        if ending is not None:
            ending.at = deps.clock()  # the call's end, not the catalogue's (it may wait)
        await recording.finish()


async def _ring(call: ControlledCall, agent: ControlledCall
                ) -> tuple[AttemptResult, str] | None:
    """None once the debtor answers; else the result (the agent hanging up while it
    rings cancels the call)."""
    agent_gone = asyncio.ensure_future(agent.finished())
    answered = asyncio.ensure_future(call.answered.wait())
    ended = asyncio.ensure_future(call.finished())
    try:
        await asyncio.wait({agent_gone, answered, ended}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for waiter in (agent_gone, answered, ended):
            waiter.cancel()
    if call.outcome is None and answered.done() and not answered.cancelled():
        if agent.outcome is None:
            return None
        await call.hangup()
        return AttemptResult.HUNG_UP, "the agent hung up as the debtor answered"
    if call.outcome is None:  # the agent hung up while the debtor's phone rang
        await call.hangup()
        return AttemptResult.NO_ANSWER, "cancelled by the agent while ringing"
    final = call.outcome
    return (UNANSWERED.get(final.outcome, AttemptResult.FAILED),
            f"{final.outcome} {final.status or ''} {final.reason}".strip())
