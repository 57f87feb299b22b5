"""Shared plumbing of the Hydra apps: where the configs live and the exit-code contract
(0 success, 2 bad input or configuration, with a one-line message and no traceback)."""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from omegaconf import DictConfig, OmegaConf

CONF_DIR = str(Path(__file__).resolve().parents[2] / "conf")


def plain(node: Any) -> Any:
    """A Hydra/OmegaConf node as plain Python containers (``None`` stays ``None``)."""
    return OmegaConf.to_container(node, resolve=True) if isinstance(node, DictConfig) else node


def fail(app: str, message: str) -> None:
    print(f"{app}: {message}", file=sys.stderr)
    sys.exit(2)


def run_app(hydra_main: Callable[[], Any]) -> None:
    """Run a ``@hydra.main`` function; Hydra's own configuration errors (unknown group
    option, bad override) exit 1 in Hydra, nos maps them to 2 like every bad input."""
    if not Path(CONF_DIR).is_dir():
        fail("nos", f"the Hydra configs were not found at {CONF_DIR}: install nos from a checkout "
                    "(pip install -e .), the apps read the checkout's conf/")
    try:
        hydra_main()
    except SystemExit as exit_:
        sys.exit(2 if exit_.code == 1 else exit_.code)
