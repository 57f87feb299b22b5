"""``nos-export``: the Hydra app over :func:`nos.export.export` (config in ``conf/export.yaml``,
schema :class:`ExportConfig`; ``nos-export --help``).

Usage: ``nos-export run_dir=<search run dir> out_dir=<folder> [select=... trial=... ...]``.
Bad input exits 2 with one line on stderr and nothing written.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import hydra
from omegaconf import DictConfig

from nos.cli.common import CONFIG_PATH, fail, run_app, store_schema, to_object
from nos.export import ExportError, export

APP = "nos-export"


@dataclass
class ExportConfig:
    """``conf/export.yaml``: which trials of which search, and what to write."""

    run_dir: Optional[str] = None  # a nos-search run directory (or give storage_url + study_name)
    storage_url: Optional[str] = None  # an Optuna storage URL or journal:<path>, with study_name
    study_name: Optional[str] = None
    out_dir: str = "exports"
    select: str = "pareto"  # pareto | trial | fastest_above | best_under
    trial: Any = None  # select=trial: a trial number or a list of them
    min_proxy: Optional[float] = None
    max_latency_ms: Optional[float] = None
    max_latency_cycles: Optional[int] = None
    checkpoint: Optional[str] = None  # a state dict to export instead of fresh weights (one trial)
    weights: str = "fresh"  # fresh | none (architecture only) | trained (nos-train's weights)
    formats: list[str] = field(default_factory=lambda: ["pt2"])  # pt2, onnx
    seed: int = 0


def _arguments(cfg: DictConfig) -> dict[str, Any]:
    c = to_object(cfg, ExportConfig)
    return {"run_dir": c.run_dir, "out_dir": c.out_dir, "storage": c.storage_url, "study_name": c.study_name,
            "select": c.select, "trial": c.trial, "min_proxy": c.min_proxy, "max_latency_ms": c.max_latency_ms,
            "max_latency_cycles": c.max_latency_cycles, "checkpoint": c.checkpoint, "weights": c.weights,
            "formats": list(c.formats), "seed": c.seed}


@hydra.main(config_path=CONFIG_PATH, config_name="export", version_base="1.3")
def _export(cfg: DictConfig) -> None:
    try:
        folders = export(**_arguments(cfg), progress=print)
    except (ExportError, ValueError) as err:
        fail(APP, str(err))
    print(f"{len(folders)} exported; index: {folders[0].parent / 'index.csv'}")


def register() -> None:
    """Register this app's structured-config schemas with Hydra (done by :func:`main`, never at import)."""
    store_schema("export_schema", ExportConfig)


def main() -> None:
    register()
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)  # "torchvision is not installed" notes
    run_app(APP, _export, "export", _arguments)


if __name__ == "__main__":
    main()
