"""The cycle-stepped reference: real convolution outputs, and exactly the closed-form cycles.

Under the ``padded`` fold convention the GEMM arrays (os, ws, is) must hit SCALE-Sim's
closed forms (``shared/reference/scalesim.md``) on random layers, which validates the
stepping conventions; under ``used`` they must hit the fold-by-fold sum of
``T + a * r_u + c_u - 2``. The FuSe row-broadcast array, stepped with the same conventions,
must hit :func:`nos.sim.fuse.rowbroadcast` under both. ``simulate`` must agree with the
stepped model when the hardware batches images, and its utilization is the stepped model's
busy fraction.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nos.sim import FOLDS, Hardware, LayerTable, simulate
from nos.sim.fuse import rowbroadcast
from nos.sim.gemm import scalesim_cycles, scalesim_sram
from nos.sim.hardware import DATAFLOWS
from nos.sim.stepped import step_fuse_conv, step_gemm_conv

ARRAYS = [(3, 5), (4, 2), (2, 2), (5, 3), (1, 4), (4, 1), (2, 6)]
CASES = 36


def _conv2d(x, w, stride, padding, groups=1) -> np.ndarray:
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                    groups=groups).numpy()


def _fold_sum(spatial_rows: int, spatial_cols: int, temporal: int, rows: int, cols: int, skews: int,
              padded: bool) -> int:
    """Stepped cycles of a GEMM, fold by fold: each fold costs ``T + skews * r + c - 2`` where
    r x c are the rows and columns it uses (``used``) or the whole array (``padded``)."""
    total = 0
    for r0 in range(0, spatial_rows, rows):
        for c0 in range(0, spatial_cols, cols):
            r, c = (rows, cols) if padded else (min(rows, spatial_rows - r0), min(cols, spatial_cols - c0))
            total += temporal + skews * r + c - 2
    return total


def _expected_gemm(dataflow: str, fold: str, pixels: int, depth: int, filters: int, rows: int,
                   cols: int) -> dict[str, int]:
    """Cycles (last-cycle index) and SRAM words of scalesim.md's tables, with the fold rule;
    ofmap writes are data words (os: P*M; ws/is: the partial sums of every row fold)."""
    spatial_rows, spatial_cols, temporal = {"os": (pixels, filters, depth), "ws": (depth, filters, pixels),
                                            "is": (depth, pixels, filters)}[dataflow]
    skews = 1 if dataflow == "os" else 2
    ifmap = pixels * depth * (1 if dataflow == "is" else math.ceil(filters / cols))
    filter_reads = depth * filters * {"os": math.ceil(pixels / rows), "ws": 1, "is": math.ceil(pixels / cols)}[dataflow]
    writes = pixels * filters * (1 if dataflow == "os" else math.ceil(depth / rows))
    return {"cycles": _fold_sum(spatial_rows, spatial_cols, temporal, rows, cols, skews, fold == "padded") - 1,
            "ifmap_reads": ifmap, "filter_reads": filter_reads, "ofmap_writes": writes}


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


def _fuse_closed_form(case: dict, output_shape: tuple[int, ...], fold: str) -> dict[str, np.ndarray]:
    """rowbroadcast's numbers for a case: 1-D convs along W (1xK) or H (Kx1)."""
    n, c, out_h, out_w = output_shape
    column_conv = case["w"].shape[2] > 1
    axis, kernel = (2, case["w"].shape[2]) if column_conv else (3, case["w"].shape[3])
    in_len = case["x"].shape[axis] + 2 * case["padding"][axis - 2]
    n1d, out_len = (n * c * out_w, out_h) if column_conv else (n * c * out_h, out_w)
    return rowbroadcast(n1d, in_len, out_len, kernel, case["stride"], case["rows"], case["cols"], FOLDS.index(fold))


