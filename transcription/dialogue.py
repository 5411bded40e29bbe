"""One dialogue from per-channel words: who said what, when, in call time.

A recogniser hears one segment of one channel at a time and times its words from
the start of the audio it was fed (:class:`HeardWord`). :func:`place` moves them to
call time (the offset of that audio in the recording) and labels the speaker;
:func:`merge` orders every speaker's words by start time (ties: channel order) and
groups consecutive words of one speaker into turns. A speaker's turn ends where the
other speaker's word starts, or after a pause of ``turn_gap`` seconds.

Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from enum import StrEnum


class Speaker(StrEnum):
    AGENT = "agent"  # channel 1 of a stereo recording
    DEBTOR = "debtor"  # channel 2
    MIXED = "mixed"  # the only channel of a mono recording

    @classmethod
    def of_channels(cls, channels: int) -> tuple[Speaker, ...]:
        if channels == 1:
            return (cls.MIXED,)
        if channels == 2:
            return (cls.AGENT, cls.DEBTOR)
        raise ValueError(f"a call recording has 1 or 2 channels, not {channels}")


_ORDER = {s: i for i, s in enumerate(Speaker)}


@dataclass(frozen=True, slots=True)
class HeardWord:
    """A word as a recogniser gives it: seconds from the start of the audio fed."""

    text: str
    start: float
    end: float
    confidence: float


@dataclass(frozen=True, slots=True)
class Word:
    speaker: Speaker
    text: str
    start: float  # seconds from the start of the call
    end: float
    confidence: float

    def as_json(self) -> dict[str, object]:
        return {"speaker": str(self.speaker), "text": self.text, "start": round(self.start, 3),
                "end": round(self.end, 3), "confidence": round(self.confidence, 3)}


@dataclass(frozen=True, slots=True)
class Turn:
    speaker: Speaker
    start: float
    end: float
    words: tuple[Word, ...]

    @property
    def text(self) -> str:
        return " ".join(w.text for w in self.words)

    def as_json(self) -> dict[str, object]:
        return {"speaker": str(self.speaker), "start": round(self.start, 3),
                "end": round(self.end, 3), "text": self.text}


def place(heard: Iterable[HeardWord], speaker: Speaker, offset: float) -> list[Word]:
    """Words heard in audio that starts ``offset`` seconds into the call."""
    return [Word(speaker, w.text, offset + w.start, offset + w.end, w.confidence)
            for w in heard]


def ordered(words: Iterable[Word]) -> list[Word]:
    return sorted(words, key=lambda w: (w.start, _ORDER[w.speaker], w.end))


def merge(words: Iterable[Word], turn_gap: float = 1.5) -> list[Turn]:
    """The dialogue: every word in time order, grouped in turns."""
    turns: list[list[Word]] = []
    for word in ordered(words):
        last = turns[-1][-1] if turns else None
        if last and last.speaker == word.speaker and word.start - last.end < turn_gap:
            turns[-1].append(word)
        else:
            turns.append([word])
    return [Turn(t[0].speaker, t[0].start, max(w.end for w in t), tuple(t)) for t in turns]


def transcript_text(turns: Sequence[Turn]) -> str:
    """The dialogue as lines of ``speaker: words``."""
    return "\n".join(f"{t.speaker}: {t.text}" for t in turns)
