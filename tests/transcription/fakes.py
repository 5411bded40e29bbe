"""Hand-written recognisers for the queue and worker tests (the real ones are slow)."""

from __future__ import annotations

import os

from transcription.dialogue import HeardWord
from transcription.recognizer import ChannelStream


class _Stream:
    def __init__(self, owner: ScriptedRecognizer) -> None:
        self._owner = owner

    def segment(self, pcm: bytes) -> list[HeardWord]:
        self._owner.before_segment()
        return [HeardWord("word", 0.2, 0.5, 1.0)]


class ScriptedRecognizer:
    """Hears one word per segment."""

    engine = "scripted"
    model = "scripted-1"

    def before_segment(self) -> None:
        pass

    def stream(self, rate: int) -> ChannelStream:
        return _Stream(self)


class StuckRecognizer(ScriptedRecognizer):
    """Says on ``started`` (a pipe's write end) that it began, then hangs forever on
    ``hang`` (a pipe's read end nobody writes to): a worker stuck mid-job."""

    def __init__(self, started: int, hang: int) -> None:
        self._started = started
        self._hang = hang

    def before_segment(self) -> None:
        os.write(self._started, b"s")
        os.read(self._hang, 1)
