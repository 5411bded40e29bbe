"""Redis pub/sub channel names, scoped to the Redis database the client uses.

Keys live in a Redis database, but pub/sub channels are server-wide: two
deployments (or a test run beside a demo) on one Redis server, each on its own
database, would otherwise hear each other's supervisor events and each other's
commands to their call paths. Every channel name gets the database number as a
suffix, so they share a server safely.

`ask` and `answer` are the request/reply the API uses to reach the process holding a
call (PCI pauses, monitors, agents' dials): a published command and a short-lived
reply list named by a fresh token.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Mapping
from typing import Any, Protocol

from redis.exceptions import TimeoutError as RedisTimeout


class _Pool(Protocol):
    connection_kwargs: dict[str, object]


class _Client(Protocol):
    @property
    def connection_pool(self) -> _Pool: ...


def scoped(redis: _Client, channel: str) -> str:
    """``channel`` for the database ``redis`` talks to: ``<channel>@<db>``."""
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"{channel}@{db}"


async def ask(redis: Any, channel: str, command: dict[str, object], replies: str,
              wait_s: float) -> dict[str, object] | None:
    """Publish `command` on `channel` (scoped) with a fresh reply token and wait at most
    `wait_s` for the process that handles it to push its answer on ``<replies><token>``;
    the answer, or None when none came in time."""
    token = secrets.token_hex(8)
    await redis.publish(scoped(redis, channel), json.dumps({**command, "reply": token}))
    try:
        found = await redis.blpop([replies + token], timeout=wait_s)
    except (TimeoutError, RedisTimeout):
        return None
    if found is None:
        return None
    answer: dict[str, object] = json.loads(found[1])
    return answer


async def answer(redis: Any, replies: str, command: Mapping[str, object],
                 outcome: Mapping[str, object]) -> None:
    """Push `outcome` where the asker of `command` waits (kept 30 s)."""
    key = replies + str(command.get("reply", ""))
    await redis.rpush(key, json.dumps(outcome))
    await redis.expire(key, 30)
