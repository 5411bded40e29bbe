"""The live agent hash (pure): parse(serialize(x)) == x in every situation; what a
step does to the record besides the agent; malformed hashes are refused."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest

from routing import state as sm
from routing import status as su
from routing.agent import Agent, apply
from routing.eligibility import Queue
from routing.fields import LiveAgent, LiveRecordError, agent_event, parse_queue, queue_definition
from routing.roster import ChangedBy, Changer
from routing.state import AgentState
from tests.routing.build import NOW, TIMERS, available, later, run, talking, wrapping_up

SUPERVISOR = Changer(ChangedBy.SUPERVISOR, 7)


def benched() -> Agent:
    agent = available()
    for n, call in enumerate(("c1", "c2", "c3")):
        agent = run(agent, sm.Reserve(call), sm.Offer(call), sm.NoAnswer(call), at=later(60 * n))[0]
    return agent


AGENTS = {
    "logged out": Agent("a1", TIMERS),
    "available": available(),
    "benched": benched(),
    "talking, break pending": run(talking(), su.GoOnBreak("lunch: long"))[0],
    "wrapping up, logout pending": run(wrapping_up(), su.LogOut())[0],
    "delayed": replace(available(), ready_at=NOW + timedelta(microseconds=7), no_answer_count=2),
}


def record(agent: Agent) -> LiveAgent:
    return LiveAgent(
        agent, "1001", True, frozenset({"3", "12"}), {"cards": 3, "legal": 1},
        wrap_up_until=later(20), pending_by=SUPERVISOR if agent.pending else None, version=41,
    )  # fmt: skip


@pytest.mark.parametrize("agent", AGENTS.values(), ids=AGENTS.keys())
def test_a_live_agent_survives_the_round_trip_through_its_hash(agent: Agent) -> None:
    live = record(agent)
    assert LiveAgent.parse(live.fields() | {"version": "41"}) == live


def test_the_hash_holds_no_version_but_reads_it() -> None:
    live = record(available())
    assert "version" not in live.fields()
    assert LiveAgent.parse(live.fields() | {"version": "3"}).version == 3


@pytest.mark.parametrize("broken", [
    {}, {"status": "dozing"}, {"ready_at": "soon"}, {"pending": "nap"}, {"skills": "["},
    {"pending_by": "boss:1"},
])  # fmt: skip
def test_a_malformed_hash_is_refused(broken: dict[str, str]) -> None:
    fields = record(available()).fields() | {"version": "1"} | broken
    if not broken:
        del fields["state"]
    with pytest.raises(LiveRecordError, match="live agent a1"):
        LiveAgent.parse(fields)


def test_the_wrap_up_deadline_follows_the_timer_effects() -> None:
    live = LiveAgent(talking(), "1001")
    ended = live.after(apply(live.agent, sm.CallEnded("c1"), NOW))
    assert ended.wrap_up_until == NOW + TIMERS.wrap_up_time
    done = ended.after(apply(ended.agent, sm.WrapUpDone("c1"), later(5)))
    assert done.agent.state is AgentState.IDLE and done.wrap_up_until is None


def test_the_asker_of_a_deferred_request_is_kept_until_it_applies() -> None:
    live = LiveAgent(talking(), "1001")
    deferred = live.after(apply(live.agent, su.GoOnBreak("coaching"), NOW), SUPERVISOR)
    assert deferred.pending_by == SUPERVISOR
    withdrawn = deferred.after(apply(deferred.agent, su.BecomeAvailable(), NOW), SUPERVISOR)
    assert withdrawn.pending_by is None and withdrawn.agent.pending is None


def test_queue_definitions_and_agent_events_are_json() -> None:
    queue = Queue("3", "skills_weighted", {"cards": 2})
    assert parse_queue(queue_definition(queue, "cards", 9)) == queue
    event = agent_event(record(talking()), NOW)
    assert '"state": "talking"' in event and '"call_id": "c1"' in event
