"""Routing's events, fanned out to the websockets of this API process.

Routing publishes every change of an agent or a queue on one Redis channel
(`routing.keys.EVENTS`; the JSON is described in `routing.live`). The process keeps
one subscription to it (`EventFeed`), not one per socket, and gives every open socket
a bounded queue (`Subscription`) of the events in the order Redis sent them.

A socket subscribes first, then reads the state it starts from (a supervisor's
snapshot, an agent's own record), then forwards what its queue holds. Events that
arrive between the subscription and the read are older than the read, but each
carries the whole agent (or queue figures) as it became and they are forwarded in
order, so the last one a client applies is the current state: the view converges
without a lock.

Where the feed cannot promise that, the queue gets ``{"kind": "resync"}`` and the
socket reads its state again (as it does after routing's ``rebuilt``): a socket that
fell `QUEUE_SIZE` events behind (its queue is emptied first), or a subscription made
again after Redis dropped it (events may have been lost meanwhile). When the process
stops, every queue gets ``{"kind": "closed"}``.

The feed also notes since when each agent has been in its state, as far as this
process has seen it change (the live agent does not keep it): the supervisors' time
in state.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import Awaitable, Callable, Iterator
from datetime import datetime

import redis.asyncio as aioredis
from aiohttp import WSCloseCode, web
from redis.exceptions import RedisError

from cases.channels import scoped
from routing import keys

logger = logging.getLogger(__name__)
Event = dict[str, object]
Forward = Callable[[Event], Awaitable[None]]
Start = Callable[[], Awaitable[None]]
QUEUE_SIZE = 1000
RETRY_S = 1.0  # wait before subscribing again after Redis dropped the subscription


def resync(reason: str) -> Event:
    return {"kind": "resync", "reason": reason}


class Subscription:
    """One socket's queue of routing events."""

    def __init__(self, size: int = QUEUE_SIZE) -> None:
        self._queue: asyncio.Queue[Event] = asyncio.Queue(size)

    async def next(self) -> Event:
        return await self._queue.get()

    def offer(self, event: Event) -> None:
        try:
            self._queue.put_nowait(event)
        except asyncio.QueueFull:
            self._restart(resync("lagged"))

    def close(self) -> None:
        self._restart({"kind": "closed"})

    def _restart(self, event: Event) -> None:
        while not self._queue.empty():
            self._queue.get_nowait()
        self._queue.put_nowait(event)


class EventFeed:
    def __init__(self, redis: aioredis.Redis, clock: Callable[[], datetime]) -> None:
        self.redis, self.clock = redis, clock
        self.ready = asyncio.Event()  # subscribed: a socket subscribing now misses nothing
        self._subscriptions: set[Subscription] = set()
        self._since: dict[str, tuple[str, datetime | None]] = {}  # agent -> state, since
        self._subscribed_before = False
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="routing event feed")

    async def close(self) -> None:
        self.end_sockets()
        if self._task is not None:
            self._task.cancel()
            await asyncio.gather(self._task, return_exceptions=True)

    def end_sockets(self) -> None:
        for subscription in self._subscriptions:
            subscription.close()

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        subscription = Subscription()
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def state_since(self, agent_id: str, state: str) -> datetime | None:
        """Since when the agent has been in `state`, if this process saw it start."""
        seen = self._since.get(agent_id)
        return seen[1] if seen is not None and seen[0] == state else None

    async def _run(self) -> None:
        try:
            while True:
                try:
                    await self._listen()
                except (RedisError, OSError) as error:
                    logger.warning("routing event feed: Redis dropped the subscription (%s);"
                                   " subscribing again in %g s", error, RETRY_S)
                    await asyncio.sleep(RETRY_S)
        except Exception:  # a task boundary: the sockets must not wait for nothing
            logger.exception("routing event feed stopped")
            self.end_sockets()

    async def _listen(self) -> None:
        try:
            async with self.redis.pubsub() as pubsub:
                await pubsub.subscribe(scoped(self.redis, keys.EVENTS))
                async for message in pubsub.listen():
                    if message["type"] == "subscribe":  # also after redis-py reconnected
                        self._subscribed()
                    elif message["type"] == "message":
                        self._publish(message["data"])
        finally:
            self.ready.clear()

    def _subscribed(self) -> None:
        if self._subscribed_before:
            self._fan_out(resync("subscribed again"))
        self._subscribed_before = True
        self.ready.set()

    def _publish(self, data: bytes | str) -> None:
        try:
            event = json.loads(data)
        except ValueError:
            logger.warning("routing event feed: not JSON, dropped: %r", data[:200])
            return
        if isinstance(event, dict):
            self._note_state(event)
            self._fan_out(event)

    def _fan_out(self, event: Event) -> None:
        for subscription in self._subscriptions:
            subscription.offer(event)

    def _note_state(self, event: Event) -> None:
        """An agent's state started at the event that changed it; the first event seen
        of an agent may change only its status: when its state started is unknown."""
        agent_id, state = event.get("agent_id"), event.get("state")
        if event.get("kind") != "agent" or not isinstance(agent_id, str):
            return
        seen = self._since.get(agent_id)
        if isinstance(state, str) and (seen is None or seen[0] != state):
            self._since[agent_id] = (state, None if seen is None else _at(event) or self.clock())


def _at(event: Event) -> datetime | None:
    at = event.get("at")
    try:
        return datetime.fromisoformat(at) if isinstance(at, str) else None
    except ValueError:
        return None


async def run_socket(ws: web.WebSocketResponse, subscription: Subscription,
                     start: Start, forward: Forward) -> None:
    """Send what `start` sends, then forward the subscription's events through
    `forward`, until the client goes away or the feed closes; then close the socket.
    What the client sends is read and ignored."""
    listening = asyncio.ensure_future(_until_closed(ws))
    forwarding = asyncio.ensure_future(_forward_all(subscription, start, forward))
    try:
        await asyncio.wait({listening, forwarding}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (listening, forwarding):
            task.cancel()
        await asyncio.gather(listening, forwarding, return_exceptions=True)
    code = forwarding.result() if forwarding.done() and not forwarding.cancelled() else None
    await ws.close(code=code or WSCloseCode.OK)


async def _until_closed(ws: web.WebSocketResponse) -> None:
    async for _ in ws:
        pass


async def _forward_all(subscription: Subscription, start: Start, forward: Forward
                       ) -> WSCloseCode:
    try:
        await start()
        while (event := await subscription.next()).get("kind") != "closed":
            await forward(event)
    except ConnectionResetError:
        return WSCloseCode.OK  # the client went away mid-send
    except Exception:  # a task boundary: this socket stops, the others carry on
        logger.exception("websocket stopped forwarding routing events")
        return WSCloseCode.INTERNAL_ERROR
    return WSCloseCode.GOING_AWAY  # the process is stopping
