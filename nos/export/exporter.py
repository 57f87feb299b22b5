"""``export``: the chosen trials of a search, each to its own folder, plus ``index.csv``.

All or nothing: the trials are chosen and checked before anything is written, every folder
is built in a hidden staging directory inside ``out_dir`` and renamed into place only when
all of them succeeded, and the index is rewritten atomically (temp file + ``os.replace``).
"""
from __future__ import annotations

import csv
import io
import re
import shutil
import tempfile
import time
import warnings
from pathlib import Path
from typing import Any, Callable

from nos.export import runs
from nos.export.folder import check_options, commit, read_record, stage_export
from nos.export.runs import ExportError, SearchRun, read_run, read_study
from nos.report.files import atomic_write

INDEX = "index.csv"
INDEX_COLUMNS = ("folder", "name", "study_name", "trial", "proxy", "latency_cycles", "latency_ms", "energy_uj",
                 "area_mm2", "rows", "cols", "dataflow", "fuse", "params", "macs", "feasible", "pareto", "weights",
                 "files")


def folder_name(study_name: str, trial: int) -> str:
    """``<study>-trial<N>``, with characters other than letters, digits, ``._-`` as ``_``."""
    return f"{re.sub(r'[^A-Za-z0-9._-]', '_', study_name).lstrip('.') or 'study'}-trial{trial}"


def _open_run(run_dir: str | Path | None, storage: str | None, study_name: str | None) -> SearchRun:
    if run_dir is not None:
        if storage is not None or study_name is not None:
            raise ExportError("run_dir, storage: give a run directory or a storage and study name, not both")
        return read_run(run_dir)
    if storage is None or study_name is None:
        raise ExportError("run_dir: missing; give a run directory, or both storage and study_name")
    return read_study(storage, study_name)


def export(run_dir: str | Path | None = None, out_dir: str | Path = "exports", *, storage: str | None = None,
           study_name: str | None = None, select: str = "pareto", trial: int | list[int] | None = None,
           min_proxy: float | None = None, max_latency_ms: float | None = None,
           max_latency_cycles: int | None = None, checkpoint: str | Path | None = None, weights: str = "fresh",
           formats: Any = ("pt2",), seed: int = 0, progress: Callable[[str], None] | None = None) -> list[Path]:
    """Export trials of a search run to ``out_dir/<study>-trial<N>/`` and update ``out_dir/index.csv``.

    Args:
        run_dir: a ``nos-search`` run directory; or give ``storage`` (an Optuna storage URL
            or ``journal:<path>``) and ``study_name`` instead.
        out_dir: the folder that holds the exports and the index.
        select: ``pareto`` (default, the whole Pareto set), ``trial`` (``trial``: one
            number or a list), ``fastest_above`` (``min_proxy``) or ``best_under``
            (``max_latency_ms`` or ``max_latency_cycles``); see :func:`nos.export.runs.select`.
        checkpoint: a state dict to export instead of fresh weights (one trial only).
        weights: ``fresh``, ``none`` (architecture only) or ``trained`` (the weights ``nos-train``
            wrote into the run, with the trained network's classifier); see
            :func:`nos.export.folder.stage_export`.
        formats: ``pt2`` (default) and/or ``onnx``; ``[]`` for model.py and weights.pt only.
        seed: seed of the fresh weights.
        progress: called with one line per exported trial (the CLI prints them).

    Returns the exported folders. Raises :class:`ExportError` (a ``ValueError``) for bad
    input, with nothing written.
    """
    formats = check_options(weights, formats, checkpoint, seed)
    run = _open_run(run_dir, storage, study_name)
    chosen = runs.select(run, select, trial=trial, min_proxy=min_proxy, max_latency_ms=max_latency_ms,
                         max_latency_cycles=max_latency_cycles)
    trained_weights = {}  # trial number -> the weights file nos-train wrote
    if weights == "trained":
        untrained = [r.number for r in chosen if r.trained is None]
        if untrained:
            raise ExportError(f"weights: trial(s) {', '.join(map(str, untrained))} have no trained weights; "
                              f"train them first: nos-train run_dir={run.source} select=trial "
                              f"trial=[{','.join(map(str, untrained))}]")
        trained_weights = {r.number: Path(run.source) / r.trained.weights for r in chosen}
        missing = [str(path) for path in trained_weights.values() if not path.is_file()]
        if missing:
            raise ExportError(f"weights: the trained weights {', '.join(missing)} are missing; rerun nos-train")
    if checkpoint is not None and len(chosen) != 1:
        raise ExportError(f"checkpoint: fits one architecture, but the selection has {len(chosen)} trials "
                          f"({', '.join(str(r.number) for r in chosen)}); select one")
    out = Path(out_dir)
    if out.exists() and not out.is_dir():
        raise ExportError(f"out_dir: {out} exists and is not a directory")
    for r in chosen:
        _check_not_another_runs(out / folder_name(run.study_name, r.number), run.storage)
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
            arch, weights_file = ((r.trained.arch, trained_weights[r.number]) if weights == "trained"
                                  else (r.arch, checkpoint))
            staged.append(stage_export(staging, folder_name(run.study_name, r.number), arch, run=run, record=r,
                                       checkpoint=weights_file, weights=weights, formats=formats, seed=seed))
            if progress is not None:
                size = sum(f.stat().st_size for f in staged[-1].iterdir()) / 1e6
                progress(f"[{i}/{len(chosen)}] trial {r.number}: {staged[-1].name} "
                         f"({size:.1f} MB, {time.monotonic() - start:.1f} s)")
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


def _check_not_another_runs(folder: Path, storage: str) -> None:
    """Re-exporting a trial replaces its folder; a folder of the same name from another
    study storage (two runs both named ``nos``) is refused instead of overwritten."""
    if not (folder / "arch.json").exists():
        return
    search = read_record(folder / "arch.json").get("search") or {}
    if search.get("storage") != storage:
        raise ExportError(f"out_dir: {folder} holds trial {search.get('trial')} of another run "
                          f"(storage {search.get('storage')!r}); export into another out_dir or remove it")


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
