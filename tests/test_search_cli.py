"""nos-search end to end: files, the one trial record, resume (and its refusal), progress, Ctrl-C,
TensorBoard read-back, figures, sweeps."""
import csv
import json
import signal
import subprocess
import sys
import time

import optuna
import pytest
from optuna.trial import TrialState
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import nos
from nos import proxies, sim
from nos.report.files import read_records
from nos.search.pareto import front_records
from nos.search.study import make_storage
from apps import app

SMALL = ["proxy=params", "hardware.rows=16", "hardware.cols=16", "search.report_every=3"]


def nos_search(*overrides, cwd=None):
    return app("search", *overrides, cwd=cwd)


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "run"
    proc = nos_search("search.n_trials=10", *SMALL, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    return out, proc


def test_run_writes_the_documented_files(run):
    run_dir, _ = run
    for name in ("pareto.json", "trials.csv", "trials.jsonl", "run.json", "report.md", "front.png",
                 "study.journal", "tb"):
        assert (run_dir / name).exists(), name
    with Image.open(run_dir / "front.png") as png:
        assert png.format == "PNG" and png.size[0] > 600


def test_pareto_members_are_trial_records_with_library_numbers(run):
    run_dir, _ = run
    front = read_records(run_dir / "pareto.json")
    hardware = sim.Hardware(rows=16, cols=16)
    assert front
    for r in front:
        # recorded numbers are what the library computes for that arch, standalone
        assert r.evaluation.latency_cycles == sim.simulate(r.arch, hardware).total_cycles
        assert r.evaluation.params == r.arch.params() and r.evaluation.macs == r.arch.macs()
        assert r.evaluation.proxy == proxies.score(r.arch, "params", data="digits", seed=0)
        assert r.evaluation.proxy_label == "parameters (network with a digits classifier)"
    lat = [r.evaluation.latency_cycles for r in front]
    assert lat == sorted(lat)
    assert all(a.evaluation.proxy < b.evaluation.proxy for a, b in zip(front, front[1:]))
    # the incrementally kept front equals the batch front of every trial
    trials = read_records(run_dir / "trials.jsonl")
    assert [r.number for r in front_records(trials)] == [r.number for r in front]


def test_trials_csv_has_one_row_per_trial_with_choices_timing_and_references(run):
    run_dir, _ = run
    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    assert [int(r["number"]) for r in rows] == list(range(10))
    assert {r["state"] for r in rows} == {"COMPLETE"}
    references = {r["reference"] for r in rows[:5]}
    assert references == {"baseline", "fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50"}
    assert all(r["reference"] == "" for r in rows[5:])
    for r in rows:
        assert r["datetime_start"] and float(r["duration_s"]) >= 0
        assert r["proxy_label"] == proxies.describe("params", "digits")
        assert r["b0.op"] in nos.arch.OPERATORS and r["b16.op"] in nos.arch.OPERATORS
    study = optuna.load_study(study_name="nos", storage=make_storage(None, run_dir / "study.journal"))
    assert study.metric_names == ["proxy", "latency_ms"]
    assert [t.user_attrs.get("reference") for t in study.trials[:5]] == [r["reference"] for r in rows[:5]]


def test_progress_and_stop_are_reported(run):
    _, proc = run
    text = proc.stdout + proc.stderr
    assert "trials 10/10" in text and "elapsed" in text and "front" in text and "feasible" in text
    assert "stopped after 10 trials (search.n_trials=10)" in text


def test_second_invocation_resumes_and_another_hardware_is_refused(run):
    run_dir, _ = run
    proc = nos_search("search.n_trials=4", *SMALL, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    assert [int(r["number"]) for r in rows] == list(range(14))
    assert len(read_records(run_dir / "trials.jsonl")) == 14
    before = (run_dir / "trials.csv").read_text()
    refused = nos_search("search.n_trials=4", *SMALL[:1], "hardware.rows=32", "hardware.cols=16",
                         f"hydra.run.dir={run_dir}")
    assert refused.returncode == 2
    lines = refused.stderr.strip().splitlines()
    assert len(lines) == 1 and "hardware.rows=16 (now 32)" in lines[0] and "study_name" in lines[0]
    assert (run_dir / "trials.csv").read_text() == before
    study = optuna.load_study(study_name="nos", storage=make_storage(None, run_dir / "study.journal"))
    assert len(study.trials) == 14


def test_tensorboard_has_scalars_figure_and_hparams_of_front_members(run):
    run_dir, _ = run
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"trial/proxy", "trial/latency_ms", "study/hypervolume", "pareto_front/proxy_vs_latency_us"} <= set(
        tags["scalars"])
    assert len(acc.Scalars("trial/latency_ms")) >= 10
    hv = [s.value for s in acc.Scalars("study/hypervolume")]
    assert hv and all(b >= a for a, b in zip(hv, hv[1:]))  # hypervolume never shrinks
    assert "pareto/front" in tags["images"]
    sessions = sorted(p.name for p in (run_dir / "tb" / "hparams").iterdir())
    front = {r.number for r in read_records(run_dir / "pareto.json")}
    assert {int(s.split("-")[1]) for s in sessions} >= front  # every member has a session
    session = EventAccumulator(str(run_dir / "tb" / "hparams" / sessions[0]))
    session.Reload()
    content = session.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["b0.op"].string_value in nos.arch.OPERATORS


def test_sigint_stops_cleanly_with_reports_and_a_resumable_study(tmp_path):
    proc = subprocess.Popen([sys.executable, "-m", "nos.cli.search", "search.n_trials=100000", *SMALL,
                             f"hydra.run.dir={tmp_path}"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    journal = tmp_path / "study.journal"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not (tmp_path / "front.png").exists():
        time.sleep(0.2)  # the first refresh (3 trials) has happened: trials are running
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    resume = [line for line in err.splitlines() if "resume with:" in line]
    assert len(resume) == 1 and f"hydra.run.dir={tmp_path}" in resume[0]
    assert (tmp_path / "report.md").exists() and "interrupted" in (tmp_path / "report.md").read_text()
    study = optuna.load_study(study_name="nos", storage=make_storage(None, journal))
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    done = [t for t in study.trials if t.state.is_finished()]
    again = nos_search("search.n_trials=2", *SMALL, f"hydra.run.dir={tmp_path}")
    assert again.returncode == 0, again.stderr
    resumed = optuna.load_study(study_name="nos", storage=make_storage(None, journal))
    assert len([t for t in resumed.trials if t.state.is_finished()]) == len(done) + 2


def test_multirun_sweep_writes_one_dir_per_job_and_a_combined_view(tmp_path):
    proc = nos_search("-m", "hardware.rows=8,16", "sampler=tpe,random", "search.n_trials=3", "proxy=params",
                      f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p.parent.name for p in tmp_path.glob("*/pareto.json"))
    assert jobs == ["0", "1", "2", "3"]
    runs = [json.loads((tmp_path / j / "run.json").read_text()) for j in jobs]
    assert {(r["hardware"]["rows"], r["sampler"]["_target_"].rsplit(".", 1)[1]) for r in runs} == {
        (8, "TPESampler"), (8, "RandomSampler"), (16, "TPESampler"), (16, "RandomSampler")}
    assert (tmp_path / "fronts.md").read_text().count("## ") == 4
    with Image.open(tmp_path / "fronts.png") as png:
        assert png.format == "PNG"
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    acc.Reload()
    assert "sweep/fronts" in acc.Tags()["images"]


def test_reward_objective_runs_single_objective_and_still_reports_the_front(tmp_path):
    proc = nos_search("search.objective=reward", "search.reward_target_ms=1.0", "search.n_trials=6", *SMALL,
                      f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    assert len(read_records(tmp_path / "trials.jsonl")) == 6 and read_records(tmp_path / "pareto.json")
    assert json.loads((tmp_path / "run.json").read_text())["objective"] == "reward"


def test_help_describes_the_app():
    proc = nos_search("--help")
    assert proc.returncode == 0
    assert proc.stdout.startswith("nos-search: hardware-aware Neural Operator Search")
    assert "sampler: gp, nsga2, nsga3, random, tpe" in proc.stdout and "n_trials: 400" in proc.stdout
