"""A throwaway PostgreSQL server for tests: a fresh cluster in a temp dir on a private port,
run as an unprivileged user, removed afterwards. `make test` installs Debian's package when
it is missing; where no server binaries exist, the tests that need one are skipped with
the reason."""
from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path
from typing import Iterator


def server_bin() -> Path | None:
    """The folder holding initdb and pg_ctl, or None."""
    found = shutil.which("initdb")
    if found:
        return Path(os.path.realpath(found)).parent
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))
    return Path(candidates[-1]).parent if candidates else None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_server_user(cmd: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run as the package's 'postgres' user (or nobody)."""
    if os.geteuid() != 0:
        return cmd
    user = "postgres" if _user_exists("postgres") else "nobody"
    return ["runuser", "-u", user, "--", *cmd]


def _user_exists(name: str) -> bool:
    try:
        pwd.getpwnam(name)
    except KeyError:
        return False
    return True


@contextlib.contextmanager
def temporary_postgres() -> Iterator[str]:
    """Start a server; yield its SQLAlchemy URL (database ``nos``, user ``nos``, trust auth)."""
    bindir = server_bin()
    if bindir is None:
        raise RuntimeError("PostgreSQL server binaries (initdb, pg_ctl) are not installed")
    root = Path(tempfile.mkdtemp(prefix="nos-pg-"))
    data, port = root / "data", _free_port()
    if os.geteuid() == 0:
        user = "postgres" if _user_exists("postgres") else "nobody"
        os.chown(root, pwd.getpwnam(user).pw_uid, pwd.getpwnam(user).pw_gid)
    run = lambda *cmd: subprocess.run(_as_server_user(list(cmd)), check=True, capture_output=True, text=True, timeout=120)  # noqa: E731
    try:
        run(str(bindir / "initdb"), "-D", str(data), "-U", "nos", "-A", "trust", "--no-sync")
        run(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "log"), "-w", "-o",
            f"-c listen_addresses=127.0.0.1 -p {port} -k {root} -c fsync=off -c max_connections=50", "start")
        run(str(bindir / "createdb"), "-h", "127.0.0.1", "-p", str(port), "-U", "nos", "nos")
        yield f"postgresql+psycopg2://nos@127.0.0.1:{port}/nos"
    finally:
        if (data / "postmaster.pid").exists():
            subprocess.run(_as_server_user([str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                           capture_output=True, timeout=60)
        shutil.rmtree(root, ignore_errors=True)
