"""Sounds of the simulated phones as 8 kHz 16-bit PCM: pure numpy, no IO.

:func:`render` lays a plan's parts end to end, speech coming from whatever ``say``
gives for a sentence. :func:`babble` is the stand-in for speech when no synthesiser is
installed: one voiced burst per syllable (a harmonic buzz on a gliding pitch, shaped
by two formant bumps, an attack and a decay), a hiss before some of them like a
consonant, short gaps between syllables and longer ones at punctuation. It is the
same for the same text on every run, and about as long and as loud as the sentence
spoken, which is what voice activity detection and the demo's ears care about.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable

import numpy as np
import numpy.typing as npt

from telephony.media.g711 import Pcm
from telephony.simulated.behaviour import Part, Say, Silence

RATE = 8000
LEVEL = 0.3  # peak level of babble and tones, of full scale
_TOKENS = re.compile(r"[\u2e80-\u9fff]|[A-Za-z0-9]+|[，。？！、；：,.?!;:]")
_SENTENCE_ENDS = "。？！.?!"
Signal = npt.NDArray[np.float64]


def silence(seconds: float) -> Pcm:
    return np.zeros(round(seconds * RATE), dtype=np.int16)


def tone(hertz: float, seconds: float) -> Pcm:
    """A sine with 10 ms ramps (a voicemail beep)."""
    t = np.arange(round(seconds * RATE)) / RATE
    return _pcm(np.sin(2 * np.pi * hertz * t) * _ramps(len(t), round(0.01 * RATE)))


def render(parts: Iterable[Part], say: Callable[[str], Pcm]) -> Pcm:
    """The parts one after the other as one clip."""
    pieces = [_piece(part, say) for part in parts]
    return np.concatenate(pieces) if pieces else silence(0)


def _piece(part: Part, say: Callable[[str], Pcm]) -> Pcm:
    if isinstance(part, Say):
        return say(part.text)
    if isinstance(part, Silence):
        return silence(part.seconds)
    return tone(part.hertz, part.seconds)


def babble(text: str) -> Pcm:
    """Speech-shaped sound standing in for ``text`` (see the module docstring)."""
    seed = hashlib.blake2b(text.encode(), digest_size=8).digest()
    rng = np.random.default_rng(int.from_bytes(seed, "big"))
    pitch = rng.uniform(110, 210)  # this speaker's voice
    pieces: list[Signal] = [np.zeros(round(0.05 * RATE))]
    for token in _TOKENS.findall(text):
        if token in _SENTENCE_ENDS:
            pieces.append(np.zeros(round(rng.uniform(0.35, 0.5) * RATE)))
        elif not token.isalnum():
            pieces.append(np.zeros(round(rng.uniform(0.15, 0.25) * RATE)))
        else:
            for _ in range(1 if not token.isascii() else max(1, len(token) // 3)):
                pieces += [_syllable(rng, pitch), np.zeros(round(rng.uniform(0.02, 0.06) * RATE))]
    signal = np.concatenate(pieces)
    peak = float(np.max(np.abs(signal))) or 1.0
    return _pcm(signal / peak)


def _syllable(rng: np.random.Generator, pitch: float) -> Signal:
    """A hiss (sometimes) then a voiced vowel on a gliding pitch, with formants."""
    samples = round(rng.uniform(0.15, 0.24) * RATE)
    glide = pitch * np.linspace(rng.uniform(0.85, 1.15), rng.uniform(0.85, 1.15), samples)
    phase = 2 * np.pi * np.cumsum(glide) / RATE
    first, second = rng.uniform(300, 800), rng.uniform(900, 2200)
    vowel = np.zeros(samples)
    for k in range(1, int(3800 // pitch) + 1):
        frequency = k * pitch
        weight = np.exp(-(((frequency - first) / 200) ** 2)) + 0.6 * np.exp(
            -(((frequency - second) / 300) ** 2)
        )
        vowel += (weight + 0.03) * np.sin(k * phase)
    vowel *= _ramps(samples, round(0.03 * RATE)) * np.linspace(1.0, 0.6, samples)
    if rng.random() < 0.5:
        return vowel
    hiss = np.diff(rng.normal(0, 0.25, round(rng.uniform(0.03, 0.06) * RATE) + 1))
    return np.concatenate((hiss * _ramps(len(hiss), round(0.005 * RATE)), vowel))


def _ramps(length: int, ramp: int) -> Signal:
    """An envelope rising over ``ramp`` samples and falling over the last ``ramp``."""
    envelope = np.ones(length)
    ramp = min(ramp, length // 2)
    if ramp:
        rise = np.linspace(0.0, 1.0, ramp)
        envelope[:ramp], envelope[length - ramp :] = rise, rise[::-1]
    return envelope


def _pcm(signal: Signal) -> Pcm:
    scaled = np.clip(signal * LEVEL * 32767, -32768, 32767)
    return np.round(scaled).astype(np.int16)
