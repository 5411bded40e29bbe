"""The WAV rebuilt from samples: the recorder's header, and where any byte range of the
rebuilt file comes from (pure)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from recording.rebuild import frames_of, header_for, is_canonical, locate, wav_size
from recording.wavfile import HEADER_SIZE, WavHeader, repair


def rebuilt(frames: int) -> bytes:
    samples = (np.arange(frames * 2) % 65536 - 32768).astype("<i2")
    return header_for(frames) + samples.tobytes()


def read(data: bytes, frames: int, offset: int, size: int) -> bytes:
    """What a reader over the samples returns, following :func:`locate`."""
    where = locate(offset, size, frames)
    start = HEADER_SIZE + where.first_frame * 4
    decoded = data[start : start + where.frames * 4]
    return where.header + decoded[where.skip : where.skip + where.data_length]


@pytest.mark.parametrize(("offset", "size"), [
    (0, 44), (0, 45), (43, 2), (44, 4), (45, 2), (46, 5), (47, 1), (0, 10_000),
    (120, 0), (123, 7), (4043, 10), (4044, 1), (5000, 3),
])
def test_every_range_is_the_header_then_the_right_frames(offset: int, size: int) -> None:
    data = rebuilt(1000)
    where = locate(offset, size, 1000)
    assert read(data, 1000, offset, size) == data[offset : offset + size]
    assert where.length == len(data[offset : offset + size])


@given(st.integers(0, 300), st.integers(0, 2000), st.integers(0, 2000))
def test_any_range_of_any_length(frames: int, offset: int, size: int) -> None:
    data = rebuilt(frames)
    assert read(data, frames, offset, size) == data[offset : offset + size]


def test_the_header_is_the_recorders_and_a_repaired_files() -> None:
    assert header_for(250) == bytes(WavHeader(1000)) == bytes(repair(b"", 1044).header)
    assert wav_size(250) == 1044 and frames_of(1044) == 250
    assert is_canonical(header_for(250), 1044)
    assert not is_canonical(header_for(250), 1048)  # the sizes in it are for another file
    assert not is_canonical(bytes(WavHeader(None)), 1044)  # provisional
    assert not is_canonical(header_for(250), 1045)  # not whole frames
    with pytest.raises(ValueError):
        locate(-1, 10, 5)
