"""The compiled compliance engine (`dialer.compliance.native`): used only while it
was built from the sources as they are, never stale, and deciding exactly as the
Python modules do (the golden digests, computed by a process that runs the Python
modules, against this one)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from pathlib import Path

import pytest

from dialer import compliance
from dialer.compliance import native

ROOT = Path(__file__).resolve().parents[2]


def run_python(code: str, **env: str) -> str:
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, env={**os.environ, **env},
        capture_output=True, text=True, check=True, timeout=300,
    )  # fmt: skip
    return done.stdout.strip()


def test_this_process_runs_the_build_when_there_is_one() -> None:
    assert compliance.COMPILED_ENGINE is (native.usable_path() is not None)
    if native.usable_path() is not None:
        assert Path(compliance.engine.__file__).suffix == ".so"


def test_a_build_of_other_sources_is_not_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.delenv(native.SWITCH, raising=False)
    stale = tmp_path / "SOURCES"
    stale.write_text(native.manifest().replace("engine ", "engine 0", 1))
    monkeypatch.setattr(native, "MANIFEST", stale)
    with caplog.at_level(logging.WARNING, logger=native.__name__):
        assert native.usable_path() is None
    assert "built from other sources" in caplog.text
    stale.write_text(native.manifest())
    assert native.usable_path() == str(native.NATIVE)
    monkeypatch.setenv(native.SWITCH, "0")
    assert native.usable_path() is None
    monkeypatch.setattr(native, "MANIFEST", tmp_path / "none")
    monkeypatch.delenv(native.SWITCH)
    assert native.usable_path() is None  # no build at all: the Python modules, quietly


def test_the_switch_runs_the_python_modules() -> None:
    code = "import dialer.compliance as c; print(c.COMPILED_ENGINE, c.engine.__file__)"
    compiled, path = run_python(code, CALLCASE_COMPLIANCE_NATIVE="0").split()
    assert (compiled, Path(path).suffix) == ("False", ".py")


@pytest.mark.skipif(
    native.usable_path() is None, reason="no compiled engine here (make setup builds it)"
)
def test_compiled_and_python_modules_decide_alike() -> None:
    code = "from bench.compliance_golden import golden; print(*golden(3000, 3000))"
    python = run_python(code, CALLCASE_COMPLIANCE_NATIVE="0").split()
    compiled = run_python(code).split()
    assert python == compiled
    assert len(python) == 3
