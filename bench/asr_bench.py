"""ASR bench: Vosk speed per core with and without VAD, 8 vs 16 kHz, memory per worker.

Builds a two-speaker stereo call (default 10 minutes, 8 kHz) from the utterances of
``tests/data/transcription/ko_call.wav`` (cut with its truth JSON): turns alternate
agent / debtor, two to six utterances a turn, pauses of 0.5-4 s (mostly short), some interruptions
and a few long silences, over a faint noise floor (-60 dBFS) so that "silence" is not
digital zero. Audio goes to a temporary directory and is deleted.

Speed (this process, pinned to one CPU): ``x RT`` is seconds of call audio per CPU
second of the process (and per wall second); the two channels of a stereo call both
count in the CPU time, so "x RT per core" is call duration / CPU seconds. Configs:

* short calls (default 10 of 20-30 s) transcribed one by one with the process's
  recogniser kept warm (as workers do), and with a new recogniser per channel of every
  call (as before: each pays about 1.5 s of first-segment warm-up);
* ``vad``: :func:`transcription.pipeline.transcribe` as it is (VAD, only padded speech
  segments fed, one recogniser stream per channel);
* ``no vad``: each whole channel fed to one stream of the same recogniser (the pipeline
  has no switch for that);
* 8 kHz as recorded, or 16 kHz upsampled first with :func:`transcription.resample.upsample`
  (resampling time not counted).

The full call is run with VAD at 8 kHz (the headline); the four configs are compared
on an excerpt (default the first 2 minutes) so the whole bench stays near 6 minutes.

Memory: the parent's RSS before and after loading the model; a worker forked after the
load (as :mod:`transcription.worker` does), pinned to another CPU when there is one,
transcribes short calls (20-30 s, same builder) and reports its PSS and private memory
(``/proc/self/smaps_rollup``) after 1, 10, 25, 50 and 100 calls, or as many as its
time budget allows (said in the table).

    .venv/bin/python bench/asr_bench.py
    .venv/bin/python bench/asr_bench.py --minutes 10 --excerpt 2 --runs 3 --worker-budget 900
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
import numpy.typing as npt

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from transcription.pipeline import Audio, read_wav, transcribe
from transcription.recognizer import ChannelStream, Recognizer, _WarmVosk, load
from transcription.resample import upsample
from transcription.segments import Pcm, VadConfig, find_segments

FIXTURE = Path(__file__).resolve().parents[1] / "tests" / "data" / "transcription" / "ko_call"
RATE = 8000
CHECKPOINTS = (1, 10, 25, 50, 100)
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


class FreshPerCall:
    """The recogniser as it was before it was kept warm: a new Kaldi recogniser for
    every channel of every call (each pays its first-segment warm-up)."""

    def __init__(self, warm: Recognizer) -> None:
        self.engine, self.model, self._warm = warm.engine, warm.model, warm

    def stream(self, rate: int) -> ChannelStream:
        return _WarmVosk(lambda: self._warm._recognizer(rate), rate)  # type: ignore[attr-defined]


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


def worker(recognizer: Recognizer, cuts: dict[int, list[Pcm]], calls: int, budget: float,
           cpu: int | None, out: int) -> None:
    """The forked worker's body: transcribe short calls, report memory at checkpoints."""
    if cpu is not None:
        os.sched_setaffinity(0, {cpu})
    deadline = time.monotonic() + budget
    audio_s = cpu_s = 0.0
    for i in range(1, calls + 1):
        rng = np.random.default_rng(1000 + i)
        call = build_call(cuts, float(rng.uniform(20.0, 30.0)), 1000 + i)
        c0 = time.process_time()
        transcribe(call.audio, recognizer)
        cpu_s += time.process_time() - c0
        audio_s += call.audio.duration
        last = i == calls or time.monotonic() > deadline
        if i in CHECKPOINTS or last:
            mem = proc_kb("/proc/self/smaps_rollup",
                          ("Rss", "Pss", "Private_Clean", "Private_Dirty"))
            report = {"calls": i, "rss": mem["Rss"], "pss": mem["Pss"],
                      "private": mem["Private_Clean"] + mem["Private_Dirty"],
                      "audio": audio_s, "cpu": cpu_s}
            os.write(out, (json.dumps(report) + "\n").encode())
        if last:
            return


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--minutes", type=float, default=10.0, help="length of the long call")
    p.add_argument("--excerpt", type=float, default=2.0,
                   help="minutes of the call for the 4-config comparison")
    p.add_argument("--runs", type=int, default=1, help="runs per config (median)")
    p.add_argument("--calls", type=int, default=100, help="short calls for the memory worker")
    p.add_argument("--short-calls", type=int, default=10,
                   help="20-30 s calls for the warm vs new recogniser comparison")
    p.add_argument("--worker-budget", type=float, default=330.0,
                   help="wall seconds the memory worker may spend")
    args = p.parse_args()
    cores = os.cpu_count() or 1
    cpus = sorted(os.sched_getaffinity(0))
    rss_before = proc_kb("/proc/self/status", ("VmRSS",))["VmRSS"]
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="asr-bench-") as tmp:
        recognizer = load("vosk", Path(tmp), os.environ)
        rss_model = proc_kb("/proc/self/status", ("VmRSS",))["VmRSS"]
        cuts = utterances()
        read_end, write_end = os.pipe()
        pid = os.fork()  # before any thread: as transcription/worker.py does
        if pid == 0:
            status = 1
            try:
                os.close(read_end)
                worker(recognizer, cuts, args.calls, args.worker_budget,
                       cpus[1] if len(cpus) > 1 else None, write_end)
                status = 0
            finally:
                os._exit(status)
        os.close(write_end)
        os.sched_setaffinity(0, {cpus[0]})
        call = build_call(cuts, args.minutes * 60, seed=7)
        silence = [1 - s / call.audio.duration for s in call.speech]
        short = excerpt(call.audio, args.excerpt * 60)
        short16 = at_16k(short)
        print(f"speed runs (pinned to CPU {cpus[0]}):", file=sys.stderr)
        calls = [build_call(cuts, float(np.random.default_rng(500 + i).uniform(20.0, 30.0)),
                            500 + i).audio for i in range(args.short_calls)]
        joined = Audio(RATE, tuple(np.concatenate([c.channels[k] for c in calls])
                                   for k in (0, 1)))
        speeds = [
            measure(f"{args.short_calls} calls of 20-30 s, VAD, recogniser kept warm",
                    run_calls(calls), recognizer, joined, args.runs),
            measure(f"{args.short_calls} calls of 20-30 s, VAD, new recogniser per call",
                    run_calls(calls), FreshPerCall(recognizer), joined, args.runs),
            measure(f"{args.minutes:g} min call, VAD, 8 kHz", run_vad, recognizer,
                    call.audio, args.runs),
            measure(f"{args.excerpt:g} min excerpt, VAD, 8 kHz", run_vad, recognizer,
                    short, args.runs),
            measure(f"{args.excerpt:g} min excerpt, VAD, 16 kHz", run_vad, recognizer,
                    short16, args.runs),
            measure(f"{args.excerpt:g} min excerpt, no VAD, 8 kHz", run_whole, recognizer,
                    short, args.runs),
            measure(f"{args.excerpt:g} min excerpt, no VAD, 16 kHz", run_whole, recognizer,
                    short16, args.runs),
        ]
        found = find_segments(call.audio.channels, RATE, VadConfig())
        vad_speech = [sum(g.duration for g in segs) / call.audio.duration for segs in found]
        with os.fdopen(read_end) as pipe:
            reports = [json.loads(line) for line in pipe]
        _, wstatus = os.waitpid(pid, 0)
    elapsed = time.perf_counter() - started

    print(f"# ASR bench (Vosk {recognizer.model}, dither 0)\n")
    print(f"- machine: {platform.node()}, {cores} cores ({platform.processor() or 'cpu'}), "
          f"Python {platform.python_version()}; date: {date.today().isoformat()}")
    print(f"- call: {call.audio.duration:.0f} s stereo 8 kHz built from ko_call utterances; "
          f"silence (truth) agent {silence[0]:.0%}, debtor {silence[1]:.0%}; "
          f"VAD speech agent {vad_speech[0]:.0%}, debtor {vad_speech[1]:.0%}")
    print(f"- speed: one process pinned to CPU {cpus[0]}; x RT = call seconds / CPU seconds "
          f"(both channels); median of {args.runs} run(s); the memory worker ran at the "
          f"same time on the other CPU\n")
    print("| config | call s | CPU s | x RT per core (call s / CPU s) | x RT (wall) "
          "| channel s / CPU s | words |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for s in speeds:
        print(f"| {s.label} | {s.seconds:.0f} | {s.cpu:.1f} | {s.seconds / s.cpu:.1f} | "
              f"{s.seconds / s.wall:.1f} | {2 * s.seconds / s.cpu:.1f} | {s.words} |")
    print("\n| memory | MB |")
    print("|---|---:|")
    print(f"| parent RSS before loading | {rss_before / 1024:.0f} |")
    print(f"| parent RSS after loading the model | {rss_model / 1024:.0f} |")
    print(f"| model load (RSS delta) | {(rss_model - rss_before) / 1024:.0f} |")
    for r in reports:
        print(f"| forked worker after {r['calls']} call(s): PSS / private / RSS | "
              f"{r['pss'] / 1024:.0f} / {r['private'] / 1024:.0f} / {r['rss'] / 1024:.0f} |")
    ok_worker = os.WEXITSTATUS(wstatus) == 0 and bool(reports)
    headline = speeds[0].seconds / speeds[0].cpu
    pss = [r["pss"] / 1024 for r in reports]
    done = reports[-1]["calls"] if reports else 0
    growth = pss[-1] - pss[0] if len(pss) > 1 else float("nan")
    print("\n## Targets\n")
    print(f"- >= 8x real time per core with VAD on the typical call: {headline:.1f}x: "
          f"{'met' if headline >= 8 else 'NOT met'}")
    print(f"- < 400 MB extra per forked worker (PSS): max {max(pss, default=float('nan')):.0f} MB"
          f": {'met' if pss and max(pss) < 400 else 'NOT met'}")
    print(f"- flat over {args.calls} calls: {done} calls done in the worker's budget; PSS "
          f"{growth:+.0f} MB from call 1 to call {done}"
          + ("" if done >= args.calls else f" (only {done} of {args.calls}: budget)")
          + f"; worker {'ok' if ok_worker else 'FAILED'}")
    if reports and reports[-1]["cpu"] > 0:
        r = reports[-1]
        print(f"- worker speed on 20-30 s calls (VAD, 8 kHz): "
              f"{r['audio'] / r['cpu']:.1f}x RT per core")
    print(f"- bench runtime: {elapsed:.0f} s")
    return 0 if ok_worker else 1


if __name__ == "__main__":
    sys.exit(main())
