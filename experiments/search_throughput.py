"""Trials per second of a search as a user runs it, and whether the cost per trial stays flat.

`nos-search sampler=nsga2 proxy=params` on the MobileNetV2 space (64x64 FuSe array) with the
default journal storage, for 100 and 1,000 trials: the search phase timed in process (the
library's `Run.search`, reports included), and the whole command timed end to end (process
start, imports, the paper's reference variants, the reports). A cProfile of one 1,000-trial
search phase shows where the time goes.

    python experiments/search_throughput.py [--repeats 3] [--trials 100 1000]

Writes experiments/results/search_throughput.md.
"""
from __future__ import annotations

import argparse
import cProfile
import io
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import optuna

from nos.cli.search import config
from nos.run import Run

RESULTS = Path(__file__).parent / "results" / "search_throughput.md"
OVERRIDES = ["sampler=nsga2", "proxy=params"]


def search_seconds(trials: int, profile: cProfile.Profile | None = None) -> float:
    """Seconds of ``Run.search`` for ``trials`` trials in a new run directory (journal storage)."""
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(config([*OVERRIDES, f"search.n_trials={trials}"]), Path(tmp) / "run").open()
        if profile is not None:
            profile.enable()
        start = time.perf_counter()
        run.search()
        seconds = time.perf_counter() - start
        if profile is not None:
            profile.disable()
    return seconds


def command_seconds(trials: int) -> float:
    """Seconds of the whole ``nos-search`` command, process start to exit."""
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "nos.cli.search", *OVERRIDES, f"search.n_trials={trials}",
                        f"hydra.run.dir={tmp}/run"], check=True, capture_output=True)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--trials", type=int, nargs=2, default=[100, 1000])
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    small, large = args.trials
    load_before = os.getloadavg()[0]
    rows = {}
    for n in (small, large):
        search = [search_seconds(n) for _ in range(args.repeats)]
        command = [command_seconds(n) for _ in range(args.repeats)]
        rows[n] = (statistics.median(search), statistics.median(command), search, command)
        print(f"{n} trials: search {rows[n][0]:.2f} s ({n / rows[n][0]:.1f} trials/s), command {rows[n][1]:.2f} s "
              f"(runs: search {[round(s, 2) for s in search]}, command {[round(s, 2) for s in command]})", flush=True)
    profile = cProfile.Profile()
    profiled = search_seconds(large, profile)
    text = io.StringIO()
    stats = pstats.Stats(profile, stream=text).sort_stats("cumulative")
    stats.print_stats(r"(nos|optuna)/.*\.py", 25)
    profile_lines = [line for line in text.getvalue().splitlines() if line.strip()][-26:]
    load_after = os.getloadavg()[0]
    ratio_search = rows[large][0] / rows[small][0]
    ratio_command = rows[large][1] / rows[small][1]
    lines = [
        "# Search throughput: trials per second and cost per trial", "",
        f"Measured with `python experiments/search_throughput.py --repeats {args.repeats} --trials {small} {large}` "
        f"on this machine ({os.cpu_count()} CPU cores, shared; load average {load_before:.1f} before, "
        f"{load_after:.1f} after): `nos-search {' '.join(OVERRIDES)}`, MobileNetV2 space, 64x64 FuSe array, "
        "journal-file storage, default report cadence (`search.report_every=100`). Medians of the repeats.", "",
        "| trials | search phase (s) | trials/s (search) | whole command (s) | trials/s (command) |",
        "|---:|---:|---:|---:|---:|",
    ]
    for n in (small, large):
        s, c = rows[n][0], rows[n][1]
        lines.append(f"| {n} | {s:.2f} | {n / s:.1f} | {c:.2f} | {n / c:.1f} |")
    lines += [
        "",
        f"{large} trials take {ratio_search:.2f}x the search time of {small} ({ratio_command:.2f}x for the whole "
        f"command; {large / small:.0f}x would be a flat cost per trial, the goal is at most 11x).", "",
        "Search phase: `Run.search` after the study was opened (the references scored); whole command: process "
        "start (imports of torch, Optuna, Hydra: several seconds) to exit, including the final reports.", "",
        f"## Where a {large}-trial search phase spends its time (cProfile, {profiled:.1f} s under the profiler)", "",
        "```", *profile_lines, "```", "",
        "Per trial, Optuna's journal storage writes about 20 log lines (one per suggested choice, the worker, "
        "the record, each constraint, the state); nos's `JournalFile` appends them under an `flock` (Optuna's default lock creates and removes a symlink per line) without an fsync each "
        "(the file is flushed to the OS at once, so other workers and a killed worker lose nothing) and "
        "fsyncs once per batch. NSGA-II's per-trial cost grows with the study (it scans past trials for "
        "generations); the reports cost a fixed amount per trial (a CSV and a JSON line, TensorBoard scalars) "
        "plus a refresh every 100 trials (front figure, pareto.json, HParams of new front members).",
    ]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
