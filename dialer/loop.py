"""The campaign loop: every tick, for each running campaign, how many calls to place
(pacing), which (the gate), and the calls themselves (`dialer.calls`).

A tick of one campaign: outside the campaign's schedule, nothing. If the recorder
says a call could not be recorded, nothing either (the check would refuse every
candidate; the loop says why once instead of writing a refusal per case). Otherwise
pacing decides from the live capacity (routing's agents, the calls this dialer has
ringing, the campaign's measured answer rate and handle time, its abandon count
over the cap's window) and the gate admits that many attempts, each of which runs
as its own task. A paused or stopped campaign is simply not ticked: its calls in
progress finish on their own. A running campaign that admits nothing and has no
case it could ever call (`candidates.any_left`: none in its filter and statuses
with a phone it may use) is moved to ``finished`` (checked at most once a minute).

An answered call waits for an agent until routing has settled its offer (bridged
an agent, or given up): pacing counts it as ``waiting`` until then, so progressive
dials no call for the agent that call is about to take (counting it only as
ringing, then as nothing, dialled one call too many for each answer that reached
the loop before routing reserved its agent).

Work line channels are counted per dialer process; two dialers sharing a line
share its channels only as far as the trunk refuses the excess (known limit). So are
its new calls a second (`dialer.line_rate`), which every call placed on the line
takes from, the agents' own dials as well: a line at its limit places nothing more
in this tick, and nothing is refused for it (the cases wait for the next tick).
On start the dialer closes what it left open before (`store.recover`).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from fractions import Fraction
from zoneinfo import ZoneInfo

import asyncpg

from dialer import store
from dialer.agent_dial import DialRequest, NotDialed, admit_one, find_campaign, run_agent_attempt
from dialer.calls import CallDeps, Ending, run_attempt
from dialer.campaign import AttemptResult, Campaign, Command
from dialer.candidates import any_left
from dialer.compliance import (
    AbandonPeriod,
    CampaignState,
    DialContext,
    Resources,
    RulePack,
    pack_named,
)
from dialer.gate import Admitted, Gate, LinePicker, admit
from dialer.line_rate import LineRates
from dialer.pacing import PacingConfig, PacingDecision, PacingLatch, PacingSnapshot, decide
from dialer.ports import AgentRouter, CallInfo, Capacity, Connected
from telephony.control import ControlledCall

logger = logging.getLogger(__name__)

OUTAGE_LOG_S = 30.0  # while ticks fail, the failure is logged this often

RECOVERY_RETRY = timedelta(hours=1)
FINISH_CHECK_S = 60.0
LEGS_PER_CALL = 2  # the debtor's leg and the agent's


def within_leg_limit(calls: int, legs_free: int | None) -> int:
    """How many of `calls` may be placed with `legs_free` call legs left (None: no
    limit): each needs two, the debtor's and the agent's it is bridged to."""
    return calls if legs_free is None else min(calls, legs_free // LEGS_PER_CALL)


@dataclass(slots=True)
class CampaignLive:
    """What this dialer knows of one campaign between ticks."""

    latch: PacingLatch = field(default_factory=PacingLatch)
    ringing: dict[int, float] = field(default_factory=dict)  # attempt id -> monotonic start
    waiting: set[int] = field(default_factory=set)  # answered, the offer not settled yet
    waiting_reason: str = ""
    last: PacingDecision | None = None
    left_checked: float | None = None  # monotonic time of the last "anything left?"


@dataclass(frozen=True, slots=True)
class Measured:
    attempts: int
    answers: int
    mean_ring_s: float
    mean_talk_s: float
    abandoned: int
    live: int


class Dialer:
    def __init__(self, deps: CallDeps, *, name: str, pacing: PacingConfig | None = None,
                 tick_s: float = 1.0, monotonic: Callable[[], float] = time.monotonic) -> None:
        self.deps = deps
        self.name = name
        self.pacing = pacing or PacingConfig()
        self.tick_s = tick_s
        self.monotonic = monotonic
        self.live: dict[int, CampaignLive] = {}
        self.in_use: dict[str, int] = {}  # work line -> calls of this dialer on it
        self.rates = LineRates()  # work line -> its new calls a second
        self.tasks: set[asyncio.Task[Ending]] = set()
        self._zones: dict[int, tuple[ZoneInfo, str]] = {}
        deps.on_end = self._ended
        deps.on_answer = self._answered

    async def recover(self) -> int:
        closed = await store.recover(self.deps.pool, self.name, now=self.deps.clock(),
                                     retry_after=RECOVERY_RETRY)
        if closed:
            logger.warning("closed %d attempts left open by an earlier run as interrupted",
                           closed)
        return closed

    async def run(self) -> None:
        await self.recover()
        failing_since: float | None = None  # fail closed: no tick, no call
        logged_at = 0.0
        while True:
            started = self.monotonic()
            try:
                await self.tick()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
                if failing_since is None or started - logged_at >= OUTAGE_LOG_S:
                    logger.error("dialer tick failed, no calls placed until it works: %s",
                                 error)  # fmt: skip
                    logged_at = started
                failing_since = failing_since if failing_since is not None else started
            else:
                if failing_since is not None:
                    logger.warning("dialer ticks again after %.1f s without placing calls",
                                   started - failing_since)  # fmt: skip
                    failing_since = None
            await asyncio.sleep(max(0.0, self.tick_s - (self.monotonic() - started)))

    async def tick(self) -> list[Admitted]:
        placed: list[Admitted] = []
        for campaign in await store.running_campaigns(self.deps.pool):
            placed += await self.tick_campaign(campaign)
        return placed

    async def tick_campaign(self, campaign: Campaign) -> list[Admitted]:
        live = self.live.setdefault(campaign.id, CampaignLive())
        now = self.deps.clock()
        zone, code = await self._client(campaign.client_id)
        if not campaign.settings.schedule.open_at(now, zone):
            return self._idle(campaign, live, "outside the campaign's schedule")
        ready, why = self.deps.recorder.ready()
        if not ready:
            return self._idle(campaign, live, f"recorder not ready: {why}")
        pack = pack_named(campaign.settings.rule_pack)
        measured = await self._measure(campaign, pack, now, zone)
        capacity = await self.deps.router.capacity(campaign.settings.queue_id)
        snapshot = self._snapshot(campaign, live, measured, capacity)
        decision = decide(snapshot, self.pacing, live.latch)
        live.latch, live.last = decision.latch, decision
        if decision.calls <= 0:
            return []
        calls = within_leg_limit(decision.calls, self.deps.control.legs_free())
        if calls <= 0:  # placed anyway, it would end at once as a failed attempt
            return self._idle(campaign, live, "the service is at its call-leg limit")
        free = self._free_channels(campaign)
        if not any(free.values()):
            if any(self._free_channels(campaign, rated=False).values()):
                live.waiting_reason = "its work lines are at their calls-a-second limit"
                return []  # for a moment: not worth a log line every tick
            return self._idle(campaign, live, "no channel free on its registered work lines")
        calls = min(calls, sum(free.values()))
        gate = Gate(campaign, pack, self.name,
                    self._context(campaign, measured, decision.agent_guaranteed),
                    LinePicker(free))
        admitted = await admit(self.deps.pool, gate, now, calls)
        for one in admitted:
            self._start(campaign, one, (campaign.client_id, code))
        live.waiting_reason = ""
        if not admitted:
            await self._finish_if_done(campaign, live)
        return admitted

    async def _finish_if_done(self, campaign: Campaign, live: CampaignLive) -> None:
        """At most once a minute while it admits nothing: a campaign with no case it
        could ever call, and no call of its own in progress, is finished."""
        at = self.monotonic()
        if live.left_checked is not None and at - live.left_checked < FINISH_CHECK_S:
            return
        live.left_checked = at
        if live.ringing or await any_left(self.deps.pool, campaign):
            return
        await store.command_campaign(self.deps.pool, campaign.id, Command.FINISH,
                                     now=self.deps.clock())
        logger.info("campaign %s finished: no case in it may ever be called", campaign.id)

    async def dial_for_agent(self, request: DialRequest) -> dict[str, object]:
        """An agent dials a case (`dialer.agent_dial`): the attempt and call id once
        admitted (the agent's softphone then rings), or why nothing is dialled."""
        campaign = await find_campaign(self.deps.pool, request)
        if campaign is None:
            return NotDialed("you are in no running campaign of this case's bank").as_json()
        free = self._free_channels(campaign)
        if not any(free.values()):
            if any(self._free_channels(campaign, rated=False).values()):
                return NotDialed("the campaign's work lines are at their calls-a-second"
                                 " limit: dial again in a second").as_json()
            return NotDialed("no channel free on the campaign's work lines").as_json()
        ready, _ = self.deps.recorder.ready()  # not ready: the check refuses, and says so
        found = await admit_one(self.deps.pool, campaign, request, LinePicker(free), self.name,
                                self.deps.clock(), recording=ready)
        if isinstance(found, NotDialed):
            return found.as_json()
        _, code = await self._client(campaign.client_id)
        call_id = self.deps.control.new_call_id()
        self._take_line(found.work_line)
        task = asyncio.create_task(
            run_agent_attempt(self.deps, campaign, found, (campaign.client_id, code),
                              request.agent_id, call_id),
            name=f"attempt {found.attempt_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)
        return {"ok": True, "attempt_id": found.attempt_id, "call_id": call_id,
                "campaign_id": campaign.id, "phone_id": found.candidate.phone_id,
                "state": "ringing_agent"}

    def _idle(self, campaign: Campaign, live: CampaignLive, reason: str) -> list[Admitted]:
        if live.waiting_reason != reason:
            logger.info("campaign %s places no calls: %s", campaign.id, reason)
            live.waiting_reason = reason
        return []

    def _take_line(self, name: str) -> None:
        self.in_use[name] = self.in_use.get(name, 0) + 1
        lines = self.deps.control.lines
        if name in lines.names:
            self.rates.took(name, lines.get(name).calls_per_second, self.monotonic())

    def _start(self, campaign: Campaign, admitted: Admitted, client: tuple[int, str]) -> None:
        self._take_line(admitted.work_line)
        self.live[campaign.id].ringing[admitted.attempt_id] = self.monotonic()
        offers = _Offers(self.deps.router, lambda: self._offer_settled(admitted))
        task = asyncio.create_task(
            run_attempt(replace(self.deps, router=offers), campaign, admitted, client),
            name=f"attempt {admitted.attempt_id}")
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    def _answered(self, admitted: Admitted) -> None:
        """No longer ringing: waiting for its agent until routing settles the offer."""
        for live in self.live.values():
            if live.ringing.pop(admitted.attempt_id, None) is not None:
                live.waiting.add(admitted.attempt_id)

    def _offer_settled(self, admitted: Admitted) -> None:
        """Bridged to an agent (counted among the agents' calls from now) or not."""
        for live in self.live.values():
            live.waiting.discard(admitted.attempt_id)

    def _ended(self, admitted: Admitted, ending: Ending) -> None:
        self.in_use[admitted.work_line] -= 1
        for live in self.live.values():
            live.ringing.pop(admitted.attempt_id, None)
            live.waiting.discard(admitted.attempt_id)

    def _free_channels(self, campaign: Campaign, *, rated: bool = True) -> dict[str, int]:
        """Calls each of the campaign's lines may take now: its free channels, within
        its calls-a-second limit unless `rated` is False."""
        lines, now = self.deps.control.lines, self.monotonic()
        free = {}
        for name in campaign.settings.work_lines:
            if name in lines.names:
                line = lines.get(name)
                free[name] = max(0, line.max_channels - self.in_use.get(name, 0))
                room = self.rates.room(name, line.calls_per_second, now) if rated else None
                if room is not None:
                    free[name] = min(free[name], max(0, room))
        return free

    def _context(self, campaign: Campaign, measured: Measured, guaranteed: bool
                 ) -> Callable[[bool], DialContext]:
        state = CampaignState(measured.abandoned, measured.live)

        def dial(line_free: bool) -> DialContext:
            ready, _ = self.deps.recorder.ready()
            return DialContext(
                campaign_id=campaign.id, ring_timeout=campaign.settings.ring_timeout,
                agent_guaranteed=guaranteed, campaign=state,
                resources=Resources(work_line=line_free, recording=ready),
            )

        return dial

    def _snapshot(self, campaign: Campaign, live: CampaignLive, m: Measured,
                  capacity: Capacity) -> PacingSnapshot:
        now = self.monotonic()
        cap = Fraction(campaign.settings.max_abandon_rate) or Fraction(1, 1000)
        return PacingSnapshot(
            mode=campaign.settings.mode, free_agents=capacity.free,
            talking=capacity.talking, wrapping_up=capacity.wrapping_up,
            ringing=tuple(now - start for start in live.ringing.values()),
            waiting=len(live.waiting),
            attempts=m.attempts, answers=m.answers, mean_ring_s=m.mean_ring_s,
            mean_talk_s=m.mean_talk_s, mean_wrap_up_s=capacity.mean_wrap_up_s,
            abandoned=m.abandoned, live=m.live, abandon_cap=cap,
        )

    async def _measure(self, campaign: Campaign, pack: RulePack, now: datetime,
                       zone: ZoneInfo) -> Measured:
        since = _abandon_window_start(pack, now, zone)
        row = await self.deps.pool.fetchrow(_MEASURE, campaign.id, since)
        assert row is not None  # aggregates always give a row
        return Measured(row["attempts"], row["answers"], row["ring_s"] or 10.0,
                        row["talk_s"] or 150.0, row["abandoned"], row["live"])

    async def _client(self, client_id: int) -> tuple[ZoneInfo, str]:
        if client_id not in self._zones:
            row = await self.deps.pool.fetchrow(
                "SELECT time_zone, code FROM clients WHERE id = $1", client_id)
            assert row is not None  # a campaign's client is a foreign key
            self._zones[client_id] = (ZoneInfo(row["time_zone"]), row["code"])
        return self._zones[client_id]

    async def close(self) -> None:
        """Hang up this dialer's calls and wait for their attempts to be closed."""
        for call in list(self.deps.control.calls.values()):
            await call.hangup()
        await asyncio.gather(*self.tasks, return_exceptions=True)


class _Offers:
    """Routing as one campaign call sees it: tells the loop when the call's offer to
    an agent is settled (`Dialer._offer_settled`)."""

    def __init__(self, router: AgentRouter, settled: Callable[[], None]) -> None:
        self.router = router
        self.settled = settled

    async def capacity(self, queue_id: int | None) -> Capacity:
        return await self.router.capacity(queue_id)

    async def connect(self, call: ControlledCall, queue_id: int | None, info: CallInfo,
                      deadline: float) -> Connected | None:
        try:
            return await self.router.connect(call, queue_id, info, deadline)
        finally:
            self.settled()

    async def claim(self, agent_id: int, call_id: str, ring_s: float) -> Connected | str:
        return await self.router.claim(agent_id, call_id, ring_s)

    async def release(self, connected: Connected, *, ended_at: datetime) -> None:
        await self.router.release(connected, ended_at=ended_at)


def _abandon_window_start(pack: RulePack, now: datetime, zone: ZoneInfo) -> datetime:
    if pack.abandon_period is AbandonPeriod.CALENDAR_DAY:
        local = now.astimezone(zone)
        return local.replace(hour=0, minute=0, second=0, microsecond=0)
    return now - timedelta(days=30)


# Answer rate and mean times over the campaign's last 500 finished attempts; the
# abandon counts over the cap's window.
_MEASURE = f"""
WITH recent AS (
    SELECT * FROM attempts WHERE campaign_id = $1 AND ended_at IS NOT NULL
    ORDER BY id DESC LIMIT 500
)
SELECT (SELECT count(*) FROM recent) AS attempts,
       (SELECT count(*) FROM recent WHERE result IN
            ('{AttemptResult.CONNECTED}', '{AttemptResult.ABANDONED}',
             '{AttemptResult.HUNG_UP}')) AS answers,
       (SELECT avg(extract(epoch FROM answered_at - placed_at)) FROM recent
            WHERE answered_at IS NOT NULL)::float8 AS ring_s,
       (SELECT avg(extract(epoch FROM ended_at - answered_at)) FROM recent
            WHERE result = '{AttemptResult.CONNECTED}')::float8 AS talk_s,
       (SELECT count(*) FROM attempts WHERE campaign_id = $1 AND placed_at >= $2
            AND result = '{AttemptResult.ABANDONED}') AS abandoned,
       (SELECT count(*) FROM attempts WHERE campaign_id = $1 AND placed_at >= $2
            AND result = '{AttemptResult.CONNECTED}') AS live
"""
