"""What the journal-file backend costs a search: nos's `JournalFile` (Optuna's public
`BaseJournalBackend`: flock, flushed per write, fsync per batch) against Optuna's own
`JournalFileBackend` (an fsync per log line) with its default lock (a symlink per write) and with
an `flock` lock passed through its public `lock_obj`.

The search phase of `nos-search sampler=nsga2 proxy=params search.n_trials=N` (the library's
`Run.search`, reports included), each backend in turn, repeated.

    python experiments/journal_backends.py [--trials 1000] [--repeats 2]

Writes experiments/results/journal_backends.md.
"""
from __future__ import annotations

import argparse
import fcntl
import os
import statistics
import tempfile
import time
from pathlib import Path

import optuna
from optuna.storages.journal import JournalFileBackend, JournalFileOpenLock

import nos.search.study as studies
from nos.cli.search import config
from nos.run import Run

RESULTS = Path(__file__).parent / "results" / "journal_backends.md"


class FlockLock(JournalFileOpenLock):
    """An flock on the journal file, for Optuna's backend's public ``lock_obj``."""

    def __init__(self, path: str):  # noqa: the parent would prepare a lock file
        self.path, self.handle = path, None

    def acquire(self) -> bool:
        self.handle = open(self.path, "ab")
        fcntl.flock(self.handle, fcntl.LOCK_EX)
        return True

    def release(self) -> None:
        handle, self.handle = self.handle, None
        if handle is not None:
            handle.close()


BACKENDS = {
    "nos JournalFile (BaseJournalBackend; flock, fsync per batch)": studies.journal_storage,
    "Optuna JournalFileBackend + flock lock (fsync per line)":
        lambda path: optuna.storages.JournalStorage(JournalFileBackend(str(path), lock_obj=FlockLock(str(path)))),
    "Optuna JournalFileBackend, default symlink lock (fsync per line)":
        lambda path: optuna.storages.JournalStorage(JournalFileBackend(str(path))),
}


def search_seconds(make_storage, trials: int) -> float:
    studies.journal_storage = make_storage  # what make_storage builds for a journal path
    with tempfile.TemporaryDirectory() as tmp:
        run = Run(config(["sampler=nsga2", "proxy=params", f"search.n_trials={trials}"]), Path(tmp) / "run").open()
        start = time.perf_counter()
        run.search()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    load_before = os.getloadavg()[0]
    seconds = {name: [] for name in BACKENDS}
    for _ in range(args.repeats):
        for name, make in BACKENDS.items():  # interleaved, so a change of load hits all alike
            seconds[name].append(search_seconds(make, args.trials))
            print(f"{name}: {seconds[name][-1]:.1f} s", flush=True)
    load_after = os.getloadavg()[0]
    first = statistics.median(next(iter(seconds.values())))
    lines = ["# Journal-file backends: what the study's storage costs a search", "",
             f"Measured with `python experiments/journal_backends.py --trials {args.trials} --repeats {args.repeats}` "
             f"on this machine ({os.cpu_count()} CPU cores, shared with other jobs; load average {load_before:.1f} "
             f"before, {load_after:.1f} after): the search phase of `nos-search sampler=nsga2 proxy=params "
             f"search.n_trials={args.trials}` (MobileNetV2 space, 64x64 FuSe array, reports included), each backend "
             "in turn. Medians of the repeats; the runs are interleaved.", "",
             "| journal backend | search phase (s) | trials/s | vs nos JournalFile |", "|---|---:|---:|---:|"]
    for name, values in seconds.items():
        median = statistics.median(values)
        lines.append(f"| {name} | {median:.1f} | {args.trials / median:.1f} | {median / first:.2f}x |")
    lines += ["", "A search writes about twenty journal lines per trial (one per choice, the worker, the record, "
              "each constraint, the state). Optuna's `JournalFileBackend` fsyncs each line; nos's `JournalFile` "
              "(`nos/search/study.py`, built on Optuna's public `BaseJournalBackend`) flushes each line to the "
              "operating system under an `flock` (other workers see it at once; a killed worker loses nothing), "
              "fsyncs once per batch of trials, and reads only the lines appended since its last read. Every "
              "backend writes the same file format, so Optuna and optuna-dashboard read nos's journals."]
    RESULTS.write_text("\n".join(lines) + "\n")
    print(f"wrote {RESULTS}")


if __name__ == "__main__":
    main()
