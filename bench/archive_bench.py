"""Archive bench: how much FLAC saves on call recordings, and how fast it converts.

Builds stereo 8 kHz 16-bit recordings of ``--minutes`` (default 5) each, writes them
as the recorder does (canonical header, then the samples) and archives each one with
the real code path, :func:`recording.flac.encode` (encode, fsync, decode again and
compare every sample byte, hash the FLAC), then proves it as ``callcase recordings
verify`` does, :func:`recording.flac.rebuild_hashes` (decode, rebuild the WAV, hash).

The signals:

* ``speech``: a collection call, two talkers taking turns (espeak-ng, two voices,
  resampled to 8 kHz by sox without dither), 0.4-2.5 s pauses, each side silent while
  the other talks, through G.711 μ-law both ways as the recorder hears it off PCMU;
* ``speech + line noise``: the same with Gaussian noise of RMS 30 (about -61 dBFS)
  under both channels before μ-law, closer to a real line than digital silence;
* ``silence``: digital zeros; ``line noise``: the noise alone, μ-law;
* ``full-scale noise``: uniform random samples, the worst case (the WAV is kept).

Prints a markdown table: bytes per recorded hour as WAV and FLAC, the FLAC's share,
and speed as audio seconds per wall second (one thread) for archiving and proving.

    .venv/bin/python bench/archive_bench.py [--minutes 5]
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from recording import flac, rebuild
from recording.wavfile import SAMPLE_RATE
from telephony.media.g711 import PCMU

Pcm = npt.NDArray[np.int16]

AGENT = [
    "Good morning, this is Anna calling from the card centre about your account.",
    "I can see a balance of twelve thousand yuan that is forty five days past due.",
    "Could you tell me when you will be able to make a payment?",
    "If you pay before the end of the month, no further fees will be charged.",
    "I will send you a text message with the repayment details right away.",
    "Is this still the best number to reach you on, in the evenings?",
    "Thank you for your time. Let me confirm the amount and the date once more.",
]
DEBTOR = [
    "Yes, speaking. Who is this please?",
    "I lost my job in September and I have not been able to pay since then.",
    "I think I can pay two thousand next Friday, and the rest in December.",
    "Okay, that sounds fair. Please send the details to my phone.",
    "Yes, evenings after seven are fine, or weekends.",
    "No, I do not dispute the amount, I just need a little more time.",
    "Thank you, goodbye.",
]


def spoken(directory: Path, name: str, text: str, voice: str) -> Pcm:
    raw, resampled = directory / f"{name}-raw.wav", directory / f"{name}.wav"
    subprocess.run(["espeak-ng", "-v", voice, "-s", "150", "-w", str(raw), text], check=True)
    subprocess.run(["sox", "-D", str(raw), "-r", str(SAMPLE_RATE), "-c", "1", "-b", "16",
                    str(resampled)], check=True)
    with wave.open(str(resampled)) as file:
        return np.frombuffer(file.readframes(file.getnframes()), dtype="<i2")


def dialogue(directory: Path, frames: int) -> tuple[npt.NDArray[np.float64], ...]:
    """Agent and debtor channels of ``frames`` samples: turns, pauses, the other silent."""
    turns = [(0, spoken(directory, f"a{i}", text, "en-us")) for i, text in enumerate(AGENT)]
    turns += [(1, spoken(directory, f"d{i}", text, "en-gb+m3"))
              for i, text in enumerate(DEBTOR)]
    turns = [t for pair in zip(turns[:7], turns[7:], strict=True) for t in pair]
    rng = random.Random(7)
    channels = np.zeros((2, frames))
    at, k = 0, 0
    while at < frames:
        side, pcm = turns[k % len(turns)]
        end = min(frames, at + len(pcm))
        channels[side, at:end] = pcm[: end - at]
        at = end + int(SAMPLE_RATE * rng.uniform(0.4, 2.5))
        k += 1
    return channels[0], channels[1]


def through_ulaw(channel: npt.NDArray[np.float64]) -> Pcm:
    pcm = np.clip(np.round(channel), -32768, 32767).astype(np.int16)
    return PCMU.decode(PCMU.encode(pcm))


def signals(directory: Path, frames: int) -> dict[str, Pcm]:
    agent, debtor = dialogue(directory, frames)
    noise = np.random.default_rng(1).normal(0, 30, (2, frames))
    full = np.random.default_rng(3).integers(-32768, 32768, (frames, 2)).astype(np.int16)
    return {
        "speech": np.stack([through_ulaw(agent), through_ulaw(debtor)], 1),
        "speech + line noise": np.stack(
            [through_ulaw(agent + noise[0]), through_ulaw(debtor + noise[1])], 1),
        "silence": np.zeros((frames, 2), dtype=np.int16),
        "line noise": np.stack([through_ulaw(noise[0]), through_ulaw(noise[1])], 1),
        "full-scale noise": full,
    }


def measure(directory: Path, name: str, samples: Pcm) -> str:
    wav = directory / f"{name.replace(' ', '_')}.wav"
    wav.write_bytes(rebuild.header_for(len(samples)) + samples.astype("<i2").tobytes())
    part = wav.with_suffix(".flac")
    started = time.perf_counter()
    encoded = flac.encode(wav, part)
    archiving = time.perf_counter() - started
    started = time.perf_counter()
    rebuilt = flac.rebuild_hashes(part)
    proving = time.perf_counter() - started
    assert rebuilt.wav_sha256 == encoded.wav_sha256
    seconds = len(samples) / SAMPLE_RATE
    per_hour = 3600 / seconds
    wav_size = wav.stat().st_size
    return (f"| {name} | {wav_size * per_hour / 1e6:.1f} MB | "
            f"{encoded.flac_size * per_hour / 1e6:.1f} MB | "
            f"{100 * encoded.flac_size / wav_size:.1f}% | {seconds / archiving:.0f}x | "
            f"{seconds / proving:.0f}x |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    args = parser.parse_args()
    frames = int(args.minutes * 60 * SAMPLE_RATE)
    print(f"{args.minutes:g} min per signal, {flac.ENCODER}, level {flac.COMPRESSION_LEVEL}\n")
    print("| signal | WAV per hour | FLAC per hour | FLAC/WAV | archive (encode + prove)"
          " | verify (decode + hash) |")
    print("|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        directory = Path(tmp)
        for name, samples in signals(directory, frames).items():
            print(measure(directory, name, samples), flush=True)


if __name__ == "__main__":
    main()
