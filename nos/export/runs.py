"""Reading the results of a search and choosing the trials to export.

A search leaves a run directory (``run.json``, ``pareto.json``, ``trials.jsonl`` and the study
storage). :func:`read_run` reads it, :func:`read_study` reads a study straight from its Optuna
storage; both give a :class:`SearchRun`: the run's :class:`~nos.search.record.RunInfo` and the
:class:`~nos.search.record.TrialRecord` of every finished trial. :func:`select` picks the
trials to export.
"""
from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nos.report.files import PARETO_JSON, RUN_JSON, TRIALS_JSONL, read_records
from nos.search.pareto import front_records
from nos.search.record import RecordError, RunInfo, TrialRecord

SELECTIONS = ("pareto", "trial", "fastest_above", "best_under")
_OPTIONS = {"pareto": (), "trial": ("trial",), "fastest_above": ("min_proxy",),
            "best_under": ("max_latency_ms", "max_latency_cycles")}  # the options each selection uses


class ExportError(ValueError):
    """Bad export input: a missing or unreadable run, an unknown trial, an empty selection."""


@dataclass(frozen=True)
class SearchRun:
    """The settings of a search and its finished trials.

    Attributes:
        source: where it was read from (run directory, or ``storage`` URL).
        study_name: Optuna study name.
        storage: Optuna storage URL, or ``journal:<path>`` for a journal file.
        info: the run's ``run.json`` (space, hardware, proxy, seed, input_size ...); None when
            read from a storage alone.
        records: every finished trial, by trial number.
        pareto: the trial numbers of the Pareto members.
    """

    source: str
    study_name: str
    storage: str
    info: RunInfo | None
    records: tuple[TrialRecord, ...]
    pareto: frozenset[int]

    @property
    def complete(self) -> list[TrialRecord]:
        return [r for r in self.records if r.complete]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ExportError(f"run_dir: {path} is missing; is this a nos-search run directory?") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ExportError(f"run_dir: cannot read {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise ExportError(f"run_dir: {path} is not valid JSON ({err.msg} at line {err.lineno}); {what}") from None


def read_run(run_dir: str | Path) -> SearchRun:
    """Read a ``nos-search`` run directory.

    Uses ``pareto.json`` and ``trials.jsonl`` when both exist; otherwise (a run still starting,
    or reports that were removed) the study storage named in ``run.json``. Raises
    :class:`ExportError` naming the file and field that is wrong.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise ExportError(f"run_dir: {root} is not a directory")
    try:
        info = RunInfo.from_dict(_read_json(root / RUN_JSON, "expected the settings nos-search writes"),
                                 str(root / RUN_JSON))
    except RecordError as err:
        raise ExportError(f"run_dir: {err}") from None
    study_name, storage = info.study_name, info.storage
    if not ((root / PARETO_JSON).exists() and (root / TRIALS_JSONL).exists()):
        study = read_study(storage, study_name)
        return SearchRun(str(root), study_name, storage, info, study.records, study.pareto)
    try:
        pareto = read_records(root / PARETO_JSON)
        trials = {r.number: r for r in read_records(root / TRIALS_JSONL)}
    except RecordError as err:
        raise ExportError(f"run_dir: {err}") from None
    trials.update({r.number: r for r in pareto})
    return SearchRun(str(root), study_name, storage, info, tuple(trials[n] for n in sorted(trials)),
                     frozenset(r.number for r in pareto))


def read_study(storage: str, study_name: str) -> SearchRun:
    """Read the trials of ``study_name`` from an Optuna storage written by nos-search
    (``storage``: an Optuna storage URL or ``journal:<path>``)."""
    import optuna
    from optuna.trial import TrialState

    from nos.search.study import make_storage, record_of, trainings

    if storage.startswith("journal:") and not Path(storage[len("journal:"):]).is_file():
        raise ExportError(f"storage: journal file {storage[len('journal:'):]} does not exist")
    try:
        study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
    except KeyError:
        raise ExportError(f"study_name: no study {study_name!r} in {storage}") from None
    except ValueError as err:
        raise ExportError(str(err)) from None
    try:
        trained = trainings(study)
        records = tuple(record_of(t).replace(trained=trained.get(t.number)) for t in study.get_trials(deepcopy=False)
                        if t.state in (TrialState.COMPLETE, TrialState.FAIL))
    except RecordError as err:
        raise ExportError(f"storage: {err}") from None
    front = frozenset(r.number for r in front_records([r for r in records if r.complete]))
    return SearchRun(storage, study_name, storage, None, records, front)


def select(run: SearchRun, how: str = "pareto", *, trial: int | list[int] | None = None,
           min_proxy: float | None = None, max_latency_ms: float | None = None,
           max_latency_cycles: int | None = None) -> list[TrialRecord]:
    """The trials to export.

    Args:
        how: ``pareto`` (the whole Pareto set), ``trial`` (the trial number(s) ``trial``),
            ``fastest_above`` (the lowest-latency feasible trial with proxy >= ``min_proxy``)
            or ``best_under`` (the best-proxy feasible trial with latency <=
            ``max_latency_ms`` milliseconds or ``max_latency_cycles`` cycles).

    Ties go to the better other objective, then to the lower trial number. Raises
    :class:`ExportError` when the selection is empty, names a trial that is missing or did
    not complete, or an option is given that ``how`` does not use.
    """
    if how not in SELECTIONS:
        raise ExportError(f"select: unknown value {how!r} (allowed: {', '.join(SELECTIONS)})")
    options = {"trial": trial, "min_proxy": min_proxy, "max_latency_ms": max_latency_ms,
               "max_latency_cycles": max_latency_cycles}
    for name, value in options.items():
        if value is not None and name not in _OPTIONS[how]:
            raise ExportError(f"{name}: not used when select is {how}"
                              f" (set select={next(h for h, names in _OPTIONS.items() if name in names)})")
    complete = run.complete
    if not complete:
        raise ExportError(f"study {run.study_name!r} in {run.source} has no completed trials")
    feasible = [r for r in complete if r.feasible and r.evaluation.proxy is not None]
    if how == "pareto":
        chosen = [r for r in complete if r.number in run.pareto]
        if not chosen:
            raise ExportError(f"study {run.study_name!r} in {run.source} has an empty Pareto set")
        return chosen
    if how == "trial":
        return _by_number(run, trial)
    if how == "fastest_above":
        if min_proxy is None:
            raise ExportError("min_proxy: required when select is fastest_above")
        above = [r for r in feasible if r.evaluation.proxy >= min_proxy]
        if not above:
            best = max((r.evaluation.proxy for r in feasible), default=None)
            raise ExportError(f"min_proxy: no feasible trial has proxy >= {min_proxy} (best proxy: {best})")
        return [min(above, key=lambda r: (r.evaluation.latency_cycles, -r.evaluation.proxy, r.number))]
    if (max_latency_ms is None) == (max_latency_cycles is None):
        raise ExportError("max_latency_ms, max_latency_cycles: give exactly one when select is best_under")
    if max_latency_ms is not None:
        under = [r for r in feasible if r.evaluation.latency_ms <= max_latency_ms]
        limit = f"max_latency_ms: no feasible trial is as fast as {max_latency_ms} ms"
    else:
        under = [r for r in feasible if r.evaluation.latency_cycles <= max_latency_cycles]
        limit = f"max_latency_cycles: no feasible trial is as fast as {max_latency_cycles} cycles"
    if not under:
        fastest = min(feasible, key=lambda r: r.evaluation.latency_cycles, default=None)
        shown = "none is feasible" if fastest is None else \
            f"fastest: {fastest.evaluation.latency_cycles} cycles, {fastest.evaluation.latency_ms} ms"
        raise ExportError(f"{limit} ({shown})")
    return [max(under, key=lambda r: (r.evaluation.proxy, -r.evaluation.latency_cycles, -r.number))]


def _by_number(run: SearchRun, trial: int | list[int] | None) -> list[TrialRecord]:
    numbers = [trial] if isinstance(trial, int) else list(trial) if isinstance(trial, Sequence) else []
    if not numbers or any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
        raise ExportError(f"trial: expected a trial number or a list of them, got {trial!r}")
    by_number = {r.number: r for r in run.records}
    chosen = []
    for n in dict.fromkeys(numbers):
        record = by_number.get(n)
        if record is None:
            known = sorted(by_number)
            span = f"trials {known[0]} to {known[-1]}" if known else "no finished trials"
            raise ExportError(f"trial: no finished trial {n} in study {run.study_name!r} ({span})")
        if not record.complete:
            raise ExportError(f"trial: trial {n} is {record.state}, only COMPLETE trials can be exported")
        chosen.append(record)
    return chosen
