"""Known audio for the end-to-end call tests, and how to find it in what was heard.

:func:`speech` makes a clip with espeak-ng and sox (``-D``: no dither, so the same
text gives the same samples on every run), cut to whole 20 ms frames so that a peer
looping it sends an exactly periodic signal. sipp gets it headerless: sipp 3.6.1's
``rtp_stream`` sends a file's bytes as they are, a WAV header included (a click in
every loop that shifts the signal by the header's length). :func:`wav_samples` reads the WAVs the
peers are given and the ones baresip writes (μ-law or 16-bit, header sizes trusted
only when they fit: a dump still being written has none yet).

:func:`match` slides a stretch of recorded audio along a looping reference and gives
the best normalised cross-correlation: 1.0 for the same samples, near 0 for unrelated
audio. :func:`matches` does it per one-second window of a recording, skipping windows
that are silent in the recording.
"""

from __future__ import annotations

import asyncio
import struct
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from telephony.media.g711 import PCMU, Pcm
from telephony.media.sources import FRAME

RATE = 8000
Signal = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Clip:
    """One period of a looping signal and the files peers play it from."""

    pcm: Pcm  # the samples as decoded from the μ-law file (what a PCMU peer sends)
    ulaw: Path  # headerless 8 kHz μ-law, one period: for sipp's rtp_stream, which loops it
    pcm_wav: Path  # 8 kHz 16-bit WAV, ``repeat`` periods: for baresip's aufile


async def _run(*args: str) -> None:
    proc = await asyncio.create_subprocess_exec(
        *args, stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )  # fmt: skip
    _, err = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{args[0]} failed ({proc.returncode}): {err.decode()[-500:]}")


async def speech(
    directory: Path, name: str, text: str, *, voice: str = "en-us", repeat: int = 1
) -> Clip:
    """``text`` spoken by espeak-ng, 8 kHz mono, padded with silence to whole frames."""
    raw, one = directory / f"{name}-espeak.wav", directory / f"{name}-8k.wav"
    await _run("espeak-ng", "-v", voice, "-w", str(raw), text)
    await _run("sox", "-D", str(raw), "-r", str(RATE), "-c", "1", "-b", "16", str(one))
    samples = len(wav_samples(one))
    pad = (-samples) % FRAME + FRAME * 5  # and 100 ms of silence between repeats
    framed = directory / f"{name}-framed.wav"
    await _run("sox", "-D", str(one), str(framed), "pad", "0", f"{pad}s")
    ulaw, pcm = directory / f"{name}.ulaw", directory / f"{name}-pcm.wav"
    await _run("sox", "-D", str(framed), "-t", "ul", str(ulaw))
    effects = ["repeat", str(repeat - 1)] if repeat > 1 else []
    await _run("sox", "-D", "-t", "ul", "-r", str(RATE), "-c", "1", str(ulaw),
               "-e", "signed-integer", "-b", "16", str(pcm), *effects)  # fmt: skip
    return Clip(PCMU.decode(ulaw.read_bytes()), ulaw, pcm)


def wav_samples(path: Path) -> Pcm:
    """The mono samples of an 8 kHz μ-law or 16-bit PCM WAV as int16."""
    data = path.read_bytes()
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        raise ValueError(f"{path} is not a WAV file")
    position, encoding = 12, None
    while position + 8 <= len(data):
        kind, size = data[position : position + 4], struct.unpack_from("<I", data, position + 4)[0]
        body = position + 8
        if kind == b"fmt ":
            encoding, channels, rate = struct.unpack_from("<HHI", data, body)
            if channels != 1 or rate != RATE:
                raise ValueError(f"{path}: {channels} channels at {rate} Hz, not mono 8 kHz")
        elif kind == b"data":
            end = body + size if 0 < size <= len(data) - body else len(data)
            return _decode(data[body:end], encoding, path)
        position = body + size + size % 2
    raise ValueError(f"{path} has no data chunk")


def _decode(payload: bytes, encoding: int | None, path: Path) -> Pcm:
    if encoding == 7:  # WAVE_FORMAT_MULAW
        return PCMU.decode(payload)
    if encoding == 1:
        return np.frombuffer(payload[: len(payload) // 2 * 2], dtype="<i2").astype(np.int16)
    raise ValueError(f"{path}: WAV format {encoding} is neither μ-law nor 16-bit PCM")


def match(recorded: Pcm, reference: Pcm) -> tuple[float, int]:
    """The best normalised cross-correlation of ``recorded`` (no longer than one period)
    against the looping ``reference``, and the offset into the reference it is at."""
    window, period = recorded.astype(np.float64), reference.astype(np.float64)
    width = len(window)
    if not 0 < width <= len(period):
        raise ValueError(f"a window of {width} samples against a period of {len(period)}")
    size = len(period)
    products = np.fft.irfft(np.conj(np.fft.rfft(window, size)) * np.fft.rfft(period), size)
    energy = np.concatenate(([0.0], np.cumsum(np.concatenate((period, period[:width])) ** 2)))
    norms = np.sqrt(energy[width : width + size] - energy[:size]) * np.linalg.norm(window)
    scores = np.divide(products, norms, out=np.zeros(size), where=norms > 1e-9)
    best = int(np.argmax(scores))
    return float(scores[best]), best


def matches(recorded: Pcm, reference: Pcm, *, window: int = RATE) -> list[float]:
    """:func:`match` of each whole ``window`` of ``recorded`` that is not near-silent
    (an RMS under a tenth of the reference's)."""
    floor = 0.1 * _rms(reference)
    found = []
    for start in range(0, len(recorded) - window + 1, window):
        part = recorded[start : start + window]
        if _rms(part) >= floor:
            found.append(match(part, reference)[0])
    return found


def _rms(pcm: Pcm) -> float:
    return float(np.sqrt(np.mean(pcm.astype(np.float64) ** 2))) if len(pcm) else 0.0
