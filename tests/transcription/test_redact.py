from __future__ import annotations

import pytest

from transcription.dialogue import Speaker, Word
from transcription.redact import Kind, kind_of, luhn, redact, resident_id


def _words(text: str, speaker: Speaker = Speaker.DEBTOR) -> list[Word]:
    return [Word(speaker, t, i * 0.5, i * 0.5 + 0.4, 0.9) for i, t in enumerate(text.split())]


def _text(words: list[Word]) -> str:
    return " ".join(w.text for w in words)


def test_checksums() -> None:
    assert luhn("4532148812345672")
    assert not luhn("4532148812345678")
    assert resident_id("11010519491231002X")
    assert not resident_id("110105194912310021")


@pytest.mark.parametrize(("spoken", "kind"), [
    ("my card is four five three two one four eight eight one two three four five six "
     "seven two thanks", Kind.CARD),
    ("卡号 四 五 三 二 一 四 八 八 一 二 三 四 五 六 七 二 好", Kind.CARD),
    ("卡号 四五三二 一四八八 一二三四 五六七二 好", Kind.CARD),
    ("number 4532148812345672 ok", Kind.CARD),
    ("身份证 1 1 0 1 0 5 1 9 4 9 1 2 3 1 0 0 2 x 对", Kind.ID),
    ("my card is for five three two one four eight eight one two three four five six "
     "seventy thanks", Kind.CARD),
])
def test_spoken_numbers_are_masked(spoken: str, kind: Kind) -> None:
    words, found = redact(_words(spoken))
    assert [r.kind for r in found] == [kind]
    assert f"[{kind}]" in _text(words)
    assert not any(c.isdigit() for c in _text(words))
    assert found[0].start > 0 and found[0].end < len(words) * 0.5 + 20


def test_a_misheard_long_number_is_masked_anyway() -> None:
    spoken = "it is four five three two one four eight eight one two three four"
    words, found = redact(_words(spoken))
    assert [r.kind for r in found] == [Kind.NUMBER]
    assert _text(words) == "it is [number]"


@pytest.mark.parametrize("spoken", [
    "i will pay for it on friday", "two hundred by the twenty first",
    "call me at five five five one two three four", "for to for to for",
])
def test_ordinary_speech_is_left_alone(spoken: str) -> None:
    words, found = redact(_words(spoken))
    assert found == []
    assert _text(words) == spoken


def test_runs_do_not_cross_speakers() -> None:
    agent = _words("one two three four five six", Speaker.AGENT)
    debtor = [Word(Speaker.DEBTOR, w.text, w.start + 3.0, w.end + 3.0, 1.0) for w in agent]
    assert redact([*agent, *debtor])[1] == []


def test_kind_of_short_digits_is_nothing() -> None:
    assert kind_of("12345", 12) is None
