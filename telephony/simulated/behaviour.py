"""What each simulated debtor's phone does when called: pure, drawn from the number.

The simulated carrier answers every number its own way, the same way every time for
the same ``seed``: :func:`behaviour_for` hashes the seed and the number (the user part
of the Request-URI) to a point in [0, 1) and walks the cumulative :class:`Weights`.
:func:`plan_for` turns the behaviour into a :class:`Plan`, every further draw (ring
time, which conversation, the pauses in it) hashed the same way with its own salt:

=============  ====  ===========================================================
behaviour      %     the caller sees (the percentages are the default weights)
=============  ====  ===========================================================
talks          45    180, answer after the ring time, "喂？你好。", then a
                     conversation (promise, call later, dispute, hardship) with
                     pauses for the agent, looped with silence, until hung up
busy           10    486 Busy Here after a short network delay, no 180
no_answer      15    180 until the caller's CANCEL (487); 408 after ``no_answer_limit``
decline         5    180, then 603 Decline after the ring time
machine        10    180, answer, a long voicemail greeting, a beep, then silence
                     (the machine records for ``MACHINE_RECORDS`` seconds, then BYE)
wrong_number    8    180, answer, "喂？" ... "打错了", then BYE a moment later
hangs_up        7    180, answer, "喂？", then BYE within a second or two
=============  ====  ===========================================================

Audio is described, not made: a plan's ``opening`` (played once after the answer)
and ``loop`` (repeated after it) are sequences of :class:`Say`, :class:`Silence` and
:class:`Tone`; the shell renders them with synthesised speech.
"""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum


class Behaviour(StrEnum):
    TALKS = "talks"
    BUSY = "busy"
    NO_ANSWER = "no_answer"
    DECLINE = "decline"
    MACHINE = "machine"
    WRONG_NUMBER = "wrong_number"
    HANGS_UP = "hangs_up"


@dataclass(frozen=True, slots=True)
class Say:
    text: str


@dataclass(frozen=True, slots=True)
class Silence:
    seconds: float


@dataclass(frozen=True, slots=True)
class Tone:
    hertz: float
    seconds: float


Part = Say | Silence | Tone

GREETING = "喂？你好。"
HELLO = "喂？"
WRONG_NUMBER = "你找谁？你打错了。"
MACHINE_GREETING = "您好，您拨打的用户暂时无法接通，请在提示音后留言。"
BEEP = Tone(1000.0, 0.5)
MACHINE_RECORDS = 60.0  # a voicemail box records this long, then hangs up
CONVERSATIONS: tuple[tuple[str, ...], ...] = (
    ("哦，是银行的啊。", "欠款的事我知道。", "这个月底我一定还上。", "发了工资就还，大概二十号。"),
    ("我现在在开会，不方便说话。", "你晚点再打过来吧。", "下午五点以后再打。"),
    ("这个金额不对吧？", "我记得我只欠了三千多。", "你们先把账单发给我看看。"),
    ("我最近失业了，手头很紧。", "能不能分期还？", "每个月先还五百行不行？"),
)
DEFAULT_SHARES: Mapping[Behaviour, float] = {
    Behaviour.TALKS: 45, Behaviour.BUSY: 10, Behaviour.NO_ANSWER: 15, Behaviour.DECLINE: 5,
    Behaviour.MACHINE: 10, Behaviour.WRONG_NUMBER: 8, Behaviour.HANGS_UP: 7,
}


@dataclass(frozen=True, slots=True)
class Weights:
    """Relative weights of the behaviours (any scale, zero to disable one)."""

    shares: Mapping[Behaviour, float] = field(default_factory=lambda: dict(DEFAULT_SHARES))

    def __post_init__(self) -> None:
        if any(share < 0 for share in self.shares.values()):
            raise ValueError("behaviour weights cannot be negative")
        if sum(self.shares.values()) <= 0:
            raise ValueError("at least one behaviour needs a positive weight")

    @classmethod
    def parse(cls, text: str) -> Weights:
        """``busy=30,no_answer=0``: these weights, the defaults for the others."""
        shares = dict(cls().shares)
        for item in filter(None, (part.strip() for part in text.split(","))):
            name, equals, value = item.partition("=")
            try:
                behaviour, share = Behaviour(name.strip().replace("-", "_")), float(value)
            except ValueError:
                raise ValueError(f"not BEHAVIOUR=WEIGHT: {item!r} (behaviours: "
                                 f"{', '.join(Behaviour)})") from None  # fmt: skip
            if not equals:
                raise ValueError(f"not BEHAVIOUR=WEIGHT: {item!r}")
            shares[behaviour] = share
        return cls(shares)

    def percent(self) -> dict[Behaviour, float]:
        total = sum(self.shares.values())
        return {b: 100 * self.shares.get(b, 0) / total for b in Behaviour}


