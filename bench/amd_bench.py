"""AMD bench: how often the answering-machine detector is right, how fast, how cheap.

Synthesizes the greetings of ``tests/dialer/amd_fixtures.py`` (espeak-ng voices in
English and Mandarin, several speeds, pitches, levels, line noises and both G.711
laws): short live greetings followed by silence, and machine greetings (voicemail,
carrier announcements). The texts are split in halves. ``--tune`` searches the
thresholds on the train half only (as recorded and again on lines at 10 dB SNR); the
figures that count are those of the held-out test half, with the thresholds given
(the defaults of :class:`dialer.amd.AmdConfig` unless ``--tune``). People answering
with a whole sentence are reported apart: nothing was tuned on them, and the greeting
pattern reads most of them as machines.

Prints, as markdown: who answered against the verdict per set, with the median audio
heard until the verdict; accuracy (a ``not_sure`` counts as a miss), people called
machines (hung up on: abandoned calls) and machines called people (sent to agents);
the detector's CPU cost (frames per second on one core for whole calls from answer to
verdict, and how many calls one core could follow in real time).

    .venv/bin/python bench/amd_bench.py
    .venv/bin/python bench/amd_bench.py --tune --verbose --variants 6
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from datetime import date
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from dialer.amd import FRAME_MS, AmdConfig, AmdDetector, AmdResult, GreetingPattern, Verdict
from tests.dialer.amd_fixtures import (
    Greeting,
    Kind,
    Split,
    catalogue,
    frames,
    long_live,
    noisy,
    render,
)

EXPECTED = {Kind.LIVE: Verdict.HUMAN, Kind.MACHINE: Verdict.MACHINE}
CANDIDATES: dict[str, Sequence[int | float]] = {
    "greeting_ms": range(1000, 3001, 250),
    "after_greeting_silence_ms": range(400, 1001, 100),
    "min_word_ms": (60, 80, 100, 120, 160, 200, 300),
    "between_words_silence_ms": (20, 40, 60, 80, 100, 150, 200, 300),
    "max_words": (2, 3, 4, 5, 6, 8, 10, 99),
    "silence_threshold_dbfs": (-60.0, -55.0, -50.0, -45.0, -40.0),  # quiet talkers: -35
    "noise_margin_db": (0.0, 2.0, 3.0, 4.0, 5.0, 6.0, 8.0, 10.0),
    "noise_floor_rise_db": (0.05, 0.1, 0.2, 0.3, 0.5),
    "vad_mode": (0, 1, 2, 3),
}
# these change the speech flags
AUDIO_KEYS = ("silence_threshold_dbfs", "noise_margin_db", "noise_floor_rise_db", "vad_mode")


@dataclass(frozen=True, slots=True)
class Call:
    greeting: Greeting
    frames: tuple[bytes, ...]

    @property
    def expected(self) -> Verdict:
        return EXPECTED[self.greeting.kind]


def load(greetings: Sequence[Greeting], cache: Path) -> list[Call]:
    """Render every greeting (espeak-ng and sox in parallel, parts cached)."""

    def one(greeting: Greeting) -> Call:
        return Call(greeting, tuple(frames(render(greeting, cache))))

    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        return list(pool.map(one, greetings))


def detect(call: Call, config: AmdConfig) -> AmdResult:
    detector = AmdDetector(config)
    for frame in call.frames:
        result = detector.feed(frame)
        if result is not None:
            return result
    raise RuntimeError(f"{call.greeting.name}: no verdict in {len(call.frames)} frames")


def speech_flags(calls: Sequence[Call], config: AmdConfig) -> list[list[bool]]:
    """Each call's frames as the detector's speech/silence decisions (no early stop)."""
    found = []
    for call in calls:
        detector = AmdDetector(config)
        found.append([detector.is_speech(frame) for frame in call.frames])
    return found


def classify(flags: Sequence[Sequence[bool]], config: AmdConfig) -> list[AmdResult]:
    results = []
    for one in flags:
        pattern = GreetingPattern(config)
        result = None
        for speech in one:
            result = pattern.step(speech)
            if result is not None:
                break
        assert result is not None, "clips are longer than the total analysis time"
        results.append(result)
    return results


# -- tuning on the train half -------------------------------------------------------------


Score = tuple[int, float]


def score(calls: Sequence[Call], results: Sequence[AmdResult]) -> Score:
    """Right verdicts less people called machines (a person hung up on is an abandoned
    call: it counts as two mistakes), then the quickest human verdicts (the median
    audio heard: the person waits in silence that long)."""
    pairs = list(zip(calls, results, strict=True))
    right = sum(r.verdict == c.expected for c, r in pairs)
    hung_up = sum(c.greeting.kind is Kind.LIVE and r.verdict is Verdict.MACHINE for c, r in pairs)
    waits = [r.decided_after_ms for c, r in pairs if c.greeting.kind is Kind.LIVE]
    return right - hung_up, -statistics.median(waits)


def pick(values: Sequence[int | float], scores: dict[int | float, Score]) -> int | float:
    """Among the values with the best verdicts, the quickest one whose neighbours do as
    well (never at the edge of the best range, nor at the end of the candidates: what
    lies beyond is unknown); ties go to the middle one."""
    top = max(found[0] for found in scores.values())
    best = [scores[value][0] == top for value in values]
    inner = [v for i, v in enumerate(values[1:-1], 1) if all(best[i - 1 : i + 2])]
    if not inner:
        inner = [value for index, value in enumerate(values) if best[index]]
    quickest = max(scores[value][1] for value in inner)
    tied = [value for value in inner if scores[value][1] == quickest]
    return tied[len(tied) // 2]


def setting(config: AmdConfig, name: str, value: object) -> AmdConfig:
    changes: dict[str, Any] = {name: value}
    return replace(config, **changes)


def tune(calls: Sequence[Call], start: AmdConfig, rounds: int = 4) -> AmdConfig:
    """Coordinate search on the train half: each threshold in turn is tried at every
    candidate, the others held, and set by :func:`pick`, until a round changes nothing."""
    flag_cache: dict[tuple[object, ...], list[list[bool]]] = {}

    def evaluate(config: AmdConfig) -> Score:
        key = tuple(getattr(config, name) for name in AUDIO_KEYS)
        if key not in flag_cache:
            flag_cache[key] = speech_flags(calls, config)
        return score(calls, classify(flag_cache[key], config))

    best = start
    for _ in range(rounds):
        before = best
        for name, values in CANDIDATES.items():
            scores = {value: evaluate(setting(best, name, value)) for value in values}
            best = setting(best, name, pick(values, scores))
        if best == before:
            break
    return best


# -- report -------------------------------------------------------------------------------


def confusion(label: str, calls: Sequence[Call], results: Sequence[AmdResult]) -> list[str]:
    """Rows of who answered against the verdict, with the median audio until it."""
    rows = []
    for kind in Kind:
        mine = [r for c, r in zip(calls, results, strict=True) if c.greeting.kind is kind]
        if not mine:
            continue
        counts = Counter(r.verdict for r in mine)
        median = statistics.median(r.decided_after_ms for r in mine)
        cells = " | ".join(str(counts[v]) for v in Verdict)
        rows.append(f"| {label} | {kind} | {len(mine)} | {cells} | {median:.0f} ms |")
    return rows


def summary(label: str, calls: Sequence[Call], results: Sequence[AmdResult]) -> str:
    pairs = list(zip(calls, results, strict=True))
    right = sum(r.verdict == c.expected for c, r in pairs)
    hung_up = sum(c.greeting.kind is Kind.LIVE and r.verdict is Verdict.MACHINE for c, r in pairs)
    missed = sum(c.greeting.kind is Kind.MACHINE and r.verdict is Verdict.HUMAN for c, r in pairs)
    share = 100 * right / len(pairs)
    return f"| {label} | {right}/{len(pairs)} = {share:.1f}% | {hung_up} | {missed} |"


def cpu_cost(calls: Sequence[Call], config: AmdConfig, repeat: int = 5) -> tuple[float, float]:
    """Frames per CPU second and CPU µs per call, whole calls from answer to verdict
    (median of ``repeat`` passes over all calls)."""
    rates, per_call = [], []
    for _ in range(repeat):
        fed, started = 0, time.process_time()
        for call in calls:
            fed += detect(call, config).decided_after_ms // FRAME_MS
        spent = time.process_time() - started
        rates.append(fed / spent)
        per_call.append(spent / len(calls) * 1e6)
    return statistics.median(rates), statistics.median(per_call)


def misread(calls: Sequence[Call], results: Sequence[AmdResult]) -> list[str]:
    return [
        f"  {c.greeting.name} ({c.greeting.style.voice}, {' / '.join(c.greeting.parts)[:50]}):"
        f" {r.verdict} {r.cause} after {r.decided_after_ms} ms,"
        f" {r.words} words, greeting {r.greeting_ms} ms"
        for c, r in zip(calls, results, strict=True)
        if r.verdict != c.expected
    ]


def report(config: AmdConfig, sets: dict[str, list[Call]], verbose: bool) -> None:
    results = {label: [detect(call, config) for call in calls] for label, calls in sets.items()}
    print("| set | answered by | calls | human | machine | not sure | median verdict after |")
    print("|---|---|---|---|---|---|---|")
    for label, calls in sets.items():
        print("\n".join(confusion(label, calls, results[label])))
    print("\n| set | accuracy | people called machines | machines called people |")
    print("|---|---|---|---|")
    for label, calls in sets.items():
        print(summary(label, calls, results[label]))
    rate, micros = cpu_cost([call for calls in sets.values() for call in calls], config)
    print("\n| detector CPU (one core) | |\n|---|---|")
    print(f"| frames per second | {rate:,.0f} |")
    print(f"| per call, answer to verdict | {micros:,.0f} µs |")
    print(f"| calls followed in real time | {rate * FRAME_MS / 1000:,.0f} |")
    if verbose:
        for label, calls in sets.items():
            print(f"\nmisread in {label}:", *misread(calls, results[label]), sep="\n")


def machine() -> str:
    espeak = subprocess.run(["espeak-ng", "--version"], capture_output=True, text=True, check=True)
    return (
        f"{date.today()}, {os.cpu_count()} cores, Python {platform.python_version()},"
        f" {espeak.stdout.split(' Data')[0].strip()}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--variants", type=int, default=4, help="styles per text")
    parser.add_argument("--tune", action="store_true", help="tune on the train half first")
    parser.add_argument("--verbose", action="store_true", help="list the misread greetings")
    parser.add_argument(
        "--cache", type=Path, default=Path(tempfile.gettempdir()) / "callcase-amd-greetings"
    )
    args = parser.parse_args()
    started = time.perf_counter()
    sets = {
        "train": catalogue(Split.TRAIN, args.variants),
        "train at 10 dB SNR": noisy(catalogue(Split.TRAIN, args.variants)),
        "test (held out)": catalogue(Split.TEST, args.variants),
        "test at 10 dB SNR": noisy(catalogue(Split.TEST, args.variants)),
        "whole-sentence live": long_live(args.variants),
    }
    calls = {label: load(greetings, args.cache) for label, greetings in sets.items()}
    count = sum(len(found) for found in calls.values())
    print(f"{machine()}; synthesized {count} greetings in {time.perf_counter() - started:.1f} s\n")
    config = AmdConfig()
    if args.tune:
        config = tune([*calls["train"], *calls["train at 10 dB SNR"]], config)
    print(f"`{config}`\n")
    report(config, calls, args.verbose)
    print(f"\nbench ran {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main()
