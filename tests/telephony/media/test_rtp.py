from __future__ import annotations

from collections.abc import Callable

import pytest
from hypothesis import given
from hypothesis import strategies as st

from telephony.media.rtp import (
    HeaderExtension,
    ReceiverStats,
    RtpPacket,
    RtpParseError,
    RtpSender,
    Unwrapper,
    seq_diff,
    ts_diff,
)

Loader = Callable[[str], bytes]


def test_parse_sipp_pcmu_packet(media_data: Loader) -> None:
    data = media_data("pcmu_sipp.hex")
    packet = RtpPacket.parse(data)
    assert packet.version == 2
    assert (packet.payload_type, packet.marker) == (0, True)
    assert (packet.sequence_number, packet.timestamp, packet.ssrc) == (0x1F4A, 160, 0x3C9E6B11)
    assert len(packet.payload) == 160
    assert (packet.csrc, packet.extension, packet.padding) == ((), None, 0)
    assert bytes(packet) == data


def test_parse_packet_with_csrc_extension_and_padding(media_data: Loader) -> None:
    data = media_data("pcma_csrc_extension.hex")
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.marker) == (8, False)
    assert (packet.sequence_number, packet.timestamp) == (0xFFFF, 0xFFFFFF60)
    assert packet.csrc == (0x0A0B0C0D, 0x01020304)
    assert packet.extension == HeaderExtension(0xBEDE, bytes([0x10, 0x80, 0, 0]))
    assert packet.padding == 4
    assert len(packet.payload) == 160
    assert packet.payload[:4] == bytes.fromhex("d58eb68e")
    assert bytes(packet) == data


def test_parse_telephone_event_packet(media_data: Loader) -> None:
    data = media_data("dtmf_end.hex")
    packet = RtpPacket.parse(data)
    assert (packet.payload_type, packet.timestamp, packet.payload) == (
        101,
        0x550,
        bytes.fromhex("058a0320"),
    )
    assert bytes(packet) == data


def test_padding_only_packet_has_empty_payload() -> None:
    data = bytes.fromhex("a0000001000000020000000300000004")
    packet = RtpPacket.parse(data)
    assert (packet.payload, packet.padding) == (b"", 4)
    assert bytes(packet) == data


HEADER = bytes.fromhex("80000001000000020000000c")


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"", "too short: 0 bytes"),
        (HEADER[:11], "too short: 11 bytes"),
        (bytes([0x40]) + HEADER[1:], "version 1, expected 2"),
        (bytes([0x00]) + HEADER[1:], "version 0, expected 2"),
        (bytes([0xC0]) + HEADER[1:], "version 3, expected 2"),
        (bytes([0x81]) + HEADER[1:], "CSRC count 1 needs 16 bytes, packet has 12"),
        (bytes([0x8F]) + HEADER[1:] + bytes(56), "CSRC count 15 needs 72 bytes, packet has 68"),
        (bytes([0x90]) + HEADER[1:], "header extension needs 16 bytes, packet has 12"),
        (bytes([0x90]) + HEADER[1:] + b"\xbe\xde", "header extension needs 16 bytes"),
        (
            bytes([0x90]) + HEADER[1:] + bytes.fromhex("bede0002") + bytes(7),
            "extension of 2 words needs 24 bytes, packet has 23",
        ),
        (bytes([0xA0]) + HEADER[1:] + b"ab\x00", "padding length 0 invalid"),
        (bytes([0xA0]) + HEADER[1:] + b"ab\x04", "padding length 4 invalid: 1..3 bytes"),
        (bytes([0xA0]) + HEADER[1:], "padding length 12 invalid: 1..0 bytes"),
        (
            bytes([0xB1]) + HEADER[1:] + bytes(4) + bytes.fromhex("bede0000") + b"\x09",
            "padding length 9 invalid: 1..1 bytes",
        ),
    ],
)
def test_malformed_packets_raise_precise_errors(data: bytes, message: str) -> None:
    with pytest.raises(RtpParseError, match=message):
        RtpPacket.parse(data)


def test_parse_error_is_a_value_error() -> None:
    assert issubclass(RtpParseError, ValueError)


@pytest.mark.parametrize(
    "fields",
    [
        {"payload_type": 128},
        {"sequence_number": 65536},
        {"timestamp": -1},
        {"ssrc": 1 << 32},
        {"csrc": tuple(range(16))},
        {"padding": 256},
    ],
)
def test_out_of_range_fields_are_rejected_at_construction(fields: dict[str, object]) -> None:
    base: dict[str, object] = {"payload_type": 0, "sequence_number": 0, "timestamp": 0, "ssrc": 0}
    with pytest.raises(ValueError, match="out of range"):
        RtpPacket(**(base | fields))  # type: ignore[arg-type]


