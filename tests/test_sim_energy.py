"""Energy and area: hand-computed cases, linearity in every per-access energy, additivity over
components, layers and parts, monotone area, the FuSe shift chain against a direct count, the
technology table and its config file, and results computed once per distinct row."""
from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest
import yaml

import nos
from nos.sim import Hardware, LayerTable, Tech, area_mm2, simulate
from nos.sim.energy import ENERGY_PARTS, fuse_chain_hops
from nos.sim.area import AREA_PARTS, area_breakdown
from nos.sim.hardware import columns

ROOT = Path(__file__).resolve().parents[1]
V2_HALF = nos.zoo.get("mobilenet_v2", "fuse_half")

# round numbers: a 1 mm^2 PE (1 mm pitch), 1 pJ per MAC, 1 pJ per 8-bit register write and
# 1 pJ per 8 bits over 1 mm of wire (2 pJ a hop), SRAM reads 2 pJ and writes 4 pJ per word at
# every size, DRAM 10 pJ per word
ROUND = Tech(mac_pj=1.0, register_pj_per_bit=0.125, wire_pj_per_bit_mm=0.125, dram_pj_per_bit=1.25,
             multiplier_um2=1e6, adder_um2=0.0, register_um2_per_bit=0.0, mux_um2_per_bit=0.0,
             sram_kib=(1.0, 8192.0), sram_read_pj_per_bit=(0.25, 0.25), sram_write_pj_per_bit=(0.5, 0.5),
             sram_mm2=(1.0, 2.0))


def _layer(**fields) -> LayerTable:
    return LayerTable.from_records([dict(dict(stride=1, groups=1), **fields)])


def test_pointwise_layer_by_hand():
    # 1x1 conv, 4x4 ifmap, 2 -> 3 channels, on a 2x2 os array: P = 16, K = 2, M = 3, 96 MACs.
    # SRAM: ifmap reads ceil(3/2)*16*2 = 64, filter reads ceil(16/2)*2*3 = 48, 48 outputs stored.
    # Hops, padded folds: 64 ifmap words x 2 columns + 48 filter words x 2 rows = 224; used folds: ifmap words
    # cross 3 / ceil(3/2) = 1.5 columns on average: 96 + 96 = 192. Outputs, either way: in each of the 8 row
    # folds, a column's output of PE row 0 enters the drain registers of rows 0 and 1, that of row 1 one: 8 x 3 x 3.
    # DRAM: the 32 ifmap and 6 filter words once, the 48 outputs: 86 words.
    for fold, hops in (("padded", 224 + 72), ("used", 192 + 72)):
        result = simulate(_layer(ifmap_h=4, ifmap_w=4, filter_h=1, filter_w=1, channels=2, num_filters=3),
                          Hardware(rows=2, cols=2, fuse=False, fold=fold), tech=ROUND)
        expected = {"mac": 96, "array": hops * 2, "fuse_bus": 0, "ifmap_sram": 64 * 2 + 32 * 4,
                    "filter_sram": 48 * 2 + 6 * 4, "ofmap_sram": 48 * 2 + 48 * 4, "dram": 86 * 10}
        assert result.energy_breakdown() == pytest.approx(expected), fold
        assert result.energy_pj == pytest.approx(sum(expected.values()))
    assert sum(expected.values()) - 264 * 2 + 296 * 2 == pytest.approx(2212)


def test_weight_and_input_stationary_spans_by_hand():
    # 3x3 conv, 2 channels (K = 18), 4 filters, 4x4 output (P = 16) on a 4x8 array, used folds.
    # ws: ifmap words cross M / ceil(M/8) = 4 columns, filter words K / ceil(K/4) = 3.6 rows; is: ifmap 3.6
    # rows, filter words P / ceil(P/8) = 8 columns; the partial sums of both enter the sum register of all 4
    # rows on their way to the bottom edge (those of the last window fold, 2 rows used, cross 2 idle rows).
    layer = _layer(ifmap_h=6, ifmap_w=6, filter_h=3, filter_w=3, channels=2, num_filters=4)
    for dataflow, spans in (("ws", (4, 3.6, 4)), ("is", (3.6, 8, 4))):
        result = simulate(layer, Hardware(rows=4, cols=8, dataflow=dataflow, fuse=False), tech=ROUND)
        words = (result.sram_ifmap_reads[0], result.sram_filter_reads[0], result.sram_ofmap_writes[0])
        hops = sum(w * span for w, span in zip(words, spans))
        assert result.energy_breakdown()["array"] == pytest.approx(hops * 2), dataflow


