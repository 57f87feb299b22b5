"""nos-train and nos-supernet as a user runs them, one process or two (each a forked process with
torchrun's environment, running the app's main() on its command line): one set of files and
study records, a killed nos-train resumed by the same command, a supernet the search then reads,
bad input in one line."""
from __future__ import annotations

import json
import os
import shutil
import signal
import sys
import time

import optuna
import pytest
import torch

import processes
from nos.cli import supernet as supernet_app
from nos.cli import train as train_app
from nos.proxies import Budget, load
from nos.proxies.train import fit, materialize
from nos.report.files import read_records
from nos.search.study import make_storage, trainings
from nos.train import Runtime
from test_proxies import one_thread  # noqa: F401  (autouse fixture: the apps run one thread too)

TINY = ["budget.steps=4", "budget.batch_size=16", "budget.width=0.25", "budget.resolution=16", "runtime.device=cpu"]
TINY_SUPERNET = ["space=mobilenet_v2_stages", "proxy.budget.steps=4", "proxy.budget.batch_size=8",
                 "proxy.budget.width=0.125", "proxy.budget.resolution=16", "runtime.device=cpu"]


def app(main, name: str, *args: str):
    """A function that runs an app's ``main()`` on a command line (for a forked process)."""
    def run(rank: int):
        sys.argv = [name, *args]
        main()
    return run


@pytest.fixture(scope="module")
def front_run(search_run):
    """The session's small search (conftest ``search_run``) and two of its front members."""
    run_dir, _ = search_run
    chosen = [r.number for r in read_records(run_dir / "pareto.json")][:2]
    assert len(chosen) == 2
    return run_dir, chosen


def copy_of(front_run, folder, trials: int = 2):
    """A copy of the search run (its study too) and the overrides that select ``trials`` front members."""
    run_dir, chosen = front_run
    shutil.copytree(run_dir, folder / "run")
    return folder / "run", ["select=trial", f"trial=[{','.join(map(str, chosen[:trials]))}]"]


