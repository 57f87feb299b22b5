"""Closed form of the FuSe row-broadcast dataflow: hand-computed cases, vectorization, errors.

That the closed form is what the array does, cycle by cycle, is checked in
``test_sim_stepped.py``; here the formula is checked against numbers worked out by hand
(``docs/fuse_dataflow.md``) and against an explicit fold-by-fold sum.
"""
from __future__ import annotations

import math

import numpy as np
import pytest

from nos.sim import DRAINS, FOLDS
from nos.sim.fuse import rowbroadcast

KEYS = ("cycles", "ifmap_reads", "filter_reads", "ofmap_writes")
PADDED, USED = FOLDS.index("padded"), FOLDS.index("used")
HIDDEN, CHARGED = DRAINS.index("hidden"), DRAINS.index("charged")


def _numbers(**kwargs) -> tuple[int, ...]:
    result = rowbroadcast(**kwargs)
    return tuple(int(result[key]) for key in KEYS)


def test_worked_example_of_the_doc():
    # 1x3, stride 2, 3 channels of 8x8 (W padded to 10): 12 1-D convs of 4 outputs on 5x3.
    # Row folds 5+5+2, column folds 3+1 columns computing 2*2+3 = 7 and 0*2+3 = 3 cycles;
    # hidden drain: the 1-column fold of a 5-row fold waits until its 5 rows of drain registers are free
    layer = dict(n1d=12, in_len=10, out_len=4, kernel=3, stride=2, rows=5, cols=3)
    sram = (12 * (7 + 3), 12 * 2 * 3, 12 * 4)  # the same under every setting
    assert _numbers(**layer, fold=USED, drain=HIDDEN) == (2 * (7 + 5) + (7 + 3) - 1, *sram)
    assert _numbers(**layer, fold=USED, drain=CHARGED) == (3 * (7 + 3) + 6 * 5 - 1, *sram)  # + 5 rows per fold
    # padded: the 1-column fold waits for the third column too, (3 - 1)*2 + 3 = 7 cycles >= 5 rows
    assert _numbers(**layer, fold=PADDED, drain=HIDDEN) == (3 * (7 + 7) - 1, *sram)
    assert _numbers(**layer, fold=PADDED, drain=CHARGED) == (3 * (7 + 7) + 6 * 5 - 1, *sram)


def test_mobilenet_v2_fuse_half_first_1x3_layer_on_64x64():
    # 1x3 on 16 channels of 112x112 (W padded to 114): 1792 1-D convs of 112 outputs, 28 row folds of 64;
    # column folds of 64 and 48 columns computing 63+3 = 66 and 47+3 = 50 cycles; the paper: 28*2*67 = 3752
    layer = dict(n1d=112 * 16, in_len=114, out_len=112, kernel=3, stride=1, rows=64, cols=64)
    result = rowbroadcast(**layer, fold=USED, drain=HIDDEN)
    assert int(result["cycles"]) == 28 * (66 + 64) - 1 == 3639  # the 48-column fold waits for 64 drain rows
    assert int(rowbroadcast(**layer, fold=USED, drain=CHARGED)["cycles"]) == 28 * (66 + 50 + 2 * 64) - 1
    padded = rowbroadcast(**layer, fold=PADDED, drain=HIDDEN)
    assert int(padded["cycles"]) == 28 * (66 + 66) - 1  # the 48-column fold costs 63 + 3 too
    assert int(result["ifmap_reads"]) == 1792 * 116  # a 2-element halo is re-read per column fold
    assert int(result["filter_reads"]) == 1792 * 2 * 3
    assert int(result["ofmap_writes"]) == 1792 * 112


def test_stride_two_streams_every_input_of_the_segment():
    # 1x3 stride 2 on 112 (padded 114): 56 outputs in one 64-column fold: 55*2+3 = 113 cycles.
    assert int(rowbroadcast(56 * 32, 114, 56, 3, 2, 64, 64, USED, HIDDEN)["cycles"]) == 28 * 113 - 1
    assert int(rowbroadcast(56 * 32, 114, 56, 3, 2, 64, 64, PADDED, HIDDEN)["cycles"]) == 28 * (63 * 2 + 3) - 1


def test_single_column_folds_cost_the_kernel_only():
    # a 1-column array: every output is its own fold of K cycles, whatever the stride
    for stride in (1, 2, 3):
        out_len = (20 - 5) // stride + 1
        for fold in (PADDED, USED):
            assert int(rowbroadcast(1, 20, out_len, 5, stride, 1, 1, fold, HIDDEN)["cycles"]) == out_len * 5 - 1


def _fold_by_fold(n1d, in_len, out_len, kernel, stride, rows, cols, fold, drain) -> tuple[int, ...]:
    """The dataflow's counts summed over explicit folds (the derivation, before simplifying):
    a fold computes for its segment (used) or the segment of a whole-array fold (padded); a
    hidden drain makes it last at least the rows it loads into the drain registers (its used
    rows, or all when padded), a charged one adds the rows its outputs cross to leave."""
    cycles = ifmap = filters = 0
    for r0 in range(0, n1d, rows):
        used_rows = min(rows, n1d - r0)
        for c0 in range(0, out_len, cols):
            used_cols = min(cols, out_len - c0)
            segment = (used_cols - 1) * stride + kernel
            assert c0 * stride + segment <= in_len  # the fold's inputs exist
            compute = segment if fold == USED else (cols - 1) * stride + kernel
            loaded = used_rows if fold == USED else rows
            cycles += compute + rows if drain == CHARGED else max(compute, loaded)
            ifmap += used_rows * segment
            filters += used_rows * kernel
    return cycles - 1, ifmap, filters, n1d * out_len


