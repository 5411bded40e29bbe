"""DTMF as RFC 4733 telephone-events: payload parse/serialise, detection, generation.

A key press travels as a run of RTP packets that all carry the timestamp of the
event's start, with a growing ``duration``; the last one has the E (end) bit set and is
sent three times for redundancy. :class:`DtmfDetector` reports each event exactly once,
when its first end packet arrives, or, if every end packet was lost, when the next event
starts or the caller calls :meth:`DtmfDetector.flush` after a timeout. Pure: no IO.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from telephony.media.rtp import ts_diff

EVENT_CODES = "0123456789*#ABCD"
FLASH = 16
_PAYLOAD = struct.Struct("!BBH")


class DtmfParseError(ValueError):
    """A telephone-event payload that is not 4 well-formed bytes."""


@dataclass(frozen=True, slots=True)
class TelephoneEvent:
    """The 4-byte RFC 4733 §2.3 payload. ``volume`` is in -dBm0 (0..63), ``duration``
    in timestamp units since the event's start."""

    event: int
    end: bool = False
    volume: int = 10
    duration: int = 0

    def __post_init__(self) -> None:
        if not (
            0 <= self.event <= 0xFF and 0 <= self.volume <= 63 and 0 <= self.duration <= 0xFFFF
        ):
            raise ValueError(f"telephone-event field out of range in {self!r}")

    @property
    def digit(self) -> str | None:
        """The DTMF character for events 0..15, ``None`` for any other event."""
        return EVENT_CODES[self.event] if self.event < len(EVENT_CODES) else None

    @classmethod
    def parse(cls, data: bytes) -> TelephoneEvent:
        if len(data) != _PAYLOAD.size:
            raise DtmfParseError(f"telephone-event payload must be 4 bytes, got {len(data)}")
        event, flags, duration = _PAYLOAD.unpack(data)
        return cls(event, bool(flags & 0x80), flags & 0x3F, duration)

    def __bytes__(self) -> bytes:
        flags = self.volume | 0x80 if self.end else self.volume
        return _PAYLOAD.pack(self.event, flags, self.duration)


def event_code(digit: str) -> int:
    """The RFC 4733 event code of a DTMF character (``"0"``-``"9"``, ``*``, ``#``, A-D)."""
    code = EVENT_CODES.find(digit.upper()) if len(digit) == 1 else -1
    if code < 0:
        raise ValueError(f"not a DTMF digit: {digit!r}")
    return code


@dataclass(frozen=True, slots=True)
class DtmfDigit:
    """One detected key press; ``duration`` in timestamp units (0 if its end was lost)."""

    digit: str
    timestamp: int
    duration: int
    volume: int


class DtmfDetector:
    """Turns the telephone-event packets of one stream into digits, each exactly once.

    Packets are told apart by their RTP timestamp, so use one detector per incoming
    SSRC (a new one when the source changes). An event longer than 65535 timestamp
    units (8 s at 8 kHz) is split by the sender into segments and reported per segment.
    """

    __slots__ = ("_current", "_current_timestamp", "_done_timestamp")

    def __init__(self) -> None:
        self._current: TelephoneEvent | None = None
        self._current_timestamp = 0
        self._done_timestamp: int | None = None

    def feed(self, timestamp: int, event: TelephoneEvent) -> tuple[DtmfDigit, ...]:
        """One packet's RTP timestamp and payload; returns the digits it completes."""
        if self._is_stale(timestamp):
            return ()
        finished: tuple[DtmfDigit, ...] = ()
        if self._current is not None and timestamp != self._current_timestamp:
            finished = self.flush()
        self._current, self._current_timestamp = event, timestamp
        if event.end:
            finished += self.flush()
        return finished

    def flush(self) -> tuple[DtmfDigit, ...]:
        """Report the event in progress, if any; call when its packets stop coming."""
        event = self._current
        if event is None:
            return ()
        self._current = None
        self._done_timestamp = self._current_timestamp
        if event.digit is None:
            return ()
        return (DtmfDigit(event.digit, self._current_timestamp, event.duration, event.volume),)

    def _is_stale(self, timestamp: int) -> bool:
        """Redundant end packets and late packets of events already reported."""
        done = self._done_timestamp
        return done is not None and ts_diff(timestamp, done) <= 0


def digit_events(
    digit: str,
    *,
    duration: int = 800,
    volume: int = 10,
    samples_per_frame: int = 160,
    end_repeats: int = 3,
) -> tuple[TelephoneEvent, ...]:
    """The payloads to send for one key press, one per media tick.

    ``duration`` is in timestamp units (800 = 100 ms at 8 kHz). Each tick's packet
    reports the time elapsed so far; the final duration goes out ``end_repeats`` times
    with the end bit. Send them with :meth:`RtpSender.event`, ``start=True`` on the first.
    """
    if duration < samples_per_frame or duration > 0xFFFF:
        raise ValueError(f"DTMF duration {duration} outside {samples_per_frame}..65535")
    code = event_code(digit)
    running = tuple(
        TelephoneEvent(code, False, volume, elapsed)
        for elapsed in range(samples_per_frame, duration, samples_per_frame)
    )
    return running + (TelephoneEvent(code, True, volume, duration),) * end_repeats
