"""nos: hardware-aware Neural Operator Search for systolic arrays.

``import nos`` is light: it loads the architecture spec (:class:`Arch` and its parts) and the
zoo, nothing else. Everything else is reached on first use, so ``nos.sim``, ``nos.proxies``,
``nos.search`` ... work after a plain ``import nos``, and ``nos.build`` (``Arch`` ->
``torch.nn.Module``) and ``nos.load`` (an exported folder -> module) import torch only when
called for.
"""
from __future__ import annotations

import importlib
from typing import Any

from nos import zoo
from nos.arch import Arch, ArchError, Block, Head, Stem

SUBPACKAGES = ("arch", "cli", "export", "network", "ops", "proxies", "report", "run", "search", "sim", "train", "zoo")
FUNCTIONS = {"build": "nos.network", "load": "nos.export"}  # name -> the module that defines it

__all__ = ["Arch", "ArchError", "Block", "Head", "Stem", "build", "load", *SUBPACKAGES]


def __getattr__(name: str) -> Any:
    """``nos.<subpackage>`` and the functions of :data:`FUNCTIONS`, imported on first use."""
    if name in FUNCTIONS:
        value = getattr(importlib.import_module(FUNCTIONS[name]), name)
    elif name in SUBPACKAGES:
        value = importlib.import_module(f"nos.{name}")
    else:
        raise AttributeError(f"module 'nos' has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
