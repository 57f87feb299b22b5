"""Many workers on one study (journal file, PostgreSQL) and recovery from a killed worker."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from nos.report.files import read_records
from nos.search.pareto import front_records
from nos.search.study import make_storage, record_of
from postgres import server_bin, temporary_postgres

WORKER = ["proxy=params", "hardware.rows=16", "hardware.cols=16", "search.report_every=5"]


def start_worker(run_dir: Path, *overrides: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "nos.cli.search", *WORKER, *overrides, f"hydra.run.dir={run_dir}"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def wait_all(procs: list[subprocess.Popen]) -> None:
    for p in procs:
        out, err = p.communicate(timeout=600)
        assert p.returncode == 0, err[-3000:]


def check_study(study: optuna.Study, run_dirs: list[Path], expected: int) -> None:
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers)) == expected
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == expected
    # the Pareto set written by the last worker to finish equals the one recomputed from all trials
    last = max(run_dirs, key=lambda d: (d / "pareto.json").stat().st_mtime)
    written = [r.number for r in read_records(last / "pareto.json")]
    assert written == [r.number for r in front_records([record_of(t) for t in complete])]


def test_four_workers_share_one_journal_file(tmp_path):
    journal = tmp_path / "shared.journal"
    dirs = [tmp_path / f"w{i}" for i in range(4)]
    procs = [start_worker(d, "study_name=shared", f"storage.path={journal}", "search.n_trials=6", f"seed={i}")
             for i, d in enumerate(dirs)]
    wait_all(procs)
    study = optuna.load_study(study_name="shared", storage=make_storage(None, journal))
    check_study(study, dirs, 24)


def test_three_workers_share_one_postgresql_study(tmp_path):
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed and `make test` could not install them")
    with temporary_postgres() as url:
        dirs = [tmp_path / f"w{i}" for i in range(3)]
        procs = [start_worker(d, "storage=rdb", f"storage.url={url}", "study_name=pg", "search.n_trials=10", f"seed={i}")
                 for i, d in enumerate(dirs)]
        wait_all(procs)
        study = optuna.load_study(study_name="pg", storage=url)
        check_study(study, dirs, 30)


def running_trial_of(journal: Path, pid: int) -> int | None:
    study = optuna.load_study(study_name="crash", storage=make_storage(None, journal))
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if t.user_attrs.get("worker", "").endswith(f":{pid}") and len(t.params) == 17:  # its genome is decided
            return t.number
    return None


def completed(journal: Path) -> int:
    study = optuna.load_study(study_name="crash", storage=make_storage(None, journal))
    return len(study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))


def test_a_worker_killed_mid_trial_loses_nothing_and_its_trial_is_retried(tmp_path):
    journal = tmp_path / "crash.journal"
    common = ["study_name=crash", f"storage.path={journal}", "proxy=synflow"]
    victim = start_worker(tmp_path / "a", *common, "search.n_trials=200")
    killed, deadline = None, time.time() + 600
    try:
        while killed is None and time.time() < deadline and victim.poll() is None:
            time.sleep(0.05)
            if (tmp_path / "a" / "pareto.json").exists() and running_trial_of(journal, victim.pid) is not None:
                os.kill(victim.pid, signal.SIGKILL)
                victim.wait(timeout=60)
                # the trial it died in (read after the kill: the one seen before may have finished)
                killed = running_trial_of(journal, victim.pid)
                break
    finally:
        victim.kill()
        victim.communicate(timeout=60)
    assert killed is not None, "the worker never ran a trial"
    before = optuna.load_study(study_name="crash", storage=make_storage(None, journal)).get_trials(deepcopy=False)
    completed_before = {t.number for t in before if t.state == TrialState.COMPLETE}
    params_of_killed = next(t.params for t in before if t.number == killed)
    json.loads((tmp_path / "a" / "pareto.json").read_text())  # never truncated
    events = EventAccumulator(str(tmp_path / "a" / "tb"))
    events.Reload()  # append-only, CRC-framed: the records written before the kill read back
    assert len(events.Scalars("trial/latency_ms")) >= 1

    restart = start_worker(tmp_path / "b", *common, "search.n_trials=3")
    wait_all([restart])
    after = optuna.load_study(study_name="crash", storage=make_storage(None, journal)).get_trials(deepcopy=False)
    numbers = [t.number for t in after]
    assert len(numbers) == len(set(numbers))
    states = {t.number: t.state for t in after}
    assert states[killed] == TrialState.FAIL
    assert completed_before <= {n for n, s in states.items() if s == TrialState.COMPLETE}
    retries = [t for t in after if t.user_attrs.get("retry_of") == killed]
    assert len(retries) == 1 and retries[0].params == params_of_killed and retries[0].state == TrialState.COMPLETE
    assert sum(s == TrialState.COMPLETE for s in states.values()) == len(completed_before) + 3


def test_joblib_launcher_runs_workers_of_one_study_in_parallel(tmp_path):
    journal = tmp_path / "big.journal"
    proc = subprocess.run([sys.executable, "-m", "nos.cli.search", "-m", "hydra/launcher=joblib",
                           "hydra.launcher.n_jobs=2", "seed=0,1", "study_name=big", f"storage.path={journal}",
                           "search.n_trials=4", *WORKER, f"hydra.sweep.dir={tmp_path / 'sweep'}"],
                          capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = optuna.load_study(study_name="big", storage=make_storage(None, journal))
    check_study(study, [tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"], 8)
