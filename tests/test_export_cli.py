"""nos-export end to end: a short nos-search, then its Pareto set and one trial with a
checkpoint exported by the Hydra app; errors exit 2 with one line and write nothing."""
import csv
import json

import pytest
import torch

from nos import sim
from nos.arch import Arch
from nos.export import load
from nos.report.files import read_records
from test_export import check_model_py, check_onnx, check_pt2, make_run, randomized_state, reference
from apps import app


def nos_export(*overrides):
    return app("export", *overrides)


@pytest.fixture(scope="module")
def search_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("search") / "run"
    proc = app("search", "search.n_trials=4", "proxy=params", "hardware.rows=16", "hardware.cols=16",
               f"hydra.run.dir={out}")
    assert proc.returncode == 0, proc.stderr
    return out


def test_cli_exports_the_pareto_set_of_a_search(search_run, tmp_path):
    out = tmp_path / "exports"
    proc = nos_export(f"run_dir={search_run}", f"out_dir={out}")
    assert proc.returncode == 0, proc.stderr
    pareto = {r.number: r for r in read_records(search_run / "pareto.json")}
    index = list(csv.DictReader(open(out / "index.csv")))
    assert [int(row["trial"]) for row in index] == sorted(pareto)
    assert f"[{len(pareto)}/{len(pareto)}] trial" in proc.stdout and "MB" in proc.stdout  # progress per member
    assert proc.stderr == ""  # no warning floods
    for row in index:
        folder = out / row["folder"]
        assert folder.name in proc.stdout
        record = json.loads((folder / "arch.json").read_text())
        member = pareto[record["search"]["trial"]]
        arch = Arch.from_dict(record["arch"])
        assert arch == member.arch and record["params"] == arch.params() == member.evaluation.params
        # re-simulating the exported spec on the recorded hardware gives the recorded cycles
        cycles = sim.simulate(arch, sim.Hardware(**record["hardware"])).total_cycles
        assert cycles == record["latency"]["cycles"] == member.evaluation.latency_cycles == int(row["latency_cycles"])
        assert record["proxy"]["score"] == member.evaluation.proxy and record["search"]["space"] == "mobilenet_v2"
        assert sorted(record["files"]) == ["README.md", "arch.json", "model.pt2", "model.py"]


def test_cli_exports_one_trial_with_a_checkpoint_in_every_format(search_run, tmp_path):
    member = read_records(search_run / "pareto.json")[0]
    trial, arch = member.number, member.arch
    state = randomized_state(arch, seed=3)
    torch.save(state, tmp_path / "trained.pt")
    out = tmp_path / "exports"
    proc = nos_export(f"run_dir={search_run}", f"out_dir={out}", "select=trial", f"trial={trial}",
                      f"checkpoint={tmp_path / 'trained.pt'}", "formats=[pt2,onnx]")
    assert proc.returncode == 0, proc.stderr
    folder = out / f"nos-trial{trial}"
    exports = {"searched": (arch, state, folder)}
    check_model_py(exports, tmp_path)
    check_pt2(exports)
    check_onnx(exports)
    loaded = load(folder)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in reference(arch, state).state_dict().items())


def test_cli_errors_exit_2_with_one_line_and_write_nothing(tmp_path):
    out = tmp_path / "exports"
    proc = nos_export(f"run_dir={tmp_path / 'nowhere'}", f"out_dir={out}")
    assert proc.returncode == 2
    assert proc.stderr.strip() == f"nos-export: run_dir: {tmp_path / 'nowhere'} is not a directory"
    run = make_run(tmp_path / "run", proxies=[0.5, 0.9])
    proc = nos_export(f"run_dir={run}", f"out_dir={out}", "select=trial", "trial=[1,42]")
    assert proc.returncode == 2
    assert proc.stderr.strip() == "nos-export: trial: no finished trial 42 in study 'demo' (trials 0 to 1)"
    (tmp_path / "a_file").write_text("")
    proc = nos_export(f"run_dir={run}", f"out_dir={tmp_path / 'a_file' / 'exports'}")
    assert proc.returncode == 2 and proc.stderr.startswith("nos-export: out_dir: cannot write to")
    assert len(proc.stderr.strip().splitlines()) == 1
    for bad, message in (("formats=[tflite]", "formats: expected a list of pt2, onnx"),
                         ("bogus=1", "bogus"), ("+bogus=1", "bogus: unknown key")):
        proc = nos_export(f"run_dir={run}", f"out_dir={out}", bad)
        assert proc.returncode == 2 and message in proc.stderr and len(proc.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_help_describes_the_app():
    proc = nos_export("--help")
    assert proc.returncode == 0 and proc.stdout.startswith("nos-export: write chosen architectures")
    assert "formats:" in proc.stdout and "weights=none" in proc.stdout


def test_cli_exports_from_a_storage_and_study_name(search_run, tmp_path):
    proc = nos_export(f"storage_url=journal:{search_run / 'study.journal'}", "study_name=nos", "select=trial",
                      "trial=0", f"out_dir={tmp_path}")
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "nos-trial0" / "arch.json").read_text())
    assert record["search"]["trial"] == 0 and record["search"]["study_name"] == "nos"
