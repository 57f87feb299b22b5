"""``nos-search``: the Hydra app over :class:`nos.run.Run` (configs in ``conf/search.yaml``,
schema :class:`nos.run.RunConfig`; ``nos-search --help`` lists the options)."""
from __future__ import annotations

import shlex
import shutil
import signal
import sys
from pathlib import Path
from typing import Sequence

import hydra
import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from nos.cli.common import CONFIG_PATH, compose_config, fail, run_app, store_schema, to_object
from nos.run import Run, RunConfig
from nos.run.config import HardwareSchema
from nos.train.runtime import default_threads

APP = "nos-search"


def check(cfg: DictConfig) -> None:
    """Everything :class:`Run` validates, and the storage, for a composed config (writes nothing)."""
    Run(to_object(cfg, RunConfig), Path("unused")).check_storage()


def _remove_if_only_hydra_files(run_dir: Path) -> None:
    """Rejected input leaves nothing behind: drop a run directory that holds only what Hydra
    wrote before nos saw the config (never one with a study or reports in it)."""
    hydra_files = {".hydra", "search.log"}
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= hydra_files:
        for name in hydra_files:
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        run_dir.rmdir()


def resume_command(run_dir: Path, overrides: Sequence[str], n_trials_left: int | None) -> str:
    """The command line that finishes this run's plan: the same overrides and run directory, and
    ``search.n_trials`` the trials this invocation had left (``search.total_trials``, a target
    for the whole study, stays as it was)."""
    kept = [o for o in overrides if not o.startswith(("hydra.run.dir=", "search.n_trials="))]
    left = [] if n_trials_left is None else [f"search.n_trials={n_trials_left}"]
    return " ".join([APP, *map(shlex.quote, [*kept, *left]), shlex.quote(f"hydra.run.dir={run_dir}")])


@hydra.main(config_path=CONFIG_PATH, config_name="search", version_base="1.3")
def _search(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    overrides = tuple(HydraConfig.get().overrides.task)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # nos reports progress itself
    config = to_object(cfg, RunConfig)
    try:
        run = Run(config, run_dir, overrides=overrides).open()
        outcome = run.search()
    except ValueError as err:
        _remove_if_only_hydra_files(run_dir)
        fail(APP, str(err))
    except OSError as err:  # the run directory became unwritable (full disk, removed, read-only)
        fail(APP, f"hydra.run.dir: cannot write to {err.filename or run_dir}: {err.strerror or err}; the study "
                  f"keeps every finished trial")
    print("\n" + outcome.report)
    print(f"Files in {run_dir}: report.md, pareto.json, trials.csv, trials.jsonl, front.png, run.json, tb/ "
          f"(study: {run.storage_label}, study_name {run.config.study_name})")
    print(f"TensorBoard: tensorboard --logdir {run_dir / 'tb'}")
    if run.storage_label.startswith("journal:"):
        journal = run.storage_label[len("journal:"):]
        print(f"Optuna dashboard (pip install -e '.[dashboard]'): optuna-dashboard {journal}")
    if outcome.stopped == "interrupted":
        n_trials = config.search.n_trials
        hint = resume_command(run_dir, overrides, None if n_trials is None else max(n_trials - outcome.trials_run, 1))
        print(f"{APP}: interrupted; the study is saved, resume with: {hint}", file=sys.stderr)
        sys.exit(128 + (outcome.signal or signal.SIGINT))


def config(overrides: Sequence[str] = ()) -> RunConfig:
    """The :class:`RunConfig` ``nos-search <overrides>`` runs with (for experiments and tests)."""
    register()
    return compose_config("search", RunConfig, overrides)


def register() -> None:
    """Register this app's structured-config schemas with Hydra (done by :func:`main`, never at import)."""
    store_schema("search_schema", RunConfig, {"hardware": HardwareSchema})


def main() -> None:
    register()
    torch.set_num_threads(default_threads())  # measured: docs/training.md, Threads
    run_app(APP, _search, "search", check, output_dir=True)


if __name__ == "__main__":
    main()
