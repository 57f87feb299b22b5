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
from nos.report.files import TrialLog, read_records, write_records
from nos.search.record import RECORD_ATTR, Evaluation, TrialRecord

# every operator, SE, a dead expansion conv, a pre-logits conv and a MobileNet-V1 style block
TINY = Arch("tiny", Stem(8, 3, 2, "hswish"), (
    Block("fuse_half", 3, 1, 8, 8, "relu6", expand=False, dead_expand=True),
    Block("dw", 5, 2, 16, 16, "hswish", se=0.25),
    Block("full", 3, 1, 24, 16, "relu", mid_act=False, proj_act=True),
    Block("fuse_full", 3, 2, 32, 24, "relu6", se=0.25),
), Head(32, 48, "hswish", 0.2), input_size=32, num_classes=10)

# two zoo networks (MobileNetV2 FuSe-Half with the authors' dead expansion conv) at a reduced input size (the
# programs have a fixed shape, so the size changes nothing but the time), and TINY
EXPORTED = {
    "tiny": TINY,
    "mbv2_fuse_half_64": dataclasses.replace(nos.zoo.get("mobilenet_v2", "fuse_half"), input_size=64),
    "v3s_fuse_full_50_64": dataclasses.replace(nos.zoo.get("mobilenet_v3_small", "fuse_full_50"), input_size=64),
}
ONNX = ("tiny", "v3s_fuse_full_50_64")  # ONNX export for the small nets: the same exporter code for every net
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
        formats = ["pt2", "onnx"] if name in ONNX else ["pt2"]
        out[name] = arch, state, write_export(root / name, arch, checkpoint=root / f"{name}.pt", formats=formats)
    return out


def test_folder_holds_the_documented_files(exported):
    for name, (arch, _, folder) in exported.items():
        files = {"arch.json", "README.md", "model.py", "model.pt2"} | ({"model.onnx"} if name in ONNX else set())
        # weights once: in model.pt2 (the ONNX model holds its own copy)
        assert {p.name for p in folder.iterdir()} == files, name
        record = read_record(folder)
        assert set(record["files"]) == files
        assert Arch.from_dict(record["arch"]) == arch
        assert (record["params"], record["macs"], record["input_size"]) == (arch.params(), arch.macs(), arch.input_size)
        assert record["weights"]["init"] == "checkpoint" and record["weights"]["file"] == "model.pt2"
        readme = (folder / "README.md").read_text()
        assert f"{arch.params():,}" in readme and "torch.export.load" in readme and arch.to_text() in readme
        size = (folder / "model.pt2").stat().st_size / 1e6
        assert f"`model.pt2` ({size:.1f} MB)" in readme or f"`model.pt2` ({size * 1e3:.1f} kB)" in readme


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
            f"net = importlib.import_module('model_{name}').build(weights='{name}/{name}.pt')",
            "assert not net.training, 'build() must return an eval-mode module'",
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
        if not (folder / "model.onnx").exists():
            continue
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
    assert tuple(n for n, (_, _, folder) in exported.items() if (folder / "model.onnx").exists()) == ONNX
    check_onnx(exported)


def test_load_rebuilds_the_network_with_exported_weights(exported, tmp_path):
    arch, state, folder = exported["tiny"]
    for path in (folder, folder / "arch.json"):
        net = load(path)
        assert isinstance(net, nos.build(arch).__class__) and not net.training  # eval mode: ready for inference
        with torch.no_grad():  # a batch of one works (BatchNorm uses its running statistics)
            assert torch.equal(net(example(arch)[:1]), reference(arch, state)(example(arch)[:1]))
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
    folder = write_export(tmp_path / "fresh", TINY, weights="fresh", seed=7)
    assert read_record(folder)["weights"] == {"init": "fresh", "seed": 7, "file": "model.pt2"}
    assert not (folder / "weights.pt").exists() and not (folder / "model.onnx").exists()  # onnx only when asked
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
        write_export(tmp_path / "out" / "x", TINY, checkpoint=bad)
    with pytest.raises(ExportError, match="checkpoint: .* does not exist"):
        write_export(tmp_path / "out" / "x", TINY, checkpoint=tmp_path / "none.pt")
    assert list((tmp_path / "out").iterdir()) == []


# ---------------------------------------------------------------------------------- runs
def variant(op: str, width: int) -> Arch:
    """A TINY-like arch with another operator in block 0 and another width in block 3."""
    blocks = list(TINY.blocks)
    blocks[0] = dataclasses.replace(blocks[0], op=op)
    blocks[3] = dataclasses.replace(blocks[3], exp=width)
    return dataclasses.replace(TINY, name=f"tiny_{op}_{width}", blocks=tuple(blocks))


