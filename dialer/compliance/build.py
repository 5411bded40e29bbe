"""Compile the compliance engine with mypyc (`make setup` runs this):

    python -m dialer.compliance.build

writes `dialer/compliance/_native/` (see `dialer.compliance.native`); does nothing
when it already holds a build of the current sources; with
`CALLCASE_COMPLIANCE_NATIVE=0` removes it, so that the Python modules run.
Needs mypy (the dev extras), a C compiler and the Python headers.
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

from dialer.compliance.native import (
    COMPILED,
    GROUP,
    HERE,
    MANIFEST,
    NATIVE,
    SWITCH,
    manifest,
    usable_path,
)


def build() -> None:
    """Compile `COMPILED` with mypyc into `_native/` and write the manifest last (a
    build that fails leaves no manifest, so nothing half-built is ever used)."""
    from mypyc.build import mypycify  # a build-time tool, in the dev extras
    from setuptools import Distribution  # type: ignore[import-untyped]

    root = HERE.parent.parent  # the directory holding the `dialer` package
    sources = [f"dialer/compliance/{name}.py" for name in COMPILED]
    shutil.rmtree(NATIVE, ignore_errors=True)
    with tempfile.TemporaryDirectory(prefix="callcase-mypyc-") as scratch:
        cwd = Path.cwd()
        os.chdir(root)  # mypyc names modules by their paths from here
        try:
            extensions = mypycify(
                sources, opt_level="3", group_name=GROUP, target_dir=f"{scratch}/c"
            )
            dist = Distribution({"name": "callcase-compliance", "ext_modules": extensions})
            command = dist.get_command_obj("build_ext")
            command.build_lib = f"{scratch}/lib"
            command.build_temp = f"{scratch}/tmp"
            dist.run_command("build_ext")
        finally:
            os.chdir(cwd)
        built = sorted(Path(scratch, "lib", "dialer", "compliance").glob("*.so"))
        if len(built) != len(COMPILED) + 1:  # one per module, and the shared library
            raise RuntimeError(f"mypyc built {[p.name for p in built]}, not {COMPILED}")
        NATIVE.mkdir()
        for path in built:
            shutil.copy2(path, NATIVE / path.name)
    MANIFEST.write_text(manifest())


def main() -> int:
    if os.environ.get(SWITCH, "1") == "0":
        print(f"compliance engine: {SWITCH}=0, not compiled (the Python modules run)")
        shutil.rmtree(NATIVE, ignore_errors=True)
        return 0
    if usable_path() is not None:
        print(f"compliance engine: {NATIVE} is up to date")
        return 0
    build()
    print(f"compliance engine: compiled {len(COMPILED)} modules into {NATIVE}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
