"""The cycle-stepped reference: real convolution outputs, and exactly the closed-form cycles.

The output-stationary array must hit SCALE-Sim's ``os`` closed form on random layers, which
validates the stepping conventions; the FuSe row-broadcast array, stepped with the same
conventions, must hit :func:`nos.sim.fuse.rowbroadcast`.
"""
from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nos.sim.fuse import rowbroadcast
from nos.sim.stepped import step_fuse_conv, step_os_conv

ARRAYS = [(3, 5), (4, 2), (2, 2), (5, 3), (1, 4), (4, 1), (2, 6)]
CASES = 36


def _conv2d(x, w, stride, padding, groups=1) -> np.ndarray:
    return F.conv2d(torch.from_numpy(x), torch.from_numpy(w), stride=stride, padding=padding,
                    groups=groups).numpy()


def _scalesim_os(pixels: int, depth: int, filters: int, rows: int, cols: int) -> dict[str, int]:
    """SCALE-Sim v3 ``os``: cycles (last-cycle index), ifmap and filter SRAM reads."""
    folds = math.ceil(pixels / rows) * math.ceil(filters / cols)
    return {"cycles": folds * (depth + rows + cols - 2) - 1,
            "ifmap_reads": math.ceil(filters / cols) * pixels * depth,
            "filter_reads": math.ceil(pixels / rows) * depth * filters}


def _os_case(seed: int) -> dict:
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


def _fuse_closed_form(case: dict, output_shape: tuple[int, ...]) -> dict[str, np.ndarray]:
    """rowbroadcast's numbers for a case: 1-D convs along W (1xK) or H (Kx1)."""
    n, c, out_h, out_w = output_shape
    column_conv = case["w"].shape[2] > 1
    axis, kernel = (2, case["w"].shape[2]) if column_conv else (3, case["w"].shape[3])
    in_len = case["x"].shape[axis] + 2 * case["padding"][axis - 2]
    n1d, out_len = (n * c * out_w, out_h) if column_conv else (n * c * out_h, out_w)
    return rowbroadcast(n1d, in_len, out_len, kernel, case["stride"], case["rows"], case["cols"])


@pytest.mark.parametrize("seed", range(CASES))
def test_os_array_computes_the_conv_in_scalesim_cycles(seed):
    case = _os_case(seed)
    run = step_os_conv(**case)
    expected = _conv2d(case["x"], case["w"], case["stride"], case["padding"])
    np.testing.assert_allclose(run.output, expected, rtol=1e-12, atol=1e-12)
    n, m, e, f = expected.shape
    pixels, depth = n * e * f, case["w"][0].size
    closed = _scalesim_os(pixels, depth, m, case["rows"], case["cols"])
    assert run.last_cycle == run.cycles - 1 == closed["cycles"]
    assert (run.ifmap_reads, run.filter_reads) == (closed["ifmap_reads"], closed["filter_reads"])
    assert run.ofmap_writes == pixels * m  # SCALE-Sim adds folds * (rows + cols): its trace padding


@pytest.mark.parametrize("seed", range(CASES))
def test_fuse_array_computes_the_conv_in_closed_form_cycles(seed):
    case = _fuse_case(seed)
    run = step_fuse_conv(**case)
    expected = _conv2d(case["x"], case["w"], case["stride"], case["padding"], groups=case["x"].shape[1])
    np.testing.assert_allclose(run.output, expected, rtol=1e-12, atol=1e-12)
    closed = _fuse_closed_form(case, expected.shape)
    assert run.last_cycle == closed["cycles"]
    assert run.ifmap_reads == closed["ifmap_reads"]
    assert run.filter_reads == closed["filter_reads"]
    assert run.ofmap_writes == closed["ofmap_writes"] == expected.size


def test_random_cases_cover_partial_folds_strides_kernels_and_shapes():
    """The random layers above exercise what they claim to (a check on the generators)."""
    os_seen, fuse_seen = set(), set()
    for seed in range(CASES):
        case = _os_case(seed)
        n, m, e, f = _conv2d(case["x"], case["w"], case["stride"], case["padding"]).shape
        os_seen |= {("k", case["w"].shape[2]), ("s", case["stride"]), ("batch", n > 1),
                    ("partial_rows", n * e * f % case["rows"] > 0 and n * e * f > case["rows"]),
                    ("partial_cols", m % case["cols"] > 0 and m > case["cols"])}
        case = _fuse_case(seed)
        n, c, e, f = _conv2d(case["x"], case["w"], case["stride"], case["padding"], groups=case["x"].shape[1]).shape
        column_conv = case["w"].shape[2] > 1
        n1d, out_len = (n * c * f, e) if column_conv else (n * c * e, f)
        fuse_seen |= {("k", max(case["w"].shape[2:])), ("s", case["stride"]), ("kx1", column_conv),
                      ("batch", n > 1), ("partial_rows", n1d % case["rows"] > 0 and n1d > case["rows"]),
                      ("partial_cols", out_len % case["cols"] > 0 and out_len > case["cols"])}
    common = {("s", 1), ("s", 2), ("batch", True), ("partial_rows", True), ("partial_cols", True)}
    assert common | {("k", 1), ("k", 3), ("k", 5)} <= os_seen
    assert common | {("k", k) for k in (1, 3, 5, 7)} | {("kx1", False), ("kx1", True)} <= fuse_seen


