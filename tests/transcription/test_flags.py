"""QA flags: the rules on scripted words (English, Chinese, Korean), and on the
committed English calls heard by pocketsphinx."""

from __future__ import annotations

import pytest

from tests.transcription.conftest import Call
from transcription import lexicon
from transcription.dialogue import Speaker, Word
from transcription.flags import CallContext, Flag, FlagKind, flag_from_json, raise_flags
from transcription.pipeline import Transcript
from transcription.redact import redact

LEX = lexicon.default()
TPC = CallContext(frozenset({"TPC"}))
OPENING = "this call is recorded"


def said(*turns: tuple[Speaker, str]) -> list[Word]:
    """Words of scripted turns, 0.5 s a word, turns one after the other."""
    words: list[Word] = []
    for speaker, text in turns:
        for token in text.split():
            at = len(words) * 0.5
            words.append(Word(speaker, token, at, at + 0.4, 0.9))
    return words


def kinds(flags: list[Flag]) -> list[FlagKind]:
    return [f.kind for f in flags]


A, D = Speaker.AGENT, Speaker.DEBTOR


@pytest.mark.parametrize(("line", "kind", "text"), [
    ("listen you idiot", FlagKind.ABUSIVE, "idiot"),
    ("shut up and pay", FlagKind.ABUSIVE, "shut up"),
    ("we will hurt your family", FlagKind.THREAT, "hurt"),
    ("hello i am calling from the court", FlagKind.IMPERSONATION, "from the court"),
    ("the police will come", FlagKind.IMPERSONATION, "police"),
    ("你 这个 混蛋", FlagKind.ABUSIVE, "混蛋"),
    ("我们 是 法院 的", FlagKind.IMPERSONATION, "法院"),
    ("我 是 公 安 局 的", FlagKind.IMPERSONATION, "公 安"),
    ("법원에서 연락 드렸습니다", FlagKind.IMPERSONATION, "법원에서"),
    ("경찰 부르겠습니다", FlagKind.IMPERSONATION, "경찰"),
])
def test_a_trigger_said_by_the_agent_raises_its_flag(line: str, kind: FlagKind,
                                                     text: str) -> None:
    words = said((A, OPENING), (A, line))
    [flag] = [f for f in raise_flags(words, [], LEX) if f.kind == kind]
    assert (flag.speaker, flag.text) == ("agent", text)
    trigger = [w for w in words[4:] if w.text in text.split()]
    assert (flag.start, flag.end) == (trigger[0].start, trigger[-1].end)


def test_the_debtor_swearing_is_not_the_agents_fault() -> None:
    assert raise_flags(said((A, OPENING), (D, "you stupid idiot")), [], LEX) == []


def test_whole_words_only() -> None:
    words = said((A, OPENING + " our policy is to help and your court case"))
    assert raise_flags(words, [], LEX) == []


@pytest.mark.parametrize("line", ["his debt is overdue", "他 的 欠款 已经 逾期", "카드 대금 연체"])
def test_naming_the_debt_on_a_third_party_call_is_a_disclosure(line: str) -> None:
    words = said((A, OPENING), (A, line))
    assert FlagKind.THIRD_PARTY_DISCLOSURE in kinds(raise_flags(words, [], LEX, TPC))
    assert raise_flags(words, [], LEX, CallContext(frozenset({"PTP"}))) == []


def test_an_opening_without_the_recording_notice_is_flagged() -> None:
    words = said((A, "hello mister wang"), (D, "yes"))
    [flag] = raise_flags(words, [], LEX, CallContext(duration=20.0))
    assert flag.kind == FlagKind.NO_IDENTITY_DISCLOSURE
    assert (flag.speaker, flag.start, flag.end, flag.text) == ("agent", 0.0, 20.0,
                                                               "hello mister wang")


def test_the_notice_must_come_within_the_opening() -> None:
    words = said((A, "hello mister wang how are you today sir i am calling"), (A, OPENING))
    assert raise_flags(words, [], LEX) == []
    late = lexicon.for_client({"opening_seconds": 5})
    assert kinds(raise_flags(words, [], late)) == [FlagKind.NO_IDENTITY_DISCLOSURE]


