from __future__ import annotations

import warnings
from collections.abc import Callable
from types import ModuleType

import numpy as np
import pytest

from telephony.media.g711 import CODECS, G711, PCMA, PCMU

LAWS = [pytest.param(PCMU, id="PCMU"), pytest.param(PCMA, id="PCMA")]
ALL_SAMPLES = np.arange(-32768, 32768, dtype=np.int16)
ALL_CODES = bytes(range(256))


def _audioop() -> ModuleType | None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        try:
            import audioop
        except ImportError:  # removed in Python 3.13
            return None
    return audioop


@pytest.mark.parametrize(
    ("codec", "sample", "code"),
    [
        (PCMU, 0, 0xFF),
        (PCMU, -1, 0x7E),
        (PCMU, 32767, 0x80),
        (PCMU, -32768, 0x00),
        (PCMU, 1000, 0xCE),
        (PCMA, 0, 0xD5),
        (PCMA, -1, 0x55),
        (PCMA, 32767, 0xAA),
        (PCMA, -32768, 0x2A),
        (PCMA, 1000, 0xFA),
    ],
)
def test_known_encodings(codec: G711, sample: int, code: int) -> None:
    assert codec.encode(np.array([sample], dtype=np.int16)) == bytes([code])


@pytest.mark.parametrize(
    ("codec", "code", "sample"),
    [
        (PCMU, 0xFF, 0),
        (PCMU, 0x7F, 0),
        (PCMU, 0x80, 32124),
        (PCMU, 0x00, -32124),
        (PCMA, 0xD5, 8),
        (PCMA, 0x55, -8),
        (PCMA, 0xAA, 32256),
        (PCMA, 0x2A, -32256),
    ],
)
def test_known_decodings(codec: G711, code: int, sample: int) -> None:
    assert codec.decode(bytes([code])).tolist() == [sample]


@pytest.mark.parametrize("codec", LAWS)
def test_every_code_survives_a_round_trip(codec: G711) -> None:
    decoded = codec.decode(ALL_CODES)
    assert np.array_equal(codec.decode(codec.encode(decoded)), decoded)


@pytest.mark.parametrize("codec", LAWS)
def test_encoding_is_monotonic_in_the_decoded_value(codec: G711) -> None:
    decoded = codec.decode(codec.encode(ALL_SAMPLES)).astype(np.int32)
    assert np.all(np.diff(decoded) >= 0)
    assert np.max(np.abs(decoded - ALL_SAMPLES)) <= 1024  # top segment step is 2048


@pytest.mark.parametrize(
    ("codec", "encode_name", "decode_name"),
    [
        pytest.param(PCMU, "lin2ulaw", "ulaw2lin", id="PCMU"),
        pytest.param(PCMA, "lin2alaw", "alaw2lin", id="PCMA"),
    ],
)
def test_matches_audioop_for_every_input(codec: G711, encode_name: str, decode_name: str) -> None:
    audioop = _audioop()
    if audioop is None:
        pytest.skip("audioop is gone (Python 3.13+)")
    encode: Callable[[bytes, int], bytes] = getattr(audioop, encode_name)
    decode: Callable[[bytes, int], bytes] = getattr(audioop, decode_name)
    pcm16 = ALL_SAMPLES.astype("<i2").tobytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        assert codec.encode_pcm16(pcm16) == encode(pcm16, 2)
        assert codec.decode_pcm16(ALL_CODES) == decode(ALL_CODES, 2)


@pytest.mark.parametrize("codec", LAWS)
def test_pcm16_bytes_match_the_array_interface(codec: G711) -> None:
    frame = (np.sin(np.arange(160) * 2 * np.pi / 8) * 12000).astype(np.int16)
    encoded = codec.encode(frame)
    assert codec.encode_pcm16(frame.astype("<i2").tobytes()) == encoded
    assert codec.decode_pcm16(encoded) == codec.decode(encoded).astype("<i2").tobytes()
    assert len(encoded) == 160


def test_encode_accepts_strided_views() -> None:
    stereo = np.array([[0, 1000], [-1, 32767]], dtype=np.int16)
    assert PCMU.encode(stereo[:, 1]) == bytes([0xCE, 0x80])


def test_encode_rejects_other_dtypes() -> None:
    with pytest.raises(TypeError, match="int16"):
        PCMU.encode(np.zeros(4, dtype=np.float32))


def test_odd_pcm16_byte_count_is_rejected() -> None:
    with pytest.raises(ValueError, match="even byte count, got 3"):
        PCMA.encode_pcm16(b"\x00\x01\x02")


@pytest.mark.parametrize("codec", LAWS)
def test_silence_decodes_to_near_zero(codec: G711) -> None:
    silence = codec.silence(160)
    assert len(silence) == 160
    assert np.max(np.abs(codec.decode(silence))) <= 8


def test_codecs_by_payload_type() -> None:
    assert CODECS == {0: PCMU, 8: PCMA}
    assert (PCMU.name, PCMA.name) == ("PCMU", "PCMA")


def test_tables_are_read_only() -> None:
    with pytest.raises(ValueError, match="read-only"):
        PCMU.decode_table[0] = 0
