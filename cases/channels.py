"""Redis pub/sub channel names, scoped to the Redis database the client uses.

Keys live in a Redis database, but pub/sub channels are server-wide: two
deployments (or a test run beside a demo) on one Redis server, each on its own
database, would otherwise hear each other's supervisor events and each other's
commands to their call paths. Every channel name gets the database number as a
suffix, so they share a server safely.
"""

from __future__ import annotations

from typing import Protocol


class _Pool(Protocol):
    connection_kwargs: dict[str, object]


class _Client(Protocol):
    @property
    def connection_pool(self) -> _Pool: ...


def scoped(redis: _Client, channel: str) -> str:
    """``channel`` for the database ``redis`` talks to: ``<channel>@<db>``."""
    db = redis.connection_pool.connection_kwargs.get("db", 0)
    return f"{channel}@{db}"
