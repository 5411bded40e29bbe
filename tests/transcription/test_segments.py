from __future__ import annotations

import numpy as np
import pytest

from tests.transcription.conftest import Call, load_call
from transcription.metrics import talk_metrics
from transcription.segments import Segment, VadConfig, find_segments, segments_of

SPEAKERS = ("agent", "debtor")


def test_segments_match_the_scripted_utterances(call: Call) -> None:
    found = find_segments(call.audio.channels, call.audio.rate, VadConfig())
    for speaker, segments in zip(SPEAKERS, found, strict=True):
        truth = call.spans(speaker)
        assert len(segments) == len(truth), (speaker, segments, truth)
        for seg, (start, end) in zip(segments, truth, strict=True):
            assert abs(seg.start - start) <= 0.05, (speaker, seg, start)
            assert abs(seg.end - end) <= 0.15, (speaker, seg, end)


def test_without_the_dominance_gate_crosstalk_is_counted_as_overtalk() -> None:
    call = load_call("ko_call_crosstalk")
    gateless = VadConfig(dominance_db=200.0)
    found = find_segments(call.audio.channels, call.audio.rate, gateless)
    spans = {s: [(g.start, g.end) for g in segs] for s, segs in zip(SPEAKERS, found, strict=True)}
    truth = {s: call.spans(s) for s in SPEAKERS}
    wrong = talk_metrics(spans, {}, call.duration).overtalk_ratio
    right = talk_metrics(truth, {}, call.duration).overtalk_ratio
    assert wrong > right + 0.1


def test_loud_noise_without_a_voice_is_silence() -> None:
    rng = np.random.Generator(np.random.PCG64(7))
    hiss = np.clip(rng.normal(0, 3000, 8000 * 5), -32768, 32767).astype(np.int16)
    assert find_segments([hiss], 8000, VadConfig()) == [[]]


def test_pauses_shorter_than_the_hangover_stay_inside_a_segment() -> None:
    config = VadConfig(frame_ms=20, hangover_ms=100, min_speech_ms=60)
    flags = np.array([0, 1, 1, 1, 0, 0, 0, 1, 1, 1, 0, 0, 0, 0, 0, 1, 1, 1, 1], dtype=np.bool_)
    assert segments_of(flags, config) == [Segment(0.02, 0.2), Segment(0.3, 0.38)]


def test_runs_shorter_than_min_speech_are_clicks() -> None:
    config = VadConfig(frame_ms=20, hangover_ms=100, min_speech_ms=60)
    flags = np.array([0, 1, 1, 0, 0, 0, 0, 0, 0, 1, 1, 1], dtype=np.bool_)
    assert segments_of(flags, config) == [Segment(0.18, 0.24)]


@pytest.mark.parametrize("bad", [{"frame_ms": 25}, {"vad_mode": 4}, {"hangover_ms": -1},
                                 {"floor_rise_db": 0.0}])
def test_invalid_settings_are_refused(bad: dict[str, int | float]) -> None:
    with pytest.raises(ValueError, match="invalid VAD settings"):
        VadConfig(**bad)  # type: ignore[arg-type]


def test_other_sample_rates_are_refused() -> None:
    with pytest.raises(ValueError, match="webrtcvad"):
        find_segments([np.zeros(11025, dtype=np.int16)], 11025, VadConfig())
