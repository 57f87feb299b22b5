"""Trained finalists: train chosen trials of a search run stand-alone and record what they measure.

:func:`train_finalists` reads a ``nos-search`` run directory, trains each chosen trial's
architecture on a data set (``nos.proxies.fit``: the budget's SGD schedule, width and
resolution, seeded), and for each one

* writes ``trained/trial-<N>/weights.pt`` (the state dict of ``nos.build(training.arch)``) and
  ``trained/trial-<N>/training.json`` (a :class:`~nos.search.record.Training`) in the run
  directory; ``nos-export weights=trained`` exports these weights;
* stores the :class:`~nos.search.record.Training` in the study (``nos.search.study.record_training``),
  so a resumed search's reports show it, and rewrites ``pareto.json`` and ``trials.jsonl``
  with it;

then writes ``trained/report.md``: measured accuracy against the search's proxy (Kendall tau,
Spearman rho, the differences in points).
"""
from __future__ import annotations

import dataclasses
import json
import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import optuna
import torch
from scipy import stats

from nos import proxies
from nos.export import runs
from nos.proxies.train import as_budget, evaluate, fit, materialize, sized
from nos.report.files import PARETO_JSON, TRIALS_JSONL, atomic_write, read_records, write_records
from nos.run.progress import StepProgress
from nos.search import study as studies
from nos.search.record import Training, TrialRecord

log = logging.getLogger("nos.run")
TRAINED_DIR = "trained"
TRAINING_JSON, WEIGHTS = "training.json", "weights.pt"


@dataclass(frozen=True)
class Finalists:
    """What :func:`train_finalists` did.

    Attributes:
        records: the trained trials, with their :class:`~nos.search.record.Training`.
        proxy_label: the search's proxy, with its unit.
        tau: Kendall tau between the proxy and the measured accuracy (None below 2 trials).
        rho: Spearman rho, likewise.
        report: the markdown of ``trained/report.md``.
    """

    records: tuple[TrialRecord, ...]
    proxy_label: str
    tau: float | None
    rho: float | None
    report: str


@dataclass(frozen=True)
class Plan:
    """What :func:`train_finalists` will do, checked before any training: the run, the chosen
    trials, the data set (loaded at the budget's resolution) and the budget."""

    run: runs.SearchRun
    chosen: list[TrialRecord]
    dataset: proxies.Dataset
    budget: proxies.Budget


def plan(run_dir: str | Path, select: str = "pareto", *, trial: int | list[int] | None = None,
         data: str = "digits", root: str | None = None, budget: Mapping[str, Any] | None = None,
         seed: int = 0) -> Plan:
    """Check the arguments of :func:`train_finalists` (same meaning); raises ``ValueError``
    naming the field."""
    try:
        checked = as_budget(budget or {})
    except (TypeError, ValueError) as err:
        raise ValueError(f"budget: {str(err).removeprefix('budget: ')}") from None
    if isinstance(seed, bool) or not isinstance(seed, int):
        raise ValueError(f"seed: expected an integer, got {seed!r}")
    run = runs.read_run(run_dir)
    return Plan(run, runs.select(run, select, trial=trial), proxies.load(data, checked.resolution, root), checked)


def train_finalists(run_dir: str | Path, select: str = "pareto", *, trial: int | list[int] | None = None,
                    data: str = "digits", root: str | None = None, budget: Mapping[str, Any] | None = None,
                    seed: int = 0, progress: Callable[[str], Callable[[int, int], None]] | None = None) -> Finalists:
    """Train the chosen trials of the run in ``run_dir`` and record their accuracy.

    Args:
        run_dir: a ``nos-search`` run directory.
        select: ``pareto`` (the front), ``trial`` (``trial``: numbers), ``fastest_above`` or
            ``best_under`` (see :func:`nos.export.runs.select`).
        data, root: the data set (:data:`nos.proxies.DATASETS`) and its folder where it needs one.
        budget: :class:`nos.proxies.Budget` fields over ``Budget()``.
        seed: seeds the initialisation, the batch order and dropout.
        progress: given a label, returns the step callback of one training (default: a
            :class:`~nos.run.progress.StepProgress` line).

    Raises ``ValueError`` naming the field for bad input, before any training (:func:`plan`).
    """
    checked = plan(run_dir, select, trial=trial, data=data, root=root, budget=budget, seed=seed)
    run, chosen, dataset, budget = checked.run, checked.chosen, checked.dataset, checked.budget
    storage = studies.make_storage(run.storage)
    study = optuna.load_study(study_name=run.study_name, storage=storage)
    root_dir = Path(run_dir)
    progress = progress or (lambda label: StepProgress(label))
    done = []
    for i, record in enumerate(chosen, 1):
        training = _train_one(record, dataset, budget, seed, root_dir,
                              progress(f"trial {record.number} [{i}/{len(chosen)}] on {data}"))
        studies.record_training(study, record.number, training)
        proxy = record.evaluation.proxy
        log.info("trial %d: %.2f %% %s validation top-1 after %.0f s (proxy %s)", record.number,
                 training.accuracy_pct, data, training.seconds, "skipped" if proxy is None else f"{proxy:.4g}")
        done.append(record.replace(trained=training))
    studies.sync(storage)
    _rewrite_reports(root_dir, {r.number: r.trained for r in done})
    label = next((r.evaluation.proxy_label for r in done if r.evaluation.proxy_label),
                 run.info.proxy_label if run.info is not None else "the search's proxy (not recorded)")
    finalists = summarize(done, label)
    atomic_write(root_dir / TRAINED_DIR / "report.md", finalists.report)
    return finalists


