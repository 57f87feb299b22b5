"""nos-search end to end: files, resume, TensorBoard read-back, sweeps, bad overrides."""
import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

import nos
from nos import proxies, sim

SMALL = ["proxy=params", "hardware.rows=16", "hardware.cols=16", "search.report_every=2"]


def nos_search(*overrides, cwd=None):
    return subprocess.run([sys.executable, "-m", "nos.cli.search", *overrides], capture_output=True, text=True,
                          cwd=cwd, timeout=600)


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "run"
    proc = nos_search("search.n_trials=8", *SMALL, f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    return out


def test_run_writes_the_documented_files(run_dir):
    for name in ("pareto.json", "trials.csv", "run.json", "report.md", "study.journal", "tb"):
        assert (run_dir / name).exists(), name
    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    assert [int(r["trial"]) for r in rows] == list(range(8))
    front = json.loads((run_dir / "pareto.json").read_text())
    assert front and set(front[0]) == {"trial", "arch", "proxy", "latency_cycles", "latency_ms", "params", "macs", "constraints"}
    hardware = sim.Hardware(rows=16, cols=16)
    for m in front:
        arch = nos.Arch.from_dict(m["arch"])
        # recorded numbers are what the library computes for that arch, standalone
        assert m["latency_cycles"] == sim.simulate(arch, hardware).total_cycles
        assert m["params"] == arch.params() and m["macs"] == arch.macs()
        assert m["proxy"] == proxies.score(arch, "params", data="digits", seed=0)
    # the front is non-dominated and sorted by latency
    lat = [m["latency_cycles"] for m in front]
    assert lat == sorted(lat)
    assert all(a["proxy"] < b["proxy"] for a, b in zip(front, front[1:]))


def test_second_invocation_resumes_the_study(run_dir):
    proc = nos_search("search.n_trials=4", *SMALL, f"hydra.run.dir={run_dir}")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(run_dir / "trials.csv")))
    assert [int(r["trial"]) for r in rows] == list(range(12))
    assert all(r["state"] == "COMPLETE" for r in rows)


def test_tensorboard_has_scalars_figure_and_hparams(run_dir):
    acc = EventAccumulator(str(run_dir / "tb"), size_guidance={"images": 0, "scalars": 0})
    acc.Reload()
    tags = acc.Tags()
    assert {"trial/proxy", "trial/latency_ms", "study/hypervolume", "pareto_front/proxy_vs_latency_us"} <= set(tags["scalars"])
    assert len(acc.Scalars("trial/latency_ms")) >= 8
    hv = [s.value for s in acc.Scalars("study/hypervolume")]
    assert all(b >= a for a, b in zip(hv, hv[1:]))  # hypervolume never shrinks
    assert "pareto/front" in tags["images"]
    sessions = sorted(p.name for p in (run_dir / "tb" / "trials").iterdir())
    assert sessions[:8] == [f"{i:05d}" for i in range(8)]
    session = EventAccumulator(str(run_dir / "tb" / "trials" / "00000"))
    session.Reload()
    content = session.PluginTagToContent("hparams")
    start = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"]).session_start_info
    assert start.hparams["b00.op"].string_value in nos.arch.OPERATORS


def test_multirun_sweep_writes_one_dir_per_job_and_a_combined_view(tmp_path):
    proc = nos_search("-m", "hardware.rows=8,16", "sampler=tpe,random", "search.n_trials=3", "proxy=params",
                      f"hydra.sweep.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    jobs = sorted(p.parent.name for p in tmp_path.glob("*/pareto.json"))
    assert jobs == ["0", "1", "2", "3"]
    runs = [json.loads((tmp_path / j / "run.json").read_text()) for j in jobs]
    assert {(r["hardware"]["rows"], r["sampler"]) for r in runs} == {(8, "tpe"), (8, "random"), (16, "tpe"), (16, "random")}
    assert (tmp_path / "fronts.md").read_text().count("## ") == 4
    acc = EventAccumulator(str(tmp_path / "tb"), size_guidance={"images": 0})
    acc.Reload()
    assert "sweep/fronts" in acc.Tags()["images"]


@pytest.mark.parametrize("override,message", [
    ("sampler=annealing", "sampler"),
    ("hardware.rows=-4", "rows"),
    ("space=resnet", "space"),
    ("hardware.dataflow=rs", "dataflow"),
    ("proxy.name=accuracy", "proxy.name: unknown proxy 'accuracy'"),
    ("storage.url=postgresql+psycopg2://nobody@127.0.0.1:1/none", "storage.url: cannot open"),
])
def test_bad_overrides_fail_clearly_before_any_trial(tmp_path, override, message):
    proc = nos_search(override, "search.n_trials=2", f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 2
    assert message in proc.stderr
    assert "Traceback" not in proc.stderr
    assert not (tmp_path / "trials.csv").exists()


def test_reward_objective_runs_single_objective_and_still_reports_the_front(tmp_path):
    proc = nos_search("search.objective=reward", "search.reward_target_ms=1.0", "search.n_trials=6", *SMALL,
                      f"hydra.run.dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    rows = list(csv.DictReader(open(tmp_path / "trials.csv")))
    assert len(rows) == 6 and json.loads((tmp_path / "pareto.json").read_text())
    assert json.loads((tmp_path / "run.json").read_text())["objective"] == "reward"
