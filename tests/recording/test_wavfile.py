"""The recording WAV format: header round trips, precise parse errors, repair, data."""

from __future__ import annotations

import io
import struct
import wave

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording.wavfile import (
    FRAME_BYTES,
    HEADER_SIZE,
    MAX_DATA_SIZE,
    TICK_BYTES,
    WavFormatError,
    WavHeader,
    check_size,
    interleave,
    repair,
    silence,
)
from tests.recording.frames import frame


def stdlib_header(frames: int) -> bytes:
    out = io.BytesIO()
    with wave.open(out, "wb") as wav:
        wav.setnchannels(2)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(bytes(frames * FRAME_BYTES))
    return out.getvalue()[:HEADER_SIZE]


data_sizes = st.integers(0, MAX_DATA_SIZE // FRAME_BYTES).map(lambda n: n * FRAME_BYTES)


@given(data_sizes)
def test_header_round_trip(size: int) -> None:
    header = WavHeader(size)
    assert WavHeader.parse(bytes(header)) == header
    assert header.frames == size // FRAME_BYTES


@pytest.mark.parametrize("frames", [0, 1, 160, 8000 * 60])
def test_header_is_the_one_the_stdlib_writes(frames: int) -> None:
    assert bytes(WavHeader(frames * FRAME_BYTES)) == stdlib_header(frames)


def test_provisional_header_is_streaming_and_round_trips() -> None:
    data = bytes(WavHeader(None))
    assert struct.unpack_from("<I", data, 4) == (0xFFFFFFFF,)
    assert struct.unpack_from("<I", data, 40) == (0xFFFFFFFF,)
    assert WavHeader.parse(data) == WavHeader(None)


def test_stdlib_reads_a_provisional_file_to_its_end() -> None:
    body = interleave([frame(7)] * 3, [None] * 3)
    with wave.open(io.BytesIO(bytes(WavHeader(None)) + body)) as wav:
        assert len(wav.readframes(1 << 30)) == len(body)


def patched(offset: int, fmt: str, value: object) -> bytes:
    data = bytearray(bytes(WavHeader(640)))
    struct.pack_into(fmt, data, offset, value)
    return bytes(data)


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (bytes(WavHeader(640))[:43], "truncated header: 43 bytes, need 44"),
        (b"", "truncated header: 0 bytes"),
        (patched(0, "4s", b"RIFX"), "RIFF id at offset 0 is b'RIFX'"),
        (patched(8, "4s", b"AVI "), "WAVE id at offset 8"),
        (patched(20, "<H", 3), "format (1 = PCM) at offset 20 is 3, expected 1"),
        (patched(22, "<H", 1), "channels at offset 22 is 1, expected 2"),
        (patched(24, "<I", 16000), "sample rate at offset 24 is 16000, expected 8000"),
        (patched(34, "<H", 8), "bits per sample at offset 34 is 8, expected 16"),
        (patched(36, "4s", b"LIST"), "data chunk id at offset 36 is b'LIST'"),
        (patched(4, "<I", 100), "RIFF size 100 at offset 4 does not match data size 640"),
        (patched(40, "<I", 641), "RIFF size 676 at offset 4 does not match data size 641"),
    ],
)
def test_parse_errors_say_what_and_where(data: bytes, message: str) -> None:
    with pytest.raises(WavFormatError, match=message.replace("(", r"\(").replace(")", r"\)")):
        WavHeader.parse(data)


def test_odd_data_size_is_rejected() -> None:
    data = bytearray(bytes(WavHeader(640)))
    struct.pack_into("<I", data, 4, 36 + 642)
    struct.pack_into("<I", data, 40, 642)
    with pytest.raises(WavFormatError, match="642 is not a whole number of 4-byte frames"):
        WavHeader.parse(bytes(data))
    assert issubclass(WavFormatError, ValueError)


def test_check_size() -> None:
    check_size(WavHeader(640), HEADER_SIZE + 640)
    with pytest.raises(
        WavFormatError, match="header says 684 bytes \\(640 of data\\), the file has 683"
    ):
        check_size(WavHeader(640), 683)
    with pytest.raises(WavFormatError, match="provisional"):
        check_size(WavHeader(None), 684)


@pytest.mark.parametrize(
    ("head", "file_size", "data_size"),
    [
        (bytes(WavHeader(None)), HEADER_SIZE + 3 * TICK_BYTES, 3 * TICK_BYTES),
        (bytes(WavHeader(None)), HEADER_SIZE + 3 * TICK_BYTES + 3, 3 * TICK_BYTES),  # cut
        (bytes(WavHeader(64)), HEADER_SIZE + 1000, 1000),  # stale sizes ignored
        (bytes(HEADER_SIZE), HEADER_SIZE + 10, 8),  # header never reached the disk
        (b"", 0, 0),  # created, nothing written
        (bytes(WavHeader(None))[:20], 20, 0),  # crash inside the header write
    ],
)
def test_repair_computes_sizes_from_the_file(head: bytes, file_size: int, data_size: int) -> None:
    fixed = repair(head, file_size)
    assert fixed.header == WavHeader(data_size)
    assert fixed.file_size == HEADER_SIZE + data_size


def test_repair_refuses_another_format() -> None:
    mono = bytearray(bytes(WavHeader(None)))
    struct.pack_into("<H", mono, 22, 1)
    with pytest.raises(WavFormatError, match="channels"):
        repair(bytes(mono), 10_000)


def test_interleave_aligns_channels_with_silence_for_missing_frames() -> None:
    short = np.full(100, 9, dtype=np.int16)
    long = np.full(200, 8, dtype=np.int16)
    data = interleave([frame(1), None, short, long], [None, frame(-2), frame(-3), None])
    stereo = np.frombuffer(data, dtype="<i2").reshape(4, 160, 2)
    assert (stereo[0, :, 0] == 1).all() and (stereo[0, :, 1] == 0).all()
    assert (stereo[1, :, 0] == 0).all() and (stereo[1, :, 1] == -2).all()
    assert (stereo[2, :100, 0] == 9).all() and (stereo[2, 100:, 0] == 0).all()
    assert (stereo[2, :, 1] == -3).all()
    assert (stereo[3, :, 0] == 8).all() and (stereo[3, :, 1] == 0).all()
    assert interleave([], []) == b""
    assert silence(2) == bytes(2 * TICK_BYTES)


def test_interleave_needs_as_many_frames_on_each_channel() -> None:
    with pytest.raises(ValueError, match="2 agent frames but 1 debtor frames"):
        interleave([None, None], [None])
