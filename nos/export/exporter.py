"""``export``: the chosen trials of a search, each to its own folder, plus ``index.csv``.

:class:`ExportOptions` holds what to export and how, once: it is :func:`export`'s keyword
arguments and the ``nos-export`` app's config schema.

All or nothing: the trials are chosen and checked before anything is written, every folder
is built in a hidden staging directory inside ``out_dir`` and renamed into place only when
all of them succeeded, and the index is rewritten atomically (temp file + ``os.replace``).
An earlier export of a chosen trial in ``out_dir`` is replaced only when asked (``replace``).
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Optional

from nos.export import runs
from nos.export.folder import check_options, commit, read_record, stage_export, trained_weights
from nos.export.runs import ExportError, SearchRun, read_run, read_study
from nos.report.files import atomic_write

INDEX = "index.csv"
INDEX_COLUMNS = ("folder", "name", "study_name", "trial", "proxy", "latency_cycles", "latency_ms", "energy_uj",
                 "area_mm2", "rows", "cols", "dataflow", "fuse", "params", "macs", "feasible", "pareto", "weights",
                 "files")


def folder_name(study_name: str, trial: int) -> str:
    """``<study>-trial<N>``, with characters other than letters, digits, ``._-`` as ``_``."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', study_name).lstrip('.') or 'study'}-trial{trial}"


def _open_run(run_dir: str | None, storage_url: str | None, study_name: str | None) -> SearchRun:
    if run_dir is not None:
        if storage_url is not None or study_name is not None:
            raise ExportError("run_dir, storage_url: give a run directory or a storage and study name, not both")
        return read_run(run_dir)
    if storage_url is None or study_name is None:
        raise ExportError("run_dir: missing; give a run directory, or both storage_url and study_name")
    return read_study(storage_url, study_name)


@dataclass
class ExportOptions:
    """What :func:`export` exports, and how (``nos-export``'s config; ``nos-export --help``).

    Attributes:
        run_dir: a ``nos-search`` run directory; or give ``storage_url`` (an Optuna storage URL
            or ``journal:<path>``) and ``study_name`` instead.
        out_dir: the folder that holds the exports (one per trial) and ``index.csv``.
        select: ``pareto`` (the whole Pareto set), ``trial`` (``trial``: a number or a list),
            ``fastest_above`` (``min_proxy``) or ``best_under`` (``max_latency_ms`` or
            ``max_latency_cycles``); see :func:`nos.export.runs.select`.
        checkpoint: a state dict file whose weights to export (one trial only).
        weights: ``none`` (the architecture alone; the default without a checkpoint),
            ``fresh`` (seeded random weights), ``trained`` (the weights ``nos-train`` wrote into
            the run) or ``checkpoint`` (the default with one); see
            :func:`nos.export.folder.stage_export`.
        formats: ``pt2`` and/or ``onnx``; null: ``[pt2]`` when weights are exported, else
            ``[]``; ``[]`` with weights writes them to ``weights.pt``.
        seed: seed of fresh weights.
        replace: replace earlier exports of the chosen trials in ``out_dir`` (otherwise refused).
    """

    run_dir: Optional[str] = None  # a nos-search run directory (or give storage_url + study_name)
    storage_url: Optional[str] = None  # an Optuna storage URL or journal:<path>, with study_name
    study_name: Optional[str] = None
    out_dir: str = "exports"  # one folder per architecture, plus index.csv
    select: str = "pareto"  # pareto | trial | fastest_above | best_under
    trial: Any = None  # select=trial: a trial number or a list, e.g. [3,17]
    min_proxy: Optional[float] = None  # select=fastest_above: the lowest latency with proxy >= this
    max_latency_ms: Optional[float] = None  # select=best_under: the best proxy within this latency (ms) ...
    max_latency_cycles: Optional[int] = None  # ... or cycles; give one of the two
    checkpoint: Optional[str] = None  # a state dict file to export the weights of (one trial)
    weights: Optional[str] = None  # null: none (architecture only) or the checkpoint's; fresh | trained
    formats: Optional[list[str]] = None  # pt2, onnx; null: [pt2] with weights, [] without
    seed: int = 0  # seed of fresh weights
    replace: bool = False  # replace earlier exports of the chosen trials in out_dir


