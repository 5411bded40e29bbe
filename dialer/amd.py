"""Answering-machine detection: who picked up, a person or a machine, from the first
seconds of what the debtor's side of an answered call says.

Theory of operation. A person who answers says something short ("喂？", "Hello?",
"你好，哪位？") and then waits for the caller to speak: a short greeting followed by
silence. A machine plays its whole greeting without waiting for anyone ("您好，您拨打
的用户暂时无法接通，请在提示音后留言…", "Hi, you've reached John, I can't take your
call right now, please leave a message after the tone"): a long stretch of speech with
only short pauses. The detector tells the two apart by that pattern alone, never by the
words, in the manner of Asterisk's ``app_amd`` (same thresholds, same names):

* every 20 ms frame is speech or silence (:class:`SpeechGate`): webrtcvad hears a
  voice, and the frame is louder than ``silence_threshold_dbfs`` and stands
  ``noise_margin_db`` above the line's noise floor (hiss, hum and comfort noise stay
  silence, even on a noisy line where webrtcvad alone hears speech everywhere);
* a *word* is a run of speech frames at least ``min_word_ms`` long; a gap of at least
  ``between_words_silence_ms`` ends it. Shorter runs (a click, a breath) count as
  silence. With 20 ms frames a word is about a syllable;
* the *greeting* starts with the first word; ``greeting_ms`` counts its speech.

Verdicts (:class:`GreetingPattern`), checked after every frame; the first that holds
wins, and it is final:

==============================================  =========  ==========================
what was heard                                  verdict    cause
==============================================  =========  ==========================
no word within ``initial_silence_ms``           not_sure   ``silence``
a greeting, then ``after_greeting_silence_ms``  human      ``after_greeting_silence``
one word of ``max_word_ms``                     machine    ``max_word_length``
``max_words`` words                             machine    ``max_words``
``greeting_ms`` of speech in the greeting       machine    ``long_greeting``
none of these within ``total_analysis_ms``      not_sure   ``timeout``
==============================================  =========  ==========================

Asterisk calls a silent answer a machine; here it is ``not_sure``: debtors screening a
collection call often pick up and say nothing, and hanging up on them would be an
abandoned call. The campaign's policy decides what ``not_sure`` gets.

The person waits ``after_greeting_silence_ms`` after their greeting for the verdict;
Ofcom counts a call as abandoned when no agent speaks within 2 s of the end of the
greeting, so it stays at 1 s or less, which leaves a second to bridge an agent.

Known limits (``bench/amd_bench.py`` measures them): a person who answers with a
whole sentence ("喂，你好，我是张伟，请问你是哪位？") has a long greeting and reads as
a machine; a machine whose greeting is a short phrase then a pause of a second ("Hey,
it's Dave. … Leave a message.") reads as a person. The record tone is not looked for.

Pure and deterministic: no IO, no clock; the same frames give the same verdict. One
detector per call, fed the debtor's inbound frames in order from the answer; webrtcvad
is most of its cost (about 200,000 frames per second on one core, 4,000 calls).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import webrtcvad

RATE = 8000
FRAME_MS = 20
FRAME_BYTES = RATE * FRAME_MS // 1000 * 2  # 160 samples of 16-bit PCM
_FULL_SCALE_DB = 20 * math.log10(32768)


class Verdict(StrEnum):
    HUMAN = "human"
    MACHINE = "machine"
    NOT_SURE = "not_sure"


class Cause(StrEnum):
    """Which rule gave the verdict (the module docstring's table)."""

    SILENCE = "silence"
    AFTER_GREETING_SILENCE = "after_greeting_silence"
    MAX_WORD_LENGTH = "max_word_length"
    MAX_WORDS = "max_words"
    LONG_GREETING = "long_greeting"
    TIMEOUT = "timeout"


@dataclass(frozen=True, slots=True, kw_only=True)
class AmdConfig:
    """The detector's thresholds; durations in ms, counted in whole 20 ms frames.

    ``initial_silence_ms``, ``total_analysis_ms`` and ``max_word_ms`` are Asterisk's
    defaults; ``after_greeting_silence_ms`` is held to 1 s at most (the module
    docstring says why); the rest were tuned on the train half of the synthesized
    greetings, and ``bench/amd_bench.py --tune`` gives these values back."""

    initial_silence_ms: int = 2500  # no word by then: not_sure (silence)
    greeting_ms: int = 2250  # this much speech in the greeting: machine
    after_greeting_silence_ms: int = 1000  # this much quiet after a greeting: human
    total_analysis_ms: int = 5000  # undecided by then: not_sure (timeout)
    min_word_ms: int = 60  # the shortest run of speech that is a word
    between_words_silence_ms: int = 20  # a gap this long ends a word
    max_words: int = 8  # this many words: machine
    max_word_ms: int = 5000  # one word this long: machine
    silence_threshold_dbfs: float = -45.0  # quieter frames are silence
    noise_margin_db: float = 6.0  # speech stands this far above the line's noise floor
    noise_floor_rise_db: float = 0.1  # per frame: the floor follows rising noise at 5 dB/s
    vad_mode: int = 3  # webrtcvad aggressiveness, 0-3

    def __post_init__(self) -> None:
        durations = {
            "initial_silence_ms": self.initial_silence_ms,
            "greeting_ms": self.greeting_ms,
            "after_greeting_silence_ms": self.after_greeting_silence_ms,
            "total_analysis_ms": self.total_analysis_ms,
            "min_word_ms": self.min_word_ms,
            "between_words_silence_ms": self.between_words_silence_ms,
            "max_word_ms": self.max_word_ms,
        }
        bad = [f"{name}={value}" for name, value in durations.items() if value <= 0]
        if self.max_words < 1:
            bad.append(f"max_words={self.max_words}")
        if self.noise_margin_db < 0:
            bad.append(f"noise_margin_db={self.noise_margin_db}")
        if self.noise_floor_rise_db <= 0:
            bad.append(f"noise_floor_rise_db={self.noise_floor_rise_db}")
        if self.vad_mode not in range(4):
            bad.append(f"vad_mode={self.vad_mode} (0-3)")
        if bad:
            raise ValueError(f"invalid AMD thresholds: {', '.join(bad)}")


@dataclass(frozen=True, slots=True)
class AmdResult:
    """A verdict and what it was based on; stored with the call attempt."""

    verdict: Verdict
    cause: Cause
    decided_after_ms: int  # audio heard from the answer until the verdict
    words: int
    greeting_ms: int  # speech in the greeting's words
    initial_silence_ms: int  # from the answer to the first word (or the verdict)

    def as_json(self) -> dict[str, object]:
        return {
            "verdict": str(self.verdict),
            "cause": str(self.cause),
            "decided_after_ms": self.decided_after_ms,
            "words": self.words,
            "greeting_ms": self.greeting_ms,
            "initial_silence_ms": self.initial_silence_ms,
        }


class GreetingPattern:
    """The verdict rules (the module docstring's table) over a sequence of frames
    already marked speech or silence: no audio here."""

    __slots__ = (
        "_config", "_gap_ms", "_in_word", "_quiet_ms", "_run_ms", "elapsed_ms",
        "greeting_ms", "initial_silence_ms", "result", "words",
    )  # fmt: skip

    def __init__(self, config: AmdConfig) -> None:
        self._config = config
        self.elapsed_ms = 0
        self.words = 0
        self.greeting_ms = 0
        self.initial_silence_ms = 0
        self.result: AmdResult | None = None
        self._gap_ms = 0  # consecutive silence frames
        self._run_ms = 0  # speech in the current run (a word once long enough)
        self._in_word = False  # the current run has been counted as a word
        self._quiet_ms = 0  # since the last frame of a word

    def step(self, speech: bool) -> AmdResult | None:
        """Account for one 20 ms frame; the verdict once there is one (then always it)."""
        if self.result is not None:
            return self.result
        self.elapsed_ms += FRAME_MS
        if speech:
            self._speech()
        else:
            self._silence()
        if not self.words:
            self.initial_silence_ms = self.elapsed_ms
        found = self._verdict()
        if found is not None:
            self.result = AmdResult(
                found[0], found[1], self.elapsed_ms, self.words, self.greeting_ms,
                self.initial_silence_ms,
            )  # fmt: skip
        return self.result

    def _speech(self) -> None:
        self._gap_ms = 0
        self._run_ms += FRAME_MS
        if self._in_word:
            self.greeting_ms += FRAME_MS
        elif self._run_ms >= self._config.min_word_ms:
            self._in_word = True
            self.words += 1
            self.greeting_ms += self._run_ms
            if self.words == 1:
                self.initial_silence_ms = self.elapsed_ms - self._run_ms
        if self._in_word:
            self._quiet_ms = 0
        else:
            self._quiet_ms += FRAME_MS

    def _silence(self) -> None:
        self._gap_ms += FRAME_MS
        self._quiet_ms += FRAME_MS
        if self._gap_ms >= self._config.between_words_silence_ms:
            self._run_ms = 0
            self._in_word = False

    def _verdict(self) -> tuple[Verdict, Cause] | None:
        config = self._config
        if not self.words:
            if self._quiet_ms >= config.initial_silence_ms:
                return Verdict.NOT_SURE, Cause.SILENCE
        elif self._quiet_ms >= config.after_greeting_silence_ms:
            return Verdict.HUMAN, Cause.AFTER_GREETING_SILENCE
        elif self._in_word and self._run_ms >= config.max_word_ms:
            return Verdict.MACHINE, Cause.MAX_WORD_LENGTH
        elif self.words >= config.max_words:
            return Verdict.MACHINE, Cause.MAX_WORDS
        elif self.greeting_ms >= config.greeting_ms:
            return Verdict.MACHINE, Cause.LONG_GREETING
        if self.elapsed_ms >= config.total_analysis_ms:
            return Verdict.NOT_SURE, Cause.TIMEOUT
        return None


class SpeechGate:
    """Speech or silence, frame by frame: webrtcvad's voice decision, and loud enough
    above both ``silence_threshold_dbfs`` and the line's noise floor.

    The floor is a minimum tracker: it drops at once to a quieter frame and climbs at
    most ``noise_floor_rise_db`` per frame, so it rests on the dips between syllables
    during speech and on the hiss or hum of the line between words. On a noisy line
    webrtcvad calls nearly every frame speech; the margin over the floor keeps the
    noise out of the words."""

    __slots__ = ("_config", "_floor_db", "_vad")

    def __init__(self, config: AmdConfig) -> None:
        self._config = config
        self._vad = webrtcvad.Vad(config.vad_mode)
        self._floor_db: float | None = None

    def is_speech(self, frame: bytes) -> bool:
        if len(frame) != FRAME_BYTES:
            raise ValueError(
                f"AMD takes 20 ms frames of 8 kHz 16-bit PCM ({FRAME_BYTES} bytes),"
                f" got {len(frame)} bytes"
            )
        voiced = bool(self._vad.is_speech(frame, RATE))  # always: it tracks the noise too
        level = frame_dbfs(frame)
        config = self._config
        floor = level if self._floor_db is None else self._floor_db + config.noise_floor_rise_db
        self._floor_db = min(level, floor)
        loud = level >= max(config.silence_threshold_dbfs, floor + config.noise_margin_db)
        return voiced and loud


def frame_dbfs(frame: bytes) -> float:
    """A frame's RMS level in dB relative to a full-scale square wave (silence: -90.3)."""
    samples = np.frombuffer(frame, dtype="<i2").astype(np.int64)
    return 10 * math.log10(int(samples @ samples) / (len(frame) // 2) + 1) - _FULL_SCALE_DB


class AmdDetector:
    """One answered call's detector: feed it the debtor's 20 ms frames of 8 kHz 16-bit
    little-endian mono PCM from the answer on; :meth:`feed` gives ``None`` until the
    verdict, then the verdict (at the latest after ``total_analysis_ms``)."""

    __slots__ = ("_gate", "_pattern", "config")

    def __init__(self, config: AmdConfig | None = None) -> None:
        self.config = config or AmdConfig()
        self._gate = SpeechGate(self.config)
        self._pattern = GreetingPattern(self.config)

    @property
    def result(self) -> AmdResult | None:
        return self._pattern.result

    def feed(self, frame: bytes) -> AmdResult | None:
        if self._pattern.result is not None:
            return self._pattern.result
        return self._pattern.step(self._gate.is_speech(frame))

    def is_speech(self, frame: bytes) -> bool:
        """The gate's decision on one more frame, without the verdict rules (for tuning)."""
        return self._gate.is_speech(frame)
