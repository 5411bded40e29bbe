"""Every compliance decision stays byte-identical: the stored JSON and the Decision
of 60,000 varied decisions (the benchmark's mix, the same candidates at DST switches,
holidays and window edges, and with crowded histories) hash to the digests recorded
from the engine of 2026-11-29 (bench/compliance_golden.py); the inputs summary,
built when a decision is first stored or read, is hashed like any field. A rule
change that alters decisions must come with a new pack version and new digests."""

from __future__ import annotations

import importlib
from typing import Any

from dialer.compliance import Decision

# bench/ is scripts, not a package: imported by name (see test_pacing_sim.py).
golden: Any = importlib.import_module("bench.compliance_golden")

CANDIDATES = 20_000
MIX = "695112c49c166d51684a7e2afc9b97b34113de33744aa086b53d2ed6a336dbf3"
EDGES = "bebb3608915286fb4629b91e2242399cf93801cff96a89533083e77e3eeed9e3"
CROWDED = "dc933dd5015ffca925e6094f1fb68e6f1337de04ad52ac8504e2936847947da0"


def test_decisions_match_the_recorded_digests() -> None:
    assert golden.golden(CANDIDATES, CANDIDATES) == (MIX, EDGES, CROWDED)


def test_the_digest_sees_a_changed_decision() -> None:
    decided = list(golden.decisions(golden.bench.build_jobs(50)))
    n, one = next((n, d) for n, d in enumerate(decided) if d.inputs["history"])

    def with_instead(changed: Decision) -> str:
        return str(golden.digest([*decided[:n], changed, *decided[n + 1 :]]))

    def rebuilt(allowed: bool, inputs: dict[str, object]) -> Decision:
        return Decision(allowed, one.pack, one.pack_version, one.reasons, one.notes,
                        one.next_permitted_at, one.checked_at, inputs)  # fmt: skip

    same = rebuilt(one.allowed, dict(one.inputs))  # the summary given at once
    flipped = rebuilt(not one.allowed, one.inputs)
    forgot = rebuilt(one.allowed, {**one.inputs, "history": []})
    assert golden.digest(decided) == with_instead(same)
    assert golden.digest(decided) != with_instead(flipped)
    assert golden.digest(decided) != with_instead(forgot)
