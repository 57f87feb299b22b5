import subprocess
import sys
import tempfile
from pathlib import Path

import pytest
from hypothesis.configuration import set_hypothesis_home_dir

# tests import helpers that sit beside them (reference data, the app runners)
sys.path.insert(0, str(Path(__file__).parent))

from apps import SMALL, run  # noqa: E402

# hypothesis keeps its example database and caches in a temporary folder, not in the checkout's .hypothesis/
_HYPOTHESIS_HOME = tempfile.TemporaryDirectory(prefix="nos-hypothesis-")
set_hypothesis_home_dir(_HYPOTHESIS_HOME.name)


@pytest.fixture(scope="session")
def search_run(tmp_path_factory):
    """One small nos-search (10 trials of the MobileNetV2 space, params proxy, 16x16 array, a
    refresh every 3 trials), run in process once per session and shared by the search, export
    and finalists tests: (run directory, the app's Result). Tests that change a run work on a
    copy (``apps.copy_run``)."""
    run_dir = tmp_path_factory.mktemp("search") / "run"
    result = run("search", *SMALL, "search.n_trials=10", f"hydra.run.dir={run_dir}")
    assert result.returncode == 0, result.stderr
    return run_dir, result


ROOT = Path(__file__).resolve().parents[1]
UNTRACKED_OK = (".venv/", ".pytest_cache/")  # the environment and pytest's own cache


def checkout_state() -> list[str] | None:
    """``git status`` of the checkout (ignored files included, less the environment, pytest's
    cache and bytecode), or None outside a git checkout."""
    try:
        proc = subprocess.run(["git", "status", "--porcelain", "--ignored", "--untracked-files=all"], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    if proc.returncode != 0:
        return None
    return sorted(line for line in proc.stdout.splitlines()
                  if not line[3:].startswith(UNTRACKED_OK) and "__pycache__/" not in line)


@pytest.fixture(scope="session", autouse=True)
def checkout_unchanged():
    """No test writes into the checkout: its files are the same after the session as before."""
    before = checkout_state()
    yield
    after = checkout_state()
    assert after == before, f"the tests changed the checkout: {sorted(set(after or ()) ^ set(before or ()))}"
