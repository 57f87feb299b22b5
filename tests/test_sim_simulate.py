"""simulate(): input kinds, one row per arch / per config, result fields, memory model, errors."""
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from torch import nn

import nos
from nos.sim import DRAINS, FOLDS, Hardware, LayerTable, simulate
from nos.sim.layers import KIND

V2 = nos.zoo.get("mobilenet_v2", "baseline")
V2_HALF = nos.zoo.get("mobilenet_v2", "fuse_half")
CONFIGS = [Hardware(), Hardware(rows=32, cols=8, dataflow="ws", clock_mhz=500), Hardware(dataflow="is", fuse=False)]


def test_one_arch_one_config_gives_scalars_and_layer_arrays():
    r = simulate(V2_HALF, Hardware())
    assert isinstance(r.total_cycles, int) and r.total_cycles == int(r.layer_cycles.sum())
    assert r.layer_cycles.dtype == np.int64 and r.layer_cycles.shape == (len(r.table),)
    assert r.latency_ms == pytest.approx(r.total_cycles / 1e6)
    # the array runs one cycle more than SCALE-Sim's last-cycle index per GEMM (per group) and FuSe layer
    fuse_layer = np.isin(r.table.kind, [KIND["dw_1xk"], KIND["dw_kx1"]])
    stepped = r.total_cycles + np.where(fuse_layer, 1, r.table.groups).sum()
    assert 0 < r.utilization < 1 and r.utilization == pytest.approx(V2_HALF.macs() / (stepped * 64 * 64))
    assert np.all((r.layer_utilization > 0) & (r.layer_utilization <= 1))
    assert sum(r.breakdown().values()) == r.total_cycles
    assert set(r.breakdown()) == {"conv", "pointwise", "linear", "dw_1xk", "dw_kx1"}
    for field in ("sram_ifmap_reads", "sram_filter_reads", "sram_ofmap_writes", "dram_ifmap_reads"):
        assert getattr(r, field).shape == (len(r.table),) and np.all(getattr(r, field) > 0)


def test_a_list_of_archs_and_a_list_of_configs_match_single_runs():
    archs = [V2, V2_HALF, nos.zoo.get("mobilenet_v3_small", "fuse_full_50")]
    both = simulate(archs, CONFIGS)
    assert both.total_cycles.shape == (3, 3) and both.layer_cycles.shape == (3, len(both.table))
    per_arch = simulate(archs, CONFIGS[1])
    per_config = simulate(archs[2], CONFIGS)
    assert per_arch.total_cycles.shape == (3,) and per_config.total_cycles.shape == (3,)
    for i, hw in enumerate(CONFIGS):
        for j, arch in enumerate(archs):
            single = simulate(arch, hw)
            assert both.total_cycles[i, j] == single.total_cycles
            assert both.latency_ms[i, j] == pytest.approx(single.latency_ms)
            assert both.roofline_cycles[i, j] == single.roofline_cycles
            assert both.utilization[i, j] == pytest.approx(single.utilization)
            assert both.breakdown()["pointwise"][i, j] == single.breakdown()["pointwise"]
        assert per_config.total_cycles[i] == simulate(archs[2], hw).total_cycles
    assert per_arch.total_cycles.tolist() == [simulate(a, CONFIGS[1]).total_cycles for a in archs]


def test_configs_with_different_fold_conventions_in_one_call():
    archs = [V2, V2_HALF]
    configs = [Hardware(fold="padded"), Hardware(fold="used"), Hardware(rows=16, cols=8, dataflow="ws", fold="used"),
               Hardware(rows=16, cols=8, dataflow="ws", fold="padded")]
    both = simulate(archs, configs)
    for i, hw in enumerate(configs):
        for j, arch in enumerate(archs):
            single = simulate(arch, hw)
            assert both.total_cycles[i, j] == single.total_cycles
            assert np.array_equal(both.sram_ofmap_writes[i, both.table.offsets[j]:both.table.offsets[j + 1]],
                                  single.sram_ofmap_writes)
    # a used fold never costs more than a padded one, and these networks have partial folds
    assert np.all(both.layer_cycles[1] <= both.layer_cycles[0]) and np.all(both.total_cycles[1] < both.total_cycles[0])
    assert np.all(both.total_cycles[2] < both.total_cycles[3])