def test_extension_data_must_be_whole_words() -> None:
    with pytest.raises(ValueError, match="not whole words"):
        HeaderExtension(0xBEDE, b"\x10\x80")


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [
        (5, 3, 2),
        (3, 5, -2),
        (0, 65535, 1),
        (65535, 0, -1),
        (10, 65530, 16),
        (32767, 0, 32767),
        (32768, 0, -32768),
    ],
)
def test_seq_diff_wraps_at_16_bits(a: int, b: int, expected: int) -> None:
    assert seq_diff(a, b) == expected


@pytest.mark.parametrize(
    ("a", "b", "expected"),
    [(160, 0, 160), (0, 0xFFFFFF60, 160), (0xFFFFFF60, 0, -160), (1 << 31, 0, -(1 << 31))],
)
def test_ts_diff_wraps_at_32_bits(a: int, b: int, expected: int) -> None:
    assert ts_diff(a, b) == expected


def test_unwrapper_extends_sequence_across_wraps_and_reordering() -> None:
    unwrapper = Unwrapper(16)
    seqs = [65533, 65534, 0, 65535, 1, 2, 65535, 3]
    assert [unwrapper.unwrap(s) for s in seqs] == [
        65533,
        65534,
        65536,
        65535,
        65537,
        65538,
        65535,
        65539,
    ]
    assert unwrapper.highest == 65539


def test_unwrapper_counts_several_16_bit_cycles() -> None:
    unwrapper = Unwrapper(16)
    values = [unwrapper.unwrap(n & 0xFFFF) for n in range(0, 3 * 65536 + 10, 1000)]
    assert values == list(range(0, 3 * 65536 + 10, 1000))


def test_unwrapper_extends_32_bit_timestamps() -> None:
    unwrapper = Unwrapper(32)
    assert [unwrapper.unwrap(t) for t in (0xFFFFFEC0, 0xFFFFFF60, 0, 160)] == [
        0xFFFFFEC0,
        0xFFFFFF60,
        1 << 32,
        (1 << 32) + 160,
    ]


def _packets(sender_output: list[bytes]) -> list[RtpPacket]:
    return [RtpPacket.parse(data) for data in sender_output]


def test_sender_numbers_and_stamps_consecutive_frames() -> None:
    sender = RtpSender(ssrc=0xCAFE, payload_type=0, sequence_number=7, timestamp=1000)
    packets = _packets([sender.frame(bytes([n]) * 160) for n in range(3)])
    assert [p.sequence_number for p in packets] == [7, 8, 9]
    assert [p.timestamp for p in packets] == [1000, 1160, 1320]
    assert [p.marker for p in packets] == [True, False, False]
    assert {(p.ssrc, p.payload_type) for p in packets} == {(0xCAFE, 0)}
    assert packets[2].payload == bytes([2]) * 160


def test_sender_wraps_sequence_and_timestamp() -> None:
    sender = RtpSender(ssrc=1, payload_type=0, sequence_number=65535, timestamp=0xFFFFFF60)
    first, second = _packets([sender.frame(b"a"), sender.frame(b"b")])
    assert (first.sequence_number, first.timestamp) == (65535, 0xFFFFFF60)
    assert (second.sequence_number, second.timestamp) == (0, 0)


def test_hold_and_resume_continue_the_same_stream() -> None:
    sender = RtpSender(ssrc=9, payload_type=0, sequence_number=100, timestamp=0)
    before = _packets([sender.frame(b"x"), sender.frame(b"x")])
    for _ in range(50):  # one second on hold: nothing sent
        sender.idle()
    after = _packets([sender.frame(b"y", payload_type=8), sender.frame(b"y", payload_type=8)])
    assert [p.sequence_number for p in before + after] == [100, 101, 102, 103]
    assert [p.timestamp for p in after] == [52 * 160, 53 * 160]
    assert [p.marker for p in after] == [True, False]
    assert {p.ssrc for p in before + after} == {9}
    assert [p.payload_type for p in after] == [8, 8]


def test_sender_event_packets_share_the_start_timestamp() -> None:
    sender = RtpSender(ssrc=9, payload_type=0, sequence_number=0, timestamp=0)
    sender.frame(b"audio")
    events = _packets([sender.event(b"evnt", 101, start=n == 0) for n in range(3)])
    audio = RtpPacket.parse(sender.frame(b"audio"))
    assert [p.timestamp for p in events] == [160, 160, 160]
    assert [p.sequence_number for p in events] == [1, 2, 3]
    assert [p.marker for p in events] == [True, False, False]
    assert (audio.sequence_number, audio.timestamp, audio.payload_type) == (4, 640, 0)