@pytest.mark.parametrize("dataflow", DATAFLOWS)
@pytest.mark.parametrize("seed", range(CASES))
def test_gemm_array_computes_the_conv_in_closed_form_cycles(seed, dataflow):
    case = _gemm_case(seed)
    expected_output = _conv2d(case["x"], case["w"], case["stride"], case["padding"])
    n, m, e, f = expected_output.shape
    pixels, depth = n * e * f, case["w"][0].size
    rows, cols = case["rows"], case["cols"]
    for fold in FOLDS:
        run = step_gemm_conv(**case, dataflow=dataflow, fold=fold)
        np.testing.assert_allclose(run.output, expected_output, rtol=1e-12, atol=1e-12)
        expected = _expected_gemm(dataflow, fold, pixels, depth, m, rows, cols)
        assert (run.last_cycle, run.ifmap_reads, run.filter_reads, run.ofmap_writes) == (
            expected["cycles"], expected["ifmap_reads"], expected["filter_reads"], expected["ofmap_writes"]), fold
        args = (pixels, depth, m, rows, cols, DATAFLOWS.index(dataflow), FOLDS.index(fold))
        sram = scalesim_sram(*args)
        assert int(scalesim_cycles(*args)) == run.last_cycle
        assert (int(sram.ifmap_reads), int(sram.filter_reads)) == (run.ifmap_reads, run.filter_reads)
        trace_padding = math.ceil(pixels / rows) * math.ceil(m / cols) * (rows + cols)
        # SCALE-Sim's os ofmap count adds folds * (rows + cols) of output-trace padding, not data
        assert int(sram.ofmap_writes) == run.ofmap_writes + (fold == "padded" and dataflow == "os") * trace_padding


@pytest.mark.parametrize("seed", range(CASES))
def test_fuse_array_computes_the_conv_in_closed_form_cycles(seed):
    case = _fuse_case(seed)
    expected = _conv2d(case["x"], case["w"], case["stride"], case["padding"], groups=case["x"].shape[1])
    for fold in FOLDS:
        run = step_fuse_conv(**case, fold=fold)
        np.testing.assert_allclose(run.output, expected, rtol=1e-12, atol=1e-12)
        closed = _fuse_closed_form(case, expected.shape, fold)
        assert run.last_cycle == closed["cycles"], fold
        assert run.ifmap_reads == closed["ifmap_reads"]
        assert run.filter_reads == closed["filter_reads"]
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
        fuse_seen |= {("k", max(case["w"].shape[2:])), ("s", case["stride"]), ("kx1", column_conv),
                      ("batch", n > 1), ("partial_rows", n1d % case["rows"] > 0 and n1d > case["rows"]),
                      ("partial_cols", out_len % case["cols"] > 0 and out_len > case["cols"])}
    common = {("s", 1), ("s", 2), ("batch", True), ("partial_rows", True), ("partial_cols", True)}
    assert common | {("k", 1), ("k", 3), ("k", 5), ("partial_depth_folds", True),
                     ("partial_pixel_cols", True)} <= gemm_seen
    assert common | {("k", k) for k in (1, 3, 5, 7)} | {("kx1", False), ("kx1", True)} <= fuse_seen


