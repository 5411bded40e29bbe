"""The pure parts of the simulated carrier: the draw, the weights, the plans, the
report lines, and babble when espeak-ng is missing. The carrier itself, over real SIP
and RTP, is tested in tests/api/test_simulate_carrier.py."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import numpy as np
import pytest

from telephony.media.sources import FRAME
from telephony.simulated.behaviour import (
    BEEP,
    MACHINE_GREETING,
    Behaviour,
    Plan,
    Profile,
    Say,
    Weights,
    behaviour_for,
    plan_for,
)
from telephony.simulated.report import CallReport, Result, Tally
from telephony.simulated.sounds import babble
from telephony.simulated.speech import Speech

SEED = 7
NUMBERS = [f"+8613{n:09d}" for n in range(20_000)]


def test_the_draw_is_fixed_by_number_and_seed_and_follows_the_weights() -> None:
    weights = Weights()
    drawn = [behaviour_for(number, SEED, weights) for number in NUMBERS]
    assert drawn == [behaviour_for(number, SEED, weights) for number in NUMBERS]
    other = [behaviour_for(number, SEED + 1, weights) for number in NUMBERS]
    assert sum(a != b for a, b in zip(drawn, other, strict=True)) > len(NUMBERS) // 2
    counts = Counter(drawn)
    for behaviour, percent in weights.percent().items():
        assert 100 * counts[behaviour] / len(NUMBERS) == pytest.approx(percent, abs=1.5)


def test_weights_parse_overrides_and_refuses_nonsense() -> None:
    weights = Weights.parse("busy=30, no-answer=0")
    assert weights.shares[Behaviour.BUSY] == 30 and weights.shares[Behaviour.NO_ANSWER] == 0
    assert weights.shares[Behaviour.TALKS] == 45
    assert Behaviour.NO_ANSWER not in {behaviour_for(n, 1, weights) for n in NUMBERS[:2000]}
    for bad in ("busy", "busy=x", "shouts=5", "busy=-1"):
        with pytest.raises(ValueError):
            Weights.parse(bad)
    with pytest.raises(ValueError, match="positive"):
        Weights({Behaviour.BUSY: 0})


def test_plans_ring_answer_and_hang_up_as_each_behaviour_does() -> None:
    profile = Profile(seed=SEED, ring=(2.0, 8.0), no_answer_limit=90.0)
    plans: dict[Behaviour, Plan] = {}
    for number in NUMBERS[:500]:
        plans.setdefault(behaviour_for(number, SEED, profile.weights), plan_for(number, profile))
    assert set(plans) == set(Behaviour)
    shapes = {b: (p.rings, p.final_status, p.hangs_up_after is not None, bool(p.loop))
              for b, p in plans.items()}  # fmt: skip
    assert shapes == {
        Behaviour.TALKS: (True, None, False, True), Behaviour.BUSY: (False, 486, False, False),
        Behaviour.NO_ANSWER: (True, 408, False, False),
        Behaviour.DECLINE: (True, 603, False, False), Behaviour.MACHINE: (True, None, True, False),
        Behaviour.WRONG_NUMBER: (True, None, True, False),
        Behaviour.HANGS_UP: (True, None, True, False),
    }  # fmt: skip
    assert plans[Behaviour.NO_ANSWER].ring_seconds == 90.0  # then the network's 408
    assert all(2.0 <= p.ring_seconds <= 8.0 for p in plans.values() if p.answers)
    machine = plans[Behaviour.MACHINE].opening
    assert (machine[0], machine[-1]) == (Say(MACHINE_GREETING), BEEP)  # greeting ... beep
    assert "打错了" in "".join(p.text for p in plans[Behaviour.WRONG_NUMBER].opening
                             if isinstance(p, Say))  # fmt: skip


def test_each_call_is_one_line_and_the_tally_sums_them() -> None:
    reports = [
        CallReport("a", "+8613800000001", Behaviour.BUSY, Result.REJECTED, 486, 0.43),
        CallReport("b", "+8613800000002", Behaviour.TALKS, Result.CALLER_HUNG_UP, 200, 3.2, 41.0),
        CallReport("c", "", None, Result.REFUSED, 404, note="no phone number in the Request-URI"),
    ]
    assert [report.line() for report in reports] == [
        "+8613800000001   busy          486 Busy Here after 0.4 s",
        "+8613800000002   talks         answered after 3.2 s, the caller hung up after 41.0 s",
        "-                invalid       refused: 404 Not Found (no phone number in the "
        "Request-URI)",
    ]
    tally = Tally()
    for report in [*reports, reports[0]]:
        tally.add(report)
    assert tally.lines() == [
        "4 calls",
        "  talks             1  (caller_hung_up 1)",
        "  busy              2  (rejected 2)",
        "  invalid           1  (refused 1)",
    ]


async def test_without_espeak_ng_the_phones_babble(tmp_path: Path) -> None:
    speech = Speech(tmp_path / "cache", espeak="no-such-espeak-ng")
    assert speech.missing == ["espeak-ng"]
    await speech.prepare([MACHINE_GREETING, "喂？"])
    assert speech.babbled == {MACHINE_GREETING, "喂？"}
    long, short = speech.say(MACHINE_GREETING), speech.say("喂？")
    assert 5 < len(long) / 8000 < 12 and len(short) / 8000 < 1.5  # about as long as said
    frames = long[: len(long) // FRAME * FRAME].reshape(-1, FRAME).astype(np.float64)
    loud = np.sqrt(np.mean(frames**2, axis=1)) > 300
    assert 0.5 < loud.mean() < 0.95  # sound, with pauses in it
    assert np.array_equal(babble(MACHINE_GREETING), long)  # the same on every run
    assert not (tmp_path / "cache").exists()  # nothing cached