def test_a_client_adds_its_agency_name_to_the_opening() -> None:
    client = lexicon.for_client({"disclosure": [["acme collections", "艾克米"]]})
    words = said((A, OPENING))
    [flag] = raise_flags(words, [], client)
    assert flag.term == "acme collections | 艾克米"
    assert raise_flags(said((A, "艾克米 " + OPENING)), [], client) == []


def test_a_silent_agent_has_no_opening_flag() -> None:
    assert raise_flags(said((D, "hello hello")), [], LEX) == []


def test_a_spoken_card_number_is_flagged_masked() -> None:
    words, found = redact(said((A, OPENING), (D, "four five three two one four eight eight "
                                                "one two three four five six seven two")))
    [flag] = raise_flags(words, found, LEX)
    assert (flag.kind, flag.speaker, flag.text) == (FlagKind.NUMBER_SPOKEN, "debtor", "[card]")
    assert flag_from_json(flag.as_json()) == flag


def test_a_client_lexicon_is_checked() -> None:
    with pytest.raises(ValueError, match="terms must map"):
        lexicon.for_client({"terms": {"rude": ["x"]}})
    with pytest.raises(ValueError, match="opening_seconds"):
        lexicon.for_client({"opening_seconds": 1})
    only = lexicon.for_client({"replace": True, "terms": {"abusive": ["Dummy"]}})
    assert only[lexicon.Category.ABUSIVE] == ("dummy",) and only.disclosure == ()


# The committed English calls, heard by pocketsphinx.

Heard = tuple[Call, Transcript]


@pytest.fixture
def flagged(flagged_call: Heard) -> Heard:
    return flagged_call


@pytest.fixture
def clean(clean_call: Heard) -> Heard:
    return clean_call


@pytest.mark.parametrize(("kind", "trigger"), [
    (FlagKind.IMPERSONATION, "hello i am calling from the court"),
    (FlagKind.ABUSIVE, "you stupid idiot"),
    (FlagKind.THIRD_PARTY_DISCLOSURE, "your loan is overdue"),
    (FlagKind.THREAT, "we will hurt your family"),
])
def test_each_flag_is_raised_by_its_trigger_phrase(flagged: Heard, kind: FlagKind,
                                                   trigger: str) -> None:
    call, transcript = flagged
    flags = [f for f in raise_flags(transcript.words, transcript.redactions, LEX, TPC)
             if f.kind == kind]
    [utterance] = [u for u in call.utterances if u.text == trigger]
    assert flags and all(f.speaker == "agent" for f in flags)
    assert all(utterance.start - 0.3 <= f.start and f.end <= utterance.end + 0.3 for f in flags)


def test_the_flagged_call_lacks_the_recording_notice(flagged: Heard) -> None:
    call, transcript = flagged
    flags = raise_flags(transcript.words, transcript.redactions, LEX,
                        CallContext(duration=call.duration))
    assert FlagKind.NO_IDENTITY_DISCLOSURE in kinds(flags)
    assert FlagKind.THIRD_PARTY_DISCLOSURE not in kinds(flags)  # not a TPC call


def test_the_clean_call_raises_no_flag_even_filed_as_tpc(clean: Heard) -> None:
    call, transcript = clean
    context = CallContext(frozenset({"TPC"}), call.duration)
    assert raise_flags(transcript.words, transcript.redactions, LEX, context) == []


def test_the_card_call_raises_only_the_number_flag(english: Heard) -> None:
    call, transcript = english
    flags = raise_flags(transcript.words, transcript.redactions, LEX, TPC)
    assert [(f.kind, f.speaker, f.text) for f in flags] == [
        (FlagKind.NUMBER_SPOKEN, "debtor", "[card]")]
    card = call.utterances[-1]
    assert card.start <= flags[0].start < flags[0].end <= card.end + 0.3
