"""Where an agent stands in each queue's ready set: the sorted-set score that makes
Redis's order the queue strategy's order (`routing.strategies`).

Pure. An agent is placed in the ready set of every queue it is eligible for
(`routing.eligibility`) except for ready_at: a no_answer_delay or reject_delay runs
out without anyone writing to Redis, so the reservation script checks ready_at
against its `now` and skips the agent until then. Redis orders equal scores by
member, bytewise: the agent id, as the strategies break ties (ASCII ids compare the
same in both).

* ``longest_idle``: microseconds from `BASE` to the end of the last call; 0 for an
  agent with no call yet (before everyone). Lowest first.
* ``round_robin``: 0 for everyone; the reservation script walks the set in member
  order starting after the queue's cursor (ZRANGE BYLEX from ``(cursor``) and
  wraps around, then moves the cursor to the agent it reserved.
* ``skills_weighted``: ``-SKILL_WEIGHT * skill_score`` plus the milliseconds from
  `BASE` to the last call's end, so the highest summed level comes first and equal
  levels go by longest idle. Milliseconds keep the score an exact double (below
  2**53) for summed levels up to 900; two call ends within the same millisecond tie
  and go by agent id.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta

from routing.eligibility import AgentView, Ineligible, Queue, ineligibility
from routing.strategies import skill_score

BASE = datetime(2020, 1, 1, tzinfo=UTC)
SKILL_WEIGHT = 10**13
MAX_SKILL_SCORE = 900
_MICROSECOND = timedelta(microseconds=1)


def micros_since_base(at: datetime | None) -> int:
    """The longest_idle score: 0 for no call yet, at least 1 otherwise."""
    if at is None:
        return 0
    return max(1, (at - BASE) // _MICROSECOND)


def score(view: AgentView, queue: Queue) -> int:
    ended = view.agent.last_call_ended_at
    if queue.strategy == "round_robin":
        return 0
    if queue.strategy == "skills_weighted":
        fit = min(skill_score(view, queue), MAX_SKILL_SCORE)
        return -SKILL_WEIGHT * fit + micros_since_base(ended) // 1000
    return micros_since_base(ended)


def placeable(view: AgentView, queue: Queue) -> bool:
    """Eligible for the queue but perhaps for ready_at."""
    reasons = ineligibility(view, queue, BASE)
    return all(reason is Ineligible.NOT_READY for reason in reasons)


def placements(view: AgentView, queues: Mapping[str, Queue]) -> dict[str, int]:
    """Queue id -> score in that queue's ready set, for each queue `view` is placed in."""
    found = {}
    for queue_id in sorted(view.queues):
        queue = queues.get(queue_id)
        if queue is not None and placeable(view, queue):
            found[queue_id] = score(view, queue)
    return found

