"""Talk metrics of one call from its speech segments and recognised words.

* talk time per speaker: the union of that speaker's segments;
* overtalk: time where the agent and the debtor both talk;
* silence: time where nobody talks; the longest silence is the longest such stretch
  (the quiet before the first word and after the last one included: an agent who
  leaves the debtor waiting at the start is what QA looks for);
* agent talk ratio: agent talk over the talk of both (0 when nobody talks);
* speech rate per speaker: recognised words per minute of that speaker's talk.

Ratios are over the call's duration. Pure: intervals in, numbers out.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

Span = tuple[float, float]


@dataclass(frozen=True, slots=True)
class SpeakerMetrics:
    talk: float  # seconds
    talk_ratio: float  # of the call
    words: int
    words_per_minute: float

    def as_json(self) -> dict[str, float | int]:
        return {"talk": round(self.talk, 3), "talk_ratio": round(self.talk_ratio, 4),
                "words": self.words, "words_per_minute": round(self.words_per_minute, 1)}


@dataclass(frozen=True, slots=True)
class TalkMetrics:
    duration: float
    speakers: Mapping[str, SpeakerMetrics]
    overtalk: float
    silence: float
    longest_silence: float
    agent_talk_ratio: float

    @property
    def overtalk_ratio(self) -> float:
        return self.overtalk / self.duration if self.duration else 0.0

    @property
    def silence_ratio(self) -> float:
        return self.silence / self.duration if self.duration else 0.0

    def as_json(self) -> dict[str, object]:
        return {
            "duration": round(self.duration, 3),
            "speakers": {name: m.as_json() for name, m in self.speakers.items()},
            "overtalk": round(self.overtalk, 3),
            "overtalk_ratio": round(self.overtalk_ratio, 4),
            "silence": round(self.silence, 3),
            "silence_ratio": round(self.silence_ratio, 4),
            "longest_silence": round(self.longest_silence, 3),
            "agent_talk_ratio": round(self.agent_talk_ratio, 4),
        }


def union(spans: Sequence[Span]) -> list[Span]:
    """Sorted, non-overlapping spans covering the same time."""
    merged: list[Span] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], end))
        else:
            merged.append((start, end))
    return merged


def total(spans: Sequence[Span]) -> float:
    return sum(end - start for start, end in union(spans))


def intersection(a: Sequence[Span], b: Sequence[Span]) -> list[Span]:
    out: list[Span] = []
    for a_start, a_end in union(a):
        for b_start, b_end in union(b):
            start, end = max(a_start, b_start), min(a_end, b_end)
            if start < end:
                out.append((start, end))
    return out


def gaps(spans: Sequence[Span], duration: float) -> list[Span]:
    """The quiet stretches of [0, duration] outside ``spans``."""
    out: list[Span] = []
    cursor = 0.0
    for start, end in union(spans):
        if start > cursor:
            out.append((cursor, start))
        cursor = max(cursor, end)
    if duration > cursor:
        out.append((cursor, duration))
    return out


def _speaker(spans: Sequence[Span], words: int, duration: float) -> SpeakerMetrics:
    talk = total(spans)
    return SpeakerMetrics(talk=talk, talk_ratio=talk / duration if duration else 0.0,
                          words=words, words_per_minute=words * 60.0 / talk if talk else 0.0)


def talk_metrics(
    spans: Mapping[str, Sequence[Span]], words: Mapping[str, int], duration: float,
    agent: str = "agent",
) -> TalkMetrics:
    """Metrics of a call whose speakers talked in ``spans`` and said ``words`` words."""
    speakers = {name: _speaker(s, words.get(name, 0), duration) for name, s in spans.items()}
    everyone = [span for s in spans.values() for span in s]
    quiet = gaps(everyone, duration)
    lists = list(spans.values())
    overtalk = total(intersection(lists[0], lists[1])) if len(lists) == 2 else 0.0
    talk_all = sum(m.talk for m in speakers.values())
    agent_talk = speakers[agent].talk if agent in speakers else 0.0
    return TalkMetrics(
        duration=duration, speakers=speakers, overtalk=overtalk,
        silence=sum(e - s for s, e in quiet),
        longest_silence=max((e - s for s, e in quiet), default=0.0),
        agent_talk_ratio=agent_talk / talk_all if talk_all else 0.0,
    )
