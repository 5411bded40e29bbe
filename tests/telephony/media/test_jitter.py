from __future__ import annotations

import pytest

from telephony.media.jitter import JitterBuffer, JitterStats
from telephony.media.rtp import RtpPacket

TICK = 0.02


def pkt(seq: int, *, ssrc: int = 1, marker: bool = False, pt: int = 0) -> RtpPacket:
    """A packet whose payload names its sequence number, so playout order is visible."""
    return RtpPacket(pt, seq & 0xFFFF, (seq * 160) & 0xFFFFFFFF, ssrc, seq.to_bytes(4), marker)


def play(buffer: JitterBuffer, schedule: list[list[RtpPacket]]) -> list[int | None]:
    """Per tick: push that tick's arrivals, then pop once; the played sequence numbers."""
    played: list[int | None] = []
    for tick, arrivals in enumerate(schedule):
        for packet in arrivals:
            buffer.push(packet, tick * TICK)
        payload = buffer.pop_for_tick()
        played.append(None if payload is None else int.from_bytes(payload))
    return played


def steady(seqs: list[int], *, ssrc: int = 1) -> list[list[RtpPacket]]:
    return [[pkt(seq, ssrc=ssrc)] for seq in seqs]


def test_playout_starts_after_depth_ticks_and_keeps_order() -> None:
    buffer = JitterBuffer(depth=3)
    assert play(buffer, steady([10, 11, 12, 13, 14]) + [[]] * 3) == [
        None,
        None,
        None,
        10,
        11,
        12,
        13,
        14,
    ]
    assert buffer.stats == JitterStats(played=5)


def test_reordered_packets_play_in_sequence() -> None:
    buffer = JitterBuffer(depth=2)
    schedule = [[pkt(1)], [pkt(0)], [pkt(3)], [pkt(2)], [pkt(5), pkt(4)], [], [], []]
    assert play(buffer, schedule) == [None, None, 0, 1, 2, 3, 4, 5]


def test_lost_packet_is_concealed_and_skipped() -> None:
    buffer = JitterBuffer(depth=2)
    schedule = steady([0, 1]) + [[]] + steady([3, 4]) + [[]] * 2
    assert play(buffer, schedule) == [None, None, 0, 1, None, 3, 4]
    assert (buffer.stats.played, buffer.stats.concealed) == (4, 1)


def test_packet_later_than_its_turn_is_dropped() -> None:
    buffer = JitterBuffer(depth=1)
    schedule = [*steady([0, 1]), [pkt(3)], [pkt(4)], [pkt(2)], [pkt(5)], [], []]
    assert play(buffer, schedule) == [None, 0, 1, None, 3, 4, 5, None]
    assert buffer.stats.late == 1


def test_sequence_wrap_is_seamless() -> None:
    buffer = JitterBuffer(depth=2)
    seqs = [65533, 65534, 65535, 65536, 65537, 65538]
    schedule = [[pkt(65534)], [pkt(65533)], [pkt(65536)], [pkt(65535)], [pkt(65538)], [pkt(65537)]]
    # payloads carry the unwrapped number; the headers carry it mod 2**16
    assert play(buffer, schedule + [[]] * 2) == [None, None, *seqs]
    assert buffer.stats.late == 0


def test_duplicates_are_dropped() -> None:
    buffer = JitterBuffer(depth=2)
    schedule = [[pkt(0)], [pkt(1), pkt(1)], [pkt(2), pkt(2)], [pkt(0)], [], []]
    assert play(buffer, schedule) == [None, None, 0, 1, 2, None]
    # a copy of an already played packet is late rather than a duplicate
    assert (buffer.stats.duplicates, buffer.stats.late) == (2, 1)


def test_silence_suppression_gap_is_not_loss() -> None:
    buffer = JitterBuffer(depth=2)
    talk = steady([0, 1, 2])
    schedule = talk + [[]] * 10 + [[pkt(3, marker=True)], [pkt(4)], [], []]
    played = play(buffer, schedule)
    assert [seq for seq in played if seq is not None] == [0, 1, 2, 3, 4]
    assert played[-4:] == [None, None, 3, 4]  # the new talkspurt is primed again
    assert (buffer.stats.concealed, buffer.stats.late) == (0, 0)


def test_new_talkspurt_without_marker_is_detected_by_arrival_gap() -> None:
    buffer = JitterBuffer(depth=2, talkspurt_gap=0.1)
    schedule = steady([0, 1]) + [[]] * 8 + steady([2, 3]) + [[]] * 3
    assert play(buffer, schedule)[-5:] == [None, None, 2, 3, None]


def test_ssrc_change_resets_to_the_new_source() -> None:
    buffer = JitterBuffer(depth=2)
    schedule = steady([0, 1, 2, 3]) + steady([500, 501, 502], ssrc=2) + [[]] * 2
    assert play(buffer, schedule) == [None, None, 0, 1, None, None, 500, 501, 502]
    assert buffer.stats.resets == 1


def test_big_sequence_jump_resets() -> None:
    buffer = JitterBuffer(depth=2, max_jump=100)
    schedule = steady([0, 1, 2, 3]) + steady([40000, 40001, 40002]) + [[]] * 2
    assert play(buffer, schedule) == [None, None, 0, 1, None, None, 40000, 40001, 40002]
    assert buffer.stats.resets == 1


def test_burst_is_trimmed_to_bound_latency() -> None:
    buffer = JitterBuffer(depth=2, max_depth=5)
    schedule = steady([0, 1, 2]) + [[pkt(seq) for seq in range(3, 20)]] + [[]] * 3
    played = play(buffer, schedule)
    assert played == [None, None, 0, 17, 18, 19, None]
    assert buffer.stats.overflow == 16
    assert len(buffer) == 0


def test_pop_packet_keeps_the_header() -> None:
    buffer = JitterBuffer(depth=1)
    buffer.push(pkt(7, pt=8, marker=True), 0.0)
    assert buffer.pop_packet_for_tick() is None
    packet = buffer.pop_packet_for_tick()
    assert packet is not None
    assert (packet.payload_type, packet.marker, packet.sequence_number) == (8, True, 7)


@pytest.mark.parametrize(("depth", "max_depth", "max_jump"), [(0, 5, 10), (5, 5, 10), (3, 10, 10)])
def test_inconsistent_settings_are_rejected(depth: int, max_depth: int, max_jump: int) -> None:
    with pytest.raises(ValueError, match="need 0 < depth"):
        JitterBuffer(depth=depth, max_depth=max_depth, max_jump=max_jump)
