"""QA flags: what a reviewer must look at in a call, each with its time span.

:func:`raise_flags` reads a transcript's (already redacted) words and redactions
with the client's :class:`~transcription.lexicon.Lexicon` and what is known of the
call (:class:`CallContext`: the action codes filed on it):

* ``abusive``, ``threat``, ``impersonation``: a lexicon term said by the agent;
* ``third_party_disclosure``: on a call filed with a third-party code (TPC), the
  agent said a ``debt`` term: the debt was named to someone who is not the debtor;
* ``no_identity_disclosure``: the agent's words in the first ``opening_seconds``
  lack a phrase of some disclosure group (the recording notice, the agency's name);
  its span is the opening; a call where the agent says nothing at all has no flag;
* ``number_spoken``: a card or ID number (or a long digit run) was masked by
  :mod:`transcription.redact`, whoever said it.

The agent is the agent channel, or the only channel of a mono recording. A flag
carries the matched words as stored, so it never holds an unmasked number. Matches
of one kind that overlap ("police" inside "police officer") count once. Pure: no IO.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from transcription.dialogue import Speaker, Word
from transcription.lexicon import Category, Lexicon
from transcription.redact import Redaction

AGENT_SIDE = frozenset({Speaker.AGENT, Speaker.MIXED})
_PUNCT = ".,?!;:\"“”。，？！、"
_LATIN = re.compile(r"[a-z0-9' *-]+")


class FlagKind(StrEnum):
    ABUSIVE = "abusive"
    THREAT = "threat"
    IMPERSONATION = "impersonation"
    THIRD_PARTY_DISCLOSURE = "third_party_disclosure"
    NO_IDENTITY_DISCLOSURE = "no_identity_disclosure"
    NUMBER_SPOKEN = "number_spoken"


_BY_CATEGORY = {Category.ABUSIVE: FlagKind.ABUSIVE, Category.THREAT: FlagKind.THREAT,
                Category.IMPERSONATION: FlagKind.IMPERSONATION}


@dataclass(frozen=True, slots=True)
class Flag:
    kind: FlagKind
    speaker: str
    start: float  # seconds from the start of the call
    end: float
    text: str  # the words as stored (redacted)
    term: str = ""  # the lexicon entry, or what is missing

    def as_json(self) -> dict[str, object]:
        return {"kind": str(self.kind), "speaker": self.speaker, "start": round(self.start, 3),
                "end": round(self.end, 3), "text": self.text, "term": self.term}


@dataclass(frozen=True, slots=True)
class CallContext:
    action_codes: frozenset[str] = field(default_factory=frozenset)
    duration: float | None = None


def normalise(text: str) -> str:
    return text.lower().strip(_PUNCT)


def pattern(term: str) -> re.Pattern[str]:
    """A term as a regular expression over words joined by single spaces."""
    term = normalise(term)
    if _LATIN.fullmatch(term):
        words = [re.escape(w[:-1]) + r"[\w']*" if w.endswith("*") else re.escape(w)
                 for w in term.split()]
        return re.compile(r"(?<![\w'])" + " ".join(words) + r"(?![\w'])")
    return re.compile(" ?".join(re.escape(c) for c in term if not c.isspace()))


@dataclass(frozen=True, slots=True)
class _Said:
    """One speaker's words joined, and where each word starts in the joined text."""

    words: tuple[Word, ...]
    text: str
    starts: tuple[int, ...]

    @classmethod
    def of(cls, words: Sequence[Word]) -> _Said:
        starts, offset = [], 0
        for w in words:
            starts.append(offset)
            offset += len(normalise(w.text)) + 1
        return cls(tuple(words), " ".join(normalise(w.text) for w in words), tuple(starts))

    def span(self, first: int, last: int) -> tuple[Word, ...]:
        """The words that the characters [first, last) fall in."""
        return tuple(w for w, s in zip(self.words, self.starts, strict=True)
                     if s < last and s + len(normalise(w.text)) > first)


def find(said: _Said, terms: Iterable[str], kind: FlagKind) -> list[Flag]:
    """A flag for each (non-overlapping) place a term is said."""
    found: list[tuple[int, int, str]] = []
    for term in terms:
        found.extend((m.start(), m.end(), term) for m in pattern(term).finditer(said.text))
    flags: list[Flag] = []
    last_end = -1
    for first, last, term in sorted(found, key=lambda f: (f[0], -f[1])):
        words = said.span(first, last)
        if first < last_end or not words:
            continue
        last_end = last
        flags.append(Flag(kind, str(words[0].speaker), words[0].start, words[-1].end,
                          " ".join(w.text for w in words), term))
    return flags


def _agent_side(words: Sequence[Word]) -> list[_Said]:
    return [_Said.of([w for w in words if w.speaker == s]) for s in Speaker
            if s in AGENT_SIDE and any(w.speaker == s for w in words)]


def lexicon_flags(words: Sequence[Word], lexicon: Lexicon, context: CallContext) -> list[Flag]:
    flags: list[Flag] = []
    for said in _agent_side(words):
        for category, kind in _BY_CATEGORY.items():
            flags.extend(find(said, lexicon[category], kind))
        if context.action_codes & lexicon.third_party_codes:
            flags.extend(find(said, lexicon[Category.DEBT], FlagKind.THIRD_PARTY_DISCLOSURE))
    return flags


def opening_flags(words: Sequence[Word], lexicon: Lexicon, context: CallContext) -> list[Flag]:
    """A flag for each disclosure group the agent's opening lacks."""
    flags: list[Flag] = []
    end = lexicon.opening_seconds
    if context.duration is not None:
        end = min(end, context.duration)
    for said in _agent_side(words):
        opening = _Said.of([w for w in said.words if w.start < lexicon.opening_seconds])
        for group in lexicon.disclosure:
            if not any(pattern(t).search(opening.text) for t in group):
                text = " ".join(w.text for w in opening.words)[:200]
                flags.append(Flag(FlagKind.NO_IDENTITY_DISCLOSURE, str(said.words[0].speaker),
                                  0.0, end, text, " | ".join(group)))
    return flags


def number_flags(redactions: Sequence[Redaction]) -> list[Flag]:
    return [Flag(FlagKind.NUMBER_SPOKEN, r.speaker, r.start, r.end, f"[{r.kind}]", str(r.kind))
            for r in redactions]


def raise_flags(words: Sequence[Word], redactions: Sequence[Redaction], lexicon: Lexicon,
                context: CallContext | None = None) -> list[Flag]:
    """Every QA flag of a call, in time order."""
    ctx = context or CallContext()
    flags = [*lexicon_flags(words, lexicon, ctx), *opening_flags(words, lexicon, ctx),
             *number_flags(redactions)]
    return sorted(flags, key=lambda f: (f.start, f.end, str(f.kind)))


def flag_from_json(body: dict[str, object]) -> Flag:
    return Flag(FlagKind(str(body["kind"])), str(body["speaker"]),
                float(str(body["start"])), float(str(body["end"])), str(body["text"]),
                str(body.get("term", "")))
