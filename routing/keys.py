"""Every Redis key and channel routing uses, built here and nowhere else.

Pure. All live under ``callcase:routing:``, so a rebuild can find and replace them
(`NAMESPACE_PATTERN`) without touching what other packages keep in the same database.
Nothing here is durable: `routing.rebuild` recreates it all from PostgreSQL.

=====================================  ======  =======================================
key                                    type    holds
=====================================  ======  =======================================
callcase:routing:epoch                 string  set last by a rebuild; missing: the live
                                               state is not there (flushed, or being
                                               rebuilt) and every script refuses to run
callcase:routing:rebuild-lock          string  one rebuild at a time (expires)
callcase:routing:agents                set     every agent id
callcase:routing:agent:<agent id>      hash    the live agent (`routing.fields`)
callcase:routing:extensions            hash    extension -> agent id
callcase:routing:calls                 hash    call id -> agent id holding the call
callcase:routing:queues                hash    queue id -> queue definition (JSON)
callcase:routing:queue:<id>            hash    round_robin cursor, counters
callcase:routing:queue:<id>:ready      zset    agents the queue may offer a call to,
                                               best first (`routing.placement`)
callcase:routing:queue:<id>:waiting    zset    call id -> waiting since (µs)
callcase:routing:events                channel supervisors' feed (JSON)
callcase:roster:changed                string  agents or queues changed in PostgreSQL
                                               since the last rebuild; outside the
                                               namespace so that a rebuild running
                                               meanwhile does not erase it unread
=====================================  ======  =======================================
"""

from __future__ import annotations

NAMESPACE = "callcase:routing:"
NAMESPACE_PATTERN = NAMESPACE + "*"
EPOCH = NAMESPACE + "epoch"
REBUILD_LOCK = NAMESPACE + "rebuild-lock"
AGENTS = NAMESPACE + "agents"
AGENT_PREFIX = NAMESPACE + "agent:"
EXTENSIONS = NAMESPACE + "extensions"
CALLS = NAMESPACE + "calls"
QUEUES = NAMESPACE + "queues"
EVENTS = NAMESPACE + "events"
ROSTER_CHANGED = "callcase:roster:changed"


def agent(agent_id: str) -> str:
    return AGENT_PREFIX + agent_id


def queue(queue_id: str) -> str:
    return f"{NAMESPACE}queue:{queue_id}"


def ready(queue_id: str) -> str:
    return f"{NAMESPACE}queue:{queue_id}:ready"


def waiting(queue_id: str) -> str:
    return f"{NAMESPACE}queue:{queue_id}:waiting"


def kept_by_rebuild(queue_ids: frozenset[str]) -> frozenset[str]:
    """The keys a rebuild leaves as they are: the waiting calls of the queues that
    still exist (the calls are live; only their owner can withdraw them), those
    queues' cursors and counters, and the rebuild's own lock."""
    kept = {REBUILD_LOCK}
    for queue_id in queue_ids:
        kept |= {waiting(queue_id), queue(queue_id)}
    return frozenset(kept)
