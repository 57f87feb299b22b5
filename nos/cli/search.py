"""``nos-search``: the Hydra app over :class:`nos.run.Run` (configs in ``conf/search.yaml``,
schema :class:`nos.run.RunConfig`; ``nos-search --help`` lists the options)."""
from __future__ import annotations

import shlex
import shutil
import sys
from pathlib import Path

import hydra
import optuna
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from nos.cli.common import CONFIG_PATH, fail, run_app, store_schema, to_object
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


def resume_command(run_dir: Path) -> str:
    """The command line that continues this run's study."""
    overrides = [o for o in HydraConfig.get().overrides.task if not o.startswith("hydra.run.dir=")]
    return " ".join([APP, *map(shlex.quote, overrides), shlex.quote(f"hydra.run.dir={run_dir}")])


@hydra.main(config_path=CONFIG_PATH, config_name="search", version_base="1.3")
def _search(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # nos reports progress itself
    hint = resume_command(run_dir)
    try:
        run = Run(to_object(cfg, RunConfig), run_dir, resume_hint=hint).open()
    except ValueError as err:
        _remove_if_only_hydra_files(run_dir)
        fail(APP, str(err))
    outcome = run.search()
    print("\n" + outcome.report)
    print(f"Files in {run_dir}: report.md, pareto.json, trials.csv, trials.jsonl, front.png, run.json, tb/ "
          f"(study: {run.storage_label}, study_name {run.config.study_name})")
    print(f"TensorBoard: tensorboard --logdir {run_dir / 'tb'}")
    if outcome.stopped == "interrupted":
        print(f"{APP}: interrupted; the study is saved, resume with: {hint}", file=sys.stderr)
        sys.exit(130)


def register() -> None:
    """Register this app's structured-config schemas with Hydra (done by :func:`main`, never at import)."""
    store_schema("search_schema", RunConfig, {"hardware": HardwareSchema})


def main() -> None:
    register()
    torch.set_num_threads(default_threads())  # measured: docs/training.md, Threads
    run_app(APP, _search, "search", check)


if __name__ == "__main__":
    main()
