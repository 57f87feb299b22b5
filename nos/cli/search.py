"""``nos-search``: the Hydra app over :mod:`nos.search.launch` (configs in ``conf/search.yaml``)."""
from __future__ import annotations

import shutil
from pathlib import Path

import hydra
import optuna
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from nos.cli.common import CONF_DIR, fail, plain, run_app
from nos.search.launch import Search, SearchConfig


def config_from(cfg: DictConfig) -> SearchConfig:
    """The :class:`SearchConfig` a composed Hydra config describes."""
    space = plain(cfg.space)
    return SearchConfig(
        space=space.pop("name"), space_options={k: v for k, v in space.items() if v is not None},
        hardware=plain(cfg.hardware), proxy=cfg.proxy.name, data=cfg.proxy.data,
        train_budget=plain(cfg.proxy.get("budget")),
        sampler=cfg.sampler.name, sampler_options=plain(cfg.sampler.options) or {},
        storage_url=cfg.storage.url, storage_path=cfg.storage.path, study_name=cfg.study_name, seed=cfg.seed,
        n_trials=cfg.search.n_trials, timeout=cfg.search.timeout, objective=cfg.search.objective,
        latency_unit=cfg.search.latency_unit, latency_model=cfg.search.latency_model,
        reward_target_ms=cfg.search.reward_target_ms, reward_w=cfg.search.reward_w,
        report_every=cfg.search.report_every,
        seed_references=cfg.search.seed_references, budgets=plain(cfg.constraints))


def _remove_if_only_hydra_files(run_dir: Path) -> None:
    """Rejected input leaves nothing behind: drop a run directory that holds only what
    Hydra wrote before nos saw the config (never one with a study or reports in it)."""
    hydra_files = {".hydra", "search.log"}
    if run_dir.is_dir() and {p.name for p in run_dir.iterdir()} <= hydra_files:
        for name in hydra_files:
            path = run_dir / name
            shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
        run_dir.rmdir()


@hydra.main(config_path=CONF_DIR, config_name="search", version_base="1.3")
def _search(cfg: DictConfig) -> None:
    run_dir = Path(HydraConfig.get().runtime.output_dir)
    optuna.logging.set_verbosity(optuna.logging.WARNING)  # nos logs one concise line per trial
    try:
        search = Search(config_from(cfg), run_dir)
    except ValueError as err:
        _remove_if_only_hydra_files(run_dir)
        fail("nos-search", str(err))
    search.run()
    print("\n" + (run_dir / "report.md").read_text())
    print(f"Files in {run_dir}: pareto.json, trials.csv, report.md, run.json, tb/ "
          f"(study storage: {search.describe()['storage']})")
    print(f"TensorBoard: tensorboard --logdir {run_dir / 'tb'}")


def main() -> None:
    run_app(_search)


if __name__ == "__main__":
    main()
