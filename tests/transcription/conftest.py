"""Fixtures of the transcription tests: the committed calls with their truth, and the
real recognisers, each loaded once per test run."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import pytest

from transcription import recognizer
from transcription.pipeline import Audio, Transcript, read_wav, transcribe

DATA = Path(__file__).resolve().parents[1] / "data" / "transcription"


@dataclass(frozen=True, slots=True)
class Utterance:
    speaker: str
    start: float
    end: float
    text: str


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    audio: Audio
    duration: float
    utterances: tuple[Utterance, ...]

    @property
    def path(self) -> Path:
        return DATA / f"{self.name}.wav"

    def spans(self, speaker: str) -> list[tuple[float, float]]:
        return [(u.start, u.end) for u in self.utterances if u.speaker == speaker]


def load_call(name: str) -> Call:
    truth = json.loads((DATA / f"{name}.json").read_text())
    return Call(name, read_wav(DATA / f"{name}.wav"), truth["duration"],
                tuple(Utterance(**u) for u in truth["utterances"]))


@pytest.fixture(scope="session", params=["ko_call", "ko_call_crosstalk", "en_call"])
def call(request: pytest.FixtureRequest) -> Call:
    return load_call(str(request.param))


@pytest.fixture(scope="session")
def vosk(tmp_path_factory: pytest.TempPathFactory) -> recognizer.Recognizer:
    environ = {k: v for k, v in os.environ.items() if k != "CALLCASE_VOSK_MODEL"}
    return recognizer.load("vosk", tmp_path_factory.mktemp("vosk"), environ)


@pytest.fixture(scope="session")
def sphinx(tmp_path_factory: pytest.TempPathFactory) -> recognizer.Recognizer:
    return recognizer.load("pocketsphinx", tmp_path_factory.mktemp("sphinx"), {})


@pytest.fixture(scope="session")
def korean(vosk: recognizer.Recognizer) -> tuple[Call, Transcript]:
    call = load_call("ko_call")
    return call, transcribe(call.audio, vosk)


@pytest.fixture(scope="session")
def english(sphinx: recognizer.Recognizer) -> tuple[Call, Transcript]:
    call = load_call("en_call")
    return call, transcribe(call.audio, sphinx)


@pytest.fixture(scope="session")
def flagged_call(sphinx: recognizer.Recognizer) -> tuple[Call, Transcript]:
    """The English call with a trigger phrase for each content flag."""
    call = load_call("en_flagged")
    return call, transcribe(call.audio, sphinx)


@pytest.fixture(scope="session")
def clean_call(sphinx: recognizer.Recognizer) -> tuple[Call, Transcript]:
    call = load_call("en_clean")
    return call, transcribe(call.audio, sphinx)