def test_fuse_layer_by_hand():
    # The worked example of docs/fuse_dataflow.md: 1x3 stride 2 on 3 channels of 8x8, W padded to
    # 10, on 5x3 with the bus: 12 1-D convs of 4 outputs, folds of 3 and 1 columns (7 and 3 cycles).
    # Chain of 3 x 2 = 6 registers: a 7-cycle fold shifts 1+2+...+6 + 6 = 27 times, a 3-cycle one 6;
    # a padded fold lasts 7 cycles whatever it uses. The outputs drain down the columns: in a row fold of r
    # rows the output of row i enters the drain registers of rows i .. 4, so each of the 4 outputs of a 1-D
    # conv costs 5 + 4 + 3 + 2 + 1 = 15 writes in the two 5-row folds and 5 + 4 in the 2-row fold.
    for fold, chain in (("used", 27 + 6), ("padded", 27 + 27)):
        result = simulate(_layer(ifmap_h=8, ifmap_w=10, filter_h=1, filter_w=3, channels=3, num_filters=3,
                                 stride=2, groups=3), Hardware(rows=5, cols=3, fold=fold), tech=ROUND)
        parts = result.energy_breakdown()
        assert result.sram_filter_reads[0] == 72 and result.sram_ofmap_writes[0] == 48
        assert parts["fuse_bus"] == pytest.approx(72 * 3 * 1)  # 8 bits over 3 pitches of 1 mm at 0.125 pJ/bit/mm
        assert parts["array"] == pytest.approx((12 * chain + 4 * (2 * 15 + 9)) * 2), fold
        assert parts["mac"] == pytest.approx(3 * 4 * 4 * 3)


def test_chain_hops_equal_a_direct_count_of_the_shift_chain():
    rng = np.random.default_rng(0)
    for _ in range(30):
        kernel, stride, cols = int(rng.integers(2, 6)), int(rng.integers(1, 4)), int(rng.integers(1, 7))
        out_len = int(rng.integers(1, 20))
        for padded in (False, True):
            writes = 0
            for start in range(0, out_len, cols):  # fold by fold: count the occupied registers per cycle
                used = cols if padded else min(cols, out_len - start)
                cycles = (used - 1) * stride + kernel
                chain = [False] * (cols * stride)
                for cycle in range(cycles):
                    chain = [True] + chain[:-1]
                    writes += sum(chain)
            assert fuse_chain_hops(np.array(1), np.array(out_len), np.array(kernel), np.array(stride),
                                   np.array(cols), padded) == writes


@pytest.mark.parametrize("field, part", [("mac_pj", "mac"), ("dram_pj_per_bit", "dram"),
                                         ("register_pj_per_bit", "array")])
def test_each_component_is_linear_in_its_energy(field, part):
    hardware = Hardware(rows=16, cols=16)
    base = simulate(V2_HALF, hardware, tech=ROUND)
    doubled = simulate(V2_HALF, hardware, tech=dataclasses.replace(ROUND, **{field: 2 * getattr(ROUND, field)}))
    b, d = base.energy_breakdown(), doubled.energy_breakdown()
    for name in ENERGY_PARTS:
        if name == part and field != "register_pj_per_bit":
            assert d[name] == pytest.approx(2 * b[name])
        elif name != part:
            assert d[name] == pytest.approx(b[name])
    assert d[part] > b[part] > 0


def test_energy_adds_up_over_components_layers_and_networks():
    archs = [V2_HALF, nos.zoo.get("mobilenet_v2", "baseline")]
    configs = [Hardware(), Hardware(rows=32, cols=8, dataflow="ws", fuse=False, ifmap_sram_kb=64)]
    result = simulate(archs, configs)
    assert result.energy_pj.shape == (2, 2) and result.layer_energy_pj.shape == (2, len(result.table))
    assert sum(result.energy_breakdown().values()) == pytest.approx(result.energy_pj)
    parts = result.layer_energy_breakdown()
    assert sum(parts.values()) == pytest.approx(result.layer_energy_pj)
    for i, hw in enumerate(configs):
        for j, arch in enumerate(archs):
            single = simulate(arch, hw)
            assert single.energy_pj == pytest.approx(result.energy_pj[i, j])
            assert single.energy_pj == pytest.approx(single.layer_energy_pj.sum())


def test_fuse_layers_pay_for_the_bus_and_read_less_ifmap_sram_for_the_same_dram():
    conventional, fuse = simulate(V2_HALF, Hardware(fuse=False)), simulate(V2_HALF, Hardware())
    c, f = conventional.energy_breakdown(), fuse.energy_breakdown()
    assert c["fuse_bus"] == 0 < f["fuse_bus"]
    assert f["ifmap_sram"] < c["ifmap_sram"] and f["mac"] == c["mac"]
    assert f["dram"] == pytest.approx(c["dram"], rel=0.01)  # the same words, streamed once either way


