"""The soak's samples and what they say: flat or growing, calls failed, audio kept.

Pure: numbers in, a table and verdict lines out. A resource is *flat* when, at an
equal number of calls in progress, it grows over the steady span (after the ramp-up,
before any overload) by no more than ``max(share * median, floor)``. The fit is a
least-squares plane, ``value = a + b * time + c * calls``, judged on ``b``: file
descriptors, tasks and ports follow the calls up, which the media clock's overload
gauge swings between a quarter and all of the target, and a line against time alone
takes a swing that ends high for growth. A leak of one file descriptor per hundred
calls still shows. A recording *keeps its audio* when few of its
middle 20 ms frames are exact silence (both peers play tones that never are).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields

import numpy as np
import numpy.typing as npt


@dataclass(frozen=True, slots=True)
class Sample:
    at: float  # seconds since the campaign started
    calls: int  # calls in progress (debtor legs bridged or ringing)
    ports: int  # RTP ports in use
    rss_mb: float
    fds: int
    threads: int
    tasks: int
    backlog: int  # recorder: ticks handed to the writer not yet written
    redis_keys: int
    redis_mb: float
    redis_queues: int  # total length of Redis lists, sorted sets and streams
    transcripts_queued: int  # no workers in the soak: grows one per call, not judged
    ended: int  # attempts ended so far
    failed: int  # of which did not end connected
    loss: float  # RTP packets lost / received by the engine since the last sample
    late_p99_ms: float  # media tick completion p99 since the last sample
    cpu: float  # this process, share of one core since the last sample
    load1: float  # the machine's 1-minute load average (shared machines: read it first)


# metric -> (share of the median, floor) its steady growth may reach
FLAT: dict[str, tuple[float, float]] = {
    "rss_mb": (0.05, 16.0),
    "fds": (0.05, 16.0),
    "threads": (0.0, 2.0),
    "tasks": (0.05, 20.0),
    "ports": (0.10, 20.0),
    "backlog": (0.0, 100.0),
    "redis_keys": (0.05, 50.0),
    "redis_mb": (0.05, 4.0),
    "redis_queues": (0.05, 50.0),
}
MAX_FAILED = 0.001  # failed calls / ended calls
SILENT_FRAMES_OK = 0.02  # a recording keeps its audio: at most this share silent


@dataclass(frozen=True, slots=True)
class Trend:
    metric: str
    median: float
    growth: float  # slope against time at an equal number of calls * steady span
    limit: float

    @property
    def flat(self) -> bool:
        return self.growth <= self.limit


def trends(samples: Sequence[Sample]) -> list[Trend]:
    """Each :data:`FLAT` metric's growth over ``samples`` (the steady ones)."""
    if len(samples) < 3:
        return []
    at = np.array([s.at for s in samples])
    calls = np.array([float(s.calls) for s in samples])
    columns = [np.ones_like(at), at - at[0]]
    if np.ptp(calls) > 0:  # an equal load throughout: time alone
        columns.append(calls)
    design = np.column_stack(columns)
    found = []
    for metric, (share, floor) in FLAT.items():
        values = np.array([float(getattr(s, metric)) for s in samples])
        slope = float(np.linalg.lstsq(design, values, rcond=None)[0][1])
        median = float(np.median(values))
        found.append(
            Trend(metric, median, slope * float(at[-1] - at[0]), max(share * median, floor))
        )
    return found


def steady(samples: Sequence[Sample], *, ramp_s: float, until: float | None) -> list[Sample]:
    return [s for s in samples if s.at >= ramp_s and (until is None or s.at < until)]


def table(samples: Sequence[Sample]) -> list[str]:
    names = [f.name for f in fields(Sample)]
    rows = [names] + [[_cell(getattr(s, n)) for n in names] for s in samples]
    widths = [max(len(row[i]) for row in rows) for i in range(len(names))]
    return [
        "  ".join(cell.rjust(width) for cell, width in zip(row, widths, strict=True))
        for row in rows
    ]


def _cell(value: object) -> str:
    if isinstance(value, float):
        return f"{value:.4f}" if abs(value) < 0.1 else f"{value:.1f}"
    return str(value)


