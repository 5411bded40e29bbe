"""Integer-ratio upsampling of 16-bit PCM (8 kHz telephone audio for 16 kHz models).

:func:`upsample` is a polyphase interpolator: the input is spread out by the factor
(zeros between samples) and low-passed at the input's Nyquist frequency by a
windowed-sinc FIR (Blackman window), computed one phase at a time so no zero is
ever multiplied. :func:`interpolate` is plain linear interpolation, kept for the
comparison in ``bench/asr_bench.py``. Pure numpy; no scipy.
"""

from __future__ import annotations

import functools

import numpy as np
import numpy.typing as npt

Pcm = npt.NDArray[np.int16]
Taps = npt.NDArray[np.float64]


@functools.cache
def lowpass(factor: int, taps_per_phase: int = 16) -> Taps:
    """The interpolation filter: cutoff at 1/factor of the output's Nyquist, gain factor."""
    n = factor * taps_per_phase + 1  # odd: a whole-sample delay
    t = np.arange(n) - (n - 1) / 2
    h = np.sinc(t / factor) * np.blackman(n)
    taps: Taps = h * (factor / h.sum())
    return taps


def upsample(pcm: Pcm, factor: int) -> Pcm:
    """``pcm`` at ``factor`` times the rate, same length in time."""
    if factor < 1:
        raise ValueError(f"upsampling factor must be 1 or more, not {factor}")
    if factor == 1 or not len(pcm):
        return pcm
    h = lowpass(factor)
    x = pcm.astype(np.float64)
    delay = (len(h) - 1) // 2
    out = np.zeros(len(pcm) * factor + len(h), dtype=np.float64)
    for phase in range(factor):
        y = np.convolve(x, h[phase::factor])
        out[phase:phase + len(y) * factor:factor] = y
    trimmed = out[delay:delay + len(pcm) * factor]
    return np.clip(np.round(trimmed), -32768, 32767).astype(np.int16)


def interpolate(pcm: Pcm, factor: int) -> Pcm:
    """Linear interpolation to ``factor`` times the rate (cheaper, blurs less than zeros)."""
    if factor == 1 or not len(pcm):
        return pcm
    at = np.arange(len(pcm) * factor) / factor
    return np.round(np.interp(at, np.arange(len(pcm)), pcm.astype(np.float64))).astype(np.int16)
