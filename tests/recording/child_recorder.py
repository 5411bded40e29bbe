"""A process that records one call on a real-time 20 ms clock until it is killed.

Run by ``test_recover`` as ``python -m tests.recording.child_recorder ROOT`` (flush
every 0.1 s, sync every 0.5 s). After every tick it prints a JSON line: ticks fed,
written and synced so far, and the part file's path; the test kills it with SIGKILL.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

from recording.writer import RecorderPool
from tests.recording.frames import feed

CALL_ID = "killed-call"
FLUSH_INTERVAL = 0.1
SYNC_INTERVAL = 0.5


async def record(root: Path) -> None:
    pool = RecorderPool(
        root, flush_interval=FLUSH_INTERVAL, sync_interval=SYNC_INTERVAL, min_free_bytes=0
    )
    await pool.start()
    recording = pool.record(CALL_ID, "bank", datetime.now(UTC))
    part = recording.path.with_name(f".{CALL_ID}.wav.part")
    origin = time.monotonic()
    for tick in range(100_000):  # until killed
        await asyncio.sleep(max(0.0, origin + tick * 0.02 - time.monotonic()))  # the clock
        feed([recording], [tick])
        line = {
            "fed": tick + 1,
            "written": recording.written_ticks,
            "synced": recording.synced_ticks,
            "part": str(part),
        }
        sys.stdout.write(json.dumps(line) + "\n")
        sys.stdout.flush()


if __name__ == "__main__":
    asyncio.run(record(Path(sys.argv[1])))
