"""ASR bench: Vosk speed per core with and without VAD, 8 vs 16 kHz, memory per worker.

Builds a two-speaker stereo call (default 10 minutes, 8 kHz) from the utterances of
``tests/data/transcription/ko_call.wav`` (cut with its truth JSON): turns alternate
agent / debtor, two to six utterances a turn, pauses of 0.5-4 s (mostly short), some interruptions
and a few long silences, over a faint noise floor (-60 dBFS) so that "silence" is not
digital zero. Audio goes to a temporary directory and is deleted.

Speed (this process, pinned to one CPU): ``x RT`` is seconds of call audio per CPU
second of the process (and per wall second); the two channels of a stereo call both
count in the CPU time, so "x RT per core" is call duration / CPU seconds. Configs:

* short calls (default 10 of 20-30 s) transcribed one by one with the recogniser kept
  warm (``CALLCASE_ASR_RECYCLE_S`` 600, the default), and with a new recogniser per
  channel of every call (0: each pays about 1.5 s of first-segment warm-up);
* ``vad``: :func:`transcription.pipeline.transcribe` as it is (VAD, only padded speech
  segments fed, one recogniser stream per channel);
* ``no vad``: each whole channel fed to one stream of the same recogniser (the pipeline
  has no switch for that);
* 8 kHz as recorded, or 16 kHz upsampled first with :func:`transcription.resample.upsample`
  (resampling time not counted).

The full call is run with VAD at 8 kHz (the headline); the four configs are compared
on an excerpt (default the first 2 minutes). ``--no-speed`` skips all of this.

Memory: the parent's RSS before and after loading the model, and at the end; one
worker per ``--worker-recycle`` value, forked after the load and before anything else
runs (as :mod:`transcription.worker` does; all at once, so the model's shared pages
are divided among the parent and every worker in their PSS), transcribes short calls
(20-30 s, same builder) in a thread and calls ``malloc_trim(0)`` after each (as the
worker does; ``--no-trim`` leaves the free pages to malloc), and reports from
``/proc/self/smaps_rollup`` its RSS, PSS and USS (private: what one more worker adds)
and malloc's bytes in use and held (``mallinfo2``) after 1, 10, 25, 50, 75 and 100
calls, or as many as its time budget allows. Run with ``MALLOC_ARENA_MAX=2`` in the
environment to try fewer malloc arenas.

    .venv/bin/python bench/asr_bench.py
    .venv/bin/python bench/asr_bench.py --minutes 10 --excerpt 2 --runs 3 --worker-budget 900
    .venv/bin/python bench/asr_bench.py --no-speed --worker-recycle 0 --worker-budget 5400
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import json
import os
import platform
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transcription.pipeline import Audio, read_wav, transcribe
from transcription.recognizer import Recognizer, VoskRecognizer, load
from transcription.resample import upsample
from transcription.segments import Pcm, VadConfig, find_segments

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "transcription" / "ko_call"
RATE = 8000
CHECKPOINTS = (1, 10, 25, 50, 75, 100)
TURN = {0: (2, 5), 1: (3, 7)}  # utterances a turn: agent 2-4, debtor 3-6 (shorter ones)


@dataclass(frozen=True, slots=True)
class Call:
    audio: Audio
    speech: tuple[float, float]  # truth: seconds of speech per channel


def utterances() -> dict[int, list[Pcm]]:
    """The fixture's utterances, cut from their speaker's channel (0 agent, 1 debtor)."""
    audio = read_wav(FIXTURE.with_suffix(".wav"))
    truth = json.loads(FIXTURE.with_suffix(".json").read_text())
    cuts: dict[int, list[Pcm]] = {0: [], 1: []}
    for u in truth["utterances"]:
        ch = 0 if u["speaker"] == "agent" else 1
        first, last = round((u["start"] - 0.05) * RATE), round((u["end"] + 0.05) * RATE)
        cuts[ch].append(audio.channels[ch][max(0, first):last].copy())
    return cuts


def build_call(cuts: dict[int, list[Pcm]], seconds: float, seed: int) -> Call:
    """A stereo call of ``seconds``: alternating turns with realistic pauses."""
    rng = np.random.default_rng(seed)
    n = round(seconds * RATE)
    tracks = [np.zeros(n, dtype=np.float64), np.zeros(n, dtype=np.float64)]
    speech = [0, 0]
    t, ch = 0.5, 0
    while True:
        for _ in range(int(rng.integers(*TURN[ch]))):
            pcm = cuts[ch][int(rng.integers(len(cuts[ch])))]
            start = round(t * RATE)
            if start + len(pcm) > n:
                return _finish(tracks, speech, rng)
            tracks[ch][start:start + len(pcm)] += pcm
            speech[ch] += len(pcm)
            t += len(pcm) / RATE + float(rng.uniform(0.1, 0.4))
        r = rng.random()
        if r < 0.04:
            t += float(rng.uniform(6.0, 12.0))  # on hold, looking something up
        elif r < 0.34:
            t -= float(rng.uniform(0.3, 1.5))  # the other one interrupts
        else:
            t += 0.5 + 3.5 * float(rng.beta(1.0, 2.5))  # 0.5-4 s, mostly short
        ch = 1 - ch


def _finish(tracks: list[npt.NDArray[np.float64]], speech: list[int],
            rng: np.random.Generator) -> Call:
    chans = []
    for track in tracks:
        noisy = track + rng.normal(0.0, 33.0, len(track))  # about -60 dBFS
        chans.append(np.clip(np.round(noisy), -32768, 32767).astype(np.int16))
    return Call(Audio(RATE, tuple(chans)), (speech[0] / RATE, speech[1] / RATE))


def excerpt(audio: Audio, seconds: float) -> Audio:
    n = round(seconds * audio.rate)
    return Audio(audio.rate, tuple(np.ascontiguousarray(c[:n]) for c in audio.channels))


def at_16k(audio: Audio) -> Audio:
    return Audio(16000, tuple(upsample(c, 2) for c in audio.channels))


def run_vad(recognizer: Recognizer, audio: Audio) -> int:
    return len(transcribe(audio, recognizer).words)


def run_calls(calls: list[Audio]) -> Callable[[Recognizer, Audio], int]:
    return lambda recognizer, _: sum(len(transcribe(c, recognizer).words) for c in calls)


def run_whole(recognizer: Recognizer, audio: Audio) -> int:
    words = 0
    for pcm in audio.channels:
        words += len(recognizer.stream(audio.rate).segment(pcm.tobytes()))
    return words


@dataclass(frozen=True, slots=True)
class Speed:
    label: str
    seconds: float
    cpu: float
    wall: float
    words: int
    runs: int


def measure(label: str, run: Callable[[Recognizer, Audio], int], recognizer: Recognizer,
            audio: Audio, runs: int) -> Speed:
    cpus, walls, words = [], [], 0
    for _ in range(runs):
        c0, w0 = time.process_time(), time.perf_counter()
        words = run(recognizer, audio)
        cpus.append(time.process_time() - c0)
        walls.append(time.perf_counter() - w0)
    s = Speed(label, audio.duration, statistics.median(cpus), statistics.median(walls),
              words, runs)
    print(f"  {label}: {s.seconds / s.cpu:.1f}x RT (CPU {s.cpu:.1f} s)", file=sys.stderr)
    return s


def proc_kb(path: str, keys: tuple[str, ...]) -> dict[str, int]:
    found: dict[str, int] = {}
    for line in Path(path).read_text().splitlines():
        name, _, rest = line.partition(":")
        if name in keys:
            found[name] = int(rest.split()[0])
    return found


class _MallInfo2(ctypes.Structure):
    _fields_ = [(name, ctypes.c_size_t) for name in (
        "arena", "ordblks", "smblks", "hblks", "hblkhd", "usmblks", "fsmblks", "uordblks",
        "fordblks", "keepcost")]


LIBC = ctypes.CDLL(None)  # glibc (2.33+ for mallinfo2)
LIBC.mallinfo2.restype = _MallInfo2


def memory_now() -> dict[str, int]:
    """kB: this process's RSS, PSS and USS (private), and malloc's bytes in use and
    held from the system, over all its arenas."""
    mem = proc_kb("/proc/self/smaps_rollup", ("Rss", "Pss", "Private_Clean", "Private_Dirty"))
    info = LIBC.mallinfo2()
    return {"rss": mem["Rss"], "pss": mem["Pss"],
            "uss": mem["Private_Clean"] + mem["Private_Dirty"],
            "heap_used": (info.uordblks + info.hblkhd) // 1024,
            "heap_held": (info.arena + info.hblkhd) // 1024}


def vm_rss() -> int:
    return proc_kb("/proc/self/status", ("VmRSS",))["VmRSS"]


@dataclass(frozen=True, slots=True)
class WorkerPlan:
    recycle_s: int
    calls: int
    budget: float
    trim: bool
    any_thread: bool  # the loop's default executor (asyncio.to_thread), as workers once did
    cpu: int | None


async def _transcribe_calls(recognizer: Recognizer, cuts: dict[int, list[Pcm]],
                            plan: WorkerPlan, out: int, asr: Executor | None) -> None:
    """The forked worker's body: short calls, each in ``asr`` (the worker's one
    transcription thread), with memory reported at the checkpoints."""
    deadline = time.monotonic() + plan.budget
    audio_s = cpu_s = 0.0
    loop = asyncio.get_running_loop()
    for i in range(1, plan.calls + 1):
        seed = 1000 + i
        call = build_call(cuts, float(np.random.default_rng(seed).uniform(20.0, 30.0)), seed)
        c0 = time.process_time()
        await loop.run_in_executor(asr, transcribe, call.audio, recognizer)
        if plan.trim:
            LIBC.malloc_trim(0)
        cpu_s += time.process_time() - c0
        audio_s += call.audio.duration
        last = i == plan.calls or time.monotonic() > deadline
        if i in CHECKPOINTS or last:
            report = json.dumps({"recycle_s": plan.recycle_s, "calls": i, **memory_now(),
                                 "threads": threading.active_count(), "audio": audio_s,
                                 "cpu": cpu_s})
            print(f"  worker: {report}", file=sys.stderr, flush=True)
            os.write(out, (report + "\n").encode())
        if last:
            return


def fork_worker(recognizer: VoskRecognizer, cuts: dict[int, list[Pcm]],
                plan: WorkerPlan) -> tuple[int, int]:
    """A memory worker forked from this process: its pid and its reports' pipe."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # never returns into the caller
        status = 1
        try:
            os.close(read_end)
            if plan.cpu is not None:
                os.sched_setaffinity(0, {plan.cpu})
            with ThreadPoolExecutor(1, thread_name_prefix="transcribe") as asr:
                asyncio.run(_transcribe_calls(recognizer.recycling(plan.recycle_s), cuts,
                                              plan, write_end, None if plan.any_thread else asr))
            status = 0
        finally:
            os._exit(status)
    os.close(write_end)
    return pid, read_end


