"""The asyncio IO shell for SIP over UDP: one socket, many transactions.

:class:`SipEndpoint` is a ``DatagramProtocol``. Each datagram is parsed; a malformed
request that still framed (``SipParseError.framed``) is answered with the error's
status (400, or 505) and the parser's message as reason phrase, straight back to its
source; anything else malformed is logged at debug and dropped. Nothing a peer sends
can raise out of ``datagram_received``: an unexpected exception there is a local bug,
logged with its traceback and counted in :attr:`Stats.errors`, and the endpoint
carries on.

Requests get ``received`` and ``rport`` on their top Via (RFC 3261 §18.2.1, RFC
3581), so responses go back where the request came from (§18.2.2). Messages are
matched to transactions by branch, sent-by and method (§17.1.3, §17.2.3); a new
request creates a server transaction and goes to the :class:`Core` (an INVITE gets
100 Trying first). What matches no transaction also goes to the core: ACKs for 2xx
(a new branch, the dialog's business) and 2xx retransmissions.

The pure :class:`~telephony.sip.transaction.Transaction` decides; this module
executes its effects. Timers are ``loop.call_later`` handles, not tasks. A
:class:`Gate` can refuse requests by source address before they are parsed (the
registrar's lockout uses it); responses are never gated.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol, cast

from telephony.sip.addressing import Address, address_of, reply_address, stamped
from telephony.sip.headers import NameAddr, Params, SipParseError, SipUri, Via, new_branch
from telephony.sip.message import REASONS, SipMessage, SipRequest, SipResponse
from telephony.sip.message import build_response as _build_response
from telephony.sip.transaction import (
    DEFAULT_TIMING,
    Deliver,
    Effect,
    Ending,
    RequestReceived,
    ResponseReceived,
    ResponseSent,
    Send,
    StartTimer,
    State,
    StopTimer,
    Terminated,
    Timer,
    TimerFired,
    Timing,
    Transaction,
    TransactionKey,
    client_key,
    server_key,
)

__all__ = ["Address", "address_of"]
logger = logging.getLogger(__name__)
Listener = Callable[[SipResponse | Ending], None]


class TransactionTimeout(Exception):
    """No final response before timer B or F: the peer is gone or unreachable."""


class Core(Protocol):
    """What sits above the transport: a user agent, a registrar."""

    def request_received(self, txn: ServerTransaction) -> None: ...
    def ack_received(self, ack: SipRequest, source: Address) -> None: ...
    def stray_response(self, response: SipResponse, source: Address) -> None: ...


class Gate(Protocol):
    def admits(self, host: str) -> bool: ...


@dataclass(slots=True)
class Stats:
    received: int = 0
    sent: int = 0
    malformed: int = 0  # failed to parse (answered or dropped)
    gated: int = 0  # refused by the gate before parsing
    errors: int = 0  # our bugs caught at the callback boundary
    socket_errors: int = 0  # ICMP unreachable and the like


@dataclass(eq=False, slots=True)
class _Handle:
    """A transaction in flight: the pure machine plus where it talks to and its timers."""

    machine: Transaction
    key: TransactionKey
    destination: Address
    timers: dict[Timer, asyncio.TimerHandle] = field(default_factory=dict)

    @property
    def request(self) -> SipRequest:
        return self.machine.request

    @property
    def state(self) -> State:
        return self.machine.state


@dataclass(eq=False, slots=True)
class ClientTransaction(_Handle):
    listener: Listener = lambda _: None


@dataclass(eq=False, slots=True)
class ServerTransaction(_Handle):
    endpoint: SipEndpoint | None = None
    on_end: Callable[[Ending], None] | None = None

    @property
    def source(self) -> Address:
        return self.destination

    def respond(self, response: SipResponse) -> None:
        """Send ``response`` (and keep resending it as the transaction requires)."""
        if self.endpoint is not None and self.state is not State.TERMINATED:
            self.endpoint.feed(self, ResponseSent(response))

    def reply(
        self,
        status: int,
        reason: str | None = None,
        *,
        headers: Iterable[tuple[str, str]] = (),
        to_tag: str | None = None,
    ) -> SipResponse:
        """Build a response to our request (:func:`build_response`) and send it."""
        response = _build_response(self.request, status, reason, headers=headers, to_tag=to_tag)
        self.respond(response)
        return response

    def acknowledge(self, ack: SipRequest) -> None:
        """The dialog saw the ACK for our 2xx: stop resending it."""
        if self.endpoint is not None and self.state is State.ACCEPTED:
            self.endpoint.feed(self, RequestReceived(ack))


class SipEndpoint(asyncio.DatagramProtocol):
    """A UDP SIP endpoint: transport plus transaction layer."""

    def __init__(
        self, core: Core | None = None, *, timing: Timing = DEFAULT_TIMING, gate: Gate | None = None
    ) -> None:
        self.core, self.timing, self.gate = core, timing, gate
        self.stats = Stats()
        self.clients: dict[TransactionKey, ClientTransaction] = {}
        self.servers: dict[TransactionKey, ServerTransaction] = {}
        self._transport: asyncio.DatagramTransport | None = None
        self.closed = False
        self.address: Address = ("", 0)

    @classmethod
    async def open(
        cls,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        core: Core | None = None,
        timing: Timing = DEFAULT_TIMING,
        gate: Gate | None = None,
    ) -> SipEndpoint:
        loop = asyncio.get_running_loop()
        _, endpoint = await loop.create_datagram_endpoint(
            lambda: cls(core, timing=timing, gate=gate), local_addr=(host, port)
        )
        return endpoint

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)
        self.address = transport.get_extra_info("sockname")[:2]

    def forget(self, handle: ServerTransaction) -> None:
        """Drop a server transaction without answering (a request we ignore)."""
        _cancel_timers(handle)
        self.servers.pop(handle.key, None)

    def close(self) -> None:
        """Stop: pending transactions are forgotten, new ones end at once (TRANSPORT)."""
        self.closed = True
        for handle in (*self.clients.values(), *self.servers.values()):
            _cancel_timers(handle)
        self.clients.clear()
        self.servers.clear()
        if self._transport is not None:
            self._transport.close()

    def new_via(self) -> Via:
        host, port = self.address
        return Via("UDP", host, port, Params((("branch", new_branch()), ("rport", None))))

    def contact(self, user: str | None) -> NameAddr:
        host, port = self.address
        return NameAddr(SipUri("sip", user, host, port))

    # Sending ------------------------------------------------------------------------

    def send(self, message: SipMessage, destination: Address) -> None:
        """Send without a transaction (the ACK for a 2xx, stateless answers)."""
        if self._transport is None or self._transport.is_closing():
            return
        self._transport.sendto(bytes(message), destination)
        self.stats.sent += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("sent to %s:%s: %s", *destination, bytes(message)[:60])

    def send_request(
        self, request: SipRequest, destination: Address, listener: Listener
    ) -> ClientTransaction:
        """Start a client transaction; ``listener`` gets each response passed up, then
        the :class:`Ending` when the transaction is over."""
        machine = Transaction.client(request, self.timing)
        handle = ClientTransaction(machine, client_key(request), destination, listener=listener)
        if self.closed:
            asyncio.get_running_loop().call_soon(listener, Ending.TRANSPORT)
            return handle
        self.clients[handle.key] = handle
        self._execute(handle, machine.start())
        return handle

    async def request(self, request: SipRequest, destination: Address) -> SipResponse:
        """A non-INVITE request's final response; :class:`TransactionTimeout` if none."""
        done: asyncio.Future[SipResponse] = asyncio.get_running_loop().create_future()

        def listen(item: SipResponse | Ending) -> None:
            if done.done():
                return
            if isinstance(item, SipResponse):
                if item.status >= 200:
                    done.set_result(item)
            else:
                done.set_exception(TransactionTimeout(f"{request.method} {request.uri}: {item}"))

        self.send_request(request, destination, listen)
        return await done

    # Receiving ----------------------------------------------------------------------

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        try:
            self._received(data, (str(addr[0]), addr[1]))
        except Exception:  # the event loop's callback boundary: count, log, carry on
            self.stats.errors += 1
            logger.exception("SIP datagram from %s:%s not handled", *addr[:2])

    def error_received(self, exc: Exception) -> None:
        self.stats.socket_errors += 1
        logger.debug("SIP socket error: %s", exc)

    def _received(self, data: bytes, source: Address) -> None:
        self.stats.received += 1
        if not data.strip(b"\r\n"):
            return  # keep-alive
        gate = self.gate
        if gate is not None and not data.startswith(b"SIP/") and not gate.admits(source[0]):
            self.stats.gated += 1
            return
        try:
            message = SipMessage.parse(data)
        except SipParseError as err:
            self._malformed(err, source)
            return
        if isinstance(message, SipResponse):
            self._response_received(message, source)
        elif isinstance(message, SipRequest):
            self._request_received(stamped(message, source), source)

    def _malformed(self, err: SipParseError, source: Address) -> None:
        self.stats.malformed += 1
        request = err.framed
        if not isinstance(request, SipRequest) or request.method == "ACK":
            logger.debug("dropped malformed SIP from %s:%s: %s", *source, err)
            return
        logger.debug("answering %s to %s:%s: %s", err.status, *source, err)
        reason = f"{REASONS.get(err.status, 'Bad Request')} ({err})"[:160]
        self.send(_build_response(request, err.status, reason), source)

    def _response_received(self, response: SipResponse, source: Address) -> None:
        handle = self.clients.get(client_key(response))
        if handle is not None:
            self.feed(handle, ResponseReceived(response))
        elif self.core is not None:
            self.core.stray_response(response, source)

    def _request_received(self, request: SipRequest, source: Address) -> None:
        key = server_key(request)
        handle = self.servers.get(key)
        is_ack = request.method == "ACK"
        if handle is not None and (not is_ack or handle.state is not State.ACCEPTED):
            self.feed(handle, RequestReceived(request))
        elif is_ack:
            if self.core is not None:
                self.core.ack_received(request, source)
        else:
            self._new_server(request, key)

    def _new_server(self, request: SipRequest, key: TransactionKey) -> None:
        machine = Transaction.server(request, self.timing)
        handle = ServerTransaction(machine, key, reply_address(request.via), endpoint=self)
        self.servers[key] = handle
        if request.method == "INVITE":
            handle.reply(100)
        if self.core is None:
            handle.reply(503)
        else:
            self.core.request_received(handle)

    # Effects ------------------------------------------------------------------------

    def feed(
        self, handle: _Handle, event: ResponseReceived | RequestReceived | ResponseSent
    ) -> None:
        self._execute(handle, handle.machine.handle(event))

    def _fire(self, handle: _Handle, timer: Timer) -> None:
        handle.timers.pop(timer, None)
        try:
            self._execute(handle, handle.machine.handle(TimerFired(timer)))
        except Exception:  # a loop callback boundary, as datagram_received
            self.stats.errors += 1
            logger.exception("SIP timer %s of %s failed", timer, handle.key)

    def _execute(self, handle: _Handle, effects: list[Effect]) -> None:
        loop = asyncio.get_running_loop()
        for effect in effects:
            if isinstance(effect, Send):
                self.send(effect.message, handle.destination)
            elif isinstance(effect, StartTimer):
                old = handle.timers.pop(effect.timer, None)
                if old is not None:
                    old.cancel()
                call = loop.call_later(effect.delay, self._fire, handle, effect.timer)
                handle.timers[effect.timer] = call
            elif isinstance(effect, StopTimer):
                stopped = handle.timers.pop(effect.timer, None)
                if stopped is not None:
                    stopped.cancel()
            elif isinstance(effect, Deliver) and isinstance(handle, ClientTransaction):
                handle.listener(effect.response)
            elif isinstance(effect, Terminated):
                self._terminated(handle, effect.reason)

    def _terminated(self, handle: _Handle, reason: Ending) -> None:
        _cancel_timers(handle)
        if isinstance(handle, ClientTransaction):
            self.clients.pop(handle.key, None)
            handle.listener(reason)
        elif isinstance(handle, ServerTransaction):
            self.servers.pop(handle.key, None)
            if handle.on_end is not None:
                handle.on_end(reason)


def _cancel_timers(handle: _Handle) -> None:
    for call in handle.timers.values():
        call.cancel()
    handle.timers.clear()