def make_run(root: Path, proxies: list[float], infeasible=(), failed=()) -> Path:
    """A run directory as nos-search writes it (run.json, pareto.json, trials.jsonl, trials.csv and
    a journal study with the same trials); trial i has proxy proxies[i] and the latency simulated
    on HARDWARE; the Pareto set is found by brute force."""
    root.mkdir(parents=True)
    hardware = sim.Hardware(**HARDWARE)
    archs = [variant(op, width) for op in ("fuse_half", "dw", "full", "fuse_full") for width in (32, 48)]
    records = []
    storage = optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(root / "study.journal")))
    study = optuna.create_study(study_name="demo", storage=storage, directions=["maximize", "minimize"])
    for trial, proxy in enumerate(proxies):
        if trial in failed:
            records.append(TrialRecord(trial, "FAIL"))
            study.add_trial(optuna.trial.create_trial(state=optuna.trial.TrialState.FAIL))
            continue
        arch = archs[trial % len(archs)]
        result = sim.simulate(arch, hardware)
        e = Evaluation(None if trial in infeasible else proxy, int(result.total_cycles), float(result.latency_ms),
                       arch.params(), arch.macs(), {"params": 1.0 if trial in infeasible else -1.0})
        study.add_trial(optuna.trial.create_trial(values=[proxy, e.latency_ms],
                                                  user_attrs={RECORD_ATTR: {**e.to_dict(), "arch": arch.to_json()}}))
        records.append(TrialRecord(trial, "COMPLETE", {}, arch, e))

    feasible = [r for r in records if r.complete and r.feasible]

    def dominated(r):
        return any(o.evaluation.proxy >= r.evaluation.proxy and o.evaluation.latency_cycles <= r.evaluation.latency_cycles
                   and (o.evaluation.proxy, o.evaluation.latency_cycles) != (r.evaluation.proxy, r.evaluation.latency_cycles)
                   for o in feasible)
    members = sorted((r for r in feasible if not dominated(r)), key=lambda r: r.evaluation.latency_cycles)
    run = {"study_name": "demo", "storage": f"journal:{root / 'study.journal'}", "space": "tiny",
           "hardware": HARDWARE, "proxy": {"name": "params", "data": "digits"}, "seed": 0, "input_size": 32}
    (root / "run.json").write_text(json.dumps(run))
    write_records(root / "pareto.json", members)
    log = TrialLog(root, [], ["params"])
    log.rewrite(records)
    log.close()
    return root


@pytest.fixture
def run(tmp_path):
    # trial 5 is the fastest but infeasible; trial 3 failed
    return make_run(tmp_path / "run", proxies=[0.5, 0.9, 0.2, 0.0, 0.7, 0.95, 0.6], infeasible=[5], failed=[3])


def test_pareto_export_writes_one_folder_per_member_with_recorded_numbers(run, tmp_path):
    out = tmp_path / "exports"
    folders = export(run, out)
    assert sorted(f.name for f in folders) == ["demo-trial0", "demo-trial1", "demo-trial6"]
    members = {r.number: r for r in read_records(run / "pareto.json")}
    index = list(csv.DictReader(open(out / "index.csv")))
    assert [row["folder"] for row in index] == sorted(f.name for f in folders)
    for row in index:
        record = read_record(out / row["folder"])
        member = members[record["search"]["trial"]]
        arch = Arch.from_dict(record["arch"])
        assert arch == member.arch
        e = member.evaluation
        assert record["latency"] == {"cycles": e.latency_cycles, "ms": e.latency_ms, "model": "compute"}
        assert record["proxy"] == {"name": "params", "data": "digits", "score": e.proxy, "std": None}
        assert record["hardware"] == HARDWARE and record["search"]["pareto"] is True
        # re-simulating the exported spec on the exported hardware gives the recorded cycles
        assert sim.simulate(arch, sim.Hardware(**record["hardware"])).total_cycles == record["latency"]["cycles"]
        assert int(row["trial"]) == member.number and float(row["proxy"]) == e.proxy
        assert int(row["latency_cycles"]) == e.latency_cycles and int(row["params"]) == arch.params()
    assert not [p for p in out.iterdir() if p.name.startswith(".")]  # no staging left behind