def test_utilization_is_at_most_one_where_the_last_cycle_index_made_it_exceed_one():
    """8 MACs (1x1 conv, 8 channels, 1 filter, one pixel) on a 1x1 array take 8 cycles: SCALE-Sim
    reports 7 (the last cycle's index), which made MACs / (cycles x PEs) = 8 / 7."""
    layer = LayerTable.from_records([dict(ifmap_h=1, ifmap_w=1, filter_h=1, filter_w=1, channels=8, num_filters=1,
                                          stride=1, groups=1)])
    for fold in ("padded", "used"):
        r = simulate(layer, Hardware(rows=1, cols=1, fold=fold))
        assert r.total_cycles == 7 and r.layer_macs.tolist() == [8]
        assert r.utilization == r.layer_utilization[0] == 1.0


def test_a_bare_conv2d_or_linear_is_a_one_layer_network():
    conv = nn.Conv2d(3, 8, 3, stride=2, padding=1)
    r = simulate(conv, Hardware(rows=8, cols=8, fold="padded"), input_size=9)
    assert r.table.names == ["conv2d"] and r.table.records()[0]["kind"] == "conv"
    # 5x5 output pixels = 25 -> 4 row folds of 27 + 8 + 8 - 2 cycles, 8 filters in one column fold
    assert r.total_cycles == 4 * 41 - 1 == simulate(nn.Sequential(conv), Hardware(rows=8, cols=8, fold="padded"),
                                                    input_size=9).total_cycles
    linear = simulate(nn.Linear(16, 5), Hardware(rows=4, cols=4, fold="used"))
    assert linear.table.names == ["linear"] and linear.table.records()[0]["kind"] == "linear"
    # one input vector: P = 1, K = 16, M = 5 -> column folds of 4 and 1 filters: (16 + 1 + 4 - 2) + (16 + 1 + 1 - 2) - 1
    assert linear.layer_macs.tolist() == [80] and linear.total_cycles == 19 + 16 - 1
    with pytest.raises(ValueError, match=r"unsupported layers .*: convtranspose2d \(ConvTranspose2d\)"):
        simulate(nn.ConvTranspose2d(3, 3, 2), input_size=8)


def test_module_table_and_arch_inputs_agree():
    hw = Hardware(rows=16, cols=16)
    by_arch = simulate(V2_HALF, hw, input_size=96)
    by_module = simulate(nos.build(V2_HALF), hw, input_size=96)
    by_table = simulate(LayerTable.from_arch(V2_HALF, 96), hw)
    assert by_arch.total_cycles == by_module.total_cycles == by_table.total_cycles
    assert np.array_equal(by_arch.sram_ofmap_writes, by_module.sram_ofmap_writes)


def test_hardware_batch_scales_pixels():
    one, four = simulate(V2, Hardware(fuse=False)), simulate(V2, Hardware(fuse=False, batch=4))
    assert four.total_cycles > 3 * one.total_cycles
    assert four.layer_macs.sum() == 4 * V2.macs()
    assert four.dram_filter_reads.sum() == one.dram_filter_reads.sum()  # weights fit: read once
    assert four.dram_ifmap_reads.sum() == 4 * one.dram_ifmap_reads.sum()


