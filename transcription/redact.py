"""Mask card and ID numbers spoken in a call before its transcript is stored.

A recogniser writes a spoken number as digit words ("four five three two", "四五三二",
"사 오 삼 이") or numerals ("4532"). :func:`redact` finds runs of consecutive words
that are all digits and masks a run when its digits look like

* a payment card number: 13-19 digits passing the Luhn check (``card``);
* a PRC resident ID number: 17 digits and a check character (digit or X) passing
  the GB 11643-1999 checksum (``id``);
* or any run of ``min_digits`` digits or more (``number``): recognisers drop and
  mistake digits, so a misheard card number fails its checksum; masking every long
  run errs on the side of the debtor.

The run becomes one word ``[card]``, ``[id]`` or ``[number]`` spanning its time, and
a :class:`Redaction` with the span is reported (QA flags jump to it). Homophones
("for", "to", "ate", "oh") count as digits inside a run, never at its edges, so
"pay for it" stays as it is; next to a run that is masked anyway they are masked
with it ("for five three two ..." is "four five three two ..." misheard). Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from transcription.dialogue import Word

_STRONG = {
    "zero": "0", "one": "1", "two": "2", "three": "3", "four": "4", "five": "5",
    "six": "6", "seven": "7", "eight": "8", "nine": "9",
    "零": "0", "〇": "0", "一": "1", "幺": "1", "二": "2", "两": "2", "三": "3", "四": "4",
    "五": "5", "六": "6", "七": "7", "八": "8", "九": "9",
    "영": "0", "공": "0", "일": "1", "이": "2", "삼": "3", "사": "4", "오": "5", "육": "6",
    "칠": "7", "팔": "8", "구": "9",
}  # fmt: skip
_WEAK = {"oh": "0", "o": "0", "won": "1", "to": "2", "too": "2", "for": "4", "ate": "8",
         "x": "X", "ex": "X", "叉": "X",
         "twenty": "20", "thirty": "30", "forty": "40", "fifty": "50", "sixty": "60",
         "seventy": "70", "eighty": "80", "ninety": "90"}
_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


class Kind(StrEnum):
    CARD = "card"
    ID = "id"
    NUMBER = "number"


@dataclass(frozen=True, slots=True)
class Redaction:
    kind: Kind
    start: float
    end: float
    speaker: str

    def as_json(self) -> dict[str, object]:
        return {"kind": str(self.kind), "start": round(self.start, 3),
                "end": round(self.end, 3), "speaker": self.speaker}


def digits_of(token: str) -> tuple[str, bool] | None:
    """The digits a word stands for and whether it is surely a number; None if not."""
    word = token.lower().strip(".,?!")
    if word in _WEAK:
        return _WEAK[word], False
    if word in _STRONG:
        return _STRONG[word], True
    if word and all(c.isdigit() or c in _STRONG for c in word):
        return "".join(c if c.isascii() else _STRONG.get(c, c) for c in word), True
    return None


def luhn(digits: str) -> bool:
    total = 0
    for i, c in enumerate(reversed(digits)):
        d = int(c) * (2 if i % 2 else 1)
        total += d - 9 if d > 9 else d
    return total % 10 == 0


def resident_id(chars: str) -> bool:
    if len(chars) != 18 or not chars[:17].isdigit():
        return False
    check = sum(int(c) * w for c, w in zip(chars[:17], _ID_WEIGHTS, strict=True)) % 11
    return _ID_CHECK[check] == chars[17]


def kind_of(chars: str, min_digits: int) -> Kind | None:
    """What a run of digit characters looks like, if anything worth masking."""
    if any(resident_id(chars[i:i + 18]) for i in range(len(chars) - 17)):
        return Kind.ID
    digits = chars.replace("X", "")
    for size in range(13, min(19, len(digits)) + 1):
        if any(luhn(digits[i:i + size]) and digits[i] != "0"
               for i in range(len(digits) - size + 1)):
            return Kind.CARD
    return Kind.NUMBER if len(digits) >= min_digits else None


def _runs(words: Sequence[Word]) -> list[tuple[int, int, int, int]]:
    """Each run of digit words of one speaker: [start, end) with its homophones at the
    edges, and [start, end) without them."""
    runs: list[tuple[int, int, int, int]] = []
    i = 0
    while i < len(words):
        j = i
        while j < len(words) and words[j].speaker == words[i].speaker \
                and digits_of(words[j].text) is not None:
            j += 1
        a, b = i, j
        while a < b and not _strong(words[a]):
            a += 1
        while b > a and not _strong(words[b - 1]):
            b -= 1
        if b > a:
            runs.append((i, j, a, b))
        i = max(j, i + 1)
    return runs


def _strong(word: Word) -> bool:
    found = digits_of(word.text)
    return found is not None and found[1]


def _kind(run: Sequence[Word], sure: Sequence[Word], min_digits: int) -> Kind | None:
    """The run's kind by its sure digits; with its edges when they make it an ID (a
    trailing X) or turn a mere long number into a card."""
    kind = kind_of(_chars(sure), min_digits)
    wider = kind_of(_chars(run), min_digits)
    if kind is None or wider is None:
        return kind
    return wider if wider == Kind.ID or kind == Kind.NUMBER else kind


def _chars(words: Sequence[Word]) -> str:
    return "".join((digits_of(w.text) or ("", False))[0] for w in words)


def redact(words: Sequence[Word], min_digits: int = 12) -> tuple[list[Word], list[Redaction]]:
    """``words`` (in time order) with number runs masked, and what was masked."""
    out: list[Word] = []
    found: list[Redaction] = []
    cursor = 0
    for a, b, sure_a, sure_b in _runs(words):
        kind = _kind(words[a:b], words[sure_a:sure_b], min_digits)
        if kind is None:
            continue
        first, last = words[a], words[b - 1]
        out.extend(words[cursor:a])
        out.append(Word(first.speaker, f"[{kind}]", first.start, last.end,
                        min(w.confidence for w in words[a:b])))
        found.append(Redaction(kind, first.start, last.end, str(first.speaker)))
        cursor = b
    out.extend(words[cursor:])
    return out, found