def test_worked_example_of_the_doc_step_by_step():
    """docs/fuse_dataflow.md: 1x3, stride 2, 3 channels of 8x8, on a 5x3 array: 29 cycles."""
    rng = np.random.default_rng(7)
    x, w = rng.standard_normal((1, 3, 8, 8)), rng.standard_normal((3, 1, 1, 3))
    run = step_fuse_conv(x, w, stride=2, padding=(0, 1), rows=5, cols=3)
    np.testing.assert_allclose(run.output, _conv2d(x, w, 2, (0, 1), groups=3), rtol=1e-12, atol=1e-12)
    # 3 row folds x (a 3-column fold of 2*2+3 = 7 cycles + a 1-column fold of 3 cycles) - 1
    assert run.cycles == 3 * (7 + 3) == 30 and run.last_cycle == 29
    assert (run.ifmap_reads, run.filter_reads, run.ofmap_writes) == (120, 72, 48)


def test_kx1_on_a_non_square_array_uses_the_array_rows_for_the_1d_convs():
    """A Kx1 conv costs what the 1xK conv of the transposed map costs, on a 2x6 array too."""
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((1, 2, 9, 4)), rng.standard_normal((2, 1, 3, 1))
    column = step_fuse_conv(x, w, stride=1, padding=(1, 0), rows=2, cols=6)
    row = step_fuse_conv(x.transpose(0, 1, 3, 2), w.transpose(0, 1, 3, 2), stride=1, padding=(0, 1),
                         rows=2, cols=6)
    np.testing.assert_allclose(column.output, row.output.transpose(0, 1, 3, 2), rtol=1e-12)
    # 8 1-D convs of 9 outputs: 4 row folds x (6-column fold 5+3 + 3-column fold 2+3) - 1
    assert column.cycles == row.cycles == 4 * (8 + 5)


def test_os_partial_fold_is_scheduled_over_the_whole_array():
    """One output pixel and one filter still take T + rows + cols - 2 cycles, as in SCALE-Sim."""
    x, w = np.ones((1, 2, 1, 1)), np.full((1, 2, 1, 1), 3.0)
    run = step_os_conv(x, w, stride=1, padding=0, rows=4, cols=3)
    assert run.output.item() == 6.0
    assert run.cycles == 2 + 4 + 3 - 2


@pytest.mark.parametrize("call, field", [
    (lambda: step_os_conv(np.ones((2, 3, 3)), np.ones((1, 2, 1, 1)), 1, 0, 2, 2), "stepped.x"),
    (lambda: step_os_conv(np.ones((1, 2, 3, 3)), np.ones((1, 3, 1, 1)), 1, 0, 2, 2), "stepped.w"),
    (lambda: step_os_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 5, 5)), 1, 0, 2, 2), "stepped.w"),
    (lambda: step_os_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 0, 0, 2, 2), "stepped.stride"),
    (lambda: step_os_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, -1, 2, 2), "stepped.padding"),
    (lambda: step_os_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, (1, 1, 1), 2, 2), "stepped.padding"),
    (lambda: step_os_conv(np.ones((1, 2, 3, 3)), np.ones((1, 2, 1, 1)), 1, 0, 0, 2), "stepped.rows"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 1, 3, 3)), 1, 1, 2, 2), "stepped.w"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 2, 1, 3)), 1, 1, 2, 2), "stepped.w"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 1, 1, 7)), 1, 1, 2, 2), "stepped.w"),
    (lambda: step_fuse_conv(np.ones((1, 2, 3, 3)), np.ones((2, 1, 1, 3)), 1, 1, 2, 1.5), "stepped.cols"),
])
def test_bad_input_is_a_value_error_naming_the_field(call, field):
    with pytest.raises(ValueError, match=field):
        call()
