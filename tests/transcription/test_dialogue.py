from __future__ import annotations

import pytest

from transcription.dialogue import HeardWord, Speaker, Word, merge, place, transcript_text


def test_words_move_to_call_time_with_their_speaker() -> None:
    heard = [HeardWord("hello", 0.2, 0.5, 0.9)]
    [word] = place(heard, Speaker.DEBTOR, 3.6)
    assert (word.speaker, word.text, word.confidence) == (Speaker.DEBTOR, "hello", 0.9)
    assert word.start == pytest.approx(3.8)
    assert word.end == pytest.approx(4.1)


def _w(speaker: Speaker, text: str, start: float) -> Word:
    return Word(speaker, text, start, start + 0.3, 1.0)


def test_dialogue_is_ordered_by_time_with_turns_per_speaker() -> None:
    words = [_w(Speaker.AGENT, "this", 0.0), _w(Speaker.DEBTOR, "who", 1.0),
             _w(Speaker.AGENT, "call", 0.4), _w(Speaker.AGENT, "payment", 1.5),
             _w(Speaker.DEBTOR, "is", 1.35)]
    turns = merge(words)
    assert [(t.speaker, t.text) for t in turns] == [
        (Speaker.AGENT, "this call"), (Speaker.DEBTOR, "who is"), (Speaker.AGENT, "payment")]
    assert transcript_text(turns) == "agent: this call\ndebtor: who is\nagent: payment"


def test_a_long_pause_starts_a_new_turn() -> None:
    turns = merge([_w(Speaker.AGENT, "hello", 0.0), _w(Speaker.AGENT, "hello", 5.0)])
    assert len(turns) == 2


def test_ties_go_to_the_agent_first() -> None:
    turns = merge([_w(Speaker.DEBTOR, "yes", 1.0), _w(Speaker.AGENT, "so", 1.0)])
    assert [t.speaker for t in turns] == [Speaker.AGENT, Speaker.DEBTOR]


@pytest.mark.parametrize(("channels", "speakers"), [
    (1, (Speaker.MIXED,)), (2, (Speaker.AGENT, Speaker.DEBTOR))])
def test_speakers_of_a_recording(channels: int, speakers: tuple[Speaker, ...]) -> None:
    assert Speaker.of_channels(channels) == speakers


def test_more_than_two_channels_is_refused() -> None:
    with pytest.raises(ValueError, match="1 or 2 channels"):
        Speaker.of_channels(3)
