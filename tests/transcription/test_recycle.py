"""How long a worker keeps a Kaldi recogniser warm (``CALLCASE_ASR_RECYCLE_S``,
``--recycle-s``): the setting, which recogniser each stream decodes with (a fake
recogniser that times words from its creation, as Vosk does), and the same words
heard either way with the real Vosk model."""

from __future__ import annotations

import json
import math
from concurrent.futures import ThreadPoolExecutor

import pytest

from api.cli import build_parser
from api.cli_transcribe import recycle_s
from api.settings import Settings, SettingsError
from tests.transcription.conftest import load_call
from transcription.pipeline import Transcript, transcribe
from transcription.recognizer import KaldiDecoder, KaldiStreams, Recognizer, VoskRecognizer

RATE = 8000


@pytest.mark.parametrize(("raw", "expected"), [
    (None, 600), ("", 600), ("0", 0), ("120", 120), (" 3600 ", 3600), ("86400", 86400),
])
def test_the_setting_is_read(raw: str | None, expected: int) -> None:
    environ = {} if raw is None else {"CALLCASE_ASR_RECYCLE_S": raw}
    assert Settings.from_env(environ).transcription.recycle_s == expected


@pytest.mark.parametrize("raw", ["-1", "abc", "1.5", "86401", "1e3", "６0", "600s"])
def test_a_bad_setting_is_rejected_with_the_reason(raw: str) -> None:
    with pytest.raises(SettingsError) as caught:
        Settings.from_env({"CALLCASE_ASR_RECYCLE_S": raw, "CALLCASE_HTTP_PORT": "eighty"})
    recycle = [p for p in caught.value.problems if p.startswith("CALLCASE_ASR_RECYCLE_S")]
    assert len(caught.value.problems) == 2  # reported with the other bad variables
    assert recycle == [f"CALLCASE_ASR_RECYCLE_S={raw!r}: must be whole seconds of audio "
                       "from 0 (a new recogniser for every call) to 86400"]


@pytest.mark.parametrize(("argv", "environ", "expected"), [
    (["transcribe-worker"], {}, 600),
    (["transcribe-worker"], {"CALLCASE_ASR_RECYCLE_S": "0"}, 0),
    (["transcribe-worker", "--recycle-s", "0"], {}, 0),
    (["transcribe-worker", "--recycle-s", "120"], {"CALLCASE_ASR_RECYCLE_S": "0"}, 120),
    (["serve", "transcribe-worker"], {"CALLCASE_ASR_RECYCLE_S": "30"}, 30),
])
def test_the_option_wins_over_the_setting(argv: list[str], environ: dict[str, str],
                                          expected: int) -> None:
    args = build_parser().parse_args(argv)
    assert recycle_s(args, Settings.from_env(environ)) == expected


