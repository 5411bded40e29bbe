"""One RTP stream: a UDP endpoint, its one sender line, and what it sends each tick.

Streams are created by :meth:`MediaEngine.open_stream` and driven by the engine's
media tick in passes: :meth:`RtpStream._pull` takes each stream's inbound frame for
this tick out of its jitter buffer, then :meth:`RtpStream._push` sends one packet (so a
bridged stream forwards the frame its peer received in the same tick), and once every
stream has sent, :meth:`RtpStream._feed_taps` hands both directions to the taps.

What goes out on a tick, first match wins:

1. nothing (:meth:`RtpSender.idle`) while the direction does not send (hold:
   ``recvonly``/``inactive``) or no remote address is known;
2. the next packet of a pending :meth:`send_dtmf`;
3. the next frame of the playing clip (:meth:`play`);
4. while a supervisor monitors the call (:mod:`telephony.media.monitor`), the mix
   of the inbound frames of the legs this one hears; else the bridged peer's inbound
   frame: its payload as is when both use the same codec, else decoded and
   re-encoded; nothing arrived, fall through;
5. G.711 silence (``SilenceMode.SEND``, keeps NAT bindings and the far end's latching
   alive), or nothing (``SilenceMode.SUPPRESS``).

The stream keeps one SSRC, sequence and timestamp line for its whole life: hold,
resume, codec changes and skipped ticks continue it, never restart it.

Receiving: asyncio's datagram transport reads one datagram each time the loop finds
the socket readable, so a loop iteration slower than a tick left packets in the
socket while the catch-up ticks ran, and they came too late for the jitter buffer
(silence in the recording). :meth:`datagram_received` therefore takes every datagram
already waiting on the socket (at most ``DRAIN_MAX``) before the tick runs, when the
stream's previous datagram came more than ``DRAIN_GAP_S`` before this one: the loop
was held up, or the far end sent a burst. Packets in time (one every 20 ms) cost no
extra read, which at 20,000 packets a second would be a read that finds nothing for
each of them.

RTP timeout: after :meth:`watch_media` (call control calls it at the answer) the
engine calls the watcher once nothing has arrived for its ``rtp_timeout``. A stream
that does not receive (hold) is never quiet; a re-INVITE starts the count again.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import socket
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import cast

from telephony.media.dtmf import DtmfDigit
from telephony.media.g711 import CODECS, G711, Pcm
from telephony.media.inbound import Address, Inbound
from telephony.media.jitter import JitterBuffer
from telephony.media.monitor import mix
from telephony.media.rtp import RtpPacket, RtpSender
from telephony.media.sources import AudioFrame, DtmfSend, Playback, as_pcm
from telephony.media.taps import Tap, deliver

logger = logging.getLogger(__name__)

DRAIN_MAX = 50  # datagrams read at once beyond the one the transport read (a second)
RECEIVE_MAX = 2048  # bytes: an RTP packet of G.711 is 172
DRAIN_GAP_S = 0.03  # 1.5 packet times: a datagram later than that may have others waiting


class Direction(StrEnum):
    """SDP direction, from this stream's side."""

    SENDRECV = "sendrecv"
    SENDONLY = "sendonly"
    RECVONLY = "recvonly"
    INACTIVE = "inactive"


class SilenceMode(StrEnum):
    SEND = "send"  # G.711 silence frames when there is nothing else to send
    SUPPRESS = "suppress"  # send nothing


@dataclass(frozen=True, slots=True)
class StreamStats:
    packets_sent: int
    packets_received: int
    packets_lost: int
    packets_late: int
    packets_foreign: int
    packets_malformed: int
    packets_discarded: int
    rtcp_received: int
    send_errors: int
    jitter: float  # seconds, RFC 3550 A.8
    concealed: int
    dtmf_dropped: int


