"""pareto.json and trials.csv, written atomically (temp file, then rename) so a crash
never leaves a truncated file."""
from __future__ import annotations

import csv
import io
import json
import math
import os
import tempfile
from pathlib import Path
from typing import Any

from nos.search.pareto import pareto_mask
from nos.search.study import Record

_UMASK = os.umask(0o022)
os.umask(_UMASK)
TRIAL_COLUMNS = ("trial", "state", "feasible", "proxy", "latency_cycles", "latency_ms", "params", "macs", "arch")


def atomic_write(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` in one rename (readers see the old or the new file)."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        os.chmod(tmp, 0o666 & ~_UMASK)  # mkstemp makes 0600; results are for everyone the umask allows
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def evaluated(records: list[Record]) -> list[Record]:
    return [r for r in records if r.evaluation is not None and r.state == "COMPLETE"]


def pareto_records(records: list[Record]) -> list[Record]:
    """The feasible non-dominated records, fastest first (duplicates of one architecture
    from the cache are kept once, the earliest trial)."""
    done, seen = [], set()
    for r in evaluated(records):
        key = r.arch.to_json(indent=None)
        if key not in seen:
            seen.add(key)
            done.append(r)
    if not done:
        return []
    mask = pareto_mask([r.evaluation.proxy for r in done], [r.evaluation.latency_cycles for r in done],
                       [r.feasible for r in done])
    front = [r for r, keep in zip(done, mask) if keep]
    return sorted(front, key=lambda r: (r.evaluation.latency_cycles, -r.evaluation.proxy))


def member(record: Record) -> dict[str, Any]:
    """One pareto.json entry."""
    e = record.evaluation
    return {"trial": record.trial, "arch": record.arch.to_dict(), "proxy": e.proxy,
            "latency_cycles": e.latency_cycles, "latency_ms": e.latency_ms, "params": e.params,
            "macs": e.macs, "constraints": e.constraints}


def write_pareto_json(records: list[Record], path: Path) -> list[Record]:
    front = pareto_records(records)
    atomic_write(path, json.dumps([member(r) for r in front], indent=1) + "\n")
    return front


def write_trials_csv(records: list[Record], path: Path) -> None:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(TRIAL_COLUMNS)
    for r in records:
        e = r.evaluation
        if e is None:
            writer.writerow([r.trial, r.state, "", "", "", "", "", "", ""])
            continue
        proxy = "" if not math.isfinite(e.proxy) else repr(e.proxy)
        writer.writerow([r.trial, r.state, int(r.feasible), proxy, e.latency_cycles, repr(e.latency_ms),
                         e.params, e.macs, r.arch.to_json(indent=None)])
    atomic_write(path, out.getvalue())

