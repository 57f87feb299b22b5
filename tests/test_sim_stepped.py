"""The cycle-stepped reference: real convolution outputs, and exactly the closed-form cycles.

Under the ``padded`` fold convention and a ``hidden`` drain the GEMM arrays (os, ws, is)
must hit SCALE-Sim's closed forms (``shared/reference/scalesim.md``) on random layers, which
validates the stepping conventions; under ``used`` they must hit the fold-by-fold sum of
``T + a * r_u + c_u - 2``, and a ``charged`` drain adds per fold the ``A_r`` cycles of the
os drain or the idle rows a ws/is fold's last partial sums cross. The FuSe row-broadcast
array, stepped with the same conventions, must hit :func:`nos.sim.fuse.rowbroadcast` under
all four settings; the results' register writes must be what :mod:`nos.sim.energy` prices.
``simulate`` must agree with the stepped model when the hardware batches images, and its
utilization is the stepped model's busy fraction.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nos.sim import FOLDS, Hardware, LayerTable, simulate
from nos.sim.energy import drain_hops
from nos.sim.fuse import rowbroadcast
from nos.sim.gemm import gemm_cycles, gemm_sram
from nos.sim.hardware import DATAFLOWS, DRAINS
from nos.sim.stepped import step_fuse_conv, step_gemm_conv

SETTINGS = [(fold, drain) for fold in FOLDS for drain in DRAINS]

ARRAYS = [(3, 5), (4, 2), (2, 2), (5, 3), (1, 4), (4, 1), (2, 6)]
CASES = 36


def _conv2d(x, w, stride, padding, groups=1) -> np.ndarray:
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                    groups=groups).numpy()


def _fold_sum(dataflow: str, spatial_rows: int, spatial_cols: int, temporal: int, rows: int, cols: int,
              fold: str, drain: str) -> tuple[int, int]:
    """(stepped cycles, result hops) of a GEMM, fold by fold: each fold costs
    ``T + skews * r + c - 2`` where r x c are the rows and columns it uses (``used``) or the
    whole array (``padded``); a charged drain adds the os outputs' ``rows`` cycles to the
    bottom edge, or the ``rows - r`` idle rows a ws/is fold's last sums cross. An os output of
    PE row i makes ``rows - i`` drain-register writes, a ws/is sum one per array row."""
    cycles = hops = 0
    for r0 in range(0, spatial_rows, rows):
        for c0 in range(0, spatial_cols, cols):
            used_r, used_c = min(rows, spatial_rows - r0), min(cols, spatial_cols - c0)
            r, c = (rows, cols) if fold == "padded" else (used_r, used_c)
            if dataflow == "os":
                cycles += temporal + r + c - 2 + (drain == "charged") * rows
                hops += used_c * sum(rows - i for i in range(used_r))
            else:
                cycles += temporal + 2 * r + c - 2 + (drain == "charged") * (rows - r)
                hops += temporal * used_c * rows
    return cycles, hops


def _expected_gemm(dataflow: str, fold: str, drain: str, pixels: int, depth: int, filters: int, rows: int,
                   cols: int) -> dict[str, int]:
    """Cycles (last-cycle index), SRAM words and result hops of scalesim.md's tables, with the
    fold and drain rules; ofmap writes are data words (os: P*M; ws/is: the partial sums of
    every row fold)."""
    spatial_rows, spatial_cols, temporal = {"os": (pixels, filters, depth), "ws": (depth, filters, pixels),
                                            "is": (depth, pixels, filters)}[dataflow]
    ifmap = pixels * depth * (1 if dataflow == "is" else math.ceil(filters / cols))
    filter_reads = depth * filters * {"os": math.ceil(pixels / rows), "ws": 1, "is": math.ceil(pixels / cols)}[dataflow]
    writes = pixels * filters * (1 if dataflow == "os" else math.ceil(depth / rows))
    cycles, hops = _fold_sum(dataflow, spatial_rows, spatial_cols, temporal, rows, cols, fold, drain)
    return {"cycles": cycles - 1, "ifmap_reads": ifmap, "filter_reads": filter_reads, "ofmap_writes": writes,
            "result_hops": hops}


def _gemm_case(seed: int) -> dict:
    """A random dense conv; kernels, strides and arrays cycle so that all combinations occur."""
    rng = np.random.default_rng(seed)
    kernel, stride = (1, 3, 5)[seed % 3], (1, 2)[seed // 3 % 2]
    rows, cols = ARRAYS[seed % len(ARRAYS)]
    pad = int(rng.integers(0, kernel // 2 + 1))
    h, w = (int(v) for v in rng.integers(max(kernel - 2 * pad, 1), kernel + 4, size=2))
    n, c, m = int(rng.integers(1, 3)), int(rng.integers(1, 4)), int(rng.integers(1, 8))
    return dict(x=rng.standard_normal((n, c, h, w)), w=rng.standard_normal((m, c, kernel, kernel)),
                stride=stride, padding=pad, rows=rows, cols=cols)


def _fuse_case(seed: int) -> dict:
    """A random 1xK or Kx1 depthwise conv, padded along its axis as FuSeConv does (K // 2)."""
    rng = np.random.default_rng(1000 + seed)
    kernel, stride = (1, 3, 5, 7)[seed % 4], (1, 2)[seed // 4 % 2]
    column_conv = seed // 8 % 2 == 1
    rows, cols = ARRAYS[seed % len(ARRAYS)]
    n, c = int(rng.integers(1, 3)), int(rng.integers(1, 5))
    along, across = int(rng.integers(1, 12)), int(rng.integers(1, 7))  # padded along >= K (odd K)
    pad_across = int(rng.integers(0, 2))
    if column_conv:
        shape, w_shape, padding = (n, c, along, across), (c, 1, kernel, 1), (kernel // 2, pad_across)
    else:
        shape, w_shape, padding = (n, c, across, along), (c, 1, 1, kernel), (pad_across, kernel // 2)
    return dict(x=rng.standard_normal(shape), w=rng.standard_normal(w_shape),
                stride=stride, padding=padding, rows=rows, cols=cols)


def _fuse_closed_form(case: dict, output_shape: tuple[int, ...], fold: str, drain: str) -> dict[str, int]:
    """rowbroadcast's numbers for a case (1-D convs along W for 1xK, H for Kx1), and the
    drain-register writes energy prices."""
    n, c, out_h, out_w = output_shape
    column_conv = case["w"].shape[2] > 1
    axis, kernel = (2, case["w"].shape[2]) if column_conv else (3, case["w"].shape[3])
    in_len = case["x"].shape[axis] + 2 * case["padding"][axis - 2]
    n1d, out_len = (n * c * out_w, out_h) if column_conv else (n * c * out_h, out_w)
    counts = rowbroadcast(n1d, in_len, out_len, kernel, case["stride"], case["rows"], case["cols"], FOLDS.index(fold),
                          DRAINS.index(drain))
    return {**{key: int(value) for key, value in counts.items()},
            "result_hops": int(drain_hops(n1d, out_len, case["rows"]))}


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("seed", range(CASES))
def test_gemm_array_computes_the_conv_in_closed_form_cycles(seed, dataflow):
    case = _gemm_case(seed)
    expected_output = _conv2d(case["x"], case["w"], case["stride"], case["padding"])
    n, m, e, f = expected_output.shape
    pixels, depth = n * e * f, case["w"][0].size
    rows, cols = case["rows"], case["cols"]
    for fold, drain in SETTINGS:
        run = step_gemm_conv(**case, dataflow=dataflow, fold=fold, drain=drain)
        np.testing.assert_allclose(run.output, expected_output, rtol=1e-12, atol=1e-12)
        expected = _expected_gemm(dataflow, fold, drain, pixels, depth, m, rows, cols)
        assert (run.last_cycle, run.ifmap_reads, run.filter_reads, run.ofmap_writes, run.result_hops) == (
            expected["cycles"], expected["ifmap_reads"], expected["filter_reads"], expected["ofmap_writes"],
            expected["result_hops"]), (fold, drain)
        args = (pixels, depth, m, rows, cols, DATAFLOWS.index(dataflow), FOLDS.index(fold))
        sram = gemm_sram(*args)
        assert int(gemm_cycles(*args, DRAINS.index(drain))) == run.last_cycle
        assert (int(sram.ifmap_reads), int(sram.filter_reads)) == (run.ifmap_reads, run.filter_reads)
        trace_padding = math.ceil(pixels / rows) * math.ceil(m / cols) * (rows + cols)
        # SCALE-Sim's os ofmap count adds folds * (rows + cols) of output-trace padding, not data
        assert int(sram.ofmap_writes) == run.ofmap_writes + (fold == "padded" and dataflow == "os") * trace_padding


@pytest.mark.parametrize("seed", range(CASES))
def test_fuse_array_computes_the_conv_in_closed_form_cycles(seed):
    case = _fuse_case(seed)
    expected = _conv2d(case["x"], case["w"], case["stride"], case["padding"], groups=case["x"].shape[1])
    for fold, drain in SETTINGS:
        run = step_fuse_conv(**case, fold=fold, drain=drain)
        np.testing.assert_allclose(run.output, expected, rtol=1e-12, atol=1e-12)
        closed = _fuse_closed_form(case, expected.shape, fold, drain)
        assert run.last_cycle == closed["cycles"], (fold, drain)
        assert (run.ifmap_reads, run.filter_reads, run.result_hops) == (
            closed["ifmap_reads"], closed["filter_reads"], closed["result_hops"])
        assert run.ofmap_writes == closed["ofmap_writes"] == expected.size


def test_random_cases_cover_partial_folds_strides_kernels_and_shapes():
    """The random layers above exercise what they claim to (a check on the generators)."""
    gemm_seen, fuse_seen = set(), set()
    for seed in range(CASES):
        case = _gemm_case(seed)
        n, m, e, f = _conv2d(case["x"], case["w"], case["stride"], case["padding"]).shape
        depth = case["w"][0].size
        gemm_seen |= {("k", case["w"].shape[2]), ("s", case["stride"]), ("batch", n > 1),
                      ("partial_rows", n * e * f % case["rows"] > 0 and n * e * f > case["rows"]),
                      ("partial_cols", m % case["cols"] > 0 and m > case["cols"]),
                      ("partial_depth_folds", depth % case["rows"] > 0 and depth > case["rows"]),
                      ("partial_pixel_cols", n * e * f % case["cols"] > 0 and n * e * f > case["cols"])}
        case = _fuse_case(seed)
        n, c, e, f = _conv2d(case["x"], case["w"], case["stride"], case["padding"], groups=case["x"].shape[1]).shape
        column_conv = case["w"].shape[2] > 1
        n1d, out_len = (n * c * f, e) if column_conv else (n * c * e, f)
        last_cols = out_len - (math.ceil(out_len / case["cols"]) - 1) * case["cols"]
        fuse_seen |= {("k", max(case["w"].shape[2:])), ("s", case["stride"]), ("kx1", column_conv),
                      ("batch", n > 1), ("partial_rows", n1d % case["rows"] > 0 and n1d > case["rows"]),
                      ("partial_cols", out_len % case["cols"] > 0 and out_len > case["cols"]),
                      # a hidden drain stalls: a fold computes for fewer cycles than it has rows to drain
                      ("drain_stall", (last_cols - 1) * case["stride"] + max(case["w"].shape[2:])
                       < min(n1d, case["rows"]))}
    common = {("s", 1), ("s", 2), ("batch", True), ("partial_rows", True), ("partial_cols", True)}
    assert common | {("k", 1), ("k", 3), ("k", 5), ("partial_depth_folds", True),
                     ("partial_pixel_cols", True)} <= gemm_seen
    assert common | {("k", k) for k in (1, 3, 5, 7)} | {("kx1", False), ("kx1", True), ("drain_stall", True)} <= fuse_seen


def test_worked_example_of_the_doc_step_by_step():
    """docs/fuse_dataflow.md: 1x3, stride 2, 3 channels of 8x8, on a 5x3 array: 33 cycles."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 3, 8, 8)), rng.standard_normal((3, 1, 1, 3))
    runs = {(fold, drain): step_fuse_conv(x, w, stride=2, padding=(0, 1), rows=5, cols=3, fold=fold, drain=drain)
            for fold, drain in SETTINGS}
    for run in runs.values():
        np.testing.assert_allclose(run.output, _conv2d(x, w, 2, (0, 1), groups=3), rtol=1e-12, atol=1e-12)
        # the zeros a padded fold streams ahead of its segment are not SRAM reads
        assert (run.ifmap_reads, run.filter_reads, run.ofmap_writes) == (120, 72, 48)
    # row folds of 5, 5 and 2 rows, each a 3-column fold of 2*2+3 = 7 cycles and a 1-column fold of 3;
    # hidden: the 1-column fold of a 5-row fold waits for the 5 rows of drain registers (5 cycles)
    assert runs["used", "hidden"].cycles == 2 * (7 + 5) + (7 + 3) == 34 and runs["used", "hidden"].last_cycle == 33
    # charged: every fold's outputs cross the 5 rows to the bottom edge before the next fold starts
    assert runs["used", "charged"].cycles == 3 * (7 + 3) + 6 * 5
    # padded: the 1-column fold also waits for the third column's register, 2*2+3 = 7 cycles >= 5 rows
    assert runs["padded", "hidden"].cycles == 3 * (7 + 7)
    assert runs["padded", "charged"].cycles == 3 * (7 + 7) + 6 * 5


def test_kx1_on_a_non_square_array_uses_the_array_rows_for_the_1d_convs():
    """A Kx1 conv costs what the 1xK conv of the transposed map costs, on a 2x6 array too."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 9, 4)), rng.standard_normal((2, 1, 3, 1))
    column = step_fuse_conv(x, w, stride=1, padding=(1, 0), rows=2, cols=6, fold="used", drain="hidden")
    row = step_fuse_conv(x.transpose(0, 1, 3, 2), w.transpose(0, 1, 3, 2), stride=1, padding=(0, 1),
                         rows=2, cols=6, fold="used", drain="hidden")
    np.testing.assert_allclose(column.output, row.output.transpose(0, 1, 3, 2), rtol=1e-12)
    # 8 1-D convs of 9 outputs: 4 row folds x (6-column fold 5+3 + 3-column fold 2+3) - 1
    assert column.cycles == row.cycles == 4 * (8 + 5)


@pytest.mark.parametrize("dataflow, padded_cycles, used_cycles", [
    ("os", 2 + 4 + 3 - 2, 2 + 1 + 1 - 2),  # T + rows + cols - 2 vs T + 1 + 1 - 2, T = 2
    ("ws", 1 + 2 * 4 + 3 - 2, 1 + 2 * 2 + 1 - 2),  # T = P = 1 pixel, K = 2 rows used
    ("is", 1 + 2 * 4 + 3 - 2, 1 + 2 * 2 + 1 - 2),  # T = M = 1 filter, K = 2 rows, P = 1 column
])
def test_a_partial_fold_costs_the_whole_array_only_when_padded(dataflow, padded_cycles, used_cycles):
    """One output pixel of one filter with a 2-element window on a 4x3 array."""
    x, w = np.ones((1, 2, 1, 1)), np.full((1, 2, 1, 1), 3.0)
    padded = step_gemm_conv(x, w, stride=1, padding=0, rows=4, cols=3, dataflow=dataflow, fold="padded",
                            drain="hidden")
    used = step_gemm_conv(x, w, stride=1, padding=0, rows=4, cols=3, dataflow=dataflow, fold="used", drain="hidden")
    assert padded.output.item() == used.output.item() == 6.0
    assert (padded.cycles, used.cycles) == (padded_cycles, used_cycles)


@pytest.mark.parametrize("fold, drain", SETTINGS)
def test_simulate_with_a_hardware_batch_equals_the_stepped_batch(fold, drain):
    """Hardware.batch multiplies the images of FuSe and GEMM layers alike: simulate on a
    batch-1 layer with batch=3 hardware is the stepped model on 3 images."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5, 7))
    fuse_w, dense_w = rng.standard_normal((4, 1, 1, 3)), rng.standard_normal((3, 4, 3, 3))
    records = [dict(ifmap_h=5, ifmap_w=9, filter_h=1, filter_w=3, channels=4, num_filters=4, stride=2, groups=4),
               dict(ifmap_h=7, ifmap_w=9, filter_h=3, filter_w=3, channels=4, num_filters=3, stride=1, groups=1)]
    hardware = Hardware(rows=4, cols=3, batch=3, fold=fold, drain=drain)
    result = simulate(LayerTable.from_records(records), hardware)
    runs = [step_fuse_conv(x, fuse_w, stride=2, padding=(0, 1), rows=4, cols=3, fold=fold, drain=drain),
            step_gemm_conv(x, dense_w, stride=1, padding=1, rows=4, cols=3, dataflow="os", fold=fold, drain=drain)]
    assert result.layer_cycles.tolist() == [run.last_cycle for run in runs]
    assert result.sram_ifmap_reads.tolist() == [run.ifmap_reads for run in runs]
    assert result.sram_filter_reads.tolist() == [run.filter_reads for run in runs]
    # under padded, SCALE-Sim's os count adds 27 folds x (4 + 3) of output-trace padding
    trace_padding = [0, 27 * 7 if fold == "padded" else 0]
    assert result.sram_ofmap_writes.tolist() == [run.ofmap_writes + t for run, t in zip(runs, trace_padding)]
    macs = [runs[0].output.size * 3, runs[1].output.size * 4 * 9]
    assert result.layer_macs.tolist() == macs
    # utilization: busy PE-cycles (the MACs) over the cycles the stepped array ran x its PEs
    np.testing.assert_allclose(result.layer_utilization, [m / (run.cycles * 12) for m, run in zip(macs, runs)])


def _gemm(x_shape=(1, 2, 3, 3), w_shape=(1, 2, 1, 1), stride=1, padding=0, rows=2, cols=2, **settings):
    settings = {"dataflow": "os", "fold": "used", "drain": "hidden"} | settings
    return lambda: step_gemm_conv(np.ones(x_shape), np.ones(w_shape), stride, padding, rows, cols, **settings)


def _fuse(w_shape=(2, 1, 1, 3), cols=2, **settings):
    settings = {"fold": "used", "drain": "hidden"} | settings
    return lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones(w_shape), 1, 1, 2, cols, **settings)


@pytest.mark.parametrize("call, field", [
    (_gemm(x_shape=(2, 3, 3)), "stepped.x"),
    (_gemm(w_shape=(1, 3, 1, 1)), "stepped.w"),
    (_gemm(w_shape=(1, 2, 5, 5)), "stepped.w"),
    (_gemm(stride=0), "stepped.stride"),
    (_gemm(padding=-1), "stepped.padding"),
    (_gemm(padding=(1, 1, 1)), "stepped.padding"),
    (_gemm(rows=0), "stepped.rows"),
    (_gemm(dataflow="rs"), r"stepped.dataflow: unknown dataflow 'rs' \(allowed: os, ws, is\)"),
    (_gemm(fold="all"), r"stepped.fold: unknown fold 'all' \(allowed: padded, used\)"),
    (_gemm(drain="free"), r"stepped.drain: unknown drain 'free' \(allowed: hidden, charged\)"),
    (_fuse(w_shape=(2, 1, 3, 3)), "stepped.w"),
    (_fuse(w_shape=(2, 2, 1, 3)), "stepped.w"),
    (_fuse(w_shape=(2, 1, 1, 7)), "stepped.w"),
    (_fuse(cols=1.5), "stepped.cols"),
    (_fuse(fold=None), "stepped.fold"),
])
def test_bad_input_is_a_value_error_naming_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()