@dataclass(frozen=True, slots=True)
class Profile:
    """How the simulated network behaves: whose phone does what, and how long it rings."""

    seed: int = 0
    weights: Weights = field(default_factory=Weights)
    ring: tuple[float, float] = (2.0, 8.0)  # seconds before an answer or a decline
    no_answer_limit: float = 120.0  # the network gives up on an unanswered call: 408

    def __post_init__(self) -> None:
        low, high = self.ring
        if not 0 <= low <= high:
            raise ValueError(f"ring range {low}-{high} s is not 0 <= low <= high")


@dataclass(frozen=True, slots=True)
class Plan:
    """What one phone does with one call."""

    number: str
    behaviour: Behaviour
    rings: bool  # sends 180 Ringing
    ring_seconds: float  # before the answer or the final response
    final_status: int | None  # the final response instead of an answer
    opening: tuple[Part, ...] = ()  # played once, after the answer
    loop: tuple[Part, ...] = ()  # then repeated until the call ends
    hangs_up_after: float | None = None  # seconds after the opening; None: stays on

    @property
    def answers(self) -> bool:
        return self.final_status is None


def draw(seed: int, number: str, salt: str) -> float:
    """A point in [0, 1) fixed by the seed, the number and what it is drawn for."""
    digest = hashlib.blake2b(f"{seed}\0{number}\0{salt}".encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def behaviour_for(number: str, seed: int, weights: Weights) -> Behaviour:
    point = draw(seed, number, "behaviour") * sum(weights.shares.values())
    positive = [b for b in Behaviour if weights.shares.get(b, 0) > 0]
    for behaviour in positive:
        point -= weights.shares[behaviour]
        if point < 0:
            return behaviour
    return positive[-1]  # rounding at the very top


def plan_for(number: str, profile: Profile) -> Plan:
    behaviour = behaviour_for(number, profile.seed, profile.weights)
    low, high = profile.ring
    ring = round(low + (high - low) * draw(profile.seed, number, "ring"), 2)
    if behaviour is Behaviour.BUSY:
        delay = round(0.2 + 0.6 * draw(profile.seed, number, "busy"), 2)  # the network's
        return Plan(number, behaviour, False, delay, 486)
    if behaviour is Behaviour.NO_ANSWER:
        return Plan(number, behaviour, True, profile.no_answer_limit, 408)
    if behaviour is Behaviour.DECLINE:
        return Plan(number, behaviour, True, ring, 603)
    return dataclasses.replace(_spoken(behaviour, number, profile.seed), ring_seconds=ring)


def _spoken(behaviour: Behaviour, number: str, seed: int) -> Plan:
    """The plan of a phone that answers: what it says, and whether it hangs up."""
    if behaviour is Behaviour.MACHINE:
        opening: tuple[Part, ...] = (Say(MACHINE_GREETING), Silence(0.4), BEEP)
        return Plan(number, behaviour, True, 0, None, opening, (), MACHINE_RECORDS)
    if behaviour is Behaviour.WRONG_NUMBER:
        opening = (Say(HELLO), Silence(1.2), Say(WRONG_NUMBER))
        return Plan(number, behaviour, True, 0, None, opening, (), 1.0)
    if behaviour is Behaviour.HANGS_UP:
        after = round(0.5 + draw(seed, number, "hangs up"), 2)
        return Plan(number, behaviour, True, 0, None, (Say(HELLO),), (), after)
    return Plan(number, behaviour, True, 0, None, (Say(GREETING), Silence(1.5)),
                _conversation(number, seed))  # fmt: skip


def _conversation(number: str, seed: int) -> tuple[Part, ...]:
    """One of the conversations, a pause for the agent after each line, then a
    longer silence before it starts again."""
    pick = int(draw(seed, number, "conversation") * len(CONVERSATIONS))
    parts: list[Part] = []
    for index, line in enumerate(CONVERSATIONS[pick]):
        pause = 1.5 + 2.0 * draw(seed, number, f"pause {index}")
        parts += [Say(line), Silence(round(pause, 2))]
    return (*parts, Silence(4.0))


def all_texts() -> Iterator[str]:
    """Every sentence a plan can say (to synthesise them all up front)."""
    yield from (GREETING, HELLO, WRONG_NUMBER, MACHINE_GREETING)
    for conversation in CONVERSATIONS:
        yield from conversation