def silent_share(
    samples: npt.NDArray[np.int16], *, skip_s: float = 2.0, tail_s: float = 1.0
) -> float:
    """Share of the 20 ms frames (after ``skip_s``, before the last ``tail_s``) that
    are exact digital silence: ticks that carried no audio."""
    frames = samples[int(skip_s * 8000) : len(samples) - int(tail_s * 8000)]
    frames = frames[: len(frames) // 160 * 160].reshape(-1, 160)
    if not len(frames):
        return 0.0
    return float((~frames.any(axis=1)).mean())


@dataclass(frozen=True, slots=True)
class Heard:
    """One finished recording's audio check."""

    finished_at: float  # seconds since the campaign started
    seconds: float
    agent_silent: float
    debtor_silent: float

    @property
    def kept(self) -> bool:
        return max(self.agent_silent, self.debtor_silent) <= SILENT_FRAMES_OK


def overlaps(heard: Heard, window: tuple[float, float]) -> bool:
    """The recording was under way at some time in ``window`` (seconds since the
    campaign started)."""
    return heard.finished_at - heard.seconds <= window[1] and heard.finished_at >= window[0]


def audio_lines(name: str, heard: Sequence[Heard]) -> tuple[bool, list[str]]:
    """Every call is recorded with its audio: at least 99% of ``heard`` kept it."""
    if not heard:
        return False, [f"{name}: no recordings finished"]
    kept = sum(h.kept for h in heard)
    ok = kept >= 0.99 * len(heard)
    worst = max(max(h.agent_silent, h.debtor_silent) for h in heard)
    median = float(np.median([max(h.agent_silent, h.debtor_silent) for h in heard]))
    return ok, [
        f"{name}: {'ok' if ok else 'SILENT'} {kept}/{len(heard)} recordings kept their audio"
        f" (silent frames: median {median:.2%}, worst {worst:.2%}; limit {SILENT_FRAMES_OK:.0%}"
        " in a recording, 99% of the recordings)"
    ]


def verdict(samples: Sequence[Sample], steady_samples: Sequence[Sample]) -> tuple[bool, list[str]]:
    lines, ok = [], True
    for trend in trends(steady_samples):
        ok &= trend.flat
        lines.append(
            f"{trend.metric:<13} {'flat' if trend.flat else 'GROWS':<5} "
            f"median {trend.median:10.1f}  growth {trend.growth:+9.1f}"
            f"  (limit {trend.limit:.1f})"
        )
    last = samples[-1] if samples else None
    if last is None or not last.ended:
        return False, [*lines, "no call ended"]
    rate = last.failed / last.ended
    ok &= rate < MAX_FAILED
    lines.append(
        f"failed calls  {'ok' if rate < MAX_FAILED else 'TOO MANY':<5} "
        f"{last.failed}/{last.ended} = {rate:.3%} (limit {MAX_FAILED:.1%})"
    )
    return ok, lines


@dataclass(frozen=True, slots=True)
class Overload:
    """The overload window (seconds since the campaign started) and what the new
    calls offered in it were answered (final SIP status -> count)."""

    begins: float
    ends: float
    offered_per_s: float
    invites: int
    statuses: dict[int, int]


def judge_overload(
    overload: Overload,
    rows: Sequence[Sample],
    heard: Sequence[Heard],
    *,
    talk_s: float,
    sample_s: float,
) -> tuple[bool, list[str]]:
    """New calls refused with 503; the calls in progress meanwhile: none failed, RTP
    loss at most 0.1%, and the recordings that spanned the window kept their audio."""
    begins, ends = overload.begins, overload.ends
    finals = {status: n for status, n in overload.statuses.items() if status >= 200}
    got_503 = overload.invites > 0 and finals.get(503, 0) >= 0.99 * overload.invites
    before = [r for r in rows if begins - (ends - begins) <= r.at < begins]
    during = [r for r in rows if begins <= r.at <= ends + sample_s]
    failed = (during[-1].failed - before[-1].failed) if before and during else -1
    loss = max((r.loss for r in during), default=0.0)
    spanned = [h for h in heard if begins <= h.finished_at <= ends + talk_s + sample_s]
    kept = sum(h.kept for h in spanned)
    audio_ok = failed == 0 and loss <= 0.001 and kept >= 0.99 * len(spanned)
    late_during = max((r.late_p99_ms for r in during), default=0.0)
    late_before = max((r.late_p99_ms for r in before), default=0.0)
    return got_503 and audio_ok, [
        f"overload      {'ok' if got_503 else 'NO 503':<5} {overload.invites} new calls "
        f"offered at {overload.offered_per_s:.1f}/s, answered {finals}",
        f"in progress   {'ok' if audio_ok else 'HURT':<5} during the overload: {failed} "
        f"failed, RTP loss at most {loss:.3%}, tick p99 at most {late_during:.1f} ms (the "
        f"window before: {late_before:.1f} ms); {kept}/{len(spanned)} recordings that "
        "spanned it kept their audio",
    ]
