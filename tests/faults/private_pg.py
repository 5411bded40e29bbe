"""A PostgreSQL server of the test's own, to stop and start under a running system.

The machine's server (127.0.0.1:5432) is shared by every test run, so a fault test
never restarts it: it makes a cluster with the installed server's `initdb` in a
temporary directory, on a free port of 127.0.0.1, and stops it (`pg_ctl stop -m
fast`: connections are cut as a restart cuts them) and starts it again at will.
PostgreSQL refuses to run as root, so under root (CI) the cluster belongs to the
`postgres` user and its commands run through `runuser`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from tests.telephony.sip.peers import LOOPBACK, free_port


def _bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))
    if not found:
        raise RuntimeError("no PostgreSQL server binaries under /usr/lib/postgresql")
    return found[-1].parent


@dataclass
class PrivatePostgres:
    directory: Path
    port: int

    @property
    def url(self) -> str:
        return f"postgresql://postgres@{LOOPBACK}:{self.port}/callcase"

    async def start(self) -> None:
        options = (f"-c listen_addresses={LOOPBACK} -c port={self.port} -c fsync=off"
                   f" -c unix_socket_directories={self.directory}")  # fmt: skip
        await _run(str(_bin() / "pg_ctl"), "-D", str(self.directory / "data"), "-w",
                   "-t", "60", "-l", str(self.directory / "server.log"), "-o", options,
                   "start")  # fmt: skip

    async def stop(self) -> None:
        await _run(str(_bin() / "pg_ctl"), "-D", str(self.directory / "data"), "-w",
                   "-m", "fast", "stop")  # fmt: skip

    def log(self) -> str:
        path = self.directory / "server.log"
        return path.read_text(errors="replace") if path.exists() else ""


async def _run(*args: str) -> None:
    if os.geteuid() == 0:
        args = ("runuser", "-u", "postgres", "--", *args)
    proc = await asyncio.create_subprocess_exec(
        *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await proc.communicate()
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(args)} exited with {proc.returncode}:\n{out.decode()}")


@contextlib.asynccontextmanager
async def private_postgres() -> AsyncIterator[PrivatePostgres]:
    """A running cluster with a `callcase` database (no migrations: the caller's)."""
    directory = Path(tempfile.mkdtemp(prefix="callcase-pg-"))
    if os.geteuid() == 0:
        owner = pwd.getpwnam("postgres")
        os.chown(directory, owner.pw_uid, owner.pw_gid)
    server = PrivatePostgres(directory, free_port())
    try:
        await _run(str(_bin() / "initdb"), "-D", str(directory / "data"), "-A", "trust",
                   "-U", "postgres", "-E", "UTF8", "--no-sync")  # fmt: skip
        await server.start()
        await _run(str(_bin() / "createdb"), "-h", LOOPBACK, "-p", str(server.port),
                   "-U", "postgres", "callcase")  # fmt: skip
        yield server
    finally:
        with contextlib.suppress(RuntimeError):
            await server.stop()
        shutil.rmtree(directory, ignore_errors=True)