def export(run_dir: str | Path | None = None, out_dir: str | Path = "exports", *,
           progress: Callable[[str], None] | None = None, **options: Any) -> list[Path]:
    """Export trials of a search run to ``out_dir/<study>-trial<N>/`` and update ``out_dir/index.csv``.

    ``options`` are the fields of :class:`ExportOptions` (``select``, ``trial``, ``weights`` ...);
    ``progress`` is called with one line per exported trial (the app prints them). Returns the
    exported folders. Raises :class:`ExportError` (a ``ValueError``) for bad input, with
    nothing written.
    """
    try:
        o = ExportOptions(run_dir=None if run_dir is None else str(run_dir), out_dir=str(out_dir), **options)
    except TypeError as err:
        raise ExportError(f"export: {err}") from None
    weights, formats = check_options(o.weights, o.formats, o.checkpoint, o.seed)
    run = _open_run(o.run_dir, o.storage_url, o.study_name)
    chosen = runs.select(run, o.select, trial=o.trial, min_proxy=o.min_proxy, max_latency_ms=o.max_latency_ms,
                         max_latency_cycles=o.max_latency_cycles)
    if weights == "trained":
        untrained = [r.number for r in chosen if r.trained is None]
        if untrained:
            raise ExportError(f"weights: trial(s) {', '.join(map(str, untrained))} have no trained weights; "
                              f"train them first: nos-train run_dir={run.source} select=trial "
                              f"trial=[{','.join(map(str, untrained))}]")
        missing = [str(trained_weights(run, r)) for r in chosen if not trained_weights(run, r).is_file()]
        if missing:
            raise ExportError(f"weights: the trained weights {', '.join(missing)} are missing; rerun nos-train")
    if o.checkpoint is not None and len(chosen) != 1:
        raise ExportError(f"checkpoint: fits one architecture, but the selection has {len(chosen)} trials "
                          f"({', '.join(str(r.number) for r in chosen)}); select one")
    out = Path(o.out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"out_dir: {out} exists and is not a directory")
    for r in chosen:
        _check_earlier_export(out / folder_name(run.study_name, r.number), run.storage, o.replace)
    created = not out.exists()
    try:
        out.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".staging-", dir=out))
    except OSError as err:
        raise ExportError(f"out_dir: cannot write to {out}: {err.strerror}") from None
    try:
        staged = []
        for i, r in enumerate(chosen, 1):
            start = time.monotonic()
            arch = r.trained.arch if weights == "trained" else r.arch
            staged.append(stage_export(staging, folder_name(run.study_name, r.number), arch, run=run, record=r,
                                       checkpoint=o.checkpoint, weights=weights, formats=formats, seed=o.seed))
            if progress is not None:
                size = sum(f.stat().st_size for f in staged[-1].iterdir())
                shown = f"{size / 1e6:.1f} MB" if size >= 1e5 else f"{size / 1e3:.0f} kB"
                progress(f"[{i}/{len(chosen)}] trial {r.number}: {staged[-1].name} "
                         f"({shown}, {time.monotonic() - start:.1f} s)")
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        if created:
            shutil.rmtree(out, ignore_errors=True)
        raise
    finals = [out / folder.name for folder in staged]
    for folder, final in zip(staged, finals):
        commit(folder, final)
    shutil.rmtree(staging)
    write_index(out)
    return finals


def _check_earlier_export(folder: Path, storage: str, replace: bool) -> None:
    """An earlier export of the same trial is replaced only with ``replace``; a folder of the
    same name from another study storage (two runs both named ``nos``) is never overwritten."""
    if not folder.exists():
        return
    search = (read_record(folder / "arch.json").get("search") or {}) if (folder / "arch.json").exists() else {}
    if search.get("storage") != storage:
        raise ExportError(f"out_dir: {folder} holds trial {search.get('trial')} of another run "
                          f"(storage {search.get('storage')!r}); export into another out_dir or remove it")
    if not replace:
        files = ", ".join(sorted(p.name for p in folder.iterdir()))
        raise ExportError(f"out_dir: {folder} holds an earlier export of trial {search.get('trial')} ({files}); "
                          f"give replace=true to replace it, or another out_dir")


def index_rows(out_dir: str | Path) -> list[dict[str, object]]:
    """One row (:data:`INDEX_COLUMNS`) per export folder in ``out_dir``, by study, trial number
    and folder name."""
    rows = []
    for arch_json in sorted(Path(out_dir).glob("[!.]*/arch.json")):
        try:
            record = read_record(arch_json)
        except ExportError as err:
            warnings.warn(f"index: skipping {arch_json.parent}: {err}", stacklevel=2)
            continue
        search = record.get("search") or {}
        latency = record.get("latency") or {}
        rows.append({
            "folder": arch_json.parent.name, "name": record.get("name"),
            "study_name": search.get("study_name"), "trial": search.get("trial"),
            "proxy": (record.get("proxy") or {}).get("score"),
            "latency_cycles": latency.get("cycles"), "latency_ms": latency.get("ms"),
            "energy_uj": record.get("energy_uj"), "area_mm2": record.get("area_mm2"),
            **{field: (record.get("hardware") or {}).get(field) for field in ("rows", "cols", "dataflow", "fuse")},
            "params": record.get("params"), "macs": record.get("macs"),
            "feasible": search.get("feasible"), "pareto": search.get("pareto"),
            "weights": (record.get("weights") or {}).get("init"), "files": " ".join(record.get("files", ())),
        })
    return sorted(rows, key=lambda r: (str(r["study_name"] or ""), r["trial"] if isinstance(r["trial"], int) else -1,
                                       str(r["folder"])))


def write_index(out_dir: str | Path) -> Path:
    """Rewrite ``out_dir/index.csv`` from the export folders there, atomically."""
    out = Path(out_dir)
    text = io.StringIO()
    writer = csv.DictWriter(text, INDEX_COLUMNS, lineterminator="\n")
    writer.writeheader()
    writer.writerows(index_rows(out))
    atomic_write(out / INDEX, text.getvalue())
    return out / INDEX
