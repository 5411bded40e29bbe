"""The compliance engine of an earlier commit, side by side with today's (bench only).

    engine = load_engine("HEAD")      # dialer/compliance as committed, as its own package
    jobs = to_engine(engine, jobs)    # the same candidates built from its own classes

`compliance_bench.py --baseline REF` times the engine of REF in the same process as
the working tree's, interleaving their runs, so both meet the same load on a busy
machine. The package's files are read with `git show REF:dialer/compliance/...` into a
temporary directory under another name and imported (nothing in the checkout or in
git changes; the directory is removed once every module is loaded).
The old engine compares enum members by identity, so every job is rebuilt from its
classes: same facts, same instants, same order.
"""

from __future__ import annotations

import importlib
import subprocess
import sys
import tempfile
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from types import ModuleType
from typing import Any

PACKAGE = "dialer/compliance"
ROOT = Path(__file__).resolve().parent.parent
Job = tuple[Any, Any, Any, datetime, Any]


def _git(*args: str) -> str:
    done = subprocess.run(
        ("git", "-C", str(ROOT), *args), capture_output=True, text=True, check=True
    )
    return done.stdout


def load_engine(ref: str) -> ModuleType:
    """`dialer.compliance` as it is at git revision `ref`, imported as a package of
    its own (`compliance_at_<sha>`)."""
    sha = _git("rev-parse", "--short=12", ref).strip()
    name = f"compliance_at_{sha}"
    if name in sys.modules:
        return sys.modules[name]
    with tempfile.TemporaryDirectory(prefix="compliance-baseline-") as home:
        package = Path(home, name)
        package.mkdir()
        modules = [path for path in _git("ls-tree", "--name-only", f"{sha}:{PACKAGE}").split()
                   if path.endswith(".py")]  # fmt: skip
        for path in modules:
            text = _git("show", f"{sha}:{PACKAGE}/{path}")
            (package / path).write_text(text.replace("dialer.compliance", name))
        sys.path.insert(0, home)
        try:  # every module now: the directory goes when this block ends
            for path in modules:
                importlib.import_module(name if path == "__init__.py" else f"{name}.{path[:-3]}")
        finally:
            sys.path.remove(home)
    return sys.modules[name]


def to_engine(engine: ModuleType, jobs: list[Job]) -> list[Job]:
    """`jobs` rebuilt from `engine`'s classes (enums, windows, packs, contexts)."""
    converter = _Converter(engine)
    return [converter.job(job) for job in jobs]


class _Converter:
    def __init__(self, engine: ModuleType) -> None:
        self.engine = engine
        self.memo: dict[int, tuple[object, object]] = {}  # shared values: by identity

    def _shared(self, value: Any, build: Any) -> Any:
        found = self.memo.get(id(value))
        if found is None or found[0] is not value:
            found = (value, build(value))
            self.memo[id(value)] = found
        return found[1]

    def job(self, job: Job) -> Job:
        who, history, pack, now, dial = job
        e = self.engine
        facts = {f.name: getattr(who, f.name) for f in fields(who)}
        facts["consent"] = e.Consent(who.consent)
        facts["holds"] = self._shared(who.holds, lambda h: frozenset(map(e.HoldReason, h)))
        if who.agreed_window is not None:
            facts["agreed_window"] = self._shared(who.agreed_window, self._window)
        attempts = tuple(
            e.Attempt(**{**{f.name: getattr(a, f.name) for f in fields(a)},
                         "outcome": e.Outcome(a.outcome)})
            for a in history.attempts
        )  # fmt: skip
        return (
            e.Candidate(**facts),
            e.ContactHistory(attempts),
            e.PACKS[pack.name],
            now,
            self._shared(dial, self._dial),
        )

    def _window(self, window: Any) -> Any:
        return self.engine.DailyWindow(window.start, window.end)

    def _dial(self, dial: Any) -> Any:
        e = self.engine
        return e.DialContext(
            campaign_id=dial.campaign_id,
            ring_timeout=dial.ring_timeout,
            agent_guaranteed=dial.agent_guaranteed,
            campaign=e.CampaignState(dial.campaign.abandoned, dial.campaign.live),
            resources=e.Resources(dial.resources.work_line, dial.resources.recording),
        )