def test_selection_by_trial_fastest_above_and_best_under(run):
    r = read_run(run)
    by = {c.number: c for c in r.complete}
    assert sorted(by) == [0, 1, 2, 4, 5, 6] and {c.number: c.state for c in r.records}[3] == "FAIL"
    assert [c.number for c in select(r, "trial", trial=[4, 0, 4])] == [4, 0]
    feasible = [c for c in r.complete if c.number != 5]
    # fastest with proxy >= 0.6, computed by brute force over the feasible trials
    above = min((c for c in feasible if c.evaluation.proxy >= 0.6), key=lambda c: c.evaluation.latency_cycles)
    assert select(r, "fastest_above", min_proxy=0.6) == [above]
    limit = sorted(c.evaluation.latency_cycles for c in feasible)[2]
    under = max((c for c in feasible if c.evaluation.latency_cycles <= limit), key=lambda c: c.evaluation.proxy)
    assert select(r, "best_under", max_latency_cycles=limit) == [under]
    assert select(r, "best_under", max_latency_ms=under.evaluation.latency_ms)[0].evaluation.proxy >= \
        under.evaluation.proxy
    assert 5 not in [c.number for c in select(r, "best_under", max_latency_cycles=10**12)]  # infeasible


@pytest.mark.parametrize("options, message", [
    ({"select": "trial", "trial": 42}, "trial: no finished trial 42 in study 'demo' \\(trials 0 to 6\\)"),
    ({"select": "trial", "trial": 3}, "trial: trial 3 is FAIL"),
    ({"select": "trial"}, "trial: expected a trial number"),
    ({"select": "fastest_above", "min_proxy": 0.99}, "min_proxy: no feasible trial has proxy >= 0.99"),
    ({"select": "best_under", "max_latency_cycles": 1}, "max_latency_cycles: no feasible trial is as fast"),
    ({"select": "best_under"}, "give exactly one"),
    ({"select": "newest"}, "select: unknown value 'newest' \\(allowed: pareto, trial, fastest_above, best_under\\)"),
    ({"checkpoint": "w.pt"}, "checkpoint: fits one architecture, but the selection has 3 trials"),
    ({"trial": 1}, "trial: not used when select is pareto \\(set select=trial\\)"),
    ({"select": "trial", "trial": 1, "max_latency_ms": 1.0}, "max_latency_ms: not used when select is trial"),
    ({"formats": ["pt2", "tflite"]}, "formats: expected a list of pt2, onnx"),
    ({"weights": "random"}, "weights: unknown value 'random' \\(allowed: none, fresh, trained, checkpoint\\)"),
    ({"weights": "none", "formats": ["pt2"]}, "formats: pt2 hold\\(s\\) weights, and weights=none exports"),
    ({"weights": "fresh", "checkpoint": "w.pt"}, "checkpoint: exports that file's weights, which weights=fresh"),
    ({"weights": "checkpoint"}, "checkpoint: missing; weights=checkpoint exports"),
])
def test_bad_selections_raise_and_write_nothing(run, tmp_path, options, message):
    with pytest.raises(ExportError, match=message):
        export(run, tmp_path / "exports", **options)
    assert not (tmp_path / "exports").exists()


def test_architecture_only_export_has_no_weights(run, tmp_path):
    (folder,) = export(run, tmp_path / "exports", select="trial", trial=1, weights="none", formats=[])
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "arch.json", "model.py"]
    record = read_record(folder)
    assert record["weights"] == {"init": "none"} and "none exported" in (folder / "README.md").read_text()
    assert sum(p.numel() for p in load(folder).parameters()) == Arch.from_dict(record["arch"]).params()


def test_without_pt2_the_weights_go_to_weights_pt_once(run, tmp_path):
    (folder,) = export(run, tmp_path / "exports", select="trial", trial=1, weights="fresh", formats=[], seed=5)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "arch.json", "model.py", "weights.pt"]
    torch.manual_seed(5)
    expected = nos.build(Arch.from_dict(read_record(folder)["arch"])).state_dict()
    assert all(torch.equal(load(folder).state_dict()[k], v) for k, v in expected.items())


