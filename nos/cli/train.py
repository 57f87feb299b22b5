"""``nos-train``: the Hydra app over :func:`nos.run.finalists.train_finalists` (config in
``conf/train.yaml``, schema :class:`TrainConfig`; ``nos-train --help``).

Usage: ``nos-train run_dir=<search run dir> [select=pareto|trial trial=[..]] [data=... root=...]
[budget.epochs=...] [runtime.device=cuda ...]``; several processes (DDP) with
``torchrun --standalone --nproc_per_node=N -m nos.cli.train ...``. Bad input exits 2 with one line
on stderr, before any training; a failed process of a distributed job prints one line and exits 1.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass, field
from typing import Any, Optional

import hydra
from omegaconf import DictConfig

from nos.cli.common import CONFIG_PATH, run_app, store_schema, to_object
from nos.export import ExportError
from nos.run.config import BudgetConfig, schema
from nos.run.finalists import CHECKPOINT_EVERY, TRAINED_DIR, plan, train_finalists
from nos.train import Runtime, distributed
from nos.train.loop import check_every
from nos.train.runtime import default_threads, threads

APP = "nos-train"
RuntimeSchema = schema(Runtime, "RuntimeSchema")


@dataclass
class TrainConfig:
    """``conf/train.yaml``: which trials of which search, trained on what, for how long, and how."""

    run_dir: Optional[str] = None  # a nos-search run directory
    select: str = "pareto"  # pareto | trial | fastest_above | best_under
    trial: Any = None  # select=trial: a trial number or a list of them
    data: str = "digits"  # a data set of nos.proxies.DATASETS
    root: Optional[str] = None  # the data set's folder (idx, cifar10, folder; fashion_mnist: optional)
    seed: int = 0
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # nos.proxies.Budget fields over Budget()
    checkpoint_every: Optional[int] = CHECKPOINT_EVERY  # steps between checkpoints; None: none
    runtime: RuntimeSchema = field(default_factory=RuntimeSchema)  # nos.train.Runtime: device, precision, ...


def runtime_of(schema: Any) -> Runtime:
    """The :class:`nos.train.Runtime` a ``runtime`` config node describes (ValueError naming the field)."""
    return Runtime(**dataclasses.asdict(schema))


def _check(cfg: DictConfig) -> None:
    """Everything that can be checked before training: the run, the selection, the data set,
    the runtime on this machine."""
    c = to_object(cfg, TrainConfig)
    if c.run_dir is None:
        raise ValueError("run_dir: missing; give the nos-search run directory, e.g. run_dir=outputs/search/<run>")
    runtime_of(c.runtime).resolve(distributed.launched().local_rank)
    if c.checkpoint_every is not None:
        check_every(c.checkpoint_every)
    plan(c.run_dir, c.select, trial=c.trial, data=c.data, root=c.root, budget=c.budget.fields(), seed=c.seed)


@hydra.main(config_path=CONFIG_PATH, config_name="train", version_base="1.3")
def _train(cfg: DictConfig) -> None:
    c = to_object(cfg, TrainConfig)
    runtime, world = runtime_of(c.runtime), distributed.launched()
    try:
        device = runtime.resolve(world.local_rank).device
        with threads(runtime.threads or default_threads()), distributed.joined(device):
            finalists = train_finalists(c.run_dir, c.select, trial=c.trial, data=c.data, root=c.root,
                                        budget=c.budget.fields(), seed=c.seed, runtime=runtime,
                                        checkpoint_every=c.checkpoint_every)
    except (ExportError, ValueError) as err:
        distributed.fail(APP, err, 2)
    except Exception as err:  # a distributed job: one line from the failed process, not a traceback each
        if world.size == 1:
            raise
        distributed.fail(APP, err, 1)
    if finalists is None:  # not the first process of a distributed job
        return
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
