from __future__ import annotations

import pytest

from tests.transcription.conftest import Call
from transcription.metrics import gaps, intersection, talk_metrics, union
from transcription.segments import VadConfig, find_segments


def test_union_joins_overlapping_spans() -> None:
    assert union([(3.0, 4.0), (0.0, 1.0), (0.5, 2.0)]) == [(0.0, 2.0), (3.0, 4.0)]


def test_intersection_and_gaps() -> None:
    assert intersection([(0.0, 2.0), (5.0, 6.0)], [(1.5, 5.5)]) == [(1.5, 2.0), (5.0, 5.5)]
    assert gaps([(1.0, 2.0), (4.0, 5.0)], 6.0) == [(0.0, 1.0), (2.0, 4.0), (5.0, 6.0)]


def test_metrics_of_a_scripted_call() -> None:
    spans = {"agent": [(0.0, 4.0), (6.0, 8.0)], "debtor": [(3.0, 5.0)]}
    m = talk_metrics(spans, {"agent": 12, "debtor": 3}, duration=10.0)
    assert m.speakers["agent"].talk == 6.0
    assert m.speakers["agent"].words_per_minute == pytest.approx(120.0)
    assert m.overtalk == 1.0
    assert m.silence == pytest.approx(3.0)  # 5-6 and 8-10
    assert m.longest_silence == pytest.approx(2.0)
    assert m.agent_talk_ratio == pytest.approx(0.75)


def test_a_silent_call_has_no_ratios_to_divide_by_zero() -> None:
    m = talk_metrics({"agent": [], "debtor": []}, {}, duration=0.0)
    assert (m.overtalk_ratio, m.silence_ratio, m.agent_talk_ratio) == (0.0, 0.0, 0.0)


def test_measured_metrics_within_three_points_of_truth(call: Call) -> None:
    found = find_segments(call.audio.channels, call.audio.rate, VadConfig())
    measured = talk_metrics({"agent": [(s.start, s.end) for s in found[0]],
                             "debtor": [(s.start, s.end) for s in found[1]]}, {}, call.duration)
    truth = talk_metrics({"agent": call.spans("agent"), "debtor": call.spans("debtor")}, {},
                         call.duration)
    for speaker in ("agent", "debtor"):
        assert measured.speakers[speaker].talk_ratio == pytest.approx(
            truth.speakers[speaker].talk_ratio, abs=0.03)
    assert measured.overtalk_ratio == pytest.approx(truth.overtalk_ratio, abs=0.03)
    assert measured.silence_ratio == pytest.approx(truth.silence_ratio, abs=0.03)
    assert measured.agent_talk_ratio == pytest.approx(truth.agent_talk_ratio, abs=0.03)