class RtpStream(asyncio.DatagramProtocol):
    """One call leg's RTP; see the module docstring. Open with the engine, not directly."""

    def __init__(
        self,
        port: int,
        codec: G711,
        *,
        now: Callable[[], float],
        silence: SilenceMode = SilenceMode.SEND,
        dtmf_payload_type: int = 101,
        jitter_depth: int = 3,
        dtmf_queue_size: int = 64,
    ) -> None:
        self.port = port
        self.codec = codec
        self.silence = silence
        self.direction = Direction.SENDRECV
        self.sender = RtpSender(
            secrets.randbits(32), codec.payload_type, secrets.randbits(16), secrets.randbits(32)
        )
        self.inbound = Inbound(
            dtmf_payload_type=dtmf_payload_type, jitter=JitterBuffer(depth=jitter_depth)
        )
        self.dtmf: asyncio.Queue[DtmfDigit] = asyncio.Queue(dtmf_queue_size)
        self.packets_sent = 0
        self.send_errors = 0
        self.dtmf_dropped = 0
        self._now = now
        self._sending = True
        self._silence = (codec.silence(160), _read_only(codec.decode(codec.silence(160))))
        self._transport: asyncio.DatagramTransport | None = None
        self._socket: socket.socket | None = None
        self._last_datagram = float("-inf")
        self._lost: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._bridge: RtpStream | None = None
        self._mix: tuple[RtpStream, ...] = ()
        self._playback: Playback | None = None
        self._dtmf_out: deque[DtmfSend] = deque()
        self._taps: list[Tap] = []
        self._in_packet: RtpPacket | None = None
        self._in_pcm: Pcm | None = None
        self._out_frame: AudioFrame | None = None
        self._watched_since: float | None = None
        self._on_quiet: Callable[[float], None] | None = None

    # -- public API -------------------------------------------------------------------

    @property
    def remote(self) -> Address | None:
        return self.inbound.remote

    @property
    def latched(self) -> bool:
        return self.inbound.latched

    @property
    def bridged_to(self) -> RtpStream | None:
        return self._bridge

    @property
    def closed(self) -> bool:
        return self._transport is None or self._transport.is_closing()

    @property
    def local_address(self) -> Address:
        if self._transport is None:
            raise RuntimeError(f"stream on port {self.port} is not open")
        return cast(Address, self._transport.get_extra_info("sockname")[:2])

    def set_remote(self, address: Address | None) -> None:
        """The far end's address from SDP; the first packet received may re-latch it."""
        self.inbound.set_remote(address)
        self._restart_quiet()

    def set_direction(self, direction: Direction | str) -> None:
        """Hold and resume: the sender's sequence/SSRC line carries on across changes."""
        self.direction = Direction(direction)
        self._sending = self.direction in (Direction.SENDRECV, Direction.SENDONLY)
        self.inbound.receiving = self.direction in (Direction.SENDRECV, Direction.RECVONLY)
        self._restart_quiet()

    def watch_media(self, on_quiet: Callable[[float], None]) -> None:
        """``on_quiet(seconds)`` once nothing arrives for the engine's RTP timeout."""
        self._watched_since = self._now()
        self._on_quiet = on_quiet

    def quiet_for(self, now: float) -> float:
        """Seconds without RTP from the far end; 0.0 unwatched or not receiving."""
        since = self._watched_since
        if since is None or not self.inbound.receiving:
            return 0.0
        return now - max(since, self.inbound.heard_at or since)

    def set_codec(self, payload_type: int) -> None:
        """Switch PCMU/PCMA (a re-INVITE); same SSRC and sequence line."""
        codec = CODECS[payload_type]
        self.codec = codec
        self.sender.payload_type = payload_type
        self._silence = (codec.silence(160), _read_only(codec.decode(codec.silence(160))))

    def play(self, audio: Pcm | bytes, *, loop: bool = False) -> Playback:
        """Play 8 kHz 16-bit PCM from the next tick, replacing any clip playing now.
        ``await`` the result: ``True`` when it played to the end."""
        if self._playback is not None:
            self._playback.stop()
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        self._playback = Playback(as_pcm(audio), future, loop=loop)
        return self._playback

    def stop_playback(self) -> None:
        if self._playback is not None:
            self._playback.stop()
            self._playback = None

    def send_dtmf(self, digits: str, *, duration: int = 800, gap_ticks: int = 3) -> DtmfSend:
        """Queue RFC 4733 key presses (``duration`` in 1/8000 s); ``await`` to know
        they are sent. Held streams send them on resume."""
        future: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        send = DtmfSend(digits, future, duration=duration, gap_ticks=gap_ticks)
        if not send.done():
            self._dtmf_out.append(send)
        return send

    def add_tap(self, tap: Tap) -> None:
        if tap not in self._taps:
            self._taps = [*self._taps, tap]

    def remove_tap(self, tap: Tap) -> None:
        self._taps = [each for each in self._taps if each is not tap]

    def inbound_pcm(self) -> Pcm | None:
        """This tick's inbound frame as PCM (decoded once per tick), ``None`` if none."""
        packet = self._in_packet
        if self._in_pcm is None and packet is not None:
            codec = CODECS.get(packet.payload_type)
            if codec is not None:
                self._in_pcm = _read_only(codec.decode(packet.payload))
        return self._in_pcm

    def stats(self) -> StreamStats:
        inbound = self.inbound
        return StreamStats(
            packets_sent=self.packets_sent,
            packets_received=inbound.received,
            packets_lost=inbound.lost,
            packets_late=inbound.jitter.stats.late,
            packets_foreign=inbound.foreign,
            packets_malformed=inbound.malformed,
            packets_discarded=inbound.discarded,
            rtcp_received=inbound.rtcp,
            send_errors=self.send_errors,
            jitter=inbound.jitter_seconds,
            concealed=inbound.jitter.stats.concealed,
            dtmf_dropped=self.dtmf_dropped,
        )

    # -- asyncio protocol ---------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self._transport = cast(asyncio.DatagramTransport, transport)

    def _attach_socket(self, sock: socket.socket) -> None:
        """Send straight on the socket the engine bound: a UDP send never blocks (a full
        buffer drops the datagram, counted), and at 20k packets/s the transport's own
        ``sendto`` bookkeeping is a measurable share of the tick. Receiving stays with
        the transport."""
        self._socket = sock

    def datagram_received(self, data: bytes, addr: Address) -> None:
        now = self._now()
        gap, self._last_datagram = now - self._last_datagram, now
        digits = self.inbound.receive(data, addr, now)
        if digits:
            self._deliver_digits(digits)
        sock = self._socket
        if sock is None or gap <= DRAIN_GAP_S:  # in time: see the module docstring
            return
        for _ in range(DRAIN_MAX):  # the rest already waiting: see the module docstring
            try:
                data, addr = sock.recvfrom(RECEIVE_MAX)
            except (BlockingIOError, InterruptedError):
                return
            except OSError as exc:  # an ICMP error queued on the socket, as the transport
                self.error_received(exc)
                return
            digits = self.inbound.receive(data, addr, now)
            if digits:
                self._deliver_digits(digits)

    def error_received(self, exc: Exception) -> None:
        # ICMP errors (port unreachable once the far end is gone) surface here.
        self.send_errors += 1
        logger.debug("RTP port %d: %s", self.port, exc)

    def connection_lost(self, exc: Exception | None) -> None:
        self._transport = None  # the transport holds this protocol: no cycle left behind
        if not self._lost.done():
            self._lost.set_result(None)

    # -- driven by the engine -------------------------------------------------------------

    def _check_quiet(self, now: float, timeout: float) -> None:
        """Tell the watcher, once, that nothing arrived for ``timeout`` seconds."""
        if self._on_quiet is not None and (quiet := self.quiet_for(now)) >= timeout:
            on_quiet, self._on_quiet = self._on_quiet, None
            on_quiet(quiet)

    def _restart_quiet(self) -> None:
        if self._watched_since is not None:
            self._watched_since = self._now()

    def _pull(self, now: float, dtmf_timeout: float) -> None:
        self._in_packet = self.inbound.pop()
        self._in_pcm = None
        if self.inbound.dtmf_since is not None:
            digits = self.inbound.flush_dtmf(now, dtmf_timeout)
            if digits:
                self._deliver_digits(digits)

    def _push(self) -> None:
        sender = self.sender
        remote = self.inbound.remote
        frame: AudioFrame | None = None
        if not self._sending or remote is None or self._socket is None:
            sender.idle()
        elif not (self._dtmf_out and self._send_event(remote)):
            frame = self._next_audio()
            if frame is None:
                sender.idle()
            else:
                self._send(sender.frame(frame[0]), remote)
        self._out_frame = frame

    def _skip(self, ticks: int) -> None:
        """The clock skipped ``ticks`` ticks: move the RTP timestamp on (new talkspurt)."""
        sender = self.sender
        sender.timestamp = (sender.timestamp + (ticks - 1) * sender.samples_per_frame) & (
            0xFFFF_FFFF
        )
        sender.idle()

    def _shutdown(self) -> None:
        """The stream is closing: complete every waiter, forget every reference."""
        self.stop_playback()
        while self._dtmf_out:
            self._dtmf_out.popleft().finish(False)
        self._taps = []
        self._on_quiet = None
        self._bridge = None
        self._mix = ()
        self._in_packet = None
        self._out_frame = None
        self._socket = None
        if self._transport is not None:
            self._transport.close()

    async def _wait_closed(self) -> None:
        await self._lost

    def _send(self, packet: bytes, remote: Address) -> None:
        assert self._socket is not None
        try:
            self._socket.sendto(packet, remote)
        except OSError as exc:  # EAGAIN, or an ICMP error from an earlier send
            self.error_received(exc)
        else:
            self.packets_sent += 1

    def _send_event(self, remote: Address) -> bool:
        send = self._dtmf_out[0]
        step = send.next_step()
        if send.done():
            self._dtmf_out.popleft()
        if step is None:
            return False
        payload, start = step
        self._send(self.sender.event(payload, self.inbound.dtmf_payload_type, start=start), remote)
        return True

    def _next_audio(self) -> AudioFrame | None:
        playback = self._playback
        if playback is not None:
            if not playback.done():
                return playback.next_frame(self.codec)
            self._playback = None
        if self._mix:
            frame = self._mixed_frame(self._mix)
            if frame is not None:
                return frame
        elif self._bridge is not None:
            frame = self._bridged_frame(self._bridge)
            if frame is not None:
                return frame
        return self._silence if self.silence is SilenceMode.SEND else None

    def _bridged_frame(self, peer: RtpStream) -> AudioFrame | None:
        packet = peer._in_packet
        if packet is None:
            return None
        if packet.payload_type == self.codec.payload_type:
            return packet.payload, peer._in_pcm
        pcm = peer.inbound_pcm()
        return None if pcm is None else (self.codec.encode(pcm), None)

    def _mixed_frame(self, sources: tuple[RtpStream, ...]) -> AudioFrame | None:
        heard = [pcm for pcm in (source.inbound_pcm() for source in sources)
                 if pcm is not None]
        if not heard:
            return None
        pcm = heard[0] if len(heard) == 1 else _read_only(mix(heard))
        return self.codec.encode(pcm), pcm

    def _feed_taps(self, tick: int) -> None:
        frame = self._out_frame
        outbound: Pcm | None = None
        if frame is not None:
            outbound = frame[1]
            if outbound is None:
                outbound = _read_only(self.codec.decode(frame[0]))
        for tap in deliver(self._taps, tick, self.inbound_pcm(), outbound):
            self.remove_tap(tap)

    def _deliver_digits(self, digits: tuple[DtmfDigit, ...]) -> None:
        for digit in digits:
            try:
                self.dtmf.put_nowait(digit)
            except asyncio.QueueFull:
                self.dtmf_dropped += 1
                logger.warning("RTP port %d: DTMF queue full, dropped %r", self.port, digit)


def _read_only(pcm: Pcm) -> Pcm:
    pcm.flags.writeable = False
    return pcm
