"""Start-up recovery: make whole the recordings a crash left as ``.part`` files.

A process killed mid-call (``kill -9``, OOM, power cut) leaves the call's audio in
``.<call-id>.wav.part`` with a provisional header: everything written to the kernel
before a kill, everything synced before a power cut. :func:`scan` walks the recording
root before the recorder starts and, for each such file, :func:`recover_part`:

1. reads the header; a header of another format means the file is not one of ours:
   it is left alone and logged as an error;
2. cuts a trailing partial frame, writes the real sizes (computed from the file size)
   over the provisional ones and syncs;
3. hashes the file and renames it onto its final name, then syncs the directory.

Each step can be repeated, so a crash during recovery is recovered at the next start.
A ``.part`` whose final name is already taken is left alone (never overwrite a
recording) and logged. The writer also uses :func:`recover_part` to salvage what a
failed recording (disk full, I/O error) left on disk.

Run :func:`scan` only while no recorder writes under the root: it would "recover" the
calls in progress. :meth:`recording.writer.RecorderPool.start` runs it first.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from recording.files import PartFile, RecordingResult, RecordingState, seal
from recording.layout import call_id_of, final_of_part, is_part
from recording.wavfile import HEADER_SIZE, WavFormatError, repair

logger = logging.getLogger(__name__)


def recover_part(part: Path) -> RecordingResult:
    """Repair, hash and rename one ``.part`` file; see the module docstring.

    Raises ``FileExistsError`` if the final name is taken, :class:`WavFormatError` if
    the file is not a recording of this format, ``OSError`` on a disk error.
    """
    final = final_of_part(part)
    if final.exists():
        raise FileExistsError(f"{final} already exists; {part.name} left as it is")
    file = PartFile.open(part)
    try:
        size = file.size()
        fixed = repair(file.read_at(0, HEADER_SIZE), size)
        if fixed.file_size != size:
            file.truncate(fixed.file_size)
    except BaseException:
        file.close()
        raise
    result = seal(file, final, fixed.header, RecordingState.RECOVERED)
    logger.warning(
        "call_id=%s recording recovered from %s: %.2f s of audio, %d bytes cut",
        call_id_of(part),
        part,
        result.duration_s,
        max(0, size - fixed.file_size),
    )
    return result


def scan(root: Path) -> list[RecordingResult]:
    """Recover every ``.part`` file under ``root``; the recovered recordings, by path.

    Files that cannot be recovered are logged and left in place for a person to look
    at; they do not stop the scan.
    """
    recovered: list[RecordingResult] = []
    for part in sorted(find_parts(root)):
        try:
            recovered.append(recover_part(part))
        except (OSError, WavFormatError) as error:
            logger.error("call_id=%s recording %s not recovered: %s", _call_id(part), part, error)
    return recovered


def find_parts(root: Path) -> list[Path]:
    """Every temporary recording file under ``root``."""
    found: list[Path] = []
    for directory, _, names in os.walk(root, onerror=_walk_error):
        found.extend(Path(directory) / name for name in names if is_part(name))
    return found


def _walk_error(error: OSError) -> None:
    logger.error("recording scan cannot read %s: %s", error.filename, error)


def _call_id(part: Path) -> str:
    try:
        return call_id_of(part)
    except ValueError:
        return "?"
