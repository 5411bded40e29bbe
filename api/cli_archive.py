"""`callcase recordings compress`: archive older recordings as FLAC, losslessly.

Finished and recovered recordings whose call started more than ``--older-than-days``
days ago (default 30) are encoded to FLAC, the FLAC decoded again and compared sample
for sample with the WAV, and only then is the WAV deleted (see
:mod:`recording.archive`). Recordings on legal hold are compressed too: the exact WAV
bytes come back from the FLAC and ``callcase recordings verify`` proves them against
the SHA-256 chained when the call was recorded. Playback and download serve the
rebuilt WAV. ``--dry-run`` lists what would be compressed. Exits 4 when a recording
could not be compressed (its WAV kept; ``verify`` says more).
"""

from __future__ import annotations

import argparse
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import asyncpg

from api.settings import Settings
from recording import archive
from recording.catalog import RecordingRow
from recording.storage import LocalStorage

SHOWN = 50  # recordings listed one per line by a dry run


def add_parser(recordings_sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    compress = recordings_sub.add_parser(
        "compress", help="replace the WAVs of older recordings by lossless FLACs (also on"
                         " legal hold: the chained SHA-256 stays provable); exit 4 on a failure")
    compress.add_argument("--older-than-days", type=_days, default=30, metavar="N",
                          help="only calls started more than N days ago (default 30)")
    compress.add_argument("--dry-run", action="store_true", help="list them, change nothing")


def _days(raw: str) -> int:
    days = int(raw)
    if days < 0:
        raise argparse.ArgumentTypeError("a number of days, 0 or more")
    return days


async def run(args: argparse.Namespace, settings: Settings) -> int:
    pool = await asyncpg.create_pool(settings.database.url, min_size=1, max_size=2)
    storage = LocalStorage(settings.recording.root)
    now = datetime.now(UTC)
    before = now - timedelta(days=args.older_than_days)
    try:
        if args.dry_run:
            return await _dry_run(pool, before)
        return report(await archive.compress_due(pool, storage, before, now))
    finally:
        await pool.close()


async def _all_candidates(pool: asyncpg.Pool, before: datetime) -> AsyncIterator[RecordingRow]:
    after = 0
    while page := await archive.candidates(pool, before, after):
        for row in page:
            yield row
        after = page[-1].id


async def _dry_run(pool: asyncpg.Pool, before: datetime) -> int:
    count, wav_bytes, audio_ms = 0, 0, 0
    async for row in _all_candidates(pool, before):
        if count < SHOWN:
            print(f"  would compress recording {row.id} (call {row.entry.call_id}),"
                  f" {row.entry.size_bytes} bytes{', on legal hold' if row.legal_hold else ''}")
        count += 1
        wav_bytes += row.entry.size_bytes
        audio_ms += row.entry.duration_ms
    if count > SHOWN:
        print(f"  ... and {count - SHOWN} more")
    print(f"{count} recording(s) started before {before.isoformat(timespec='seconds')} would"
          f" be compressed: {wav_bytes} bytes of WAV, {audio_ms / 3_600_000:.2f} h of audio")
    return 0


def report(run: archive.CompressRun) -> int:
    """Print what a run did; the exit code."""
    done = run.archived
    wav = sum(c.wav_bytes for c in done)
    flac = sum(c.flac_bytes for c in done)
    audio_s = sum(c.duration_ms for c in done) / 1000
    spent = sum(c.seconds for c in done)
    share = f" ({100 * flac / wav:.1f}% of the WAV)" if wav else ""
    speed = f" ({audio_s / spent:.0f}x real time)" if spent > 0 else ""
    print(f"compressed {len(done)} recording(s): {wav} bytes of WAV -> {flac} bytes of FLAC"
          f"{share}; {audio_s / 3600:.2f} h of audio in {spent:.1f} s{speed}")
    for recording_id, why in run.failed:
        print(f"  recording {recording_id} not compressed: {why}")
    print(f"{len(run.skipped)} kept as WAV (the FLAC was not smaller);"
          f" {len(run.failed)} could not be compressed")
    return 4 if run.failed else 0
