"""Export: the standalone model.py, .pt2 and ONNX files against nos.build, arch.json numbers,
trial selection, the index, nos.load, and all-or-nothing errors."""
import csv
import dataclasses
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import torch
from torch import nn

import nos
from nos import sim
from nos.arch import Arch, Block, Head, Stem
from nos.export import (ExportError, export, load, read_record, read_run, read_study, select, write_export,
                        write_index)

# every operator, SE, a dead expansion conv, a pre-logits conv and a MobileNet-V1 style block
TINY = Arch("tiny", Stem(8, 3, 2, "hswish"), (
    Block("fuse_half", 3, 1, 8, 8, "relu6", expand=False, dead_expand=True),
    Block("dw", 5, 2, 16, 16, "hswish", se=0.25),
    Block("full", 3, 1, 24, 16, "relu", mid_act=False, proj_act=True),
    Block("fuse_full", 3, 2, 32, 24, "relu6", se=0.25),
), Head(32, 48, "hswish", 0.2), input_size=32, num_classes=10)

# one zoo network at full resolution (with the dead expansion conv), one reduced, and TINY
EXPORTED = {
    "tiny": TINY,
    "mbv2_fuse_half_224": nos.zoo.get("mobilenet_v2", "fuse_half"),
    "v3s_fuse_full_50_64": dataclasses.replace(nos.zoo.get("mobilenet_v3_small", "fuse_full_50"), input_size=64),
}
TOLERANCE = 1e-5
HARDWARE = {"rows": 16, "cols": 16, "dataflow": "os", "fuse": True, "batch": 1, "clock_mhz": 500.0}


def randomized_state(arch: Arch, seed: int) -> dict:
    """A state dict whose BN statistics and classifier are far from the init, so outputs are O(1)."""
    torch.manual_seed(seed)
    net = nos.build(arch)
    with torch.no_grad():
        for m in net.modules():
            if isinstance(m, nn.BatchNorm2d):
                m.weight.uniform_(0.5, 1.5)
                m.bias.uniform_(-0.2, 0.2)
                m.running_mean.uniform_(-0.2, 0.2)
                m.running_var.uniform_(0.5, 2.0)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, m.in_features ** -0.5)
                if m.bias is not None:
                    m.bias.uniform_(-0.5, 0.5)
    return net.state_dict()


def reference(arch: Arch, state: dict) -> nn.Module:
    net = nos.build(arch)
    net.load_state_dict(state)
    return net.eval()


def example(arch: Arch) -> torch.Tensor:
    return torch.randn(2 if arch.input_size < 224 else 1, arch.in_channels, arch.input_size, arch.input_size,
                       generator=torch.Generator().manual_seed(1))


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    """Each EXPORTED arch written with a randomized checkpoint: name -> (arch, state, folder)."""
    root = tmp_path_factory.mktemp("exported")
    out = {}
    for i, (name, arch) in enumerate(EXPORTED.items()):
        state = randomized_state(arch, seed=i)
        torch.save(state, root / f"{name}.pt")
        out[name] = arch, state, write_export(root / name, arch, checkpoint=root / f"{name}.pt")
    return out


def test_folder_holds_the_documented_files(exported):
    for name, (arch, _, folder) in exported.items():
        files = {"arch.json", "README.md", "model.py", "model.pt2", "model.onnx", "weights.pt"}
        assert {p.name for p in folder.iterdir()} == files, name
        record = read_record(folder)
        assert set(record["files"]) == files
        assert Arch.from_dict(record["arch"]) == arch
        assert (record["params"], record["macs"], record["input_size"]) == (arch.params(), arch.macs(), arch.input_size)
        assert record["weights"]["init"] == "checkpoint"
        readme = (folder / "README.md").read_text()
        assert f"{arch.params():,}" in readme and "torch.export.load" in readme and arch.to_text() in readme


