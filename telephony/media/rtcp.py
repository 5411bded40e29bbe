"""RTCP sender and receiver reports (RFC 3550 §6.4), parse/serialise of compound packets.

SR and RR are decoded into dataclasses; every other packet type (SDES, BYE, APP,
feedback) is kept opaque as :class:`RtcpOther` so a compound packet survives a round
trip. Profile-specific extensions after the report blocks are dropped. Pure: no IO.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable
from dataclasses import dataclass

RTCP_SR = 200
RTCP_RR = 201
NTP_UNIX_OFFSET = 2_208_988_800  # seconds from 1900-01-01 to 1970-01-01

_HEADER = struct.Struct("!BBH")
_SSRC = struct.Struct("!I")
_SENDER_INFO = struct.Struct("!IQIII")
_BLOCK = struct.Struct("!IIIIII")


class RtcpParseError(ValueError):
    """Bytes that are not a well-formed RTCP compound packet (the remote peer's fault)."""


def is_rtcp(data: bytes) -> bool:
    """RTP/RTCP demultiplexing on one port (RFC 5761 §4): RTCP types 192..223."""
    return len(data) >= 2 and 192 <= data[1] <= 223


def ntp_timestamp(unix_seconds: float) -> int:
    """64-bit NTP timestamp (32.32 fixed point since 1900) of a Unix time."""
    return round((unix_seconds + NTP_UNIX_OFFSET) * (1 << 32)) & 0xFFFF_FFFF_FFFF_FFFF


def ntp_middle32(ntp: int) -> int:
    """The middle 32 bits of an NTP timestamp, as echoed in ``last_sr`` (LSR)."""
    return (ntp >> 16) & 0xFFFF_FFFF


@dataclass(frozen=True, slots=True)
class ReportBlock:
    """Reception of one source. ``fraction_lost`` is /256; ``packets_lost`` is signed
    24-bit; ``delay_since_last_sr`` is in 1/65536 s."""

    ssrc: int
    fraction_lost: int
    packets_lost: int
    highest_sequence: int
    jitter: int
    last_sr: int = 0
    delay_since_last_sr: int = 0

    def __post_init__(self) -> None:
        if not (0 <= self.fraction_lost <= 0xFF and -(1 << 23) <= self.packets_lost < 1 << 23):
            raise ValueError(f"report block field out of range in {self!r}")

    def __bytes__(self) -> bytes:
        loss = self.fraction_lost << 24 | self.packets_lost & 0xFF_FFFF
        return _BLOCK.pack(
            self.ssrc,
            loss,
            self.highest_sequence,
            self.jitter,
            self.last_sr,
            self.delay_since_last_sr,
        )


@dataclass(frozen=True, slots=True)
class SenderReport:
    ssrc: int
    ntp_timestamp: int
    rtp_timestamp: int
    packet_count: int
    octet_count: int
    reports: tuple[ReportBlock, ...] = ()

    def __bytes__(self) -> bytes:
        info = _SENDER_INFO.pack(
            self.ssrc, self.ntp_timestamp, self.rtp_timestamp, self.packet_count, self.octet_count
        )
        return _frame(RTCP_SR, len(self.reports), info + _blocks(self.reports))


@dataclass(frozen=True, slots=True)
class ReceiverReport:
    ssrc: int
    reports: tuple[ReportBlock, ...] = ()

    def __bytes__(self) -> bytes:
        body = _SSRC.pack(self.ssrc) + _blocks(self.reports)
        return _frame(RTCP_RR, len(self.reports), body)


@dataclass(frozen=True, slots=True)
class RtcpOther:
    """Any other RTCP packet: its type, 5-bit count field and body without padding."""

    packet_type: int
    count: int
    body: bytes

    def __bytes__(self) -> bytes:
        return _frame(self.packet_type, self.count, self.body)


RtcpPacket = SenderReport | ReceiverReport | RtcpOther


def serialize_compound(packets: Iterable[RtcpPacket]) -> bytes:
    return b"".join(bytes(packet) for packet in packets)


def parse_compound(data: bytes) -> list[RtcpPacket]:
    """Every packet of a compound RTCP datagram; raises :class:`RtcpParseError` only."""
    packets: list[RtcpPacket] = []
    offset = 0
    while offset < len(data):
        packet_type, count, body, offset = _split(data, offset)
        packets.append(_decode(packet_type, count, body))
    if not packets:
        raise RtcpParseError("empty RTCP datagram")
    return packets


def _split(data: bytes, offset: int) -> tuple[int, int, bytes, int]:
    if len(data) - offset < _HEADER.size:
        raise RtcpParseError(f"RTCP header truncated at byte {offset} of {len(data)}")
    first, packet_type, words = _HEADER.unpack_from(data, offset)
    if first >> 6 != 2:
        raise RtcpParseError(f"RTCP version {first >> 6} at byte {offset}, expected 2")
    end = offset + 4 * (words + 1)
    if end > len(data):
        raise RtcpParseError(f"RTCP packet at byte {offset} needs {end} bytes, has {len(data)}")
    body = data[offset + 4 : end]
    if first & 0x20:
        padding = body[-1] if body else 0
        if not 0 < padding <= len(body):
            raise RtcpParseError(f"RTCP padding length {padding} invalid at byte {offset}")
        body = body[:-padding]
    return packet_type, first & 0x1F, body, end


def _decode(packet_type: int, count: int, body: bytes) -> RtcpPacket:
    if packet_type == RTCP_SR:
        _require(body, _SENDER_INFO.size + _BLOCK.size * count, "SR")
        ssrc, ntp, rtp_timestamp, packets, octets = _SENDER_INFO.unpack_from(body)
        blocks = _parse_blocks(body, _SENDER_INFO.size, count)
        return SenderReport(ssrc, ntp, rtp_timestamp, packets, octets, blocks)
    if packet_type == RTCP_RR:
        _require(body, _SSRC.size + _BLOCK.size * count, "RR")
        (ssrc,) = _SSRC.unpack_from(body)
        return ReceiverReport(ssrc, _parse_blocks(body, _SSRC.size, count))
    return RtcpOther(packet_type, count, body)


def _require(body: bytes, size: int, name: str) -> None:
    if len(body) < size:
        raise RtcpParseError(f"RTCP {name} body of {len(body)} bytes, needs {size}")


def _parse_blocks(body: bytes, offset: int, count: int) -> tuple[ReportBlock, ...]:
    blocks = []
    for index in range(count):
        ssrc, loss, highest, jitter, lsr, dlsr = _BLOCK.unpack_from(body, offset + 24 * index)
        lost = loss & 0xFF_FFFF
        lost -= (lost & 0x80_0000) << 1
        blocks.append(ReportBlock(ssrc, loss >> 24, lost, highest, jitter, lsr, dlsr))
    return tuple(blocks)


def _blocks(reports: tuple[ReportBlock, ...]) -> bytes:
    if len(reports) > 31:
        raise ValueError(f"an RTCP report holds at most 31 blocks, got {len(reports)}")
    return b"".join(bytes(block) for block in reports)


def _frame(packet_type: int, count: int, body: bytes) -> bytes:
    """Header plus body; a body that is not whole words gets RTCP padding (P bit)."""
    if not 0 <= count <= 31:
        raise ValueError(f"RTCP count field {count} outside 0..31")
    padding = -len(body) % 4
    if not padding:
        return _HEADER.pack(0x80 | count, packet_type, len(body) // 4) + body
    padded = body + bytes(padding - 1) + bytes((padding,))
    return _HEADER.pack(0xA0 | count, packet_type, len(padded) // 4) + padded