def collect(workers: list[tuple[int, int]]) -> tuple[list[list[dict[str, float]]], bool]:
    """Every worker's reports, and whether all of them ended well."""
    reports, ok = [], True
    for pid, read_end in workers:
        with os.fdopen(read_end) as pipe:
            reports.append([json.loads(line) for line in pipe])
        _, status = os.waitpid(pid, 0)
        ok = ok and os.waitstatus_to_exitcode(status) == 0 and bool(reports[-1])
    return reports, ok


def speed_runs(recognizer: VoskRecognizer, cuts: dict[int, list[Pcm]],
               args: argparse.Namespace) -> tuple[Call, list[Speed]]:
    call = build_call(cuts, args.minutes * 60, seed=7)
    short = excerpt(call.audio, args.excerpt * 60)
    short16 = at_16k(short)
    calls = [build_call(cuts, float(np.random.default_rng(500 + i).uniform(20.0, 30.0)),
                        500 + i).audio for i in range(args.short_calls)]
    joined = Audio(RATE, tuple(np.concatenate([c.channels[k] for c in calls]) for k in (0, 1)))
    n, ex = args.short_calls, f"{args.excerpt:g} min excerpt"
    plan: list[tuple[str, Callable[[Recognizer, Audio], int], Recognizer, Audio]] = [
        (f"{n} calls of 20-30 s, VAD, recogniser kept warm (recycle "
         f"{recognizer.recycle_s:g} s)", run_calls(calls), recognizer, joined),
        (f"{n} calls of 20-30 s, VAD, new recogniser per call (recycle 0)", run_calls(calls),
         recognizer.recycling(0), joined),
        (f"{args.minutes:g} min call, VAD, 8 kHz", run_vad, recognizer, call.audio),
        (f"{ex}, VAD, 8 kHz", run_vad, recognizer, short),
        (f"{ex}, VAD, 16 kHz", run_vad, recognizer, short16),
        (f"{ex}, no VAD, 8 kHz", run_whole, recognizer, short),
        (f"{ex}, no VAD, 16 kHz", run_whole, recognizer, short16),
    ]
    print("speed runs:", file=sys.stderr)
    return call, [measure(label, run, rec, audio, args.runs) for label, run, rec, audio in plan]


