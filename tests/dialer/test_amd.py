"""Answering-machine detection: the verdict rules on speech/silence patterns (pure),
the detector on synthetic frames, and on greetings spoken by espeak-ng."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from dialer.amd import (
    FRAME_BYTES,
    AmdConfig,
    AmdDetector,
    AmdResult,
    Cause,
    GreetingPattern,
    Verdict,
)
from telephony.media.g711 import PCMA
from tests.dialer.amd_fixtures import (
    MACHINE_CN,
    MACHINE_EN,
    RATE,
    Greeting,
    Kind,
    Noise,
    Signal,
    Split,
    Style,
    catalogue,
    frames,
    render,
)

# Asterisk-like thresholds, spelled out so that tuning the defaults moves no test.
RULES = AmdConfig(
    initial_silence_ms=2500,
    greeting_ms=1500,
    after_greeting_silence_ms=800,
    total_analysis_ms=5000,
    min_word_ms=100,
    between_words_silence_ms=60,
    max_words=4,
    max_word_ms=3000,
)
SILENT = "." * 300  # 6 s


def heard(pattern: str, config: AmdConfig = RULES) -> AmdResult | None:
    """The pattern's verdict: one 20 ms frame per character, "#" speech, "." silence."""
    rules = GreetingPattern(config)
    found = None
    for mark in pattern:
        found = rules.step(mark == "#")
    return found


# -- the rules -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("pattern", "verdict", "cause", "after_ms", "words"),
    [
        pytest.param(SILENT, Verdict.NOT_SURE, Cause.SILENCE, 2500, 0, id="silence"),
        pytest.param(
            "." * 15 + "#" * 25 + SILENT, Verdict.HUMAN, Cause.AFTER_GREETING_SILENCE,
            300 + 500 + 800, 1, id="hello-then-silence",
        ),
        pytest.param(
            "." * 15 + "#" * 25 + "." * 20 + "##" + SILENT, Verdict.HUMAN,
            Cause.AFTER_GREETING_SILENCE, 300 + 500 + 800, 1, id="a-click-is-still-quiet",
        ),
        pytest.param(
            "." * 10 + ("##" + "." * 8) * 30, Verdict.NOT_SURE, Cause.SILENCE, 2500, 0,
            id="clicks-are-no-words",
        ),
        pytest.param(
            "." * 15 + "#" * 300, Verdict.MACHINE, Cause.LONG_GREETING, 300 + 1500, 1,
            id="long-greeting",
        ),
        pytest.param(
            "." * 5 + ("#" * 6 + "." * 4) * 20, Verdict.MACHINE, Cause.MAX_WORDS, 800, 4,
            id="many-words",
        ),
        pytest.param(
            ("#" * 10 + "." * 30) * 10, Verdict.NOT_SURE, Cause.TIMEOUT, 5000, 7,
            id="never-long-never-quiet",
        ),
    ],
)  # fmt: skip
def test_verdict_rules(
    pattern: str, verdict: Verdict, cause: Cause, after_ms: int, words: int
) -> None:
    config = RULES if cause is not Cause.TIMEOUT else AmdConfig(greeting_ms=9000, max_words=99)
    result = heard(pattern, config)
    assert result is not None
    assert (result.verdict, result.cause) == (verdict, cause)
    assert (result.decided_after_ms, result.words) == (after_ms, words)


def test_one_long_word_is_a_machine() -> None:
    result = heard("#" * 200, AmdConfig(greeting_ms=4000, max_word_ms=3000))
    assert result is not None
    assert (result.verdict, result.cause, result.decided_after_ms) == (
        Verdict.MACHINE, Cause.MAX_WORD_LENGTH, 3000,
    )  # fmt: skip


def test_a_short_gap_does_not_split_a_word() -> None:
    result = heard("." * 5 + "#" * 10 + "." + "#" * 10 + SILENT)
    assert result is not None
    assert (result.verdict, result.words, result.greeting_ms) == (Verdict.HUMAN, 1, 400)
    assert result.initial_silence_ms == 100


def test_silence_longer_than_the_analysis_is_a_timeout() -> None:
    result = heard(SILENT, AmdConfig(initial_silence_ms=8000, total_analysis_ms=5000))
    assert result is not None
    assert (result.verdict, result.cause, result.decided_after_ms) == (
        Verdict.NOT_SURE, Cause.TIMEOUT, 5000,
    )  # fmt: skip


def test_nothing_is_decided_early() -> None:
    assert heard("." * 15 + "#" * 25 + "." * 39) is None  # 780 ms of quiet: not yet


def test_the_verdict_is_final() -> None:
    rules = GreetingPattern(RULES)
    first = None
    for _ in range(125):
        first = rules.step(False)
    assert first is not None
    assert rules.step(True) is first
    assert rules.elapsed_ms == 2500


def test_config_reports_every_bad_threshold() -> None:
    with pytest.raises(ValueError, match=r"greeting_ms=0.*max_words=0.*vad_mode=4"):
        AmdConfig(greeting_ms=0, max_words=0, vad_mode=4)


def test_result_is_stored_as_json() -> None:
    result = heard(SILENT)
    assert result is not None
    assert result.as_json() == {
        "verdict": "not_sure", "cause": "silence", "decided_after_ms": 2500, "words": 0,
        "greeting_ms": 0, "initial_silence_ms": 2500,
    }  # fmt: skip


# -- the detector on synthetic audio ---------------------------------------------------------


