"""nos-export end to end on the session's small nos-search: its Pareto set (the one nos-export
subprocess of the suite), one trial with a checkpoint, a study read from its storage; errors
exit 2 with one line and write nothing. (Every format against nos.build: test_export.py.)"""
import csv
import json

import torch

from nos import sim
from nos.arch import Arch
from nos.export import load
from nos.report.files import read_records
from test_export import check_model_py, make_run, randomized_state, reference
from apps import app, run


def test_cli_exports_the_pareto_set_of_a_search(search_run, tmp_path):
    run_dir, _ = search_run
    out = tmp_path / "exports"
    proc = app("export", f"run_dir={run_dir}", f"out_dir={out}")
    assert proc.returncode == 0, proc.stderr
    pareto = {r.number: r for r in read_records(run_dir / "pareto.json")}
    index = list(csv.DictReader(open(out / "index.csv")))
    assert [int(row["trial"]) for row in index] == sorted(pareto)
    assert f"[{len(pareto)}/{len(pareto)}] trial" in proc.stdout and "kB" in proc.stdout  # progress per member
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
        assert sorted(record["files"]) == ["README.md", "arch.json", "model.py"]  # no weights unless asked
        assert record["weights"] == {"init": "none"}


def test_cli_exports_one_trial_with_a_checkpoint(search_run, tmp_path):
    run_dir, _ = search_run
    member = read_records(run_dir / "pareto.json")[0]
    trial, arch = member.number, member.arch
    state = randomized_state(arch, seed=3)
    torch.save(state, tmp_path / "trained.pt")
    out = tmp_path / "exports"
    result = run("export", f"run_dir={run_dir}", f"out_dir={out}", "select=trial", f"trial={trial}",
                 f"checkpoint={tmp_path / 'trained.pt'}", "formats=[]")
    assert result.returncode == 0, result.stderr
    folder = out / f"nos-trial{trial}"
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "arch.json", "model.py", "weights.pt"]
    check_model_py({"searched": (arch, state, folder)}, tmp_path)  # .pt2 and ONNX: test_export.py
    loaded = load(folder)
    assert all(torch.equal(loaded.state_dict()[k], v) for k, v in reference(arch, state).state_dict().items())


def test_cli_errors_exit_2_with_one_line_and_write_nothing(tmp_path):
    out = tmp_path / "exports"
    result = run("export", f"run_dir={tmp_path / 'nowhere'}", f"out_dir={out}")
    assert result.returncode == 2
    assert result.stderr.strip() == f"nos-export: run_dir: {tmp_path / 'nowhere'} is not a directory"
    made = make_run(tmp_path / "run", proxies=[0.5, 0.9])
    result = run("export", f"run_dir={made}", f"out_dir={out}", "select=trial", "trial=[1,42]")
    assert result.returncode == 2
    assert result.stderr.strip() == "nos-export: trial: no finished trial 42 in study 'demo' (trials 0 to 1)"
    (tmp_path / "a_file").write_text("")
    result = run("export", f"run_dir={made}", f"out_dir={tmp_path / 'a_file' / 'exports'}")
    assert result.returncode == 2 and result.stderr.startswith("nos-export: out_dir: cannot write to")
    assert len(result.stderr.strip().splitlines()) == 1
    for bad, message in (("formats=[tflite]", "formats: expected a list of pt2, onnx"),
                         ("bogus=1", "bogus"), ("+bogus=1", "bogus: unknown key"),
                         ("selct=trial", "selct: unknown key; did you mean select?"),
                         ("formats=[pt2]", "formats: pt2 hold(s) weights, and weights=none")):
        result = run("export", f"run_dir={made}", f"out_dir={out}", bad)
        assert result.returncode == 2 and message in result.stderr, (bad, result.stderr)
        assert len(result.stderr.strip().splitlines()) == 1
    assert not out.exists()


def test_cli_help_describes_the_app():
    result = run("export", "--help")
    assert result.returncode == 0 and result.stdout.startswith("nos-export: write chosen architectures")
    assert "formats:" in result.stdout and "weights=fresh" in result.stdout and "replace: false" in result.stdout


def test_cli_exports_from_a_storage_and_study_name(search_run, tmp_path):
    run_dir, _ = search_run
    result = run("export", f"storage_url=journal:{run_dir / 'study.journal'}", "study_name=nos", "select=trial",
                 "trial=0", f"out_dir={tmp_path}")
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "nos-trial0" / "arch.json").read_text())
    assert record["search"]["trial"] == 0 and record["search"]["study_name"] == "nos"
