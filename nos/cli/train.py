"""``nos-train``: the Hydra app over :func:`nos.run.finalists.train_finalists` (config in
``conf/train.yaml``, schema :class:`TrainConfig`; ``nos-train --help``).

Usage: ``nos-train run_dir=<search run dir> [select=pareto|trial trial=[..]] [data=... root=...]
[budget.epochs=...]``. Bad input exits 2 with one line on stderr, before any training.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import hydra
from omegaconf import DictConfig

from nos.cli.common import CONFIG_PATH, fail, run_app, store_schema, to_object
from nos.export import ExportError
from nos.run.config import BudgetConfig, set_fields
from nos.run.finalists import TRAINED_DIR, plan, train_finalists

APP = "nos-train"


@dataclass
class TrainConfig:
    """``conf/train.yaml``: which trials of which search, trained on what, for how long."""

    run_dir: Optional[str] = None  # a nos-search run directory
    select: str = "pareto"  # pareto | trial | fastest_above | best_under
    trial: Any = None  # select=trial: a trial number or a list of them
    data: str = "digits"  # a data set of nos.proxies.DATASETS
    root: Optional[str] = None  # the data set's folder (idx, cifar10, folder; fashion_mnist: optional)
    seed: int = 0
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # nos.proxies.Budget fields over Budget()


def _check(cfg: DictConfig) -> None:
    """Everything that can be checked before training: the run, the selection, the data set."""
    c = to_object(cfg, TrainConfig)
    if c.run_dir is None:
        raise ValueError("run_dir: missing; give the nos-search run directory, e.g. run_dir=outputs/search/<run>")
    plan(c.run_dir, c.select, trial=c.trial, data=c.data, root=c.root, budget=set_fields(c.budget), seed=c.seed)


@hydra.main(config_path=CONFIG_PATH, config_name="train", version_base="1.3")
def _train(cfg: DictConfig) -> None:
    c = to_object(cfg, TrainConfig)
    try:
        finalists = train_finalists(c.run_dir, c.select, trial=c.trial, data=c.data, root=c.root,
                                    budget=set_fields(c.budget), seed=c.seed)
    except (ExportError, ValueError) as err:
        fail(APP, str(err))
    print("\n" + finalists.report)
    print(f"Weights and reports: {c.run_dir}/{TRAINED_DIR}/; export them with: "
          f"nos-export run_dir={c.run_dir} weights=trained select=trial "
          f"trial=[{','.join(str(r.number) for r in finalists.records)}]")


def register() -> None:
    """Register this app's structured-config schemas with Hydra (done by :func:`main`, never at import)."""
    store_schema("train_schema", TrainConfig)


def main() -> None:
    register()
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    run_app(APP, _train, "train", _check)


if __name__ == "__main__":
    main()
