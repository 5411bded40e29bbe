from __future__ import annotations

import numpy as np
import pytest

from transcription.resample import interpolate, upsample


@pytest.mark.parametrize("hz", [300, 1000, 3000])
def test_upsampled_tone_is_the_same_tone_at_twice_the_rate(hz: int) -> None:
    x = (10000 * np.sin(2 * np.pi * hz * np.arange(800) / 8000)).astype(np.int16)
    expected = 10000 * np.sin(2 * np.pi * hz * np.arange(1600) / 16000)
    error = np.abs(upsample(x, 2)[64:-64] - expected[64:-64]).max()
    assert error < 0.01 * 10000 * (3 if hz == 3000 else 1)


def test_linear_interpolation_keeps_the_samples() -> None:
    x = np.array([0, 100, -100], dtype=np.int16)
    assert interpolate(x, 2)[::2].tolist() == [0, 100, -100]


def test_factor_one_is_the_input() -> None:
    x = np.arange(10, dtype=np.int16)
    assert upsample(x, 1) is x