def test_unreadable_run_directories_raise_clear_errors(tmp_path):
    with pytest.raises(ExportError, match="run_dir: .* is not a directory"):
        export(tmp_path / "nowhere", tmp_path / "exports")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ExportError, match="run.json is missing; is this a nos-search run directory"):
        export(tmp_path / "empty", tmp_path / "exports")
    bad = make_run(tmp_path / "bad", proxies=[0.1])
    (bad / "pareto.json").write_text("[{")
    with pytest.raises(ExportError, match="pareto.json: not valid JSON"):
        export(bad, tmp_path / "exports")
    (bad / "pareto.json").write_text('[{"number": 0, "state": "COMPLETE", "latency_cycles": 5}]')
    with pytest.raises(ExportError, match=r"pareto.json\[0\].latency_ms: expected a number, got None"):
        export(bad, tmp_path / "exports")
    with pytest.raises(ExportError, match="run_dir: missing"):
        export(None, tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_recorded_numbers_that_do_not_match_the_arch_are_refused(run, tmp_path):
    members = json.loads((run / "pareto.json").read_text())
    members[0]["params"] += 1
    (run / "pareto.json").write_text(json.dumps(members))
    with pytest.raises(ExportError, match=f"trial {members[0]['number']}: recorded params .* differ from its arch's"):
        export(run, tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_empty_study_raises(tmp_path):
    empty = make_run(tmp_path / "run", proxies=[0.0, 0.0], failed=[0, 1])
    with pytest.raises(ExportError, match="study 'demo' in .* has no completed trials"):
        export(empty, tmp_path / "exports")
    with pytest.raises(ExportError, match="has no completed trials"):
        export(storage_url=f"journal:{empty / 'study.journal'}", study_name="demo", out_dir=tmp_path / "exports")
    assert not (tmp_path / "exports").exists()


def test_storage_gives_the_same_records_as_the_run_files(run, tmp_path):
    def outline(r):  # a storage has no genome or timing written by make_run's files: compare the rest
        return [(c.number, c.state, c.arch, c.evaluation) for c in r.records]

    from_files = read_run(run)
    from_storage = read_study(f"journal:{run / 'study.journal'}", "demo")
    assert outline(from_storage) == outline(from_files)
    assert sorted(from_storage.pareto) == [0, 1, 6] == sorted(from_files.pareto)
    for name in ("pareto.json", "trials.jsonl"):  # a run without reports falls back to its storage
        (run / name).unlink()
    assert read_run(run).records == from_storage.records
    with pytest.raises(ExportError, match="study_name: no study 'other'"):
        read_study(f"journal:{run / 'study.journal'}", "other")
    with pytest.raises(ExportError, match="storage: journal file .* does not exist"):
        read_study(f"journal:{tmp_path / 'none.journal'}", "demo")
    assert not (tmp_path / "none.journal").exists()


def test_an_unwritable_out_dir_is_one_clear_error(run, tmp_path):
    (tmp_path / "a_file").write_text("")
    with pytest.raises(ExportError, match="out_dir: cannot write to .*a_file/exports"):
        export(run, tmp_path / "a_file" / "exports")


def test_reexport_replaces_folders_and_the_index_lists_all(run, tmp_path):
    out = tmp_path / "exports"
    export(run, out, select="trial", trial=[0, 2])
    (out / "demo-trial0" / "stale.txt").write_text("old")
    export(run, out, select="fastest_above", min_proxy=0.85)
    export(run, out, select="trial", trial=0, replace=True)
    assert not (out / "demo-trial0" / "stale.txt").exists()
    index = list(csv.DictReader(open(out / "index.csv")))
    assert [row["folder"] for row in index] == ["demo-trial0", "demo-trial1", "demo-trial2"]
    assert [row["pareto"] for row in index] == ["True", "True", "False"]
    shutil.rmtree(out / "demo-trial2")
    write_index(out)
    assert [row["folder"] for row in csv.DictReader(open(out / "index.csv"))] == ["demo-trial0", "demo-trial1"]


def test_an_earlier_export_of_a_trial_is_refused_unless_replace_is_given(run, tmp_path):
    out = tmp_path / "exports"
    export(run, out, select="trial", trial=1, weights="fresh")
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    message = r"demo-trial1 holds an earlier export of trial 1 \(README.md, arch.json, model.pt2, model.py\); " \
              r"give replace=true to replace it"
    with pytest.raises(ExportError, match=message):
        export(run, out, select="trial", trial=1)  # architecture only: would have dropped model.pt2
    assert {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    (folder,) = export(run, out, select="trial", trial=1, replace=True)
    assert sorted(p.name for p in folder.iterdir()) == ["README.md", "arch.json", "model.py"]


def test_a_failure_during_export_leaves_earlier_exports_and_index_untouched(run, tmp_path):
    out = tmp_path / "exports"
    export(run, out, select="trial", trial=1)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    bad = tmp_path / "bad.pt"
    torch.save({"classifier.weight": torch.zeros(1)}, bad)
    with pytest.raises(ExportError, match="checkpoint"):
        export(run, out, select="trial", trial=1, checkpoint=bad, replace=True)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before


def test_a_folder_of_another_run_with_the_same_study_name_is_not_overwritten(run, tmp_path):
    out = tmp_path / "exports"
    export(run, out, select="trial", trial=0)
    before = (out / "demo-trial0" / "arch.json").read_text()
    other = make_run(tmp_path / "other", [0.5, 0.7, 0.2, 0.9, 0.4, 0.6, 0.3, 0.8])
    with pytest.raises(ExportError, match="holds trial 0 of another run"):
        export(other, out, select="trial", trial=0)
    assert (out / "demo-trial0" / "arch.json").read_text() == before
