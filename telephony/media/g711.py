"""G.711 μ-law (PCMU, payload type 0) and A-law (PCMA, payload type 8).

Bit-exact with ITU-T G.711 as implemented by the classic Sun Microsystems ``g711.c``
(and so with CPython's ``audioop``): 16-bit linear PCM is truncated to 14 bits (μ-law)
or 13 bits (A-law) before companding. Both directions are table lookups built once at
import: a 256-entry int16 table decodes, a 65536-entry uint8 table indexed by the
int16 sample reinterpreted as uint16 encodes. Pure numpy, no IO.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]

_SEGMENT_ENDS_ULAW = np.array([0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF, 0x1FFF])
_SEGMENT_ENDS_ALAW = np.array([0x1F, 0x3F, 0x7F, 0xFF, 0x1FF, 0x3FF, 0x7FF, 0xFFF])
_BIAS = 0x84
_CLIP = 8159


def _all_samples() -> npt.NDArray[np.int32]:
    """Every int16 value, ordered by its uint16 bit pattern (the encode table's index)."""
    return np.arange(1 << 16, dtype=np.uint16).view(np.int16).astype(np.int32)


def _ulaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 2
    mask = np.where(pcm < 0, 0x7F, 0xFF)
    magnitude = np.minimum(np.abs(pcm), _CLIP) + (_BIAS >> 2)
    segment = np.searchsorted(_SEGMENT_ENDS_ULAW, magnitude)
    code = np.where(
        segment >= 8,
        0x7F,
        (np.minimum(segment, 7) << 4) | ((magnitude >> (segment + 1)) & 0x0F),
    )
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _ulaw_decode_table() -> npt.NDArray[np.int16]:
    code = ~np.arange(256, dtype=np.int32) & 0xFF
    magnitude = (((code & 0x0F) << 3) + _BIAS) << ((code & 0x70) >> 4)
    return np.where(code & 0x80, _BIAS - magnitude, magnitude - _BIAS).astype(np.int16)


def _alaw_encode_table() -> npt.NDArray[np.uint8]:
    pcm = _all_samples() >> 3
    mask = np.where(pcm >= 0, 0xD5, 0x55)
    magnitude = np.where(pcm >= 0, pcm, -pcm - 1)
    segment = np.searchsorted(_SEGMENT_ENDS_ALAW, magnitude)
    shift = np.maximum(segment, 1)
    code = np.where(
        segment >= 8,
        0x7F,
        (np.minimum(segment, 7) << 4) | ((magnitude >> shift) & 0x0F),
    )
    return ((code ^ mask) & 0xFF).astype(np.uint8)


def _alaw_decode_table() -> npt.NDArray[np.int16]:
    code = np.arange(256, dtype=np.int32) ^ 0x55
    segment = (code & 0x70) >> 4
    mantissa = (code & 0x0F) << 4
    magnitude = np.where(
        segment == 0, mantissa + 8, (mantissa + 0x108) << np.maximum(segment - 1, 0)
    )
    return np.where(code & 0x80, magnitude, -magnitude).astype(np.int16)


@dataclass(frozen=True, slots=True, eq=False)
class G711:
    """One companding law: its RTP identity and its two lookup tables."""

    name: str
    payload_type: int
    silence_code: int
    decode_table: npt.NDArray[np.int16]
    encode_table: npt.NDArray[np.uint8]

    def decode(self, data: bytes) -> Pcm:
        """Companded bytes to a new int16 array, one sample per byte."""
        return self.decode_table[np.frombuffer(data, dtype=np.uint8)]

    def encode(self, pcm: Pcm) -> bytes:
        """An int16 array (any shape, any strides) to companded bytes."""
        if pcm.dtype != np.int16:
            raise TypeError(f"G.711 encodes int16 samples, got {pcm.dtype}")
        return self.encode_table[pcm.view(np.uint16)].tobytes()

    def decode_pcm16(self, data: bytes) -> bytes:
        """Companded bytes to 16-bit little-endian linear PCM bytes."""
        return self.decode(data).astype("<i2", copy=False).tobytes()

    def encode_pcm16(self, data: bytes) -> bytes:
        """16-bit little-endian linear PCM bytes to companded bytes."""
        if len(data) % 2:
            raise ValueError(f"16-bit PCM needs an even byte count, got {len(data)}")
        return self.encode(np.frombuffer(data, dtype="<i2").astype(np.int16, copy=False))

    def silence(self, samples: int) -> bytes:
        """``samples`` bytes of digital silence (the code linear 0 encodes to)."""
        return bytes((self.silence_code,)) * samples


PCMU: Final = G711("PCMU", 0, 0xFF, _ulaw_decode_table(), _ulaw_encode_table())
PCMA: Final = G711("PCMA", 8, 0xD5, _alaw_decode_table(), _alaw_encode_table())
CODECS: Final[dict[int, G711]] = {PCMU.payload_type: PCMU, PCMA.payload_type: PCMA}

for _codec in CODECS.values():
    _codec.decode_table.flags.writeable = False
    _codec.encode_table.flags.writeable = False