def print_speed(call: Call, speeds: list[Speed], runs: int, cpu: int) -> None:
    silence = [1 - s / call.audio.duration for s in call.speech]
    found = find_segments(call.audio.channels, RATE, VadConfig())
    vad = [sum(g.duration for g in segs) / call.audio.duration for segs in found]
    print(f"- call: {call.audio.duration:.0f} s stereo 8 kHz built from ko_call utterances; "
          f"silence (truth) agent {silence[0]:.0%}, debtor {silence[1]:.0%}; "
          f"VAD speech agent {vad[0]:.0%}, debtor {vad[1]:.0%}")
    print(f"- speed: one process pinned to CPU {cpu}; x RT = call seconds / CPU seconds "
          f"(both channels); median of {runs} run(s); memory workers ran at the same time\n")
    print("| config | call s | CPU s | x RT per core (call s / CPU s) | x RT (wall) | words |")
    print("|---|---:|---:|---:|---:|---:|")
    for s in speeds:
        print(f"| {s.label} | {s.seconds:.0f} | {s.cpu:.1f} | {s.seconds / s.cpu:.1f} | "
              f"{s.seconds / s.wall:.1f} | {s.words} |")


def print_memory(rss: dict[str, int], reports: list[list[dict[str, float]]],
                 plans: list[WorkerPlan]) -> None:
    print(f"\n- parent RSS: {rss['before'] / 1024:.0f} MB before loading the model, "
          f"{rss['model'] / 1024:.0f} MB after (model +{(rss['model'] - rss['before']) / 1024:.0f}"
          f"), {rss['end'] / 1024:.0f} MB at the end")
    print(f"- {len(plans)} worker(s) forked after the load, at the same time; malloc_trim "
          f"after each call: {'yes' if plans and plans[0].trim else 'no'}; transcribing in "
          f"{'the default executor' if plans and plans[0].any_thread else 'one thread'}; "
          f"MALLOC_ARENA_MAX={os.environ.get('MALLOC_ARENA_MAX', 'unset')}\n")
    print("| worker (recycle s) | calls | PSS MB | USS MB | RSS MB | malloc in use MB "
          "| malloc held MB | threads |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    for plan, rows in zip(plans, reports, strict=True):
        for r in rows:
            print(f"| {plan.recycle_s} | {r['calls']} | {r['pss'] / 1024:.0f} | "
                  f"{r['uss'] / 1024:.0f} | {r['rss'] / 1024:.0f} | "
                  f"{r['heap_used'] / 1024:.0f} | {r['heap_held'] / 1024:.0f} | "
                  f"{r['threads']} |")


def print_targets(speeds: list[Speed], reports: list[list[dict[str, float]]],
                  plans: list[WorkerPlan]) -> None:
    print("\n## Targets\n")
    if speeds:
        warm, fresh = (s.seconds / s.cpu for s in speeds[:2])
        print(f"- >= 8x real time per core with VAD on typical (20-30 s) calls: warm "
              f"{warm:.1f}x ({'met' if warm >= 8 else 'NOT met'}), new recogniser per call "
              f"{fresh:.1f}x ({'met' if fresh >= 8 else 'NOT met'})")
    for plan, rows in zip(plans, reports, strict=True):
        if not rows:
            print(f"- worker recycle {plan.recycle_s}: no report (it failed)")
            continue
        uss, pss = (max(r[k] for r in rows) / 1024 for k in ("uss", "pss"))
        ten = next((r for r in rows if r["calls"] >= 10), rows[0])
        last = rows[-1]
        print(f"- worker recycle {plan.recycle_s}: < 400 MB extra per forked worker (USS): "
              f"max {uss:.0f} MB ({'met' if uss < 400 else 'NOT met'}; PSS max {pss:.0f}); "
              f"flat: from call {ten['calls']} to call {last['calls']} USS "
              f"{(last['uss'] - ten['uss']) / 1024:+.0f} MB, PSS "
              f"{(last['pss'] - ten['pss']) / 1024:+.0f} MB"
              + ("" if last["calls"] >= plan.calls else
                 f" (only {last['calls']} of {plan.calls} calls: budget)")
              + f"; {last['audio'] / last['cpu']:.1f}x RT per core on its calls")


def recycle_list(raw: str) -> list[int]:
    values = [int(v) for v in raw.split(",") if v.strip()]
    if any(v < 0 for v in values):
        raise argparse.ArgumentTypeError("recycle seconds are 0 or more")
    return values


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the long call")
    p.add_argument("--excerpt", type=float, default=2.0,
                   help="minutes of the call for the 4-config comparison")
    p.add_argument("--runs", type=int, default=1, help="runs per config (median)")
    p.add_argument("--short-calls", type=int, default=10,
                   help="20-30 s calls for the warm vs new recogniser comparison")
    p.add_argument("--no-speed", dest="speed", action="store_false", help="memory only")
    p.add_argument("--calls", type=int, default=100, help="short calls per memory worker")
    p.add_argument("--worker-recycle", type=recycle_list, default=[600, 0], metavar="S,S",
                   help="one memory worker per value: its CALLCASE_ASR_RECYCLE_S")
    p.add_argument("--worker-budget", type=float, default=3600.0,
                   help="wall seconds each memory worker may spend")
    p.add_argument("--trim", action=argparse.BooleanOptionalAction, default=True,
                   help="malloc_trim(0) after each call, as the worker does")
    p.add_argument("--any-thread", action="store_true",
                   help="transcribe in the loop's default executor (asyncio.to_thread) "
                   "instead of one dedicated thread, as workers did before")
    return p.parse_args()


def main() -> int:
    args = parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    rss = {"before": vm_rss()}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        recognizer = load("vosk", Path(tmp), os.environ)
        assert isinstance(recognizer, VoskRecognizer)
        rss["model"] = vm_rss()
        cuts = utterances()
        pin = cpus[1] if args.speed and len(cpus) > 1 else None
        plans = [WorkerPlan(r, args.calls, args.worker_budget, args.trim, args.any_thread, pin)
                 for r in args.worker_recycle]
        workers = [fork_worker(recognizer, cuts, plan) for plan in plans]  # before any thread
        speeds: list[Speed] = []
        if args.speed:
            os.sched_setaffinity(0, {cpus[0]})
            call, speeds = speed_runs(recognizer, cuts, args)
        reports, ok = collect(workers)
        rss["end"] = vm_rss()
    print(f"# ASR bench (Vosk {recognizer.model}, dither 0)\n")
    print(f"- machine: {platform.node()}, {len(cpus)} cores, load average "
          f"{os.getloadavg()[0]:.1f}, Python {platform.python_version()}; "
          f"date: {date.today().isoformat()}")
    if args.speed:
        print_speed(call, speeds, args.runs, cpus[0])
    print_memory(rss, reports, plans)
    print_targets(speeds, reports, plans)
    print(f"- bench runtime: {time.perf_counter() - started:.0f} s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