@pytest.mark.parametrize("bad", ["-5", "ten", "100000"])
def test_a_bad_option_is_refused(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        build_parser().parse_args(["transcribe-worker", "--recycle-s", bad])
    assert "--recycle-s: must be whole seconds of audio" in capsys.readouterr().err


class FakeDecoder:
    """Hears one word per segment, from 0.1 s after its start to 0.1 s before its end,
    timed from this decoder's creation as Vosk does."""

    def __init__(self, rate: int) -> None:
        self.rate, self.fed, self.segments = rate, 0.0, 0
        self._last = (0.0, 0.0)

    def AcceptWaveform(self, data: bytes) -> object:
        seconds = len(data) / 2 / self.rate
        self._last = (self.fed, seconds)
        self.fed += seconds
        self.segments += 1
        return True

    def FinalResult(self) -> str:
        start, seconds = self._last
        word = {"word": f"w{self.segments}", "start": start + 0.1,
                "end": start + seconds - 0.1, "conf": 1.0}
        return json.dumps({"result": [word], "text": word["word"]})


class Maker:
    def __init__(self) -> None:
        self.made: list[FakeDecoder] = []

    def __call__(self, rate: int) -> KaldiDecoder:
        self.made.append(FakeDecoder(rate))
        return self.made[-1]


def pcm(seconds: float, rate: int = RATE) -> bytes:
    return bytes(2 * round(seconds * rate))


def test_with_0_every_stream_gets_a_new_recogniser() -> None:
    maker = Maker()
    streams = KaldiStreams(maker, 0)
    agent, debtor = streams.stream(RATE), streams.stream(RATE)
    for _ in range(3):
        agent.segment(pcm(2.0))
        debtor.segment(pcm(1.0))
    assert [d.segments for d in maker.made] == [3, 3]
    assert streams.stream(RATE).decoder is not agent.decoder  # the next call: another one
    assert len(maker.made) == 3


def test_with_0_a_long_call_keeps_its_recogniser_to_the_end() -> None:
    maker = Maker()
    stream = KaldiStreams(maker, 0).stream(RATE)
    for _ in range(40):
        stream.segment(pcm(30.0))
    assert [d.segments for d in maker.made] == [40]


def test_a_warm_recogniser_serves_every_stream_of_its_thread_and_rate() -> None:
    maker = Maker()
    streams = KaldiStreams(maker, 600)
    first, second = streams.stream(RATE), streams.stream(RATE)
    wide = streams.stream(16000)
    with ThreadPoolExecutor(1) as pool:
        other_thread = pool.submit(streams.stream, RATE).result()
    assert first.decoder is second.decoder
    assert wide.decoder is not first.decoder and other_thread.decoder is not first.decoder
    assert [d.rate for d in maker.made] == [RATE, 16000, RATE]


def test_a_warm_recogniser_is_replaced_once_it_has_heard_recycle_s() -> None:
    maker = Maker()
    stream = KaldiStreams(maker, 10).stream(RATE)
    for _ in range(7):
        stream.segment(pcm(4.0))  # replaced before the 4th (12 s heard) and the 7th
    assert [d.segments for d in maker.made] == [3, 3, 1]


@pytest.mark.parametrize("recycle", [0, 5, 600])
def test_word_times_count_from_the_segment_start_whatever_the_recogniser(
    recycle: float,
) -> None:
    stream = KaldiStreams(Maker(), recycle).stream(RATE)
    for seconds in (2.0, 3.5, 1.0, 4.0, 0.5):
        [word] = stream.segment(pcm(seconds))
        assert (word.start, word.end) == pytest.approx((0.1, seconds - 0.1))


@pytest.mark.parametrize("bad", [-1.0, math.inf, math.nan])
def test_a_bad_recycle_is_refused(bad: float) -> None:
    with pytest.raises(ValueError, match="0 or more seconds"):
        KaldiStreams(Maker(), bad)


def _json(transcript: Transcript) -> str:
    return json.dumps(transcript.as_json(), ensure_ascii=False)


@pytest.fixture(scope="module")
def warm(vosk: Recognizer) -> dict[str, str]:
    """Each committed call's transcript with the recogniser kept warm (the default)."""
    assert isinstance(vosk, VoskRecognizer) and vosk.recycle_s == 600
    return {}


@pytest.mark.timeout(600)  # a hang guard: 10-20 s of CPU, far more wall on a loaded machine
@pytest.mark.parametrize(("name", "recycle"), [
    ("ko_call", 0), ("ko_call", 5), ("ko_call_crosstalk", 0),
])
def test_the_same_words_are_heard_with_a_warm_or_a_new_recogniser(
    vosk: Recognizer, warm: dict[str, str], name: str, recycle: int
) -> None:
    """The Vosk model on a committed call (about 17 s of padded speech fed): a new
    recogniser per call (0), or one replaced every 5 s of audio (three times within the
    call), hears what the warm one (600) hears, word times included. Replaced within a
    call, the same words may come with confidences a few thousandths apart and a time
    a millisecond apart (seen on one VM of two: Kaldi's lattice scores over a longer
    stream, and the offset of the seconds fed before, in floating point); the rest of
    the transcript is the same."""
    assert isinstance(vosk, VoskRecognizer)
    audio = load_call(name).audio
    if name not in warm:
        warm[name] = _json(transcribe(audio, vosk))
    expected = json.loads(warm[name])
    assert len(expected["words"]) >= 10
    got = json.loads(_json(transcribe(audio, vosk.recycling(recycle))))
    assert [w["text"] for w in got["words"]] == [w["text"] for w in expected["words"]]
    for mine, theirs in zip(got["words"], expected["words"], strict=True):
        assert mine["speaker"] == theirs["speaker"]
        assert (mine["start"], mine["end"]) == pytest.approx(
            (theirs["start"], theirs["end"]), abs=0.002)
        assert mine["confidence"] == pytest.approx(theirs["confidence"], abs=0.01)
    rest = {key for key in expected if key != "words"}
    assert {key: got[key] for key in rest} == {key: expected[key] for key in rest}
