"""Trials per second for 1, 2 and 4 `nos-search` workers on one journal-file study.

Each worker is a separate process (the pattern Optuna documents: n_jobs=1 per worker, one
shared storage) running a cheap proxy (`params`), so the numbers measure the search
machinery: sampling, simulation, storage and reports. Two figures per setting:
end to end (process start to last exit, includes ~4 s of imports per process) and steady
state (first trial start to last trial end, from the trials' own timestamps).

    python experiments/scale_out.py [--trials-per-worker 40] [--repeats 3]

Writes experiments/results/scale_out.md.
"""
from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna
from optuna.trial import TrialState

from nos.search.study import make_storage

RESULTS = Path(__file__).parent / "results" / "scale_out.md"


def measure(workers: int, trials_per_worker: int) -> tuple[float, float]:
    """(end-to-end trials/s, steady-state trials/s) for one run of ``workers`` processes."""
    with tempfile.TemporaryDirectory() as tmp:
        journal = Path(tmp) / "study.journal"
        start = time.perf_counter()
        procs = [subprocess.Popen([sys.executable, "-m", "nos.cli.search", "proxy=params", "study_name=scale",
                                   f"storage.path={journal}", f"search.n_trials={trials_per_worker}", f"seed={i}",
                                   "search.seed_references=false", f"hydra.run.dir={tmp}/w{i}"],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                 for i in range(workers)]
        for p in procs:
            _, err = p.communicate()
            if p.returncode != 0:
                raise RuntimeError(err[-2000:])
        wall = time.perf_counter() - start
        trials = optuna.load_study(study_name="scale", storage=make_storage(None, journal)).get_trials(
            deepcopy=False, states=(TrialState.COMPLETE,))
        span = (max(t.datetime_complete for t in trials) - min(t.datetime_start for t in trials)).total_seconds()
        return len(trials) / wall, len(trials) / span


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials-per-worker", type=int, default=40)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    rows = []
    for workers in (1, 2, 4):
        runs = [measure(workers, args.trials_per_worker) for _ in range(args.repeats)]
        e2e = statistics.median(r[0] for r in runs)
        steady = statistics.median(r[1] for r in runs)
        rows.append((workers, e2e, steady))
        print(f"{workers} worker(s): {e2e:.2f} trials/s end to end, {steady:.2f} trials/s steady state "
              f"(median of {args.repeats}; runs: {[f'{a:.2f}/{b:.2f}' for a, b in runs]})", flush=True)
    base = rows[0][2]
    lines = ["# Scale-out on one journal-file study", "",
             f"Measured with `python experiments/scale_out.py --trials-per-worker {args.trials_per_worker} "
             f"--repeats {args.repeats}` on this machine ({os.cpu_count()} CPU cores), proxy `params`, "
             "MobileNetV2 space, 64x64 FuSe array, TPE; medians of the repeats.", "",
             "| workers | trials/s end to end | trials/s steady state | steady-state speed-up |",
             "|---:|---:|---:|---:|"]
    lines += [f"| {w} | {e:.2f} | {s:.2f} | {s / base:.2f}x |" for w, e, s in rows]
    lines += ["", "End to end includes each process's start-up (imports of torch, Optuna and Hydra, and the",
              "evaluation of the paper's reference variants); steady state spans the first trial's start to",
              "the last trial's end. With 2 cores, more than 2 workers cannot add throughput; the journal",
              "file's lock and every worker re-reading the study after each trial (for its reports) are",
              "the shared costs."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
