"""The asyncio RTP media engine: UDP endpoints on allocated ports, one shared tick.

``MediaEngine`` owns the RTP port range and the streams opened on it, and listens to
the process's one :class:`~telephony.media.clock.MediaClock` (its own, or one shared
by several engines). Every tick it runs three passes over its streams: each stream
takes this tick's inbound frame from its jitter buffer; each sends its outbound packet
(clip, bridged peer's frame, DTMF, silence); then, every packet being out, the tapped
streams feed their taps. No task or thread per stream: the only task is the clock's.
With an ``rtp_timeout``, once a second the streams being watched (answered calls)
are checked for how long nothing has arrived (:meth:`RtpStream.watch_media`).

Works on the default asyncio loop and on uvloop (the caller picks the loop).

For the composition root (process policy, not done here): full collections of the
cyclic GC take milliseconds with this many live objects and run inside whatever
callback triggers them, the media tick included; ``gc.freeze()`` once the process
has started is worth measuring (``bench/media_bench.py --gc-freeze``). On the noisy
2-core development machine the evidence was mixed.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from dataclasses import dataclass
from types import TracebackType

from telephony.media.clock import MediaClock
from telephony.media.g711 import CODECS
from telephony.media.histogram import LatencySummary
from telephony.media.inbound import Address
from telephony.media.monitor import HEARS, Leg, MonitorMode
from telephony.media.ports import PortAllocator, PortsExhaustedError
from telephony.media.stream import Direction, RtpStream, SilenceMode, StreamStats

logger = logging.getLogger(__name__)

QUIET_CHECK_TICKS = 50  # RTP timeouts are checked once a second


@dataclass(frozen=True, slots=True)
class EngineStats:
    streams: int
    ticks: int
    skipped_ticks: int
    lateness: LatencySummary  # tick start (first packet) minus deadline
    completion: LatencySummary  # last packet of the tick out, minus deadline
    finish: LatencySummary  # taps fed too, minus deadline
    packets_sent: int  # over open and closed streams
    packets_received: int
    packets_lost: int


class MediaEngine:
    """RTP streams on ``host`` with even ports from ``port_range`` = [start, end)."""

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port_range: tuple[int, int] = (16384, 32768),
        clock: MediaClock | None = None,
        silence: SilenceMode = SilenceMode.SEND,
        jitter_depth: int = 3,
        dtmf_payload_type: int = 101,
        dtmf_timeout: float = 0.3,
        bind_attempts: int = 16,
        rtp_timeout: float | None = None,
    ) -> None:
        if rtp_timeout is not None and rtp_timeout <= 0:
            raise ValueError(f"rtp_timeout must be positive seconds or None, not {rtp_timeout}")
        self.host = host
        self.ports = PortAllocator(*port_range)
        self.clock = MediaClock() if clock is None else clock
        self.silence = silence
        self.jitter_depth = jitter_depth
        self.dtmf_payload_type = dtmf_payload_type
        self.dtmf_timeout = dtmf_timeout
        self.bind_attempts = bind_attempts
        self.rtp_timeout = rtp_timeout
        self._family = (
            socket.AF_INET6 if ipaddress.ip_address(host).version == 6 else socket.AF_INET
        )
        self._owns_clock = clock is None
        self._streams: dict[int, RtpStream] = {}
        self._order: list[RtpStream] = []
        self._closed_totals = (0, 0, 0)
        self._monitors: dict[int, dict[Leg, RtpStream]] = {}  # by the supervisor's port
        self._started = False

    @property
    def streams(self) -> tuple[RtpStream, ...]:
        return tuple(self._order)

    async def start(self) -> None:
        self.clock.add_listener(self)
        self.clock.start()
        self._started = True

    async def close(self) -> None:
        """Close every stream, stop listening to the clock (stop it if it is ours)."""
        for stream in list(self._order):
            await self.close_stream(stream)
        self.clock.remove_listener(self)
        if self._owns_clock:
            await self.clock.stop()
        self._started = False

    async def __aenter__(self) -> MediaEngine:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.close()

    async def open_stream(
        self,
        payload_type: int = 0,
        *,
        remote: Address | None = None,
        direction: Direction | str = Direction.SENDRECV,
        silence: SilenceMode | None = None,
    ) -> RtpStream:
        """A new stream on a free even port, bound and ticking from the next tick."""
        if not self._started:
            raise RuntimeError("MediaEngine.start() first (or use it as a context manager)")
        stream = RtpStream(
            0,
            CODECS[payload_type],
            now=self.clock.now,
            silence=self.silence if silence is None else silence,
            dtmf_payload_type=self.dtmf_payload_type,
            jitter_depth=self.jitter_depth,
        )
        sock, stream.port = self._bind()
        try:
            await asyncio.get_running_loop().create_datagram_endpoint(lambda: stream, sock=sock)
        except BaseException:
            sock.close()
            self.ports.release(stream.port)
            raise
        stream._attach_socket(sock)
        stream.set_remote(remote)
        stream.set_direction(direction)
        self._streams[stream.port] = stream
        self._order = [*self._order, stream]
        return stream

    async def close_stream(self, stream: RtpStream) -> None:
        """Unbridge, complete its waiters, close its socket, give its port back."""
        if self._streams.get(stream.port) is not stream:
            return
        del self._streams[stream.port]
        self._order = [each for each in self._order if each is not stream]
        self._end_monitors_of(stream)
        if stream.bridged_to is not None:
            self.unbridge(stream)
        stats = stream.stats()
        sent, received, lost = self._closed_totals
        self._closed_totals = (
            sent + stats.packets_sent,
            received + stats.packets_received,
            lost + stats.packets_lost,
        )
        stream._shutdown()
        try:
            await stream._wait_closed()
        finally:
            self.ports.release(stream.port)

    def bridge(self, a: RtpStream, b: RtpStream) -> None:
        """From the next tick, what ``a`` receives ``b`` sends and vice versa."""
        for stream in (a, b):
            if self._streams.get(stream.port) is not stream:
                raise ValueError(f"stream on port {stream.port} is not open on this engine")
            if stream.bridged_to is not None:
                raise ValueError(f"stream on port {stream.port} is already bridged")
        if a is b:
            raise ValueError("cannot bridge a stream to itself")
        a._bridge, b._bridge = b, a

    def unbridge(self, stream: RtpStream) -> None:
        """Both legs go back to their clip or silence (a monitor of the call ends)."""
        self._end_monitors_of(stream)
        peer = stream.bridged_to
        stream._bridge = None
        if peer is not None:
            peer._bridge = None

    def monitor(self, agent: RtpStream, debtor: RtpStream, supervisor: RtpStream,
                mode: MonitorMode) -> None:
        """From the next tick, ``supervisor`` monitors the bridged call of ``agent`` and
        ``debtor`` in ``mode`` (see :mod:`telephony.media.monitor`); call again with
        another mode to switch. One supervisor per call."""
        for stream in (agent, debtor, supervisor):
            if self._streams.get(stream.port) is not stream:
                raise ValueError(f"stream on port {stream.port} is not open on this engine")
        if agent.bridged_to is not debtor:
            raise ValueError("the agent and debtor legs are not bridged to each other")
        if supervisor.bridged_to is not None or supervisor in (agent, debtor):
            raise ValueError("the supervisor's leg must be a leg of its own")
        for port, legs in self._monitors.items():
            if port != supervisor.port and legs[Leg.DEBTOR] in (agent, debtor):
                raise ValueError("another supervisor is monitoring this call")
        legs = {Leg.AGENT: agent, Leg.DEBTOR: debtor, Leg.SUPERVISOR: supervisor}
        for leg, stream in legs.items():
            sources = tuple(legs[heard] for heard in HEARS[MonitorMode(mode)][leg])
            stream._mix = () if sources == (stream.bridged_to,) else sources
        self._monitors[supervisor.port] = legs

    def end_monitor(self, supervisor: RtpStream) -> None:
        """The supervisor leaves: the call goes back to a plain bridge."""
        legs = self._monitors.pop(supervisor.port, None)
        if legs is not None and legs[Leg.SUPERVISOR] is supervisor:
            for stream in legs.values():
                stream._mix = ()

    def monitored_by(self, stream: RtpStream) -> RtpStream | None:
        """The supervisor's leg monitoring the call ``stream`` is a leg of, if any."""
        for legs in self._monitors.values():
            if stream in legs.values():
                return legs[Leg.SUPERVISOR]
        return None

    def _end_monitors_of(self, stream: RtpStream) -> None:
        supervisor = self.monitored_by(stream)
        if supervisor is not None:
            self.end_monitor(supervisor)

    async def wait_ticks(self, count: int = 1) -> int:
        return await self.clock.wait_ticks(count)

    def stats(self) -> EngineStats:
        per_stream = [stream.stats() for stream in self._order]
        sent, received, lost = self._closed_totals
        return EngineStats(
            streams=len(self._order),
            ticks=self.clock.ticks,
            skipped_ticks=self.clock.skipped,
            lateness=self.clock.lateness.summary(),
            completion=self.clock.completion.summary(),
            finish=self.clock.finish.summary(),
            packets_sent=sent + sum(s.packets_sent for s in per_stream),
            packets_received=received + sum(s.packets_received for s in per_stream),
            packets_lost=lost + sum(s.packets_lost for s in per_stream),
        )

    def stream_stats(self) -> dict[int, StreamStats]:
        return {stream.port: stream.stats() for stream in self._order}

    # -- TickListener -------------------------------------------------------------------

    def on_tick(self, tick: int) -> None:
        streams = self._order
        now = self.clock.now()
        timeout = self.dtmf_timeout
        for stream in streams:
            stream._pull(now, timeout)
        for stream in streams:
            stream._push()

    def after_tick(self, tick: int) -> None:
        for stream in self._order:
            if stream._taps:
                stream._feed_taps(tick)
        if self.rtp_timeout is not None and tick % QUIET_CHECK_TICKS == 0:
            now, timeout = self.clock.now(), self.rtp_timeout
            for stream in self._order:
                stream._check_quiet(now, timeout)

    def on_skip(self, ticks: int) -> None:
        for stream in self._order:
            stream._skip(ticks)

    def _bind(self) -> tuple[socket.socket, int]:
        error: OSError | None = None
        for _ in range(self.bind_attempts):
            port = self.ports.allocate()
            sock = socket.socket(self._family, socket.SOCK_DGRAM)
            try:
                sock.bind((self.host, port))
            except OSError as exc:
                sock.close()
                self.ports.release(port)
                error = exc
                continue
            sock.setblocking(False)
            return sock, port
        raise PortsExhaustedError(
            f"no bindable RTP port on {self.host} after {self.bind_attempts} tries: {error}"
        )
