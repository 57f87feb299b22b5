"""Running a nos command-line app the way a user does: a fresh Python process."""
from __future__ import annotations

import subprocess
import sys


def app(name: str, *overrides: str, cwd=None, timeout: float = 600) -> subprocess.CompletedProcess:
    """``python -m nos.cli.<name> overrides...``, its output captured as text."""
    return subprocess.run([sys.executable, "-m", f"nos.cli.{name}", *overrides], capture_output=True, text=True,
                          cwd=cwd, timeout=timeout)
