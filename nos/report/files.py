"""The files of a run directory that a user opens without nos.

* ``trials.jsonl``: one :class:`~nos.search.record.TrialRecord` JSON object per line, every
  finished trial this worker knows of (the exchange format: export and sweeps read it);
* ``trials.csv``: the same trials for people: every measured value (proxy and its std,
  latency, energy, area, params, MACs; the reward in reward mode), every constraint's value,
  one column per searched choice, whether the trial is a reference;
* ``pareto.json``: the Pareto members as a JSON list of TrialRecords, fastest first.

Trial files are appended, a line per trial (a crash can tear at most the last line, which
readers skip); whole files (``pareto.json``, ``run.json``, ``report.md``) are replaced in one
rename, so a reader sees the old or the new file, never a truncated one.
"""
from __future__ import annotations

import csv
import io
import json
import os
import uuid
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence, TextIO

from nos.search.record import Evaluation, RecordError, TrialRecord

TRIALS_CSV, TRIALS_JSONL, PARETO_JSON, RUN_JSON = "trials.csv", "trials.jsonl", "pareto.json", "run.json"
CSV_HEAD = ("number", "state", "reference", "datetime_start", "duration_s", "feasible", "proxy", "proxy_std",
            "proxy_label", "latency_ms", "latency_cycles", "energy_uj", "area_mm2", "params", "macs")
CSV_TAIL = ("cached_from", "worker")


def atomic_write(path: str | Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (readers see the old or the new file).

    The file gets the permissions of any new file (0666 less the process umask)."""
    path = Path(path)
    tmp = path.parent / f".{path.name}.{uuid.uuid4().hex[:12]}.tmp"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666)
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def write_json(path: str | Path, data: Any) -> None:
    atomic_write(path, json.dumps(data, indent=1) + "\n")


def write_records(path: str | Path, records: Iterable[TrialRecord]) -> None:
    """Replace ``path`` atomically with ``records``: a JSON list (``pareto.json``) or, for a
    ``.jsonl`` path (``trials.jsonl``), one object per line; :func:`read_records` reads either."""
    if Path(path).suffix == ".jsonl":
        atomic_write(path, "".join(r.to_json() + "\n" for r in records))
    else:
        write_json(path, [r.to_dict() for r in records])


def read_records(path: str | Path) -> list[TrialRecord]:
    """Records from ``pareto.json`` (a JSON list) or ``trials.jsonl`` (one object per line; a torn
    last line, left by a crash mid-write, is skipped). Raises RecordError naming file and line."""
    path = Path(path)
    try:
        text = path.read_text()
    except OSError as err:
        raise RecordError(f"{path}: cannot read ({err.strerror})") from None
    if path.suffix == ".json":
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RecordError(f"{path}: not valid JSON ({err.msg} at line {err.lineno})") from None
        if not isinstance(data, list):
            raise RecordError(f"{path}: expected a JSON list of trial records")
        return [TrialRecord.from_dict(item, f"{path}[{i}]") for i, item in enumerate(data)]
    complete = text.split("\n")[:-1]  # what follows the last newline is empty or a torn line
    return [TrialRecord.from_json(line, f"{path} line {i + 1}") for i, line in enumerate(complete) if line]


class TrialLog:
    """``trials.csv`` and ``trials.jsonl`` of a run directory, appended a trial at a time.

    Args:
        run_dir: the run directory.
        choices: the searched choice names (a column each, in this order).
        constraints: the budget names (a ``constraint_<name>`` column each: Optuna's constraint
            value ``measured / budget - 1``, met when <= 0).
        reward: the reward of an evaluation (a ``reward`` column), in reward mode.
    """

    def __init__(self, run_dir: str | Path, choices: Sequence[str], constraints: Sequence[str],
                 reward: Callable[[Evaluation], float] | None = None):
        self.run_dir = Path(run_dir)
        self.choices, self.constraints, self.reward = list(choices), list(constraints), reward
        self.columns = [*CSV_HEAD, *(["reward"] if reward else []), *(f"constraint_{c}" for c in self.constraints),
                        *self.choices, *CSV_TAIL]
        self._csv: TextIO | None = None
        self._jsonl: TextIO | None = None
        self._writer: Any = None

    def rewrite(self, records: Iterable[TrialRecord]) -> None:
        """Start both files afresh with ``records`` (a resumed or refreshed run's snapshot)."""
        records = list(records)
        text = io.StringIO()
        writer = csv.writer(text, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.row(r) for r in records)
        atomic_write(self.run_dir / TRIALS_CSV, text.getvalue())
        atomic_write(self.run_dir / TRIALS_JSONL, "".join(r.to_json() + "\n" for r in records))
        self.close()
        self._csv = open(self.run_dir / TRIALS_CSV, "a", newline="")
        self._jsonl = open(self.run_dir / TRIALS_JSONL, "a")
        self._writer = csv.writer(self._csv, lineterminator="\n")

    def append(self, record: TrialRecord) -> None:
        if self._writer is None:
            raise RuntimeError("TrialLog.append before rewrite")
        self._writer.writerow(self.row(record))
        self._jsonl.write(record.to_json() + "\n")

    def flush(self) -> None:
        for f in (self._csv, self._jsonl):
            if f is not None:
                f.flush()

    def close(self) -> None:
        for f in (self._csv, self._jsonl):
            if f is not None:
                f.close()
        self._csv = self._jsonl = self._writer = None

    def row(self, r: TrialRecord) -> list[Any]:
        e = r.evaluation
        measured = [""] * (10 + bool(self.reward)) if e is None else [
            int(e.feasible), _cell(e.proxy), _cell(e.proxy_std), e.proxy_label or "", repr(e.latency_ms),
            e.latency_cycles, _cell(e.energy_uj), _cell(e.area_mm2), e.params, e.macs,
            *([_cell(self.reward(e) if e.proxy is not None else None)] if self.reward else [])]
        constraints = [repr(e.constraints[c]) if e is not None and c in e.constraints else "" for c in self.constraints]
        duration = "" if r.duration_s is None else f"{r.duration_s:.3f}"
        return [r.number, r.state, r.reference or "", r.datetime_start or "", duration, *measured, *constraints,
                *(r.genome.get(c, "") for c in self.choices),
                "" if r.cached_from is None else r.cached_from, r.worker or ""]


def _cell(value: float | None) -> str:
    """A CSV cell: the number at full precision, or empty (not measured, or skipped)."""
    return "" if value is None else repr(value)
