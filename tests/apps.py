"""Running a nos command-line app the way a user does: in this process (``main()`` with
``sys.argv`` set: no interpreter start, no torch import, so most tests use it) or as a fresh
Python process (a handful of tests, about one per app, keep that path honest)."""
from __future__ import annotations

import contextlib
import importlib
import io
import json
import logging
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from hydra.core.global_hydra import GlobalHydra

# the small search most tests share: the params proxy (no training), a 16x16 array, frequent refreshes
SMALL = ("proxy=params", "hardware.rows=16", "hardware.cols=16", "search.report_every=3")


def app(name: str, *overrides: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m nos.cli.<name> overrides...`` in a fresh process, its output captured as text."""
    return subprocess.run([sys.executable, "-m", f"nos.cli.{name}", *overrides], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)


@dataclass
class Result:
    """What an app run in process left: its exit code and what it printed."""

    returncode: int
    stdout: str
    stderr: str


def run(name: str, *overrides: str) -> Result:
    """``nos-<name> overrides...`` in this process: its ``main()`` with ``sys.argv`` set, stdout,
    stderr and the log captured, ``SystemExit`` turned into the exit code."""
    module = importlib.import_module(f"nos.cli.{name}")
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    saved = sys.argv, root.handlers[:], root.level
    sys.argv, root.handlers = [f"nos-{name}", *overrides], []
    code = 0
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                returned = module.main()
                code = returned if isinstance(returned, int) else 0
            except SystemExit as exit_:
                code = exit_.code if isinstance(exit_.code, int) else (0 if exit_.code is None else 1)
    finally:
        for handler in root.handlers:  # the app's log handlers (Hydra's, a log file)
            handler.close()
        sys.argv, root.handlers, level = saved[0], saved[1], saved[2]
        root.setLevel(level)
        GlobalHydra.instance().clear()
    return Result(code, out.getvalue(), err.getvalue())


def copy_run(source: Path, target: Path) -> Path:
    """A copy of a run directory whose run.json names the copy's own study journal (so a test can
    change it without touching the shared one)."""
    shutil.copytree(source, target)
    info = json.loads((target / "run.json").read_text())
    info["storage"] = f"journal:{target / 'study.journal'}"
    (target / "run.json").write_text(json.dumps(info))
    return target
