"""The compliance engine compiled to C with mypyc, used only while it matches the
sources.

`python -m dialer.compliance.build` (run by `make setup`) compiles the engine's
modules (`COMPILED`) with mypyc into `_native/` beside them, with a manifest of
the SHA-256 of each source it compiled. On import, `dialer.compliance` puts
`_native/` first on its own `__path__` only when every source still hashes as the
manifest says; a source edited since (or a checkout without a build, or
`CALLCASE_COMPLIANCE_NATIVE=0`) runs the pure-Python modules, with a warning when
a build is there but stale. The compiled modules are the same code: the golden
digests and the property tests pass either way (`CALLCASE_COMPLIANCE_NATIVE=0`
runs them on the pure modules). This module and `__init__` are never compiled.

Measured on a 2-core VM (docs/benchmarks.md, `bench/compliance_bench.py`): about
twice the decisions per CPU second of the pure modules.
"""

from __future__ import annotations

import hashlib
import logging
import os
import sysconfig
from pathlib import Path

log = logging.getLogger(__name__)

HERE = Path(__file__).resolve().parent
NATIVE = HERE / "_native"
MANIFEST = NATIVE / "SOURCES"
# In dependency order; `__init__` and this module stay Python.
COMPILED = ("model", "packs", "windows", "summary", "context", "checks", "counters", "engine")
GROUP = "dialer.compliance.engine_native"  # the one shared library the modules share
SWITCH = "CALLCASE_COMPLIANCE_NATIVE"


def manifest() -> str:
    """What a build of the current sources records: the extension suffix (Python
    version and platform) and each compiled source's SHA-256."""
    lines = [f"ext {sysconfig.get_config_var('EXT_SUFFIX')}"]
    for name in COMPILED:
        digest = hashlib.sha256((HERE / f"{name}.py").read_bytes()).hexdigest()
        lines.append(f"{name} {digest}")
    return "\n".join(lines) + "\n"


def usable_path() -> str | None:
    """`_native/` when it holds a build of the current sources, else None."""
    if os.environ.get(SWITCH, "1") == "0":
        return None
    try:
        built = MANIFEST.read_text()
    except FileNotFoundError:
        return None
    if built != manifest():
        log.warning(
            "the compiled compliance engine in %s was built from other sources: running "
            "the Python modules (make setup, or python -m dialer.compliance.native, "
            "compiles them again)",
            NATIVE,
        )
        return None
    return str(NATIVE)
