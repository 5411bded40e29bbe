"""The QA lexicon: which words and phrases raise which QA flag, per client, as data.

A :class:`Lexicon` lists terms per category:

* ``abusive``: insults and abuse an agent must never use;
* ``threat``: threats of harm, exposure or arrest;
* ``impersonation``: an agent passing as a court, the police or the bank;
* ``debt``: words that name the debt; said by the agent on a call filed with a
  third-party action code (``third_party_codes``, TPC by default) they disclose it;
* ``disclosure``: groups of phrases of the opening; the agent must say one phrase
  of *every* group within ``opening_seconds`` of the start of the call (by default
  one group: the notice that the call is recorded; a client adds a group with the
  agency's name).

A term is a word or a phrase in the language of a model in use: English
(pocketsphinx, Vosk en-us), Chinese (Vosk cn) or Korean (the test model). Latin
terms match whole words (``threat*`` matches any word starting with "threat");
Chinese and Korean terms match characters, across the recogniser's word breaks and
with particles attached ("법원에서" holds "법원").

A client's lexicon is stored as JSON (``qa_lexicons``); :func:`for_client` adds its
terms to the defaults, or replaces them with ``"replace": true``. Pure: no IO.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Category(StrEnum):
    ABUSIVE = "abusive"
    THREAT = "threat"
    IMPERSONATION = "impersonation"
    DEBT = "debt"


_EN: dict[Category, tuple[str, ...]] = {
    Category.ABUSIVE: ("idiot", "stupid", "moron", "loser", "shut up", "deadbeat", "scum",
                       "worthless", "bastard", "bitch", "damn you", "liar"),
    Category.THREAT: ("hurt", "kill", "beat you", "break your", "your family will",
                      "we know where you live", "ruin your", "you will regret", "you'll regret",
                      "arrest", "jail", "prison", "expose you", "tell your employer"),
    Category.IMPERSONATION: ("from the court", "this is the court", "the court officer",
                             "district court", "police", "sheriff", "bailiff",
                             "this is your bank", "calling from your bank"),
    Category.DEBT: ("debt", "debts", "overdue", "owe", "owes", "owed", "arrears",
                    "past due", "collection", "collections", "delinquent", "unpaid"),
}
_ZH: dict[Category, tuple[str, ...]] = {
    Category.ABUSIVE: ("傻逼", "混蛋", "王八蛋", "废物", "不要脸", "骗子", "去死"),
    Category.THREAT: ("弄死你", "打死你", "杀了你", "上门", "曝光", "抓你", "坐牢",
                      "告诉你单位", "通讯录"),
    Category.IMPERSONATION: ("法院", "公安", "警察", "检察院", "律师函", "我们是银行",
                             "银行工作人员"),
    Category.DEBT: ("欠款", "逾期", "欠钱", "债务", "还款", "催收", "欠债"),
}
_KO: dict[Category, tuple[str, ...]] = {
    Category.ABUSIVE: ("바보", "멍청이", "병신", "새끼", "미친"),
    Category.THREAT: ("죽여", "가만두지", "찾아가", "감옥", "구속"),
    Category.IMPERSONATION: ("법원", "경찰", "검찰", "은행입니다"),
    Category.DEBT: ("연체", "채무", "빚", "미납", "대금"),
}
DISCLOSURE: tuple[tuple[str, ...], ...] = (
    ("call is recorded", "call may be recorded", "being recorded", "recorded for quality",
     "本次通话将被录音", "通话录音", "录音", "녹음"),
)
LANGUAGES: dict[str, dict[Category, tuple[str, ...]]] = {"en": _EN, "zh": _ZH, "ko": _KO}


@dataclass(frozen=True, slots=True)
class Lexicon:
    terms: Mapping[Category, tuple[str, ...]]
    disclosure: tuple[tuple[str, ...], ...] = DISCLOSURE
    opening_seconds: float = 30.0
    third_party_codes: frozenset[str] = field(default_factory=lambda: frozenset({"TPC"}))

    def __getitem__(self, category: Category) -> tuple[str, ...]:
        return self.terms.get(category, ())

    def as_json(self) -> dict[str, object]:
        return {"terms": {str(c): list(t) for c, t in self.terms.items()},
                "disclosure": [list(g) for g in self.disclosure],
                "opening_seconds": self.opening_seconds,
                "third_party_codes": sorted(self.third_party_codes)}


def default(languages: tuple[str, ...] = ("en", "zh", "ko")) -> Lexicon:
    """The terms of ``languages`` together."""
    terms = {c: tuple(t for lang in languages for t in LANGUAGES[lang][c]) for c in Category}
    return Lexicon(terms)


def _strings(value: object, where: str) -> tuple[str, ...]:
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        raise ValueError(f"lexicon: {where} must be a list of non-empty strings")
    return tuple(v.strip().lower() for v in value)


Terms = dict[Category, tuple[str, ...]]


def _terms(body: Mapping[str, object], base: Lexicon, replace: bool) -> Terms:
    given = body.get("terms", {})
    if not isinstance(given, dict) or not set(given) <= {str(c) for c in Category}:
        raise ValueError(f"lexicon: terms must map {', '.join(Category)} to lists")
    out = {c: () if replace else base[c] for c in Category}
    for name, value in given.items():
        category = Category(name)
        out[category] = tuple(dict.fromkeys([*out[category], *_strings(value, name)]))
    return out


def _disclosure(body: Mapping[str, object], base: Lexicon,
                replace: bool) -> tuple[tuple[str, ...], ...]:
    groups = body.get("disclosure", [])
    if not isinstance(groups, list):
        raise ValueError("lexicon: disclosure must be a list of phrase lists")
    extra = tuple(_strings(g, "disclosure group") for g in groups)
    return extra if replace else base.disclosure + extra


def for_client(body: Mapping[str, object], base: Lexicon | None = None) -> Lexicon:
    """A client's lexicon from its stored JSON; ``ValueError`` names what is wrong."""
    start = base or default()
    replace = body.get("replace") is True
    seconds = body.get("opening_seconds", start.opening_seconds)
    if not isinstance(seconds, int | float) or not 5 <= seconds <= 120:
        raise ValueError("lexicon: opening_seconds must be 5-120")
    codes = body.get("third_party_codes", sorted(start.third_party_codes))
    return Lexicon(_terms(body, start, replace), _disclosure(body, start, replace),
                   float(seconds), frozenset(c.upper() for c in _strings(codes, "codes")))