def test_sender_rejects_out_of_range_setup() -> None:
    with pytest.raises(ValueError, match="out of range"):
        RtpSender(ssrc=1 << 32, payload_type=0, sequence_number=0, timestamp=0)


def _feed(stats: ReceiverStats, seqs: list[int], start: int = 0) -> None:
    for n, seq in enumerate(seqs):
        stats.update(seq & 0xFFFF, ((start + n) * 160) & 0xFFFFFFFF, n * 0.02)


def test_receiver_counts_loss_across_wrap() -> None:
    stats = ReceiverStats()
    _feed(stats, [65530, 65531, 65533, 65534, 0, 1, 3])
    assert (stats.expected, stats.received, stats.lost) == (10, 7, 3)
    assert (stats.duplicates, stats.reordered) == (0, 0)
    assert stats.extended_highest == 65536 + 3


def test_receiver_counts_duplicates_and_reordering() -> None:
    stats = ReceiverStats()
    _feed(stats, [10, 11, 13, 12, 13, 14, 11, 15])
    assert (stats.expected, stats.received, stats.lost) == (6, 6, 0)
    assert (stats.duplicates, stats.reordered) == (2, 1)


def test_receiver_ignores_a_lone_wild_jump() -> None:
    stats = ReceiverStats()
    _feed(stats, [100, 101, 30000, 102, 103])
    assert (stats.expected, stats.received, stats.lost, stats.restarts) == (4, 4, 0, 0)


def test_receiver_resyncs_on_a_confirmed_restart() -> None:
    stats = ReceiverStats()
    _feed(stats, [100, 101, 103, 30000, 30001, 30002])
    assert stats.restarts == 1
    assert (stats.expected, stats.received, stats.lost) == (7, 6, 1)


def test_jitter_is_zero_for_perfect_pacing() -> None:
    stats = ReceiverStats()
    _feed(stats, list(range(65500, 65600)), start=(1 << 32) // 160 - 50)
    assert stats.jitter == pytest.approx(0.0, abs=1e-6)


def test_jitter_follows_rfc3550_estimator() -> None:
    stats = ReceiverStats()
    arrivals = [0.0, 0.020, 0.045, 0.060, 0.080]
    for n, arrival in enumerate(arrivals):
        stats.update(n, n * 160, arrival)
    expected = 0.0
    for d in (0, 40, 40, 0):  # |transit delta| in samples: 5 ms = 40 samples
        expected += (d - expected) / 16
    assert stats.jitter == pytest.approx(expected)
    assert stats.jitter_seconds == pytest.approx(expected / 8000)


@st.composite
def rtp_packets(draw: st.DrawFn) -> RtpPacket:
    extension = draw(
        st.none()
        | st.builds(
            HeaderExtension,
            st.integers(0, 0xFFFF),
            st.integers(0, 8).flatmap(
                lambda words: st.binary(min_size=4 * words, max_size=4 * words)
            ),
        )
    )
    return RtpPacket(
        payload_type=draw(st.integers(0, 127)),
        sequence_number=draw(st.integers(0, 0xFFFF)),
        timestamp=draw(st.integers(0, 0xFFFFFFFF)),
        ssrc=draw(st.integers(0, 0xFFFFFFFF)),
        payload=draw(st.binary(max_size=200)),
        marker=draw(st.booleans()),
        csrc=tuple(draw(st.lists(st.integers(0, 0xFFFFFFFF), max_size=15))),
        extension=extension,
        padding=draw(st.integers(0, 255)),
    )


@given(rtp_packets())
def test_serialised_packets_parse_back_equal(packet: RtpPacket) -> None:
    assert RtpPacket.parse(bytes(packet)) == packet


@given(st.binary(max_size=300))
def test_arbitrary_bytes_parse_or_raise_rtp_parse_error(data: bytes) -> None:
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert RtpPacket.parse(bytes(packet)) == packet
    assert len(bytes(packet)) == len(data)


@given(st.binary(min_size=12, max_size=300))
def test_version_2_bytes_parse_or_raise_rtp_parse_error(data: bytes) -> None:
    data = bytes([0x80 | data[0] & 0x3F]) + data[1:]  # get past the version check
    try:
        packet = RtpPacket.parse(data)
    except RtpParseError:
        return
    assert len(bytes(packet)) == len(data)