def _train_one(record: TrialRecord, dataset: proxies.Dataset, budget: proxies.Budget, seed: int, run_dir: Path,
               progress: Callable[[int, int], None]) -> Training:
    """Train one trial's architecture; write its weights and training.json."""
    start = time.monotonic()
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = materialize(record.arch, dataset, budget.width)
        fit(model, dataset, budget, seed, progress=progress)
        accuracy = 100.0 * evaluate(model, dataset)
    arch = sized(record.arch, dataset, budget.width)  # the network materialize built
    folder = run_dir / TRAINED_DIR / f"trial-{record.number}"
    folder.mkdir(parents=True, exist_ok=True)
    torch.save(model.state_dict(), folder / WEIGHTS)
    training = Training(accuracy_pct=accuracy, data=dataset.name, budget=dataclasses.asdict(budget), seed=seed,
                        seconds=round(time.monotonic() - start, 2), arch=arch,
                        weights=str((folder / WEIGHTS).relative_to(run_dir)))
    atomic_write(folder / TRAINING_JSON, json.dumps(training.to_dict(), indent=1) + "\n")
    return training


def _rewrite_reports(run_dir: Path, trained: dict[int, Training]) -> None:
    """``pareto.json`` and ``trials.jsonl`` (where the run has them) with the new trainings,
    in their own order."""
    for name in (PARETO_JSON, TRIALS_JSONL):
        path = run_dir / name
        if path.exists():
            write_records(path, [r.replace(trained=trained.get(r.number, r.trained)) for r in read_records(path)])


def summarize(records: Sequence[TrialRecord], proxy_label: str) -> Finalists:
    """Measured accuracy against the search's proxy: a table, Kendall tau and Spearman rho (from
    three or more trials), and measured - proxy only where both are a top-1 in % on the same data."""
    proxy = np.array([np.nan if r.evaluation.proxy is None else r.evaluation.proxy for r in records])
    measured = np.array([r.trained.accuracy_pct for r in records])
    usable = ~np.isnan(proxy)
    tau = rho = None
    if usable.sum() >= 3 and len(set(proxy[usable])) > 1 and len(set(measured[usable])) > 1:
        tau = float(stats.kendalltau(proxy[usable], measured[usable]).statistic)
        rho = float(stats.spearmanr(proxy[usable], measured[usable]).statistic)
    data = sorted({r.trained.data for r in records})
    scale = proxies.percent_scale(proxy_label, data[0]) if len(data) == 1 else None
    lines = ["# Trained finalists", "",
             f"{len(records)} trials trained stand-alone on {', '.join(data)} (`nos-train`); measured: validation "
             f"top-1 (%). Proxy of the search: {proxy_label}.", "",
             "| trial | proxy | measured (%) | measured - proxy (points) | params (M) | latency (ms) | training (s) |",
             "|---:|---:|---:|---:|---:|---:|---:|"]
    for r, p, m in zip(records, proxy, measured):
        e = r.evaluation
        diff = "" if np.isnan(p) or scale is None else f"{m - scale * p:+.2f}"
        lines.append(f"| {r.number} | {'' if np.isnan(p) else f'{p:.4g}'} | {m:.2f} | {diff} | "
                     f"{e.params / 1e6:.3f} | {e.latency_ms:.4f} | {r.trained.seconds:.0f} |")
    agreement = ("Too few distinct values to rank (three or more trials with different proxy values are needed)."
                 if tau is None else f"Kendall tau {tau:+.3f}, Spearman rho {rho:+.3f} (proxy vs measured, "
                 f"{int(usable.sum())} trials).")
    if scale is not None and usable.any():
        gap = f" Mean |measured - proxy|: {np.abs(measured[usable] - scale * proxy[usable]).mean():.2f} points."
    else:
        gap = (" No differences: the proxy is not a top-1 in % on the data set trained on (a predicted ImageNet "
               "top-1 and a small data set's accuracy differ by the data set, not by the error).")
    lines += ["", agreement + gap, ""]
    report = "\n".join(lines)
    return Finalists(tuple(records), proxy_label, tau, rho, report)