def voice_like(ms: int, dbfs: float = -20.0) -> Signal:
    """A vowel-like sound: harmonics of a 140 Hz voice with a slow vibrato."""
    t = np.arange(ms * RATE // 1000) / RATE
    phase = 2 * np.pi * (140 * t + 3 * np.sin(2 * np.pi * 5 * t) / (2 * np.pi * 5))
    wave: Signal = np.zeros(len(t))
    for harmonic in range(1, 20):
        wave += np.sin(harmonic * phase) / harmonic
    return wave * (32768 * 10 ** (dbfs / 20) / float(np.std(wave)))


def pcm_frames(*pieces: Signal, seconds: float = 6.0) -> list[bytes]:
    signal = np.zeros(int(seconds * RATE))
    audio = np.concatenate(pieces)[: len(signal)]
    signal[: len(audio)] = audio
    return frames(np.clip(np.round(signal), -32768, 32767).astype(np.int16))


def silence(ms: int) -> Signal:
    return np.zeros(ms * RATE // 1000)


def detect(frame_list: list[bytes], config: AmdConfig | None = None) -> AmdResult:
    detector = AmdDetector(config)
    for frame in frame_list:
        result = detector.feed(frame)
        if result is not None:
            return result
    raise AssertionError("no verdict")


def test_silence_is_not_sure_at_the_initial_silence() -> None:
    result = detect(pcm_frames(silence(10)))
    assert (result.verdict, result.cause) == (Verdict.NOT_SURE, Cause.SILENCE)
    assert result.decided_after_ms == AmdConfig().initial_silence_ms


def test_line_hiss_is_silence() -> None:
    hiss = np.random.default_rng(5).standard_normal(6 * RATE) * 32768 * 10 ** (-50 / 20)
    result = detect(pcm_frames(hiss))
    assert (result.verdict, result.cause) == (Verdict.NOT_SURE, Cause.SILENCE)


def test_long_continuous_greeting_is_a_machine() -> None:
    result = detect(pcm_frames(silence(300), voice_like(4000)))
    assert (result.verdict, result.cause) == (Verdict.MACHINE, Cause.LONG_GREETING)
    assert result.greeting_ms >= AmdConfig().greeting_ms
    assert result.words == 1


def test_short_word_then_silence_is_a_person() -> None:
    result = detect(pcm_frames(silence(300), voice_like(400)))
    assert (result.verdict, result.cause) == (Verdict.HUMAN, Cause.AFTER_GREETING_SILENCE)
    assert result.words == 1
    assert 300 <= result.initial_silence_ms <= 360
    # the word, plus webrtcvad's hangover of up to ~100 ms, plus the wait
    assert 1700 <= result.decided_after_ms <= 1900


def test_same_frames_same_verdict() -> None:
    frame_list = pcm_frames(silence(200), voice_like(500), silence(300), voice_like(300))
    assert detect(frame_list) == detect(frame_list)


def test_feeding_after_the_verdict_keeps_it() -> None:
    detector = AmdDetector()
    results = [detector.feed(frame) for frame in pcm_frames(silence(10))]
    assert results[124] is not None
    assert results[124].decided_after_ms == 2500
    assert all(later is results[124] for later in results[125:])
    assert detector.result is results[124]


def test_frames_must_be_20_ms_of_16_bit_pcm() -> None:
    with pytest.raises(ValueError, match=f"{FRAME_BYTES} bytes.*got 160 bytes"):
        AmdDetector().feed(bytes(160))


# -- the detector on spoken greetings -------------------------------------------------------


@pytest.fixture(scope="session")
def greeting_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("amd-greetings")


SPOKEN = [
    Greeting("hello", Kind.LIVE, ("Hello?",)),
    Greeting("wei", Kind.LIVE, ("喂？",), Style(voice="cmn", speed=200)),
    Greeting(
        "hello-twice-on-a-noisy-line", Kind.LIVE, ("Hello?", "Hello?"),
        Style(voice="en-gb+f3", noise=Noise.BROWN, noise_dbfs=-32.0), pause_ms=1500,
    ),
    Greeting(
        "quiet-ni-hao", Kind.LIVE, ("喂，你好。",),
        Style(voice="cmn+f3", speed=230, level_dbfs=-32.0, payload_type=PCMA.payload_type),
    ),
    Greeting("voicemail-en", Kind.MACHINE, MACHINE_EN[0], pause_ms=500),
    Greeting("carrier-cn", Kind.MACHINE, MACHINE_CN[0], Style(voice="cmn", speed=215)),
    Greeting(
        "carrier-cn-en-on-a-noisy-line", Kind.MACHINE, MACHINE_CN[1],
        Style(voice="cmn+f2", speed=230, noise=Noise.WHITE, noise_dbfs=-30.0), pause_ms=700,
    ),
]  # fmt: skip


@pytest.mark.parametrize("greeting", SPOKEN, ids=[greeting.name for greeting in SPOKEN])
def test_spoken_greetings(greeting: Greeting, greeting_cache: Path) -> None:
    result = detect(frames(render(greeting, greeting_cache)))
    expected = Verdict.HUMAN if greeting.kind is Kind.LIVE else Verdict.MACHINE
    assert result.verdict is expected, result


def test_rendering_is_repeatable(tmp_path: Path) -> None:
    greeting = Greeting("repeat", Kind.LIVE, ("Hello?",), Style(noise=Noise.BROWN))
    first = render(greeting, tmp_path / "one")
    assert np.array_equal(first, render(greeting, tmp_path / "two"))


def test_tuning_and_report_halves_share_no_text() -> None:
    def texts(split: Split) -> set[tuple[str, ...]]:
        return {greeting.parts for greeting in catalogue(split)}

    assert not texts(Split.TRAIN) & texts(Split.TEST)
