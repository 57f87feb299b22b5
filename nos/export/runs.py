"""Reading the results of a search and choosing the trials to export.

A search leaves a run directory (``run.json``, ``pareto.json``, ``trials.csv`` and the study
storage). :func:`read_run` reads it, :func:`read_study` reads a study straight from its
Optuna storage; both give a :class:`SearchRun`: the run's settings and one
:class:`Candidate` per finished trial. :func:`select` picks the trials to export.
"""
from __future__ import annotations

import csv
import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nos.arch import Arch, ArchError

SELECTIONS = ("pareto", "trial", "fastest_above", "best_under")
_OPTIONS = {"pareto": (), "trial": ("trial",), "fastest_above": ("min_proxy",),
            "best_under": ("max_latency_ms", "max_latency_cycles")}  # the options each selection uses
_OBJECTIVES = ("proxy", "latency_cycles", "latency_ms", "params", "macs")


class ExportError(ValueError):
    """Bad export input: a missing or unreadable run, an unknown trial, an empty selection."""


@dataclass(frozen=True)
class Candidate:
    """One completed trial with its recorded objectives.

    Attributes:
        trial: Optuna trial number.
        arch: the trial's architecture.
        proxy: proxy score (higher is better); NaN when the search skipped it (an
            infeasible candidate).
        latency_cycles: simulated latency in cycles of the run's hardware.
        latency_ms: the same in milliseconds at the hardware clock.
        params: parameters of the network.
        macs: conv + linear multiply-accumulates for one image.
        feasible: every constraint is satisfied (constraint value <= 0).
        pareto: the trial is a member of the run's Pareto set.
        constraints: constraint name -> value (<= 0 means satisfied).
    """

    trial: int
    arch: Arch
    proxy: float
    latency_cycles: int
    latency_ms: float
    params: int
    macs: int
    feasible: bool
    pareto: bool
    constraints: dict[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class SearchRun:
    """The settings of a search and its completed trials.

    Attributes:
        source: where it was read from (run directory, or ``storage`` URL).
        study_name: Optuna study name.
        storage: Optuna storage URL, or ``journal:<path>`` for a journal file.
        settings: the rest of ``run.json`` (space, hardware, proxy, seed, input_size);
            empty when read from a storage alone.
        candidates: the completed trials, by trial number.
        trial_states: trial number -> Optuna state name, for every trial (any state).
    """

    source: str
    study_name: str
    storage: str
    settings: dict[str, Any]
    candidates: tuple[Candidate, ...]
    trial_states: dict[int, str]


def _read_json(path: Path, what: str) -> Any:
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ExportError(f"run_dir: {path} is missing; is this a nos-search run directory?") from None
    except (OSError, UnicodeDecodeError) as err:
        raise ExportError(f"run_dir: cannot read {path}: {err}") from None
    except json.JSONDecodeError as err:
        raise ExportError(f"run_dir: {path} is not valid JSON ({err.msg} at line {err.lineno}); {what}") from None


def _arch(data: Any, where: str) -> Arch:
    try:
        return Arch.from_json(data) if isinstance(data, str) else Arch.from_dict(data)
    except ArchError as err:
        raise ExportError(f"{where}: bad arch: {err}") from None


def _number(record: dict[str, Any], key: str, where: str, kind: type, finite: bool = True) -> Any:
    value = record.get(key)
    try:
        number = kind(value)
    except (TypeError, ValueError):
        raise ExportError(f"{where}: field {key!r} must be a number, got {value!r}") from None
    if finite and not math.isfinite(number):
        raise ExportError(f"{where}: field {key!r} must be finite, got {value!r}")
    return number


def _candidate(record: dict[str, Any], where: str, pareto: bool) -> Candidate:
    """A :class:`Candidate` from a pareto.json member, a trials.csv row or trial user attrs."""
    missing = [key for key in ("trial", "arch", *_OBJECTIVES) if key not in record]
    if missing:
        raise ExportError(f"{where}: missing field(s) {', '.join(missing)}")
    constraints = record.get("constraints") or {}
    if not isinstance(constraints, dict):
        raise ExportError(f"{where}: field 'constraints' must be an object of name -> value")
    feasible = record.get("feasible")
    if feasible is None:
        feasible = all(value <= 0 for value in constraints.values())
    elif isinstance(feasible, str):
        feasible = feasible.strip().lower() in ("true", "1", "yes")
    return Candidate(
        trial=_number(record, "trial", where, int),
        arch=_arch(record["arch"], where),
        proxy=math.nan if record["proxy"] in ("", None) else _number(record, "proxy", where, float, finite=False),
        latency_cycles=_number(record, "latency_cycles", where, int),
        latency_ms=_number(record, "latency_ms", where, float),
        params=_number(record, "params", where, int),
        macs=_number(record, "macs", where, int),
        feasible=bool(feasible),
        pareto=pareto,
        constraints={str(k): float(v) for k, v in constraints.items()},
    )


def read_run(run_dir: str | Path) -> SearchRun:
    """Read a ``nos-search`` run directory.

    Uses ``pareto.json`` and ``trials.csv`` when both exist (a finished run); otherwise the
    study storage named in ``run.json`` (a run still going, or one whose reports were not
    written). Raises :class:`ExportError` naming the file and field that is wrong.
    """
    root = Path(run_dir)
    if not root.is_dir():
        raise ExportError(f"run_dir: {root} is not a directory")
    settings = _read_json(root / "run.json", "expected the settings nos-search writes")
    if not isinstance(settings, dict):
        raise ExportError(f"run_dir: {root / 'run.json'} must hold a JSON object")
    missing = [key for key in ("study_name", "storage") if not isinstance(settings.get(key), str)]
    if missing:
        raise ExportError(f"run_dir: {root / 'run.json'} lacks the field(s) {', '.join(missing)}")
    study_name, storage = settings["study_name"], settings["storage"]
    rest = {k: v for k, v in settings.items() if k not in ("study_name", "storage")}
    if not ((root / "pareto.json").exists() and (root / "trials.csv").exists()):
        study = read_study(_resolve_journal(storage, root), study_name)
        return SearchRun(str(root), study_name, storage, rest, study.candidates, study.trial_states)
    members = _read_json(root / "pareto.json", "expected a list of Pareto members")
    if not isinstance(members, list):
        raise ExportError(f"run_dir: {root / 'pareto.json'} must hold a JSON list")
    pareto = [_candidate(m if isinstance(m, dict) else {}, f"{root / 'pareto.json'}[{i}]", pareto=True)
              for i, m in enumerate(members)]
    pareto_trials = {c.trial for c in pareto}
    states, candidates = {}, {c.trial: c for c in pareto}
    try:
        with open(root / "trials.csv", newline="") as f:
            for line, row in enumerate(csv.DictReader(f), start=2):
                where = f"{root / 'trials.csv'} line {line}"
                trial = _number(row, "trial", where, int)
                states[trial] = row.get("state") or ""
                if states[trial] == "COMPLETE" and trial not in candidates:
                    candidates[trial] = _candidate(row, where, pareto=trial in pareto_trials)
    except (OSError, UnicodeDecodeError, csv.Error) as err:
        raise ExportError(f"run_dir: cannot read {root / 'trials.csv'}: {err}") from None
    return SearchRun(str(root), study_name, storage, rest, tuple(candidates[t] for t in sorted(candidates)), states)


def _resolve_journal(storage: str, root: Path) -> str:
    """A relative ``journal:<path>`` is relative to the run directory."""
    if storage.startswith("journal:") and not Path(storage[len("journal:"):]).is_absolute():
        return f"journal:{root / storage[len('journal:'):]}"
    return storage


def read_study(storage: str, study_name: str) -> SearchRun:
    """Read the trials of ``study_name`` from an Optuna storage written by nos-search.

    ``storage`` is an Optuna storage URL or ``journal:<path>``. The Pareto set is the one
    ``pareto.json`` holds (:func:`nos.report.files.pareto_records`).
    """
    import optuna

    from nos.report.files import pareto_records
    from nos.search.study import make_storage, records

    if storage.startswith("journal:") and not Path(storage[len("journal:"):]).is_file():
        raise ExportError(f"storage: journal file {storage[len('journal:'):]} does not exist")
    try:
        study = optuna.load_study(study_name=study_name, storage=make_storage(storage))
    except KeyError:
        raise ExportError(f"study_name: no study {study_name!r} in {storage}") from None
    except ValueError as err:
        raise ExportError(str(err)) from None
    recs = records(study)
    done = [r for r in recs if r.state == "COMPLETE" and r.evaluation is not None]
    front = {r.trial for r in pareto_records(done)}
    candidates = tuple(
        _candidate({**vars(r.evaluation), "trial": r.trial, "arch": r.arch.to_dict(), "feasible": r.feasible},
                   f"study {study_name!r} trial {r.trial}", pareto=r.trial in front) for r in done)
    return SearchRun(storage, study_name, storage, {}, candidates, {r.trial: r.state for r in recs})


def select(run: SearchRun, how: str = "pareto", *, trial: int | list[int] | None = None,
           min_proxy: float | None = None, max_latency_ms: float | None = None,
           max_latency_cycles: int | None = None) -> list[Candidate]:
    """The candidates to export.

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
    if not run.candidates:
        raise ExportError(f"study {run.study_name!r} in {run.source} has no completed trials")
    feasible = [c for c in run.candidates if c.feasible and math.isfinite(c.proxy)]
    if how == "pareto":
        chosen = [c for c in run.candidates if c.pareto]
        if not chosen:
            raise ExportError(f"study {run.study_name!r} in {run.source} has an empty Pareto set")
        return chosen
    if how == "trial":
        return _by_number(run, trial)
    if how == "fastest_above":
        if min_proxy is None:
            raise ExportError("min_proxy: required when select is fastest_above")
        above = [c for c in feasible if c.proxy >= min_proxy]
        if not above:
            best = max((c.proxy for c in feasible), default=None)
            raise ExportError(f"min_proxy: no feasible trial has proxy >= {min_proxy} (best proxy: {best})")
        return [min(above, key=lambda c: (c.latency_cycles, -c.proxy, c.trial))]
    if (max_latency_ms is None) == (max_latency_cycles is None):
        raise ExportError("max_latency_ms, max_latency_cycles: give exactly one when select is best_under")
    if max_latency_ms is not None:
        under = [c for c in feasible if c.latency_ms <= max_latency_ms]
        limit = f"max_latency_ms: no feasible trial is as fast as {max_latency_ms} ms"
    else:
        under = [c for c in feasible if c.latency_cycles <= max_latency_cycles]
        limit = f"max_latency_cycles: no feasible trial is as fast as {max_latency_cycles} cycles"
    if not under:
        fastest = min(feasible, key=lambda c: c.latency_cycles, default=None)
        shown = "none is feasible" if fastest is None else \
            f"fastest: {fastest.latency_cycles} cycles, {fastest.latency_ms} ms"
        raise ExportError(f"{limit} ({shown})")
    return [max(under, key=lambda c: (c.proxy, -c.latency_cycles, -c.trial))]


def _by_number(run: SearchRun, trial: int | list[int] | None) -> list[Candidate]:
    numbers = [trial] if isinstance(trial, int) else list(trial) if isinstance(trial, Sequence) else []
    if not numbers or any(isinstance(n, bool) or not isinstance(n, int) for n in numbers):
        raise ExportError(f"trial: expected a trial number or a list of them, got {trial!r}")
    by_number = {c.trial: c for c in run.candidates}
    chosen = []
    for n in dict.fromkeys(numbers):
        if n not in by_number:
            state = run.trial_states.get(n)
            if state is None:
                known = sorted({*run.trial_states, *by_number})
                raise ExportError(f"trial: no trial {n} in study {run.study_name!r} "
                                  f"(trials {known[0]} to {known[-1]})")
            raise ExportError(f"trial: trial {n} is {state}, only COMPLETE trials can be exported")
        chosen.append(by_number[n])
    return chosen