def test_area_by_hand_and_vectorized():
    hw = Hardware(rows=4, cols=2, fuse=False, ifmap_sram_kb=1, filter_sram_kb=8192, ofmap_sram_kb=1)
    assert hw.area_mm2(ROUND) == pytest.approx(8 * 1.0 + 1.0 + 2.0 + 1.0)  # 8 PEs of 1 mm^2, SRAMs 1, 2, 1
    # log-log between (1 KiB, 1 mm^2) and (8192 KiB, 2 mm^2): 2^(log(64)/log(8192)) at 64 KiB
    assert Hardware(rows=1, cols=1, fuse=False, ifmap_sram_kb=64, filter_sram_kb=1, ofmap_sram_kb=1).area_mm2(
        ROUND) == pytest.approx(1 + 2 ** (6 / 13) + 1 + 1)
    configs = [Hardware(rows=r, cols=c, fuse=fuse, ifmap_sram_kb=kb) for r, c, fuse, kb in
               ((8, 8, False, 64), (64, 64, True, 6144), (16, 128, True, 1))]
    assert area_mm2(configs).tolist() == pytest.approx([h.area_mm2() for h in configs])
    parts = area_breakdown(columns(configs), Tech())
    assert set(parts) == set(AREA_PARTS) and sum(parts.values()) == pytest.approx(area_mm2(configs))
    assert parts["fuse"][0] == 0 < parts["fuse"][1]


def test_area_grows_with_the_array_the_sram_and_the_bus():
    base = Hardware(rows=32, cols=32, fuse=False, ifmap_sram_kb=256)
    bigger = [dataclasses.replace(base, **change) for change in
              ({"rows": 33}, {"cols": 64}, {"fuse": True}, {"ifmap_sram_kb": 257}, {"ofmap_sram_kb": 4096})]
    assert all(h.area_mm2() > base.area_mm2() for h in bigger)
    tech = Tech()
    extra = tech.fuse_pe_um2()  # two 8-bit muxes, one 8-bit stride register and 2 token bits
    assert extra == pytest.approx(16 * tech.mux_um2_per_bit + 10 * tech.register_um2_per_bit)
    assert Hardware(fuse=True).area_mm2() - Hardware(fuse=False).area_mm2() == pytest.approx(64 * 64 * extra * 1e-6)


def test_results_per_distinct_row_equal_the_layer_by_layer_ones():
    archs = [V2_HALF, nos.zoo.get("mobilenet_v2", "fuse_full"), V2_HALF] * 3
    keyed = LayerTable.from_arch(archs)
    plain = LayerTable(keyed.data, keyed.names, keyed.offsets)
    assert keyed.row_keys is not None and plain.row_keys is None
    configs = [Hardware(), Hardware(rows=8, cols=16, dataflow="is", ifmap_sram_kb=2, memory="ideal")]
    a, b = simulate(keyed, configs), simulate(plain, configs)
    assert a._distinct is not None and b._distinct is None
    for name in ("dram_ifmap_reads", "dram_filter_reads", "dram_ofmap_writes", "sram_ifmap_reads",
                 "layer_memory_cycles"):
        assert np.array_equal(getattr(a, name), getattr(b, name)), name
    assert np.allclose(a.layer_energy_pj, b.layer_energy_pj)
    assert np.array_equal(a.roofline_cycles, b.roofline_cycles)


def test_tech_table_checks_and_its_config_file():
    assert Tech.from_dict(yaml.safe_load((ROOT / "conf" / "tech" / "default.yaml").read_text())) == Tech()
    with pytest.raises(ValueError, match=r"tech.mac_pj: must be a finite number >= 0, got -1"):
        Tech(mac_pj=-1)
    with pytest.raises(ValueError, match=r"tech.sram_mm2: must have one value per sram_kib size \(14\), got 2"):
        Tech(sram_mm2=(1.0, 2.0))
    with pytest.raises(ValueError, match=r"tech.sram_kib: sizes must increase"):
        Tech(sram_kib=(2.0, 1.0), sram_read_pj_per_bit=(1.0, 1.0), sram_write_pj_per_bit=(1.0, 1.0),
             sram_mm2=(1.0, 1.0))
    with pytest.raises(ValueError, match=r"tech.volts: unknown field"):
        Tech.from_dict({"volts": 1})
    with pytest.raises(ValueError, match=r"hardware.word_bytes: the tech table is for 8-bit words, got 2 bytes"):
        simulate(V2_HALF, Hardware(word_bytes=2)).energy_pj
    with pytest.raises(ValueError, match=r"hardware.ofmap_sram_kb: the tech table covers SRAMs of 1-8192 KiB, got 9000"):
        Hardware(ofmap_sram_kb=9000).area_mm2()
    with pytest.raises(TypeError, match=r"tech: expected a nos.sim.Tech"):
        simulate(V2_HALF, Hardware(), tech={"mac_pj": 1})