def test_memory_model_fits_refetch_and_bandwidth():
    layer = LayerTable.from_records([dict(ifmap_h=16, ifmap_w=16, filter_h=3, filter_w=3, channels=64,
                                          num_filters=256, stride=1, groups=1)])
    big = simulate(layer, Hardware())
    ifmap_words, filter_words, ofmap_words = 64 * 16 * 16, 256 * 64 * 9, 256 * 14 * 14
    assert (big.dram_ifmap_reads[0], big.dram_filter_reads[0], big.dram_ofmap_writes[0]) == (
        ifmap_words, filter_words, ofmap_words)
    assert big.memory_cycles == -(-(ifmap_words + filter_words + ofmap_words) // 10)
    # 1 KiB SRAMs (SCALE-Sim's read buffer then holds 500 words): the ifmap (16 KiB) is streamed once per
    # filter fold (256 / 64 = 4 in os) and every stream misses every word at least once; each 36,864-word
    # filter fold misses on all of its ceil(196 / 64) = 4 reads; the write buffer counts one line's 63
    # empty slots (docs/simulator.md).
    small = simulate(layer, Hardware(ifmap_sram_kb=1, filter_sram_kb=1, ofmap_sram_kb=1))
    assert 4 * ifmap_words <= small.dram_ifmap_reads[0] <= small.sram_ifmap_reads[0]
    assert small.dram_filter_reads[0] == -(-196 // 64) * filter_words
    assert small.dram_ofmap_writes[0] == ofmap_words + 63
    fast = simulate(layer, Hardware(dram_words_per_cycle=1e9))
    assert fast.memory_cycles == 1 and fast.roofline_cycles == fast.total_cycles
    slow = simulate(layer, Hardware(dram_words_per_cycle=0.5))
    assert slow.roofline_cycles == slow.memory_cycles > slow.total_cycles
    assert slow.roofline_latency_ms == pytest.approx(slow.roofline_cycles / 1e6)


def test_summary_and_layer_records_are_json_ready():
    r = simulate(V2_HALF, Hardware())
    summary = json.loads(json.dumps(r.summary()))
    assert summary["total_cycles"] == r.total_cycles and summary["macs"] == V2_HALF.macs()
    records = json.loads(json.dumps(r.layer_records()))
    assert len(records) == len(r.table) and records[1]["kind"] == "dw_1xk"
    assert [rec["cycles"] for rec in records] == r.layer_cycles.tolist()
    with pytest.raises(ValueError, match="one network on one hardware config"):
        simulate([V2, V2_HALF], Hardware()).summary()


def test_bad_arguments():
    with pytest.raises(ValueError, match="model: unknown model 'exact' \\(allowed: scalesim, paper, paper_era\\)"):
        simulate(V2, Hardware(), model="exact")
    with pytest.raises(TypeError, match="hardware: expected a nos.sim.Hardware"):
        simulate(V2, [])
    with pytest.raises(TypeError, match="x: expected an Arch"):
        simulate("mobilenet_v2", Hardware())
    with pytest.raises(TypeError, match="x: expected an Arch"):
        simulate([V2, "x"], Hardware())
    with pytest.raises(ValueError, match="input_size: a LayerTable already has its shapes"):
        simulate(LayerTable.from_arch(V2), Hardware(), input_size=96)


_sizes = st.integers(1, 20)


@st.composite
def _records(draw):
    kernel_h, kernel_w = draw(st.sampled_from([(1, 1), (3, 3), (1, 3), (3, 1), (5, 5), (1, 5)]))
    groups = draw(st.integers(1, 4))
    depthwise = draw(st.booleans())
    channels = groups * (1 if depthwise else draw(st.integers(1, 3)))
    filters = channels if depthwise else groups * draw(st.integers(1, 3))
    return dict(ifmap_h=draw(st.integers(kernel_h, 20)), ifmap_w=draw(st.integers(kernel_w, 20)), filter_h=kernel_h,
                filter_w=kernel_w, channels=channels, num_filters=filters, stride=draw(st.integers(1, 3)),
                groups=groups)


_hardware = st.builds(Hardware, rows=_sizes, cols=_sizes, dataflow=st.sampled_from(("os", "ws", "is")),
                      fold=st.sampled_from(FOLDS), drain=st.sampled_from(DRAINS), fuse=st.booleans(),
                      batch=st.integers(1, 3), ifmap_sram_kb=st.integers(1, 2),
                      memory=st.sampled_from(("scalesim", "ideal")))


@settings(max_examples=30, deadline=None)
@given(st.lists(_records(), min_size=1, max_size=6), st.lists(_hardware, min_size=1, max_size=3),
       st.sampled_from(("scalesim", "paper", "paper_era")))
def test_vectorized_pass_equals_one_layer_one_config_at_a_time(records, configs, model):
    table = LayerTable.from_records(records)
    batched = simulate(table, configs, model)
    for i, hw in enumerate(configs):
        for j, record in enumerate(records):
            one = simulate(LayerTable.from_records([record]), hw, model)
            assert batched.layer_cycles[i, j] == one.total_cycles
            assert batched.sram_filter_reads[i, j] == one.sram_filter_reads[0]
            assert batched.dram_ifmap_reads[i, j] == one.dram_ifmap_reads[0]
            assert batched.layer_memory_cycles[i, j] == one.memory_cycles
            assert batched.layer_utilization[i, j] == one.utilization
    assert np.all((batched.layer_utilization > 0) & (batched.layer_utilization <= 1))


def test_an_empty_list_of_architectures_is_named_as_such():
    with pytest.raises(ValueError, match="x: the list of architectures is empty"):
        simulate([], Hardware())


def test_single_network_calls_reuse_row_cycles_only_for_the_same_array_and_model():
    """simulate(arch, hw) in a loop reads each layer's cycles by its cached row once that row was
    simulated on that array; results equal a batched simulation for every array and model."""
    from nos.sim.simulate import _ROW_CYCLES, clear_row_cycles
    from search_spaces import get_space

    space, rng = get_space("mobilenet_v2"), np.random.default_rng(3)
    archs = [space.to_arch(space.sample(rng)) for _ in range(12)]
    arrays = [Hardware(), Hardware(rows=32, cols=16), Hardware(fold="padded"), Hardware(dataflow="ws", fuse=False)]
    clear_row_cycles()
    for hw in arrays:
        for model in ("scalesim", "paper"):
            batched = simulate(archs, hw, model=model).total_cycles
            for _ in range(2):  # the second pass reads every row from the cache
                one_by_one = [simulate(a, hw, model=model).total_cycles for a in archs]
                assert one_by_one == batched.tolist()
            assert (hw, model) in _ROW_CYCLES
    per_layer = simulate(archs[0], arrays[1]).layer_cycles
    assert per_layer.tolist() == simulate([archs[0], archs[1]], arrays[1]).layer_cycles[:len(per_layer)].tolist()


def test_the_roofline_paragraph_of_the_docs_pairs_each_speed_up_with_its_own_setting():
    """docs/simulator.md states MobileNet-V2 FuSe-Half's compute and roofline speed-ups under each
    memory model and fold convention; every number is the simulator's, each beside its own
    (an earlier version set a `padded` roofline speed-up beside another setting's compute one)."""
    text = " ".join((Path(__file__).resolve().parents[1] / "docs" / "simulator.md").read_text().split())
    baseline, half = nos.zoo.get("mobilenet_v2", "baseline"), nos.zoo.get("mobilenet_v2", "fuse_half")

    def speedups(fold: str) -> list[str]:
        results = [(simulate(baseline, Hardware(fuse=False, fold=fold, memory=memory)),
                    simulate(half, Hardware(fold=fold, memory=memory))) for memory in ("scalesim", "ideal", "resident")]
        compute = results[0][0].total_cycles / results[0][1].total_cycles
        return [f"{compute:.2f}x"] + [f"{b.roofline_cycles / h.roofline_cycles:.2f}x" for b, h in results]

    used, padded = speedups("used"), speedups("padded")
    assert (f"speed-up of {used[1]} (`scalesim`), {used[2]} (`ideal`) and {used[3]} (`resident`) for the {used[0]} "
            "in compute cycles") in text
    assert f"Under `padded` folds the compute speed-up is {padded[0]} and the roofline ones {padded[1]}, {padded[2]} " \
           f"and {padded[3]}." in text
