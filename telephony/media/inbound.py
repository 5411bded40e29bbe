"""The receive side of one RTP stream: latching, parsing, statistics, playout, DTMF.

Rules for :meth:`Inbound.receive`, in order:

* Symmetric RTP (RFC 4961 practice): the first well-formed RTP packet *latches* the
  stream to its source address, whatever SDP said (NAT). Once latched, datagrams from
  any other address are ``foreign``: counted and dropped unread, except those from
  the address SDP gave, which take the stream back: RTP still sent to a reused port
  by the far end of a call an earlier process lost (``kill -9``) must not keep it.
  :meth:`set_remote` (a new SDP answer) unlatches, and the next good packet latches
  again.
* RTCP multiplexed on the RTP port (version 2, packet type 192..223, RFC 5761) is
  counted and dropped; anything else :class:`~telephony.media.rtp.RtpPacket` cannot
  parse is ``malformed``: counted and dropped, never raised.
* While the stream does not receive (``sendonly``/``inactive``) packets are
  ``discarded`` after latching.
* ``heard_at`` is when the last RTP packet from the latched far end arrived (what an
  RTP timeout measures), whatever the direction.
* A new SSRC starts new reception statistics and a new DTMF detector (totals are kept).
* Telephone-event packets go to the :class:`~telephony.media.dtmf.DtmfDetector`; the
  digits it completes are returned. Every other packet goes to the jitter buffer, which
  the media tick drains one frame at a time with :meth:`pop`.

Pure: no sockets, no clock (arrival times are passed in).
"""

from __future__ import annotations

from typing import Any

from telephony.media.dtmf import DtmfDetector, DtmfDigit, DtmfParseError, TelephoneEvent
from telephony.media.jitter import JitterBuffer
from telephony.media.rtp import ReceiverStats, RtpPacket, RtpParseError

Address = tuple[str | Any, int]


def looks_like_rtcp(data: bytes) -> bool:
    """Version 2 and an RTCP packet type in the second byte (RFC 5761 §4)."""
    return len(data) >= 2 and data[0] >> 6 == 2 and 192 <= data[1] <= 223


class Inbound:
    """Everything one stream does with the datagrams it receives; see module docstring."""

    __slots__ = (
        "_detector",
        "_prior_lost",
        "_prior_received",
        "_source",
        "discarded",
        "dtmf_payload_type",
        "dtmf_since",
        "foreign",
        "heard_at",
        "jitter",
        "latched",
        "malformed",
        "receiving",
        "remote",
        "rtcp",
        "signalled",
        "sources",
        "ssrc",
    )

    def __init__(self, *, dtmf_payload_type: int = 101, jitter: JitterBuffer | None = None):
        self.dtmf_payload_type = dtmf_payload_type
        self.jitter = JitterBuffer() if jitter is None else jitter
        self.remote: Address | None = None
        self.signalled: Address | None = None  # the address SDP gave
        self.latched = False
        self.receiving = True
        self.ssrc: int | None = None
        self.sources = 0
        self.foreign = 0
        self.malformed = 0
        self.rtcp = 0
        self.discarded = 0
        self.dtmf_since: float | None = None
        self.heard_at: float | None = None  # the last RTP packet from the far end arrived
        self._source = ReceiverStats()
        self._detector = DtmfDetector()
        self._prior_received = 0
        self._prior_lost = 0

    def set_remote(self, address: Address | None) -> None:
        """The address SDP gave; the next good packet may latch elsewhere."""
        self.remote = self.signalled = address
        self.latched = False

    @property
    def received(self) -> int:
        return self._prior_received + self._source.received

    @property
    def lost(self) -> int:
        return self._prior_lost + self._source.lost

    @property
    def jitter_seconds(self) -> float:
        return self._source.jitter_seconds

    def receive(self, data: bytes, address: Address, arrival: float) -> tuple[DtmfDigit, ...]:
        """One datagram; the DTMF digits it completes (usually none)."""
        if self.latched and address not in (self.remote, self.signalled):
            self.foreign += 1
            return ()
        if looks_like_rtcp(data):
            self.rtcp += 1
            return ()
        try:
            packet = RtpPacket.parse(data)
        except RtpParseError:
            self.malformed += 1
            return ()
        event = None
        if packet.payload_type == self.dtmf_payload_type:
            try:
                event = TelephoneEvent.parse(packet.payload)
            except DtmfParseError:
                self.malformed += 1
                return ()
        if not self.latched or address != self.remote:  # the first, or SDP's address back
            self.remote = address
            self.latched = True
        self.heard_at = arrival
        if not self.receiving:
            self.discarded += 1
            return ()
        if packet.ssrc != self.ssrc:
            self._new_source(packet.ssrc)
        self._source.update(packet.sequence_number, packet.timestamp, arrival)
        if event is not None:
            self.dtmf_since = None if event.end else arrival
            return self._detector.feed(packet.timestamp, event)
        self.jitter.push(packet, arrival)
        return ()

    def pop(self) -> RtpPacket | None:
        """This tick's frame from the jitter buffer, ``None`` when there is none."""
        return self.jitter.pop_packet_for_tick()

    def flush_dtmf(self, now: float, timeout: float) -> tuple[DtmfDigit, ...]:
        """A key press whose end packets were all lost, once ``timeout`` has passed."""
        since = self.dtmf_since
        if since is None or now - since < timeout:
            return ()
        self.dtmf_since = None
        return self._detector.flush()

    def _new_source(self, ssrc: int) -> None:
        self._prior_received += self._source.received
        self._prior_lost += self._source.lost
        self._source = ReceiverStats(self._source.clock_rate)
        self._detector = DtmfDetector()
        self.dtmf_since = None
        self.ssrc = ssrc
        self.sources += 1