def test_worked_example_of_the_doc_step_by_step():
    """docs/fuse_dataflow.md: 1x3, stride 2, 3 channels of 8x8, on a 5x3 array: 29 cycles."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 3, 8, 8)), rng.standard_normal((3, 1, 1, 3))
    run = step_fuse_conv(x, w, stride=2, padding=(0, 1), rows=5, cols=3, fold="used")
    np.testing.assert_allclose(run.output, _conv2d(x, w, 2, (0, 1), groups=3), rtol=1e-12, atol=1e-12)
    # 3 row folds x (a 3-column fold of 2*2+3 = 7 cycles + a 1-column fold of 3 cycles) - 1
    assert run.cycles == 3 * (7 + 3) == 30 and run.last_cycle == 29
    assert (run.ifmap_reads, run.filter_reads, run.ofmap_writes) == (120, 72, 48)
    # padded: the 1-column fold also waits for the third column's register, 2*2+3 = 7 cycles;
    # the 4 zeros streamed ahead of its segment are not SRAM reads
    padded = step_fuse_conv(x, w, stride=2, padding=(0, 1), rows=5, cols=3, fold="padded")
    np.testing.assert_allclose(padded.output, run.output, rtol=1e-12, atol=1e-12)
    assert padded.cycles == 3 * (7 + 7)
    assert (padded.ifmap_reads, padded.filter_reads, padded.ofmap_writes) == (120, 72, 48)


def test_kx1_on_a_non_square_array_uses_the_array_rows_for_the_1d_convs():
    """A Kx1 conv costs what the 1xK conv of the transposed map costs, on a 2x6 array too."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 9, 4)), rng.standard_normal((2, 1, 3, 1))
    column = step_fuse_conv(x, w, stride=1, padding=(1, 0), rows=2, cols=6, fold="used")
    row = step_fuse_conv(x.transpose(0, 1, 3, 2), w.transpose(0, 1, 3, 2), stride=1, padding=(0, 1),
                         rows=2, cols=6, fold="used")
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
    padded = step_gemm_conv(x, w, stride=1, padding=0, rows=4, cols=3, dataflow=dataflow, fold="padded")
    used = step_gemm_conv(x, w, stride=1, padding=0, rows=4, cols=3, dataflow=dataflow, fold="used")
    assert padded.output.item() == used.output.item() == 6.0
    assert (padded.cycles, used.cycles) == (padded_cycles, used_cycles)


@pytest.mark.parametrize("fold", FOLDS)
def test_simulate_with_a_hardware_batch_equals_the_stepped_batch(fold):
    """Hardware.batch multiplies the images of FuSe and GEMM layers alike: simulate on a
    batch-1 layer with batch=3 hardware is the stepped model on 3 images."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 4, 5, 7))
    fuse_w, dense_w = rng.standard_normal((4, 1, 1, 3)), rng.standard_normal((3, 4, 3, 3))
    records = [dict(ifmap_h=5, ifmap_w=9, filter_h=1, filter_w=3, channels=4, num_filters=4, stride=2, groups=4),
               dict(ifmap_h=7, ifmap_w=9, filter_h=3, filter_w=3, channels=4, num_filters=3, stride=1, groups=1)]
    hardware = Hardware(rows=4, cols=3, batch=3, fold=fold)
    result = simulate(LayerTable.from_records(records), hardware)
    runs = [step_fuse_conv(x, fuse_w, stride=2, padding=(0, 1), rows=4, cols=3, fold=fold),
            step_gemm_conv(x, dense_w, stride=1, padding=1, rows=4, cols=3, dataflow="os", fold=fold)]
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


@pytest.mark.parametrize("call, field", [
    (lambda: step_gemm_conv(np.ones((2, 3, 3)), np.ones((1, 2, 1, 1)), 1, 0, 2, 2, dataflow="os", fold="used"),
     "stepped.x"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 3, 1, 1)), 1, 0, 2, 2, dataflow="os", fold="used"),
     "stepped.w"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 5, 5)), 1, 0, 2, 2, dataflow="os", fold="used"),
     "stepped.w"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 0, 0, 2, 2, dataflow="os", fold="used"),
     "stepped.stride"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, -1, 2, 2, dataflow="os", fold="used"),
     "stepped.padding"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, (1, 1, 1), 2, 2, dataflow="os",
                            fold="used"), "stepped.padding"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, 0, 0, 2, dataflow="os", fold="used"),
     "stepped.rows"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, 0, 2, 2, dataflow="rs", fold="used"),
     r"stepped.dataflow: unknown dataflow 'rs' \(allowed: os, ws, is\)"),
    (lambda: step_gemm_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, 0, 2, 2, dataflow="os", fold="all"),
     r"stepped.fold: unknown fold 'all' \(allowed: padded, used\)"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), 1, 1, 2, 2, fold="used"), "stepped.w"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 2, 1, 3)), 1, 1, 2, 2, fold="used"), "stepped.w"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 1, 1, 7)), 1, 1, 2, 2, fold="used"), "stepped.w"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 1, 1, 3)), 1, 1, 2, 1.5, fold="used"),
     "stepped.cols"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 1, 1, 3)), 1, 1, 2, 2, fold=None), "stepped.fold"),
])
def test_bad_input_is_a_value_error_naming_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()