def check_model_py(exports: dict, tmp_path: Path) -> None:
    """Every model.py of ``exports`` (name -> (arch, state, folder)), imported in an
    interpreter that cannot import nos, gives nos.build's output with the same weights and
    has the same parameter count."""
    site_packages = str(Path(torch.__file__).parents[1])
    script = [
        "import importlib, json, sys, torch",
        "try:\n    import nos\n    nos_importable = True\nexcept ImportError:\n    nos_importable = False",
        "out = {'nos_importable': nos_importable, 'models': {}}",
    ]
    for name, (arch, state, folder) in exports.items():
        copy = tmp_path / name
        copy.mkdir()
        shutil.copy(folder / "model.py", copy / f"model_{name}.py")
        torch.save(state, copy / f"{name}.pt")
        torch.save(example(arch), copy / f"{name}_x.pt")
        script += [
            f"net = importlib.import_module('model_{name}').build(weights='{name}/{name}.pt').eval()",
            f"torch.save(net(torch.load('{name}/{name}_x.pt')), '{name}/{name}_y.pt')",
            f"out['models']['{name}'] = sum(p.numel() for p in net.parameters())",
        ]
    script.append("print(json.dumps(out))")
    paths = os.pathsep.join([str(tmp_path / name) for name in exports] + [site_packages])
    env = {"PYTHONPATH": paths, "PATH": os.environ.get("PATH", ""), "OMP_NUM_THREADS": "1"}
    proc = subprocess.run([sys.executable, "-S", "-c", "\n".join(script)], cwd=tmp_path, capture_output=True,
                          text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    assert result["nos_importable"] is False
    for name, (arch, state, _) in exports.items():
        net = reference(arch, state)
        with torch.no_grad():
            expected = net(example(arch))
        got = torch.load(tmp_path / name / f"{name}_y.pt")
        assert (got - expected).abs().max().item() <= TOLERANCE, name
        assert result["models"][name] == sum(p.numel() for p in net.parameters()) == arch.params(), name


def check_pt2(exports: dict) -> None:
    """Every model.pt2 gives nos.build's output with the same weights and holds its parameters."""
    for name, (arch, state, folder) in exports.items():
        program = torch.export.load(folder / "model.pt2")
        x = example(arch)[:1]
        with torch.no_grad():
            diff = (program.module()(x) - reference(arch, state)(x)).abs().max().item()
        assert diff <= TOLERANCE, name
        parameters = dict(nos.build(arch).named_parameters())
        assert sum(v.numel() for k, v in program.state_dict.items() if k in parameters) == arch.params(), name


def check_onnx(exports: dict) -> None:
    """Every model.onnx, run by onnxruntime, gives nos.build's output with the same weights."""
    ort = pytest.importorskip("onnxruntime")
    for name, (arch, state, folder) in exports.items():
        session = ort.InferenceSession(str(folder / "model.onnx"))
        x = example(arch)[:1]
        (got,) = session.run(None, {"x": x.numpy()})
        with torch.no_grad():
            diff = (torch.from_numpy(got) - reference(arch, state)(x)).abs().max().item()
        assert diff <= TOLERANCE, name


def test_outputs_are_large_enough_for_the_tolerance_to_mean_something(exported):
    for name, (arch, state, _) in exported.items():
        with torch.no_grad():
            assert reference(arch, state)(example(arch)).std() > 0.1, name


def test_model_py_needs_only_torch_and_matches_build(exported, tmp_path):
    check_model_py(exported, tmp_path)


def test_pt2_program_matches_build(exported):
    check_pt2(exported)


def test_onnx_model_matches_build_in_onnxruntime(exported):
    check_onnx(exported)


def test_load_rebuilds_the_network_with_exported_weights(exported, tmp_path):
    arch, state, folder = exported["tiny"]
    for path in (folder, folder / "arch.json"):
        net = load(path)
        assert isinstance(net, nos.build(arch).__class__)
        assert all(torch.equal(net.state_dict()[k], v) for k, v in state.items())
    plain = tmp_path / "plain.json"
    plain.write_text(arch.to_json())
    assert sum(p.numel() for p in load(plain).parameters()) == arch.params()
    with pytest.raises(ExportError, match="schema"):
        (tmp_path / "other.json").write_text('{"schema": "something/9"}')
        load(tmp_path / "other.json")
    with pytest.raises(ExportError, match="does not exist"):
        load(tmp_path / "missing")


def test_fresh_weights_are_those_of_a_seeded_build(tmp_path):
    folder = write_export(tmp_path / "fresh", TINY, seed=7, onnx=False)
    assert read_record(folder)["weights"] == {"init": "fresh", "seed": 7}
    assert not (folder / "weights.pt").exists() and not (folder / "model.onnx").exists()
    torch.manual_seed(7)
    state = nos.build(TINY).state_dict()
    program = torch.export.load(folder / "model.pt2")
    x = example(TINY)[:1]
    with torch.no_grad():
        assert torch.equal(program.module()(x), reference(TINY, state)(x))


def test_a_checkpoint_that_does_not_fit_is_rejected_and_nothing_is_written(tmp_path):
    bad = tmp_path / "bad.pt"
    torch.save(nos.build(dataclasses.replace(TINY, num_classes=5)).state_dict(), bad)
    with pytest.raises(ExportError, match="checkpoint: .* does not fit tiny"):
        write_export(tmp_path / "out" / "x", TINY, checkpoint=bad, onnx=False)
    with pytest.raises(ExportError, match="checkpoint: .* does not exist"):
        write_export(tmp_path / "out" / "x", TINY, checkpoint=tmp_path / "none.pt", onnx=False)
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------------------------- runs
def variant(op: str, width: int) -> Arch:
    """A TINY-like arch with another operator in block 0 and another width in block 3."""
    blocks = list(TINY.blocks)
    blocks[0] = dataclasses.replace(blocks[0], op=op)
    blocks[3] = dataclasses.replace(blocks[3], exp=width)
    return dataclasses.replace(TINY, name=f"tiny_{op}_{width}", blocks=tuple(blocks))


def make_run(root: Path, proxies: list[float], infeasible=(), failed=()) -> Path:
    """A run directory as nos-search writes it (run.json, pareto.json, trials.csv and a
    journal study with the same trials); trial i has proxy proxies[i] and the latency
    simulated on HARDWARE; the Pareto set is found by brute force."""
    root.mkdir(parents=True)
    hardware = sim.Hardware(**HARDWARE)
    archs = [variant(op, width) for op in ("fuse_half", "dw", "full", "fuse_full") for width in (32, 48)]
    members, rows = [], []
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(root / "study.journal")))
    study = optuna.create_study(study_name="demo", storage=storage, directions=["maximize", "minimize"])
    for trial, proxy in enumerate(proxies):
        if trial in failed:
            rows.append([trial, "FAIL", "", "", "", "", "", "", ""])
            study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
            continue
        arch = archs[trial % len(archs)]
        result = sim.simulate(arch, hardware)
        attrs = {"arch": arch.to_json(indent=None), "proxy": proxy, "latency_cycles": int(result.total_cycles),
                 "latency_ms": float(result.latency_ms), "params": arch.params(), "macs": arch.macs(),
                 "constraints": {"params": 1.0 if trial in infeasible else -1.0}}
        study.add_trial(optuna.trial.create_trial(values=[proxy, attrs["latency_ms"]], user_attrs=attrs))
        rows.append([trial, "COMPLETE", int(trial not in infeasible), proxy, attrs["latency_cycles"],
                     attrs["latency_ms"], attrs["params"], attrs["macs"], attrs["arch"]])
        if trial not in infeasible:
            members.append({**attrs, "trial": trial, "arch": arch.to_dict()})

    def dominated(m):
        return any(o["proxy"] >= m["proxy"] and o["latency_cycles"] <= m["latency_cycles"]
                   and (o["proxy"], o["latency_cycles"]) != (m["proxy"], m["latency_cycles"]) for o in members)
    members = [m for m in members if not dominated(m)]
    run = {"study_name": "demo", "storage": f"journal:{root / 'study.journal'}", "space": "tiny",
           "hardware": HARDWARE, "proxy": {"name": "params", "data": "digits"}, "seed": 0, "input_size": 32}
    (root / "run.json").write_text(json.dumps(run))
    (root / "pareto.json").write_text(json.dumps(members))
    with open(root / "trials.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["trial", "state", "feasible", "proxy", "latency_cycles", "latency_ms", "params", "macs", "arch"])
        writer.writerows(rows)
    return root


@pytest.fixture
def run(tmp_path):
    # trial 5 is the fastest but infeasible; trial 3 failed
    return make_run(tmp_path / "run", proxies=[0.5, 0.9, 0.2, 0.0, 0.7, 0.95, 0.6], infeasible=[5], failed=[3])


def test_pareto_export_writes_one_folder_per_member_with_recorded_numbers(run, tmp_path):
    out = tmp_path / "exports"
    folders = export(run, out, onnx=False)
    assert [f.name for f in folders] == ["demo-trial0", "demo-trial1", "demo-trial6"]
    members = {m["trial"]: m for m in json.loads((run / "pareto.json").read_text())}
    index = list(csv.DictReader(open(out / "index.csv")))
    assert [row["folder"] for row in index] == [f.name for f in folders]
    for folder, row in zip(folders, index):
        record = read_record(folder)
        member = members[record["search"]["trial"]]
        arch = Arch.from_dict(record["arch"])
        assert arch == Arch.from_dict(member["arch"])
        assert record["latency"] == {"cycles": member["latency_cycles"], "ms": member["latency_ms"], "model": "compute"}
        assert record["proxy"] == {"name": "params", "data": "digits", "score": member["proxy"]}
        assert record["hardware"] == HARDWARE and record["search"]["pareto"] is True
        # re-simulating the exported spec on the exported hardware gives the recorded cycles
        assert sim.simulate(arch, sim.Hardware(**record["hardware"])).total_cycles == record["latency"]["cycles"]
        assert int(row["trial"]) == member["trial"] and float(row["proxy"]) == member["proxy"]
        assert int(row["latency_cycles"]) == member["latency_cycles"] and int(row["params"]) == arch.params()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_selection_by_trial_fastest_above_and_best_under(run):
    r = read_run(run)
    by = {c.trial: c for c in r.candidates}
    assert sorted(by) == [0, 1, 2, 4, 5, 6] and r.trial_states[3] == "FAIL"
    assert [c.trial for c in select(r, "trial", trial=[4, 0, 4])] == [4, 0]
    feasible = [c for c in r.candidates if c.trial != 5]
    # fastest with proxy >= 0.6, computed by brute force over the feasible trials
    above = min((c for c in feasible if c.proxy >= 0.6), key=lambda c: c.latency_cycles)
    assert select(r, "fastest_above", min_proxy=0.6) == [above]
    limit = sorted(c.latency_cycles for c in feasible)[2]
    under = max((c for c in feasible if c.latency_cycles <= limit), key=lambda c: c.proxy)
    assert select(r, "best_under", max_latency_cycles=limit) == [under]
    assert select(r, "best_under", max_latency_ms=under.latency_ms) [0].proxy >= under.proxy
    assert 5 not in [c.trial for c in select(r, "best_under", max_latency_cycles=10**12)]  # infeasible


@pytest.mark.parametrize("options, message", [
    ({"select": "trial", "trial": 42}, "trial: no trial 42 in study 'demo' \\(trials 0 to 6\\)"),
    ({"select": "trial", "trial": 3}, "trial: trial 3 is FAIL"),
    ({"select": "trial"}, "trial: expected a trial number"),
    ({"select": "fastest_above", "min_proxy": 0.99}, "min_proxy: no feasible trial has proxy >= 0.99"),
    ({"select": "best_under", "max_latency_cycles": 1}, "max_latency_cycles: no feasible trial is as fast"),
    ({"select": "best_under"}, "give exactly one"),
    ({"select": "newest"}, "select: unknown value 'newest' \\(allowed: pareto, trial, fastest_above, best_under\\)"),
    ({"checkpoint": "w.pt"}, "checkpoint: fits one architecture, but the selection has 3 trials"),
    ({"trial": 1}, "trial: not used when select is pareto \\(set select=trial\\)"),
    ({"select": "trial", "trial": 1, "max_latency_ms": 1.0}, "max_latency_ms: not used when select is trial"),
])
def test_bad_selections_raise_and_write_nothing(run, tmp_path, options, message):
    with pytest.raises(ExportError, match=message):
        export(run, tmp_path / "exports", onnx=False, **options)
    assert not (tmp_path / "exports").exists()


def test_unreadable_run_directories_raise_clear_errors(tmp_path):
    with pytest.raises(ExportError, match="run_dir: .* is not a directory"):
        export(tmp_path / "nowhere", tmp_path / "exports")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="run.json is missing; is this a nos-search run directory"):
        export(tmp_path / "empty", tmp_path / "exports")
    bad = make_run(tmp_path / "bad", proxies=[0.1])
    (bad / "pareto.json").write_text("[{")
    with pytest.raises(ExportError, match="pareto.json is not valid JSON"):
        export(bad, tmp_path / "exports")
    (bad / "pareto.json").write_text('[{"trial": 0}]')
    with pytest.raises(ExportError, match=r"pareto.json\[0\]: missing field\(s\) arch, proxy"):
        export(bad, tmp_path / "exports")
    with pytest.raises(ExportError, match="run_dir: missing"):
        export(None, tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_recorded_numbers_that_do_not_match_the_arch_are_refused(run, tmp_path):
    members = json.loads((run / "pareto.json").read_text())
    members[0]["params"] += 1
    (run / "pareto.json").write_text(json.dumps(members))
    with pytest.raises(ExportError, match="trial 0: recorded params .* differ from its arch's"):
        export(run, tmp_path / "exports", onnx=False)
    assert not (tmp_path / "exports").exists()


def test_empty_study_raises(tmp_path):
    empty = make_run(tmp_path / "run", proxies=[0.0, 0.0], failed=[0, 1])
    with pytest.raises(ExportError, match="study 'demo' in .* has no completed trials"):
        export(empty, tmp_path / "exports")
    with pytest.raises(ExportError, match="has no completed trials"):
        export(storage=f"journal:{empty / 'study.journal'}", study_name="demo", out_dir=tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_storage_gives_the_same_candidates_as_the_run_files(run, tmp_path):
    def outline(r):  # trials.csv has no constraint values: compare all else
        return [dataclasses.replace(c, constraints={}) for c in r.candidates]

    from_files = read_run(run)
    from_storage = read_study(f"journal:{run / 'study.journal'}", "demo")
    assert outline(from_storage) == outline(from_files)
    assert [c.trial for c in from_storage.candidates if c.pareto] == [0, 1, 6]
    assert from_storage.trial_states == from_files.trial_states
    for name in ("pareto.json", "trials.csv"):  # a run without reports falls back to its storage
        (run / name).unlink()
    assert read_run(run).candidates == from_storage.candidates
    with pytest.raises(ExportError, match="study_name: no study 'other'"):
        read_study(f"journal:{run / 'study.journal'}", "other")
    with pytest.raises(ExportError, match="storage: journal file .* does not exist"):
        read_study(f"journal:{tmp_path / 'none.journal'}", "demo")
    assert not (tmp_path / "none.journal").exists()


def test_reexport_replaces_folders_and_the_index_lists_all(run, tmp_path):
    out = tmp_path / "exports"
    export(run, out, select="trial", trial=[0, 2], onnx=False)
    (out / "demo-trial0" / "stale.txt").write_text("old")
    export(run, out, select="fastest_above", min_proxy=0.85, onnx=False)
    export(run, out, select="trial", trial=0, onnx=False)
    assert not (out / "demo-trial0" / "stale.txt").exists()
    index = list(csv.DictReader(open(out / "index.csv")))
    assert [row["folder"] for row in index] == ["demo-trial0", "demo-trial1", "demo-trial2"]
    assert [row["pareto"] for row in index] == ["True", "True", "False"]
    shutil.rmtree(out / "demo-trial2")
    write_index(out)
    assert [row["folder"] for row in csv.DictReader(open(out / "index.csv"))] == ["demo-trial0", "demo-trial1"]


def test_a_failure_during_export_leaves_earlier_exports_and_index_untouched(run, tmp_path):
    out = tmp_path / "exports"
    export(run, out, select="trial", trial=1, onnx=False)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.pt"
    torch.save({"classifier.weight": torch.zeros(1)}, bad)
    with pytest.raises(ExportError, match="checkpoint"):
        export(run, out, select="trial", trial=1, checkpoint=bad, onnx=False)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_a_folder_of_another_run_with_the_same_study_name_is_not_overwritten(run, tmp_path):
    out = tmp_path / "exports"
    export(run, out, select="trial", trial=0, onnx=False)
    before = (out / "demo-trial0" / "arch.json").read_text()
    other = make_run(tmp_path / "other", [0.5, 0.7, 0.2, 0.9, 0.4, 0.6, 0.3, 0.8])
    with pytest.raises(ExportError, match="holds trial 0 of another run"):
        export(other, out, select="trial", trial=0, onnx=False)
    assert (out / "demo-trial0" / "arch.json").read_text() == before