def test_closed_form_equals_the_fold_by_fold_sum_on_random_layers():
    rng = np.random.default_rng(11)
    for _ in range(300):
        kernel, stride = int(rng.choice([1, 3, 5, 7])), int(rng.integers(1, 4))
        in_len = int(rng.integers(kernel, 60))
        args = dict(n1d=int(rng.integers(1, 200)), in_len=in_len, out_len=(in_len - kernel) // stride + 1,
                    kernel=kernel, stride=stride, rows=int(rng.integers(1, 20)), cols=int(rng.integers(1, 20)),
                    fold=int(rng.integers(len(FOLDS))), drain=int(rng.integers(len(DRAINS))))
        assert _numbers(**args) == _fold_by_fold(**args), args


def test_vectorized_over_broadcast_arguments_equals_scalar_calls():
    n1d = np.array([[1], [63], [64], [65], [1000]])
    rows = np.array([8, 64, 3])
    cols = np.array([64, 16, 5])
    fold = np.array([PADDED, USED, USED])
    drain = np.array([[HIDDEN], [CHARGED], [HIDDEN], [HIDDEN], [CHARGED]])
    result = rowbroadcast(n1d, 114, 56, 3, 2, rows, cols, fold, drain)
    assert all(result[key].shape == (5, 3) and result[key].dtype == np.int64 for key in KEYS)
    for i, j in np.ndindex(5, 3):
        scalar = rowbroadcast(int(n1d[i, 0]), 114, 56, 3, 2, int(rows[j]), int(cols[j]), int(fold[j]), int(drain[i, 0]))
        assert all(result[key][i, j] == scalar[key] for key in KEYS)


def test_rows_enter_only_through_the_row_folds_and_the_drain_and_a_square_array_is_not_assumed():
    # 28 outputs on 7 columns: 4 folds of 6 + 3 = 9 cycles. While a fold lasts at least its rows, rows do not
    # enter a fold's cycles under a hidden drain: cycles + 1 scale with ceil(n1d / rows)
    for fold in (PADDED, USED):
        base = rowbroadcast(1, 30, 28, 3, 1, 1, 7, fold, HIDDEN)
        for rows in (1, 2, 5, 9):
            assert int(rowbroadcast(100, 30, 28, 3, 1, rows, 7, fold, HIDDEN)["cycles"]) + 1 == math.ceil(
                100 / rows) * (int(base["cycles"]) + 1)
    # 100 rows: one row fold whose folds wait for the 100 drain registers; charged: 9 + 100 each
    assert int(rowbroadcast(100, 30, 28, 3, 1, 100, 7, USED, HIDDEN)["cycles"]) == 4 * 100 - 1
    assert int(rowbroadcast(100, 30, 28, 3, 1, 100, 7, USED, CHARGED)["cycles"]) == 4 * (9 + 100) - 1
    # a 4x2 and a 2x4 array give different numbers for the same layer
    assert int(rowbroadcast(10, 30, 28, 3, 1, 4, 2, USED, HIDDEN)["cycles"]) != int(
        rowbroadcast(10, 30, 28, 3, 1, 2, 4, USED, HIDDEN)["cycles"])


def test_large_layers_do_not_overflow():
    result = rowbroadcast(np.int64(10**9), 10**6 + 2, 10**6, 3, 1, 1, 1, USED, HIDDEN)
    assert int(result["cycles"]) == 10**9 * 3 * 10**6 - 1


@pytest.mark.parametrize("kwargs, field", [
    (dict(n1d=1.0), "n1d"),
    (dict(n1d=True), "n1d"),
    (dict(n1d=0), "n1d"),
    (dict(kernel=0, out_len=11), "kernel"),
    (dict(stride=0), "stride"),
    (dict(rows=np.array([4, 0])), "rows"),
    (dict(cols=-1), "cols"),
    (dict(kernel=11, out_len=1), "in_len"),
    (dict(out_len=9), "out_len"),
    (dict(out_len=np.array([8, 8, 7])), "out_len"),
    (dict(n1d=np.array([1, 2]), rows=np.array([1, 2, 3])), "do not broadcast"),
    (dict(fold=2), r"fold: must index FOLDS \('padded', 'used'\), got 2"),
    (dict(fold="used"), "fold: must be integers"),
    (dict(drain=-1), r"drain: must index DRAINS \('hidden', 'charged'\), got -1"),
])
def test_bad_input_is_a_value_error_naming_the_argument(kwargs, field):
    args = dict(n1d=4, in_len=10, out_len=8, kernel=3, stride=1, rows=4, cols=4, fold=USED, drain=HIDDEN) | kwargs
    with pytest.raises(ValueError, match=f"rowbroadcast.*{field}"):
        rowbroadcast(**args)
