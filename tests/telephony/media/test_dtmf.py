from __future__ import annotations

from collections.abc import Callable, Iterable

import pytest

from telephony.media.dtmf import (
    DtmfDetector,
    DtmfDigit,
    DtmfParseError,
    TelephoneEvent,
    digit_events,
    event_code,
)
from telephony.media.rtp import RtpPacket, RtpSender


def test_parse_end_packet_fixture(media_data: Callable[[str], bytes]) -> None:
    packet = RtpPacket.parse(media_data("dtmf_end.hex"))
    event = TelephoneEvent.parse(packet.payload)
    assert event == TelephoneEvent(event=5, end=True, volume=10, duration=800)
    assert event.digit == "5"
    assert bytes(event) == packet.payload


@pytest.mark.parametrize(
    ("payload", "event"),
    [
        ("0b0a00a0", TelephoneEvent(11, False, 10, 160)),
        ("0abfffff", TelephoneEvent(10, True, 63, 0xFFFF)),
        ("0f400000", TelephoneEvent(15, False, 0, 0)),  # reserved R bit ignored
        ("10000320", TelephoneEvent(16, False, 0, 800)),
    ],
)
def test_payload_parse(payload: str, event: TelephoneEvent) -> None:
    assert TelephoneEvent.parse(bytes.fromhex(payload)) == event


@pytest.mark.parametrize("size", [0, 3, 5, 8])
def test_payload_must_be_four_bytes(size: int) -> None:
    with pytest.raises(DtmfParseError, match=f"must be 4 bytes, got {size}"):
        TelephoneEvent.parse(bytes(size))


@pytest.mark.parametrize(
    ("event", "digit"), [(0, "0"), (9, "9"), (10, "*"), (11, "#"), (12, "A"), (15, "D"), (16, None)]
)
def test_event_digits(event: int, digit: str | None) -> None:
    assert TelephoneEvent(event).digit == digit


@pytest.mark.parametrize("digit", ["", "E", "55", " "])
def test_event_code_rejects_non_digits(digit: str) -> None:
    with pytest.raises(ValueError, match="not a DTMF digit"):
        event_code(digit)


def test_event_code_accepts_lower_case_letters() -> None:
    assert event_code("b") == 13


def _detect(detector: DtmfDetector, packets: Iterable[tuple[int, TelephoneEvent]]) -> list[str]:
    return [d.digit for ts, event in packets for d in detector.feed(ts, event)]


def _press(digit: str, timestamp: int) -> list[tuple[int, TelephoneEvent]]:
    return [(timestamp, event) for event in digit_events(digit)]


def test_redundant_end_packets_give_one_digit() -> None:
    detector = DtmfDetector()
    digits = [d for ts, event in _press("7", 8000) for d in detector.feed(ts, event)]
    assert digits == [DtmfDigit("7", 8000, 800, 10)]


def test_same_digit_twice_is_two_presses() -> None:
    detector = DtmfDetector()
    assert _detect(detector, _press("1", 1000) + _press("1", 3000)) == ["1", "1"]


def test_lost_end_packets_report_on_next_event() -> None:
    detector = DtmfDetector()
    first = [p for p in _press("4", 1000) if not p[1].end]
    assert _detect(detector, first) == []
    assert _detect(detector, _press("2", 5000)) == ["4", "2"]


def test_flush_reports_an_event_whose_end_never_came() -> None:
    detector = DtmfDetector()
    assert _detect(detector, _press("9", 1000)[:2]) == []
    assert [d.digit for d in detector.flush()] == ["9"]
    assert detector.flush() == ()
    assert _detect(detector, _press("9", 1000)[2:]) == []  # the late rest of it


def test_only_end_packets_still_give_the_digit() -> None:
    detector = DtmfDetector()
    ends = [p for p in _press("#", 0xFFFFFF00) if p[1].end]
    assert _detect(detector, ends) == ["#"]


def test_reordered_and_late_packets_do_not_repeat_a_digit() -> None:
    detector = DtmfDetector()
    press = _press("3", 2000)
    shuffled = [press[0], press[4], press[1], press[5], press[2], press[6], press[3]]
    assert _detect(detector, shuffled) == ["3"]


def test_timestamp_wrap_between_presses() -> None:
    detector = DtmfDetector()
    presses = _press("5", 0xFFFFFE00) + _press("6", 0x100)
    assert _detect(detector, presses) == ["5", "6"]


def test_flash_and_other_events_are_not_digits() -> None:
    detector = DtmfDetector()
    assert detector.feed(100, TelephoneEvent(16, True, 10, 800)) == ()
    assert _detect(detector, _press("8", 2000)) == ["8"]


def test_digit_events_sequence() -> None:
    events = digit_events("5", duration=800)
    assert [(e.duration, e.end) for e in events] == [
        (160, False),
        (320, False),
        (480, False),
        (640, False),
        (800, True),
        (800, True),
        (800, True),
    ]
    assert {(e.event, e.volume) for e in events} == {(5, 10)}


def test_digit_events_rejects_bad_durations() -> None:
    with pytest.raises(ValueError, match="duration 100 outside"):
        digit_events("1", duration=100)


def test_sent_digits_are_detected_from_the_wire() -> None:
    sender = RtpSender(ssrc=5, payload_type=0, sequence_number=65533, timestamp=0xFFFFFF00)
    sender.frame(b"\xff" * 160)
    detector = DtmfDetector()
    digits: list[str] = []
    for digit in "*0#":
        for n, event in enumerate(digit_events(digit)):
            packet = RtpPacket.parse(sender.event(bytes(event), 101, start=n == 0))
            assert packet.marker == (n == 0)
            found = detector.feed(packet.timestamp, TelephoneEvent.parse(packet.payload))
            digits += [d.digit for d in found]
        sender.frame(b"\xff" * 160)
    assert digits == ["*", "0", "#"]
