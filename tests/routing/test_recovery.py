"""What a rebuild makes of one agent (pure): PostgreSQL's status, the state Redis
still had, and no agent left on a call that is gone."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime

from routing import status as su
from routing.agent import Agent
from routing.fields import LiveAgent, micros
from routing.recovery import correction, recover
from routing.roster import SYSTEM, AgentProfile, ChangedBy, Changer
from routing.state import AgentState, Reserve
from routing.status import AgentStatus, StatusChanged
from tests.routing.build import NOW, TIMERS, available, later, ringing, run, talking, wrapping_up

PROFILE = AgentProfile(7, "1007", TIMERS, {"cards": 2}, AgentStatus.AVAILABLE)
QUEUES = frozenset({"3"})
SELF = Changer(ChangedBy.SELF, 7)


def previous(
    agent: Agent, pending_by: Changer | None = None, wrap_up_until: datetime | None = None,
    version: int = 12,
) -> LiveAgent:
    return LiveAgent(
        replace(agent, agent_id="7"), "1007", True, QUEUES,
        wrap_up_until=wrap_up_until, pending_by=pending_by, version=version,
    )  # fmt: skip


def alive(*calls: str) -> set[str]:
    return set(calls)


def test_after_a_flush_the_agent_has_its_durable_status_and_no_call() -> None:
    on_break = replace(PROFILE, status=AgentStatus.ON_BREAK, status_reason="lunch")
    found = recover(on_break, QUEUES, None, True, alive().__contains__, NOW)
    agent = found.live.agent
    assert (agent.status, agent.break_reason, agent.state) == ("on_break", "lunch", "idle")
    assert found.live.registered and found.live.queues == QUEUES
    assert found.live.skills == {"cards": 2} and found.live.version >= micros(NOW)
    assert found.released is None and found.status is None


def test_a_reservation_or_offer_for_a_call_gone_is_released_without_penalty() -> None:
    for agent in (ringing("c9"), run(available(), Reserve("c9"))[0]):
        found = recover(PROFILE, QUEUES, previous(agent), True, alive("c1").__contains__, NOW)
        assert found.live.agent.state is AgentState.IDLE and found.released == "c9"
        assert found.live.agent.no_answer_count == 0 and found.live.agent.ready_at is None


def test_a_call_still_live_keeps_its_agent() -> None:
    found = recover(PROFILE, QUEUES, previous(ringing("c9")), True, alive("c9").__contains__, NOW)
    assert found.live.agent.state is AgentState.RINGING and found.released is None


def test_the_version_moves_past_both_the_old_one_and_the_clock() -> None:
    old = previous(available(), version=micros(NOW) + 100)
    assert recover(PROFILE, QUEUES, old, True, alive().__contains__, NOW).live.version \
        == micros(NOW) + 101
    assert recover(PROFILE, QUEUES, previous(available()), True, alive().__contains__, NOW) \
        .live.version == micros(NOW)


def test_a_talk_on_a_call_gone_ends_and_an_overdue_wrap_up_times_out() -> None:
    ended = recover(PROFILE, QUEUES, previous(talking("c9")), True, alive().__contains__, NOW)
    assert ended.live.agent.state is AgentState.WRAP_UP
    assert ended.live.wrap_up_until == NOW + TIMERS.wrap_up_time
    overdue = previous(wrapping_up("c9", at=later(-60)), wrap_up_until=later(-40))
    assert recover(PROFILE, QUEUES, overdue, True, alive().__contains__, NOW).live.agent.state \
        is AgentState.IDLE
    running = replace(overdue, wrap_up_until=later(5))
    assert recover(PROFILE, QUEUES, running, True, alive().__contains__, NOW).live.agent.state \
        is AgentState.WRAP_UP


def test_a_request_pending_on_a_released_call_applies_and_names_its_asker() -> None:
    held = run(ringing("c9"), su.GoOnBreak("lunch"))[0]
    found = recover(PROFILE, QUEUES, previous(held, pending_by=SELF), True,
                    alive().__contains__, NOW)  # fmt: skip
    assert found.live.agent.status is AgentStatus.ON_BREAK
    assert found.status == StatusChanged(AgentStatus.ON_BREAK, "lunch") and found.by == SELF


def test_postgresql_status_wins_and_waits_for_the_end_of_a_live_call() -> None:
    on_break = replace(PROFILE, status=AgentStatus.ON_BREAK, status_reason="training")
    idle = recover(on_break, QUEUES, previous(available()), True, alive().__contains__, NOW)
    assert idle.live.agent.status is AgentStatus.ON_BREAK
    busy = recover(on_break, QUEUES, previous(talking("c9")), False, alive("c9").__contains__,
                   NOW)  # fmt: skip
    agent = busy.live.agent
    assert agent.status is AgentStatus.AVAILABLE and agent.state is AgentState.TALKING
    assert agent.pending == su.GoOnBreak("training") and busy.live.pending_by == SYSTEM
    assert not busy.live.registered


def test_after_a_flush_a_call_telephony_holds_for_the_agent_is_restored() -> None:
    on_break = replace(PROFILE, status=AgentStatus.ON_BREAK, status_reason="lunch")
    found = recover(on_break, QUEUES, None, True, alive("c5").__contains__, NOW, "c5")
    agent = found.live.agent
    assert (agent.state, agent.call_id, agent.status) == (AgentState.TALKING, "c5", "available")
    assert agent.pending == su.GoOnBreak("lunch")
    gone = recover(PROFILE, QUEUES, None, True, alive().__contains__, NOW, "c5")
    assert gone.live.agent.state is AgentState.WRAP_UP and gone.released == "c5"


def test_what_telephony_says_corrects_an_agent_a_lost_event_left_behind() -> None:
    reserved = run(available(), Reserve("c9"))[0]
    table = [  # (agent, bridged to, live calls) -> events
        (talking("c9"), None, alive(), ("CallEnded",)),
        (talking("c9"), None, alive("c9"), ()),
        (ringing("c9"), None, alive(), ("Release",)),
        (ringing("c9"), None, alive("c9"), ()),  # an offer on its way
        (reserved, None, alive(), ("Release",)),
        (ringing("c9"), "c9", alive("c9"), ("Answered",)),
        (reserved, "c9", alive("c9"), ("Offer", "Answered")),
        (available(), "c9", alive("c9"), ("Reserve", "Offer", "Answered")),
        (talking("c9"), "c9", alive("c9"), ()),
        (wrapping_up("c8"), "c9", alive("c9"), ()),  # a wrap-up is left to its timer
        (wrapping_up("c9"), None, alive(), ()),
        (available(), None, alive(), ()),
    ]
    for agent, bridged, calls, expected in table:
        events = correction(previous(agent), bridged, calls.__contains__)
        assert tuple(type(e).__name__ for e in events) == expected, (agent, bridged)
        assert all(e.call_id == (bridged or agent.call_id) for e in events)