def test_nos_train_in_two_processes_writes_one_set_of_files_and_records(front_run, tmp_path):
    run_dir, selection = copy_of(front_run, tmp_path, trials=1)
    results = processes.run(app(train_app.main, "nos-train", f"run_dir={run_dir}", *selection, *TINY), tmp_path)
    assert [r.code for r in results] == [0, 0], [r.stderr for r in results]
    assert "Trained finalists" in results[0].stdout and results[1].stdout == ""
    assert "step 4/4" in results[0].stderr + results[0].stdout and "step" not in results[1].stderr
    settings = json.loads((run_dir / "run.json").read_text())
    study = optuna.load_study(study_name=settings["study_name"], storage=make_storage(settings["storage"]))
    chosen = sorted(int(n) for n in selection[1][7:-1].split(","))
    assert sorted(trainings(study)) == chosen
    assert sum(t.user_attrs.get("training") is not None for t in study.trials) in (0, len(chosen))  # never twice
    trained = run_dir / "trained"
    assert sorted(p.name for p in trained.iterdir()) == ["report.md"] + [f"trial-{n}" for n in chosen]
    for n in chosen:
        assert sorted(p.name for p in (trained / f"trial-{n}").iterdir()) == ["checkpoint.pt", "training.json",
                                                                               "weights.pt"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["run", "stderr-0", "stderr-1", "stdout-0", "stdout-1"]


def test_a_killed_nos_train_resumes_with_the_same_command(front_run, tmp_path):
    """SIGKILL while it trains, start it again: it resumes from the checkpoint and ends with the
    weights of an uninterrupted training (nos-train's own: materialize and fit under the seed)."""
    run_dir, selection = copy_of(front_run, tmp_path, trials=1)
    command = [f"run_dir={run_dir}", *selection, *TINY, "checkpoint_every=2"]
    number = front_run[1][0]
    checkpoint = run_dir / "trained" / f"trial-{number}" / "checkpoint.pt"

    def slow(rank):
        from nos.run import finalists
        finalists.StepProgress = lambda label: (lambda done, total: time.sleep(0.15))
        app(train_app.main, "nos-train", *command)(rank)

    (process,) = processes.start(slow, tmp_path, size=1)
    deadline = time.monotonic() + 60
    while not checkpoint.exists() and process.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    process.join()
    assert process.exitcode == -signal.SIGKILL and not (checkpoint.parent / "weights.pt").exists()
    (result,) = processes.run(app(train_app.main, "nos-train", *command), tmp_path, size=1)
    assert result.code == 0, result.stderr
    assert f"resuming {checkpoint} at step 2" in result.stderr
    record = next(r for r in read_records(run_dir / "trials.jsonl") if r.number == number)
    data = load("digits", 16)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(0)
        model = materialize(record.arch, data, 0.25)
        fit(model, data, Budget(steps=4, batch_size=16, width=0.25, resolution=16), 0, runtime=Runtime(device="cpu"))
    got = torch.load(checkpoint.parent / "weights.pt", weights_only=True)
    assert all(torch.equal(value, got[key]) for key, value in model.state_dict().items())


def test_nos_supernet_trains_the_cache_the_search_reads(tmp_path):
    cache = tmp_path / "cache"
    command = [*TINY_SUPERNET, f"proxy.cache_dir={cache}"]
    (result,) = processes.run(app(supernet_app.main, "nos-supernet", *command), tmp_path, size=1)
    assert result.code == 0, result.stderr
    assert "nos-search proxy=supernet space=mobilenet_v2_stages proxy.budget.steps=4" in result.stdout
    assert len(list(cache.glob("*.pt"))) == 1 and not list(cache.glob("*.ckpt"))
    from nos.cli.search import config as search_config  # what `nos-search <the same keys>` runs with

    evaluator = search_config(["proxy=supernet", *[o for o in command if o.startswith(("space", "proxy."))]]) \
        .resolve().evaluator
    evaluator.prepare()
    assert evaluator.proxy.supernet.from_cache
    # proxy=supernet_loss reads the same cache, and the printed search command names it
    (again,) = processes.run(app(supernet_app.main, "nos-supernet", "proxy=supernet_loss", *command), tmp_path, size=1)
    assert again.code == 0, again.stderr
    assert "(seed 0, 4 steps): read from the cache" in again.stdout
    assert "nos-search proxy=supernet_loss space=mobilenet_v2_stages proxy.budget.steps=4" in again.stdout


@pytest.mark.parametrize("args, message", [
    (["proxy=naswot"], "nos-supernet: proxy: nos-supernet trains the weights of proxy=supernet or supernet_loss, got proxy=naswot"),
    (["runtime.device=gpu"], "nos-supernet: runtime.device: unknown device 'gpu'"),
    (["runtime.compile=true"], "nos-supernet: runtime.compile: the supernet changes its path every step"),
    (["proxy.budget.lr=-1"], "nos-supernet: proxy.budget.lr: expected a positive number"),
    (["proxy.data=folder"], "nos-supernet: proxy.root: data='folder' needs root="),
    (["checkpoint_every=0"], "nos-supernet: checkpoint_every: expected a positive number of steps"),
])
def test_bad_nos_supernet_input_is_one_line(tmp_path, capsys, monkeypatch, args, message):
    monkeypatch.setattr(sys, "argv", ["nos-supernet", *args])
    with pytest.raises(SystemExit) as stop:
        supernet_app.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and lines[0].startswith(message), lines


@pytest.mark.parametrize("args, message", [
    (["runtime.precision=fp16", "runtime.device=cpu"], "nos-train: runtime.precision: fp16 needs a CUDA device"),
    (["runtime.workers=-2"], "nos-train: runtime.workers: expected an integer >= 0 or null"),
    (["runtime.bogus=1"], "nos-train: runtime.bogus"),
    (["checkpoint_every=-5"], "nos-train: checkpoint_every: expected a positive number of steps"),
])
def test_bad_nos_train_runtime_is_one_line(front_run, capsys, monkeypatch, args, message):
    monkeypatch.setattr(sys, "argv", ["nos-train", f"run_dir={front_run[0]}", *args])
    with pytest.raises(SystemExit) as stop:
        train_app.main()
    lines = capsys.readouterr().err.strip().splitlines()
    assert stop.value.code == 2 and len(lines) == 1 and lines[0].startswith(message), lines
