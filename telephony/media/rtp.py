"""RTP packets (RFC 3550): parse/serialise, wrap-around arithmetic, sender and receiver state.

Pure: no sockets, no clock. The media engine owns the single 20 ms tick and calls
:meth:`RtpSender.frame` or :meth:`RtpSender.idle` once per tick per stream, and feeds
every received packet to :meth:`ReceiverStats.update` with its arrival time.

Sequence numbers are 16 bits and timestamps 32 bits; both wrap. ``seq_diff`` and
``ts_diff`` give the signed shortest distance, and :class:`Unwrapper` turns a wrapping
counter into a monotonic ("extended") integer.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import ClassVar

RTP_VERSION = 2
HEADER_SIZE = 12
SEQ_MOD = 1 << 16
TS_MOD = 1 << 32

_HEADER = struct.Struct("!BBHII")
_EXTENSION_HEADER = struct.Struct("!HH")
_CSRC = tuple(struct.Struct(f"!{count}I") for count in range(16))


class RtpParseError(ValueError):
    """Bytes that are not a well-formed RTP packet (the remote peer's fault)."""


def seq_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between 16-bit sequence numbers, in [-32768, 32767]."""
    return ((a - b + 0x8000) & 0xFFFF) - 0x8000


def ts_diff(a: int, b: int) -> int:
    """Signed distance ``a - b`` between 32-bit RTP timestamps, in [-2**31, 2**31 - 1]."""
    return ((a - b + 0x8000_0000) & 0xFFFF_FFFF) - 0x8000_0000


class Unwrapper:
    """Turns a wrapping counter (16-bit seq, 32-bit timestamp) into a monotonic integer.

    Each value is placed at the shortest signed distance from the highest value seen so
    far, so reordered packets from before a wrap keep their place. The first value is
    returned as is; values older than the first one come out negative.
    """

    __slots__ = ("_half", "_highest", "_mask")

    def __init__(self, bits: int = 16) -> None:
        self._mask = (1 << bits) - 1
        self._half = 1 << (bits - 1)
        self._highest: int | None = None

    @property
    def highest(self) -> int | None:
        """The highest extended value returned so far, ``None`` before the first."""
        return self._highest

    def unwrap(self, value: int) -> int:
        highest = self._highest
        if highest is None:
            self._highest = value
            return value
        extended = highest + (((value - highest + self._half) & self._mask) - self._half)
        if extended > highest:
            self._highest = extended
        return extended


@dataclass(frozen=True, slots=True)
class HeaderExtension:
    """RFC 3550 §5.3.1 header extension, kept opaque: 16-bit profile word and 32-bit words."""

    profile: int
    data: bytes = b""

    def __post_init__(self) -> None:
        if not 0 <= self.profile <= 0xFFFF:
            raise ValueError(f"extension profile {self.profile} outside 0..65535")
        if len(self.data) % 4 or len(self.data) > 4 * 0xFFFF:
            raise ValueError(f"extension data of {len(self.data)} bytes is not whole words")


@dataclass(frozen=True, slots=True)
class RtpPacket:
    """One RTP packet. ``padding`` is the padding length in bytes (0 means no P bit).

    ``bytes(packet)`` writes zero padding bytes followed by the count, so
    ``RtpPacket.parse(bytes(p)) == p`` always holds.
    """

    version: ClassVar[int] = RTP_VERSION

    payload_type: int
    sequence_number: int
    timestamp: int
    ssrc: int
    payload: bytes = b""
    marker: bool = False
    csrc: tuple[int, ...] = ()
    extension: HeaderExtension | None = None
    padding: int = 0

    def __post_init__(self) -> None:
        if not (
            0 <= self.payload_type <= 0x7F
            and 0 <= self.sequence_number <= 0xFFFF
            and 0 <= self.timestamp <= 0xFFFF_FFFF
            and 0 <= self.ssrc <= 0xFFFF_FFFF
            and len(self.csrc) <= 15
            and 0 <= self.padding <= 0xFF
        ):
            raise ValueError(f"RTP header field out of range in {self!r}")

    @classmethod
    def parse(cls, data: bytes) -> RtpPacket:
        """Parse one datagram; raises :class:`RtpParseError` and nothing else."""
        size = len(data)
        if size < HEADER_SIZE:
            raise RtpParseError(f"RTP packet too short: {size} bytes, header needs 12")
        first, second, seq, timestamp, ssrc = _HEADER.unpack_from(data)
        if first >> 6 != RTP_VERSION:
            raise RtpParseError(f"RTP version {first >> 6}, expected 2")
        offset = HEADER_SIZE
        csrc: tuple[int, ...] = ()
        if first & 0x0F:
            csrc, offset = _parse_csrc(data, first & 0x0F)
        extension = None
        if first & 0x10:
            extension, offset = _parse_extension(data, offset)
        padding = _parse_padding(data, offset) if first & 0x20 else 0
        return cls(
            second & 0x7F,
            seq,
            timestamp,
            ssrc,
            data[offset : size - padding],
            bool(second & 0x80),
            csrc,
            extension,
            padding,
        )

    def __bytes__(self) -> bytes:
        first = RTP_VERSION << 6 | len(self.csrc)
        if self.padding:
            first |= 0x20
        if self.extension is not None:
            first |= 0x10
        second = self.payload_type | 0x80 if self.marker else self.payload_type
        header = _HEADER.pack(first, second, self.sequence_number, self.timestamp, self.ssrc)
        if first == 0x80:
            return header + self.payload
        parts = [header, _CSRC[len(self.csrc)].pack(*self.csrc)]
        if self.extension is not None:
            ext = self.extension
            parts += (_EXTENSION_HEADER.pack(ext.profile, len(ext.data) // 4), ext.data)
        parts.append(self.payload)
        if self.padding:
            parts.append(bytes(self.padding - 1) + bytes((self.padding,)))
        return b"".join(parts)


def _parse_csrc(data: bytes, count: int) -> tuple[tuple[int, ...], int]:
    end = HEADER_SIZE + 4 * count
    if end > len(data):
        raise RtpParseError(f"CSRC count {count} needs {end} bytes, packet has {len(data)}")
    return _CSRC[count].unpack_from(data, HEADER_SIZE), end


def _parse_extension(data: bytes, offset: int) -> tuple[HeaderExtension, int]:
    start = offset + 4
    if start > len(data):
        raise RtpParseError(f"header extension needs {start} bytes, packet has {len(data)}")
    profile, words = _EXTENSION_HEADER.unpack_from(data, offset)
    end = start + 4 * words
    if end > len(data):
        raise RtpParseError(
            f"header extension of {words} words needs {end} bytes, packet has {len(data)}"
        )
    return HeaderExtension(profile, data[start:end]), end


def _parse_padding(data: bytes, offset: int) -> int:
    padding = data[-1]
    available = len(data) - offset
    if padding == 0 or padding > available:
        raise RtpParseError(
            f"padding length {padding} invalid: 1..{available} bytes follow the header"
        )
    return padding


class RtpSender:
    """Numbers and stamps the packets of one outgoing stream, one call per media tick.

    Call :meth:`frame` on a tick that sends audio and :meth:`idle` on a tick that sends
    nothing (silence suppression, hold). Timestamps advance on every tick, sequence
    numbers only per packet, and the marker bit is set on the first packet and on the
    first after an idle gap (a new talkspurt). Hold/resume and payload-type changes keep
    the same SSRC, sequence and timestamp line: it is one stream throughout.
    """

    __slots__ = (
        "_event_timestamp",
        "_marker",
        "payload_type",
        "samples_per_frame",
        "sequence_number",
        "ssrc",
        "timestamp",
    )

    def __init__(
        self,
        ssrc: int,
        payload_type: int,
        sequence_number: int,
        timestamp: int,
        samples_per_frame: int = 160,
    ) -> None:
        # Validates the ranges once, up front, so a bad value fails here, not mid-call.
        RtpPacket(payload_type, sequence_number, timestamp, ssrc)
        self.ssrc = ssrc
        self.payload_type = payload_type
        self.sequence_number = sequence_number
        self.timestamp = timestamp
        self.samples_per_frame = samples_per_frame
        self._marker = True
        self._event_timestamp = timestamp

    def frame(self, payload: bytes, payload_type: int | None = None) -> bytes:
        """The packet for this tick's frame; ``payload_type`` overrides the default once."""
        pt = self.payload_type if payload_type is None else payload_type
        packet = self._pack(pt, self._marker, self.timestamp, payload)
        self._marker = False
        return packet

    def event(self, payload: bytes, payload_type: int, *, start: bool) -> bytes:
        """An RFC 4733 event packet for this tick: every packet of one event carries the
        timestamp of its first tick (``start=True``, which also sets the marker bit)."""
        if start:
            self._event_timestamp = self.timestamp
        return self._pack(payload_type, start, self._event_timestamp, payload)

    def idle(self) -> None:
        """Nothing sent this tick: time moves on and the next frame starts a talkspurt."""
        self.timestamp = (self.timestamp + self.samples_per_frame) & 0xFFFF_FFFF
        self._marker = True

    def _pack(self, payload_type: int, marker: bool, timestamp: int, payload: bytes) -> bytes:
        second = payload_type | 0x80 if marker else payload_type
        header = _HEADER.pack(0x80, second, self.sequence_number, timestamp, self.ssrc)
        self.sequence_number = (self.sequence_number + 1) & 0xFFFF
        self.timestamp = (self.timestamp + self.samples_per_frame) & 0xFFFF_FFFF
        return header + payload


MAX_DROPOUT = 3000
MAX_MISORDER = 100
_WINDOW = 1024
_WINDOW_MASK = (1 << _WINDOW) - 1


class ReceiverStats:
    """Reception statistics of one incoming SSRC (RFC 3550 A.1, A.3, A.8).

    ``received`` counts distinct packets; ``duplicates`` (within the last 1024 sequence
    numbers) are counted apart, so ``lost = expected - received`` is not hidden by
    duplication. ``reordered`` counts packets that arrived after a later one. A jump of
    more than ``MAX_DROPOUT`` ahead or ``MAX_MISORDER`` behind is ignored unless the next
    packet follows it, which marks a source restart (A.1); earlier counts are kept.
    ``jitter`` is the A.8 interarrival jitter in timestamp units, as RTCP reports it.
    """

    __slots__ = (
        "_base",
        "_expected_prior",
        "_last_arrival",
        "_last_timestamp",
        "_probe",
        "_seen",
        "_top",
        "_unwrapper",
        "clock_rate",
        "duplicates",
        "jitter",
        "received",
        "reordered",
        "restarts",
    )

    def __init__(self, clock_rate: int = 8000) -> None:
        self.clock_rate = clock_rate
        self.received = 0
        self.duplicates = 0
        self.reordered = 0
        self.restarts = 0
        self.jitter = 0.0
        self._expected_prior = 0
        self._unwrapper = Unwrapper(16)
        self._base = 0
        self._top: int | None = None
        self._seen = 0
        self._probe: int | None = None
        self._last_arrival = 0.0
        self._last_timestamp: int | None = None

    @property
    def expected(self) -> int:
        current = 0 if self._top is None else self._top - self._base + 1
        return self._expected_prior + current

    @property
    def extended_highest(self) -> int:
        """Highest sequence number with its wrap count in the top bits, as RTCP reports it."""
        return 0 if self._top is None else self._top

    @property
    def lost(self) -> int:
        return max(0, self.expected - self.received)

    @property
    def jitter_seconds(self) -> float:
        return self.jitter / self.clock_rate

    def update(self, sequence_number: int, timestamp: int, arrival: float) -> None:
        """Account for one received packet; ``arrival`` in seconds on a monotonic clock."""
        if self._top is None:
            self._restart(sequence_number)
        else:
            distance = seq_diff(sequence_number, self._top & 0xFFFF)
            if (distance > MAX_DROPOUT or distance < -MAX_MISORDER) and not self._confirm(
                sequence_number
            ):
                return
        if self._record(self._unwrapper.unwrap(sequence_number)):
            self._update_jitter(timestamp, arrival)

    def _confirm(self, sequence_number: int) -> bool:
        """A far jump counts only once the next packet follows it (A.1 ``bad_seq``)."""
        if self._probe != sequence_number:
            self._probe = (sequence_number + 1) & 0xFFFF
            return False
        self._expected_prior = self.expected
        self.restarts += 1
        jumped = (sequence_number - 1) & 0xFFFF
        self._restart(jumped)
        self._record(self._unwrapper.unwrap(jumped))
        return True

    def _restart(self, sequence_number: int) -> None:
        self._unwrapper = Unwrapper(16)
        self._base = sequence_number
        self._top = None
        self._seen = 0
        self._probe = None
        self._last_timestamp = None

    def _record(self, extended: int) -> bool:
        """Mark ``extended`` as seen; False for a duplicate."""
        top = self._top
        if top is None or extended > top:
            shift = _WINDOW if top is None else min(extended - top, _WINDOW)
            self._seen = ((self._seen << shift) | 1) & _WINDOW_MASK
            self._top = extended
        elif top - extended < _WINDOW:
            bit = 1 << (top - extended)
            if self._seen & bit:
                self.duplicates += 1
                return False
            self._seen |= bit
            self.reordered += 1
        else:
            self.reordered += 1
        self.received += 1
        return True

    def _update_jitter(self, timestamp: int, arrival: float) -> None:
        last = self._last_timestamp
        if last is not None:
            elapsed = (arrival - self._last_arrival) * self.clock_rate
            self.jitter += (abs(elapsed - ts_diff(timestamp, last)) - self.jitter) / 16
        self._last_timestamp = timestamp
        self._last_arrival = arrival
