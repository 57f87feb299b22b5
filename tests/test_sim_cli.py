"""nos-sim: the Hydra app prints a per-layer table and totals, JSON on request, exit 2 on bad input.

The app runs in this process (its ``main()`` with the command line in ``sys.argv``): the same
code path as the console script, without a Python start per case."""
import json
import sys
from types import SimpleNamespace

import pytest

import nos
import nos.cli.sim
from nos.export.folder import SCHEMA as EXPORT_SCHEMA
from nos.sim import Hardware, simulate


@pytest.fixture
def run_sim(monkeypatch, capsys, tmp_path):
    """``nos-sim overrides...`` in process, from an empty working directory: its exit code,
    stdout and stderr."""
    monkeypatch.chdir(tmp_path)

    def run(*overrides):
        monkeypatch.setattr(sys, "argv", ["nos-sim", *overrides])
        try:
            nos.cli.sim.main()
            code = 0
        except SystemExit as exit_:
            code = exit_.code
        out = capsys.readouterr()
        assert list(tmp_path.iterdir()) == []  # the app writes nothing
        return SimpleNamespace(returncode=code, stdout=out.out, stderr=out.err)

    return run


def test_table_output_for_a_zoo_network(run_sim):
    out = run_sim("network=mobilenet_v2", "variant=fuse_half")
    assert out.returncode == 0, out.stderr
    result = simulate(nos.zoo.get("mobilenet_v2", "fuse_half"), Hardware())
    assert f"compute cycles   {result.total_cycles:>14,}" in out.stdout
    assert "blocks.0.dw_1xk" in out.stdout and "64x64 os +FuSe, used folds, hidden drain, scalesim memory" in out.stdout
    assert f"energy           {result.energy_pj / 1e6:>14,.1f} uJ  (mac " in out.stdout
    assert f"area             {Hardware().area_mm2():>14,.2f} mm^2" in out.stdout


def test_json_output_with_overrides_and_an_exported_arch(run_sim, tmp_path_factory):
    arch = nos.zoo.get("mnasnet_b1", "fuse_full_50")
    path = tmp_path_factory.mktemp("arch") / "arch.json"
    path.write_text(arch.to_json())
    out = run_sim(f"arch={path}", "hardware.rows=128", "hardware.dataflow=ws", "output=json", "model=paper")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    hardware = Hardware(rows=128, dataflow="ws")
    assert data["hardware"]["rows"] == 128 and data["model"] == "paper"
    assert data["total_cycles"] == simulate(arch, hardware, "paper").total_cycles
    assert len(data["per_layer"]) == len(simulate(arch, hardware).table)
    assert data["energy_pj"] == pytest.approx(simulate(arch, hardware).energy_pj)
    assert data["area_mm2"] == pytest.approx(hardware.area_mm2()) and set(data["energy_breakdown"]) >= {"dram", "mac"}
    assert sum(layer["energy_pj"] for layer in data["per_layer"]) == pytest.approx(data["energy_pj"])


def test_memory_model_and_tech_overrides(run_sim):
    out = run_sim("network=mobilenet_v2", "hardware.memory=ideal", "tech.dram_pj_per_bit=0", "output=json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["hardware"]["memory"] == "ideal" and data["energy_breakdown"]["dram"] == 0
    out = run_sim("network=mobilenet_v2", "hardware.memory=resident", "hardware.drain=charged", "output=json")
    hardware = Hardware(fuse=True, memory="resident", drain="charged")
    result = simulate(nos.zoo.get("mobilenet_v2", "baseline"), hardware)
    assert json.loads(out.stdout)["dram_words"] == result.total_dram_words
    assert json.loads(out.stdout)["total_cycles"] == result.total_cycles
    bad = run_sim("tech.mac_pj=-1")
    assert bad.returncode == 2 and bad.stderr.strip() == "nos-sim: tech.mac_pj: must be a finite number >= 0, got -1"


def test_an_export_folder_record(run_sim, tmp_path_factory):
    arch = nos.zoo.get("mobilenet_v3_small", "fuse_half")
    folder = tmp_path_factory.mktemp("export")
    (folder / "arch.json").write_text(json.dumps({"schema": EXPORT_SCHEMA, "name": arch.name, "arch": arch.to_dict()}))
    out = run_sim(f"arch={folder}", "output=json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total_cycles"] == simulate(arch, Hardware()).total_cycles


def test_layer_records_and_hardware_group(run_sim, tmp_path_factory):
    path = tmp_path_factory.mktemp("records") / "layers.json"
    path.write_text(json.dumps([dict(ifmap_h=16, ifmap_w=16, filter_h=3, filter_w=3, channels=8, num_filters=8,
                                     stride=1, groups=8)]))
    out = run_sim(f"records={path}", "hardware=conventional", "output=json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    assert data["hardware"]["fuse"] is False and data["per_layer"][0]["kind"] == "depthwise"
    # 196 pixels per channel: row folds of 64, 64, 64 and 4 rows, one column used: 9 + rows + 1 - 2 each
    assert data["total_cycles"] == 8 * (3 * (9 + 64 + 1 - 2) + (9 + 4 + 1 - 2) - 1)
    out = run_sim(f"records={path}", "hardware=conventional", "hardware.fold=padded", "output=json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["total_cycles"] == 8 * (4 * (9 + 64 + 64 - 2) - 1)  # SCALE-Sim: the whole array


@pytest.mark.parametrize("overrides, message", [
    (["hardware.rows=0"], "nos-sim: hardware.rows: must be a positive integer, got 0"),
    (["hardware.fold=all"], "nos-sim: hardware.fold: unknown fold convention 'all' (allowed: padded, used)"),
    (["hardware.drain=free"], "nos-sim: hardware.drain: unknown drain setting 'free' (allowed: hidden, charged)"),
    (["hardware.memory=lru"], "nos-sim: hardware.memory: unknown memory model 'lru' (allowed: scalesim, ideal, resident)"),
    (["output=xml"], "nos-sim: output: unknown output 'xml' (allowed: table, json)"),
    (["arch=/nonexistent/arch.json"], "nos-sim: path: /nonexistent/arch.json does not exist"),
])
def test_bad_input_exits_2_with_one_line(run_sim, overrides, message):
    out = run_sim(*overrides)
    assert out.returncode == 2
    assert out.stderr.strip().startswith(message) and len(out.stderr.strip().splitlines()) == 1
    assert "Traceback" not in out.stderr and out.stdout == ""


def test_help_lists_the_hardware_fields(run_sim):
    out = run_sim("--help")
    assert out.returncode == 0 and "hardware" in out.stdout and out.stderr == ""
