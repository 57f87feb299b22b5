"""Many workers on one study: two worker processes on one journal file and on PostgreSQL (Hydra's
joblib launcher starts them, as README shows), and recovery from a worker that died mid-trial."""
import os
import socket

import optuna
import pytest
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

from nos.report.files import read_records
from nos.search.pareto import front_records
from nos.search.record import REFERENCE_ATTR, WORKER_ATTR
from nos.search.study import JournalFile, make_storage, record_of
from postgres import server_bin, temporary_postgres
from apps import SMALL, run

WORKERS = ["-m", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "seed=0,1", "search.n_trials=4", *SMALL]


def check_study(study: optuna.Study, run_dirs, expected: int) -> None:
    trials = study.get_trials(deepcopy=False)
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    assert len(complete) == expected
    # workers that open a new study together may both queue the paper's variants; the spare copies
    # wait for the next worker (which finds them cached)
    assert all(t.state == TrialState.WAITING and REFERENCE_ATTR in t.user_attrs for t in trials if t not in complete)
    workers = {t.user_attrs[WORKER_ATTR] for t in complete}
    assert len(workers) == 2 and os.getpid() not in {int(w.rsplit(":", 1)[1]) for w in workers}  # two processes
    # the Pareto set written by the last worker to finish equals the one recomputed from all trials
    last = max(run_dirs, key=lambda d: (d / "pareto.json").stat().st_mtime)
    written = [r.number for r in read_records(last / "pareto.json")]
    assert written == [r.number for r in front_records([record_of(t) for t in complete])]


def test_two_worker_processes_share_one_journal_file(tmp_path):
    journal = tmp_path / "big.journal"
    result = run("search", *WORKERS, "study_name=big", f"storage.path={journal}",
                 f"hydra.sweep.dir={tmp_path / 'sweep'}")
    assert result.returncode == 0, result.stderr[-3000:]
    study = optuna.load_study(study_name="big", storage=make_storage(None, journal))
    check_study(study, [tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"], 8)


def test_two_worker_processes_share_one_postgresql_study(tmp_path):
    if server_bin() is None:
        pytest.skip("PostgreSQL server binaries are not installed and `make test` could not install them")
    with temporary_postgres() as url:
        result = run("search", *WORKERS, "storage=rdb", f"storage.url={url}", "study_name=pg",
                     f"hydra.sweep.dir={tmp_path / 'sweep'}")
        assert result.returncode == 0, result.stderr[-3000:]
        study = optuna.load_study(study_name="pg", storage=url)
        check_study(study, [tmp_path / "sweep" / "0", tmp_path / "sweep" / "1"], 8)


def dead_worker() -> str:
    """``host:pid`` of a process that has ended."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    os.waitpid(pid, 0)
    return f"{socket.gethostname()}:{pid}"


def test_a_trial_whose_worker_died_is_failed_and_its_choices_retried_once(tmp_path):
    first = run("search", *SMALL, "search.n_trials=6", f"hydra.run.dir={tmp_path}")
    assert first.returncode == 0, first.stderr
    journal = tmp_path / "study.journal"
    study = optuna.load_study(study_name="nos", storage=make_storage(None, journal))
    completed_before = {t.number for t in study.trials if t.state == TrialState.COMPLETE}
    params = study.trials[-1].params
    # a worker that decided its trial's choices and died before telling it: RUNNING, forever
    orphan = optuna.trial.create_trial(state=TrialState.RUNNING, params=params,
                                       distributions=study.trials[-1].distributions,
                                       user_attrs={WORKER_ATTR: dead_worker(), REFERENCE_ATTR: "fuse_half"})
    study.add_trial(orphan)
    killed = study.trials[-1].number
    again = run("search", *SMALL, "search.n_trials=3", f"hydra.run.dir={tmp_path}")
    assert again.returncode == 0, again.stderr
    assert f"trial {killed}: its worker died mid-trial; marked failed" in again.stdout + again.stderr
    after = optuna.load_study(study_name="nos", storage=make_storage(None, journal)).get_trials(deepcopy=False)
    states = {t.number: t.state for t in after}
    assert states[killed] == TrialState.FAIL
    assert completed_before <= {n for n, s in states.items() if s == TrialState.COMPLETE}
    retries = [t for t in after if t.user_attrs.get("retry_of") == killed]
    assert len(retries) == 1 and retries[0].params == params and retries[0].state == TrialState.COMPLETE
    assert retries[0].user_attrs[REFERENCE_ATTR] == "fuse_half"
    assert sum(s == TrialState.COMPLETE for s in states.values()) == len(completed_before) + 3
    # a third worker finds nothing left to recover
    third = run("search", *SMALL, "search.n_trials=1", f"hydra.run.dir={tmp_path}")
    assert third.returncode == 0 and "worker died" not in third.stdout + third.stderr


def test_the_journal_file_reads_what_others_append_and_never_a_torn_line(tmp_path):
    path = tmp_path / "study.journal"
    writer, reader = JournalFile(path), JournalFile(path)
    writer.append_logs([{"x": 1}, {"x": 2}])
    assert list(reader.read_logs(0)) == [{"x": 1}, {"x": 2}]
    with open(path, "ab") as f:
        f.write(b'{"x": 3')  # a line still being written
    assert list(reader.read_logs(2)) == []
    with open(path, "ab") as f:
        f.write(b"}\n")
    assert list(reader.read_logs(2)) == [{"x": 3}]
    assert list(reader.read_logs(1)) == [{"x": 2}, {"x": 3}]  # an earlier position is read again
    writer.sync()
    # Optuna's own backend (and so optuna-dashboard) reads the same file
    assert list(JournalFileBackend(str(path)).read_logs(0)) == [{"x": 1}, {"x": 2}, {"x": 3}]
