"""A recording in, a transcript out: the one pipeline the worker and the CLI share.

1. read the WAV (mono, or stereo: channel 1 the agent, channel 2 the debtor; 16-bit
   at 8 or 16 kHz);
2. find each channel's speech segments (:mod:`transcription.segments`);
3. feed each channel's segments, with ``pad`` seconds of audio either side so the
   recogniser hears the word edges, to one recogniser stream per channel;
4. move the words to call time, merge them into one dialogue
   (:mod:`transcription.dialogue`), mask card and ID numbers
   (:mod:`transcription.redact`) and compute the talk metrics
   (:mod:`transcription.metrics`) from the segments and the word counts.

Only silence is skipped: audio outside the (padded) segments is never fed.
"""

from __future__ import annotations

import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from transcription.dialogue import Speaker, Turn, Word, merge, ordered, place, transcript_text
from transcription.metrics import TalkMetrics, talk_metrics
from transcription.recognizer import Recognizer
from transcription.redact import Redaction, redact
from transcription.segments import Pcm, Segment, VadConfig, find_segments


@dataclass(frozen=True, slots=True)
class Audio:
    rate: int
    channels: tuple[Pcm, ...]

    @property
    def duration(self) -> float:
        return len(self.channels[0]) / self.rate


@dataclass(frozen=True, slots=True)
class Transcript:
    engine: str
    model: str
    duration: float
    segments: dict[Speaker, list[Segment]]
    words: list[Word]  # redacted, in time order
    dialogue: list[Turn]
    metrics: TalkMetrics
    redactions: list[Redaction]

    @property
    def text(self) -> str:
        return transcript_text(self.dialogue)

    def as_json(self) -> dict[str, object]:
        return {
            "engine": self.engine, "model": self.model, "duration": round(self.duration, 3),
            "text": self.text,
            "segments": {str(s): [[round(g.start, 3), round(g.end, 3)] for g in segs]
                         for s, segs in self.segments.items()},
            "words": [w.as_json() for w in self.words],
            "dialogue": [t.as_json() for t in self.dialogue],
            "metrics": self.metrics.as_json(),
            "redactions": [r.as_json() for r in self.redactions],
        }


def read_wav(path: Path) -> Audio:
    """A 16-bit PCM WAV's channels as int16 arrays."""
    with wave.open(str(path), "rb") as w:
        if w.getsampwidth() != 2 or w.getcomptype() != "NONE":
            raise ValueError(f"{path}: not 16-bit PCM")
        channels, rate = w.getnchannels(), w.getframerate()
        frames = np.frombuffer(w.readframes(w.getnframes()), dtype="<i2")
    Speaker.of_channels(channels)
    if rate not in (8000, 16000):
        raise ValueError(f"{path}: {rate} Hz; recordings are 8 or 16 kHz")
    split = frames.reshape(-1, channels).T.astype(np.int16)
    return Audio(rate, tuple(np.ascontiguousarray(c) for c in split))


def channel_words(
    recognizer: Recognizer, audio: Audio, speaker: Speaker, pcm: Pcm,
    segments: list[Segment], pad: float,
) -> list[Word]:
    stream = recognizer.stream(audio.rate)
    words: list[Word] = []
    for seg in segments:
        first = max(0, round((seg.start - pad) * audio.rate))
        last = min(len(pcm), round((seg.end + pad) * audio.rate))
        heard = stream.segment(pcm[first:last].tobytes())
        words.extend(place(heard, speaker, first / audio.rate))
    return words


def transcribe(
    audio: Audio, recognizer: Recognizer, vad: VadConfig | None = None, pad: float = 0.2,
) -> Transcript:
    config = vad or VadConfig()
    speakers = Speaker.of_channels(len(audio.channels))
    found = find_segments(audio.channels, audio.rate, config)
    segments = dict(zip(speakers, found, strict=True))
    heard = [w for speaker, pcm in zip(speakers, audio.channels, strict=True)
             for w in channel_words(recognizer, audio, speaker, pcm, segments[speaker], pad)]
    words, redactions = redact(ordered(heard))
    spans = {str(s): [(g.start, g.end) for g in segs] for s, segs in segments.items()}
    counts = {str(s): sum(1 for w in heard if w.speaker == s) for s in speakers}
    return Transcript(
        engine=recognizer.engine, model=recognizer.model, duration=audio.duration,
        segments=segments, words=words, dialogue=merge(words),
        metrics=talk_metrics(spans, counts, audio.duration), redactions=redactions,
    )


def transcribe_file(path: Path, recognizer: Recognizer, vad: VadConfig | None = None) -> Transcript:
    return transcribe(read_wav(path), recognizer, vad)
