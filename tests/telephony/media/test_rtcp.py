from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.media.rtcp import (
    ReceiverReport,
    ReportBlock,
    RtcpOther,
    RtcpPacket,
    RtcpParseError,
    SenderReport,
    is_rtcp,
    ntp_middle32,
    ntp_timestamp,
    parse_compound,
    serialize_compound,
)

Loader = Callable[[str], bytes]


def test_parse_sender_report_with_sdes(media_data: Loader) -> None:
    data = media_data("rtcp_sr_sdes.hex")
    sr, sdes = parse_compound(data)
    assert sr == SenderReport(
        ssrc=0x3C9E6B11,
        ntp_timestamp=0xE8F5A3C1_40000000,
        rtp_timestamp=16000,
        packet_count=100,
        octet_count=16000,
        reports=(ReportBlock(0x11223344, 10, 5, 0x00010003, 12, 0xA3C14000, 0x8000),),
    )
    assert isinstance(sdes, RtcpOther)
    assert (sdes.packet_type, sdes.count) == (202, 1)
    assert b"callcase@lab" in sdes.body
    assert serialize_compound([sr, sdes]) == data


def test_rtp_and_rtcp_are_told_apart_on_one_port(media_data: Loader) -> None:
    assert is_rtcp(media_data("rtcp_sr_sdes.hex"))
    assert not is_rtcp(media_data("pcmu_sipp.hex"))
    assert not is_rtcp(media_data("dtmf_end.hex"))
    assert not is_rtcp(b"\x80")


def test_receiver_report_with_negative_cumulative_loss() -> None:
    report = ReceiverReport(
        7, (ReportBlock(9, 0, -3, 65540, 40), ReportBlock(10, 255, 2**23 - 1, 0, 0))
    )
    data = bytes(report)
    assert data[:4] == bytes.fromhex("82c9000d")
    assert data[12:16] == bytes.fromhex("00fffffd")
    assert parse_compound(data) == [report]


def test_empty_receiver_report() -> None:
    assert bytes(ReceiverReport(0xABCDEF01)) == bytes.fromhex("80c90001abcdef01")


def test_odd_sized_body_gets_padding_and_round_trips() -> None:
    bye = RtcpOther(203, 1, bytes.fromhex("01020304") + b"\x02hi")
    data = bytes(bye)
    assert data[0] & 0x20
    assert len(data) % 4 == 0
    assert parse_compound(data) == [bye]


def test_report_block_ranges() -> None:
    with pytest.raises(ValueError, match="out of range"):
        ReportBlock(1, 256, 0, 0, 0)
    with pytest.raises(ValueError, match="out of range"):
        ReportBlock(1, 0, 2**23, 0, 0)


def test_ntp_timestamp_and_lsr() -> None:
    ntp = ntp_timestamp(1_700_000_000.5)
    assert ntp >> 32 == 1_700_000_000 + 2_208_988_800
    assert ntp & 0xFFFFFFFF == 1 << 31
    assert ntp_middle32(ntp) == ((ntp >> 32) & 0xFFFF) << 16 | 0x8000


SR_HEADER = bytes.fromhex("80c80005")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "empty RTCP datagram"),
        (b"\x80\xc9\x00", "header truncated at byte 0 of 3"),
        (bytes.fromhex("40c90001abcdef01"), "version 1 at byte 0"),
        (bytes.fromhex("80c90002abcdef01"), "needs 12 bytes, has 8"),
        (bytes.fromhex("81c90001abcdef01"), "RR body of 4 bytes, needs 28"),
        (SR_HEADER + bytes(20), "SR body of 20 bytes, needs 24"),
        (bytes.fromhex("a0cb0001abcdef00"), "padding length 0 invalid"),
        (bytes.fromhex("a0cb0001abcdef05"), "padding length 5 invalid"),
        (bytes.fromhex("a0cb0000"), "padding length 0 invalid"),
        (bytes.fromhex("80c90001abcdef01") + b"\x80\xc9", "truncated at byte 8 of 10"),
    ],
)
def test_malformed_rtcp_raises_precise_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtcpParseError, match=message):
        parse_compound(data)


blocks = st.builds(
    ReportBlock,
    st.integers(0, 2**32 - 1),
    st.integers(0, 255),
    st.integers(-(2**23), 2**23 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
    st.integers(0, 2**32 - 1),
)
u32 = st.integers(0, 2**32 - 1)
reports = st.lists(blocks, max_size=31).map(tuple)
rtcp_packets: st.SearchStrategy[RtcpPacket] = st.one_of(
    st.builds(SenderReport, u32, st.integers(0, 2**64 - 1), u32, u32, u32, reports),
    st.builds(ReceiverReport, u32, reports),
    st.builds(
        RtcpOther,
        st.sampled_from([202, 203, 204, 205, 206]),
        st.integers(0, 31),
        st.binary(max_size=64),
    ),
)


@given(st.lists(rtcp_packets, min_size=1, max_size=4))
def test_compound_round_trip(packets: list[RtcpPacket]) -> None:
    assert parse_compound(serialize_compound(packets)) == packets


@given(st.binary(max_size=200))
def test_arbitrary_bytes_parse_or_raise_rtcp_parse_error(data: bytes) -> None:
    try:
        packets = parse_compound(data)
    except RtcpParseError:
        return
    assert parse_compound(serialize_compound(packets)) == packets


@given(st.integers(0, 0x3F), st.sampled_from([200, 201, 202, 203]), st.binary(max_size=120))
def test_well_framed_version_2_packets_parse_or_raise_rtcp_parse_error(
    flags: int, packet_type: int, body: bytes
) -> None:
    body = body[: len(body) - len(body) % 4]
    data = bytes([0x80 | flags, packet_type]) + (len(body) // 4).to_bytes(2) + body
    try:
        packets = parse_compound(data)
    except RtcpParseError:
        return
    assert len(packets) == 1
    assert parse_compound(serialize_compound(packets)) == packets
