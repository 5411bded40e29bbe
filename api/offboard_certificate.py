"""The certificate of deletion given to a client at the end of its contract.

:func:`document` is the certificate as JSON-ready data (``certificate.json``): who,
when, how many records of each kind were exported, deleted, pseudonymised or kept
(and why), the SHA-256 of every exported file, and the head of the recordings chain
before and after. :func:`text` is the same for people (``certificate.txt``). The
SHA-256 of ``certificate.json`` goes into the audit log, which nobody can rewrite.
Pure: no IO.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

FORMAT = 1
KEPT = (
    "the audit log: append-only, it names staff, record ids and action codes, no debtor",
    "case skeletons: ids, amounts, dates, statuses, action codes and who worked them",
    "the recordings catalogue (the tamper-evident chain): call ids, times and the"
    " SHA-256 of the deleted audio, each deletion logged",
    "staff accounts of the client (deactivated): the audit log names them",
)


@dataclass(frozen=True, slots=True)
class ChainHead:
    rows: int
    head: str  # row_hash of the last recording (64 zeros for none)


@dataclass(frozen=True, slots=True)
class Held:
    recording_id: int
    case_id: int
    reason: str


@dataclass(frozen=True, slots=True)
class Facts:
    """What an offboarding did, as the certificate reports it."""

    client_id: int
    client_code: str
    client_name: str
    offboarding_id: int
    at: datetime
    export_directory: str
    files: tuple[tuple[str, int, str], ...]  # path, size, SHA-256
    exported: Mapping[str, int]  # rows per sheet, audio files as "recordings"
    recordings_deleted: int
    pseudonymised: Mapping[str, int]  # rows per kind (see api.offboard_erase.STEPS)
    held: tuple[Held, ...]
    held_cases: tuple[int, ...]
    not_deleted: tuple[int, ...]  # recordings whose audio could not be deleted: retry
    chain_before: ChainHead
    chain_after: ChainHead
    notes: tuple[str, ...] = field(default=())


def document(facts: Facts) -> dict[str, object]:
    f = facts
    return {
        "certificate": "deletion of a client's data at the end of its contract",
        "format": FORMAT,
        "client": {"id": f.client_id, "code": f.client_code, "name": f.client_name},
        "offboarding_id": f.offboarding_id,
        "at": f.at.isoformat(),
        "exported": dict(f.exported),
        "deleted": {"recordings": f.recordings_deleted,
                    "transcripts": f.pseudonymised.get("transcripts", 0)},
        "pseudonymised": {k: v for k, v in f.pseudonymised.items() if k != "transcripts"},
        "kept": {
            "legal_hold": [{"recording_id": h.recording_id, "case_id": h.case_id,
                            "reason": h.reason} for h in f.held],
            "held_cases": list(f.held_cases),
            "not_deleted_retry": list(f.not_deleted),
            "records": list(KEPT),
        },
        "recording_chain": {
            "before": {"rows": f.chain_before.rows, "head": f.chain_before.head},
            "after": {"rows": f.chain_after.rows, "head": f.chain_after.head},
        },
        "export": {"directory": f.export_directory,
                   "files": [{"path": p, "bytes": n, "sha256": s} for p, n, s in f.files]},
        "notes": list(f.notes),
    }  # fmt: skip


def as_bytes(doc: Mapping[str, object]) -> bytes:
    return (json.dumps(doc, ensure_ascii=False, indent=2) + "\n").encode()


def _counts(counts: Mapping[str, int]) -> list[str]:
    return [f"  {kind:<18} {count}" for kind, count in counts.items()]


def _kept(facts: Facts) -> list[str]:
    lines = [f"  recording {h.recording_id} (case {h.case_id}) on legal hold: {h.reason};"
             " its audio, case and debtor kept whole" for h in facts.held]
    lines += [f"  recording {i}: its audio could not be deleted; run the offboarding again"
              for i in facts.not_deleted]
    return lines + [f"  {line}" for line in KEPT]


def _chain(facts: Facts) -> list[str]:
    b, a = facts.chain_before, facts.chain_after
    same = "unchanged: deletion marks rows, never rewrites them" if b == a else "changed"
    return [f"  before  {b.rows} rows, head {b.head}",
            f"  after   {a.rows} rows, head {a.head} ({same})"]


def text(facts: Facts) -> str:
    """The certificate for people; the same facts as :func:`document`."""
    f = facts
    lines = [
        "CERTIFICATE OF DELETION", "",
        f"Client        {f.client_code} ({f.client_name}), id {f.client_id}",
        f"Date          {f.at.isoformat()} (offboarding {f.offboarding_id})",
        f"Export        {f.export_directory}: {len(f.files)} files returned to the client",
        "", "Exported", *_counts(f.exported),
        "", "Deleted",
        f"  {'recordings':<18} {f.recordings_deleted} (audio; each deletion logged)",
        f"  {'transcripts':<18} {f.pseudonymised.get('transcripts', 0)}",
        "", "Pseudonymised or erased (personal data replaced; anonymised skeletons kept)",
        *_counts({k: v for k, v in f.pseudonymised.items() if k != "transcripts"}),
        "", "Kept", *_kept(f),
        "", "Recordings chain", *_chain(f),
        "", "Exported files (SHA-256, bytes, path)",
        *[f"  {sha} {size:>12} {path}" for path, size, sha in f.files],
    ]  # fmt: skip
    lines += ["", *f.notes] if f.notes else []
    return "\n".join(lines) + "\n"
