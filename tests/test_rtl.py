"""The RTL array (``rtl/``) computes every layer exactly as torch does, in exactly the cycles of
nos's closed forms, under both fold conventions and both drain settings.

24 layers (GEMM convs with partial folds in both dimensions, batch 2, stride 2; 1xK and Kx1
depthwise convs of 3 and 5 taps, strides 1 and 2) on 4x4, 8x8 and 5x7 arrays, run back to back
through Icarus Verilog (``tests/rtl_harness.py``): one compile per array, one simulation per
array and setting. The integer outputs must equal ``torch.nn.functional.conv2d``'s and each
layer's cycles ``simulate``'s compute cycles plus one (SCALE-Sim's last-cycle index).
"""
from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from nos.sim import DRAINS, FOLDS, Hardware, LayerTable, simulate
from rtl_harness import Layer, compile_array, run_layers, tools_missing

pytestmark = pytest.mark.skipif(tools_missing() is not None, reason=str(tools_missing()))

ARRAYS = ((4, 4), (8, 8), (5, 7))


def _layers(rows: int, cols: int) -> list[Layer]:
    """Eight layers sized to the array: partial row and column folds, odd sizes, stride 2."""
    rng = np.random.default_rng(rows * 100 + cols)

    def ints(*shape):
        return rng.integers(-8, 8, shape)

    return [
        Layer(ints(1, 3, 5, 7), ints(cols + 2, 3, 3, 3), 1, (1, 1)),  # 35 pixels, cols + 2 filters
        Layer(ints(2, 4, 9, 7), ints(3, 4, 1, 1), 2, (0, 0)),  # batch 2, stride 2, 1x1
        Layer(ints(1, 2, 7, 6), ints(2 * cols + 1, 2, 3, 3), 2, (1, 1)),  # three filter folds, the last of 1
        Layer(ints(1, 1, 8, 8), ints(1, 1, 3, 3), 1, (1, 1)),  # one channel of a depthwise conv: one column
        Layer(ints(1, 3, 7, 9), ints(3, 1, 1, 3), 1, (0, 1), fuse=True),  # 1x3
        Layer(ints(2, 2, 9, 5), ints(2, 1, 3, 1), 2, (1, 0), fuse=True),  # 3x1, stride 2, batch 2
        Layer(ints(1, 4, 5, 11), ints(4, 1, 1, 5), 2, (0, 2), fuse=True),  # 1x5, stride 2
        Layer(ints(1, 2, 13, 3), ints(2, 1, 5, 1), 1, (2, 0), fuse=True),  # 5x1: short folds, many rows
    ]


def _record(layer: Layer) -> dict:
    n, c, h, w = layer.x.shape
    return dict(ifmap_h=h + 2 * layer.padding[0], ifmap_w=w + 2 * layer.padding[1], filter_h=layer.w.shape[2],
                filter_w=layer.w.shape[3], channels=c, num_filters=c if layer.fuse else layer.w.shape[0],
                stride=layer.stride, groups=c if layer.fuse else 1, batch=n)


def _conv(layer: Layer) -> np.ndarray:
    x, w = (torch.from_numpy(v.astype(np.float64)) for v in (layer.x, layer.w))
    return F.conv2d(x, w, stride=layer.stride, padding=layer.padding, groups=x.shape[1] if layer.fuse else 1).numpy()


@pytest.fixture(scope="session")
def compiled(tmp_path_factory) -> dict[tuple[int, int], object]:
    folder = tmp_path_factory.mktemp("rtl")
    return {array: compile_array(*array, folder) for array in ARRAYS}


@pytest.mark.parametrize("fold, drain", [(fold, drain) for fold in FOLDS for drain in DRAINS])
@pytest.mark.parametrize("rows, cols", ARRAYS)
def test_rtl_outputs_equal_torch_and_cycles_equal_the_closed_form(compiled, tmp_path, rows, cols, fold, drain):
    layers = _layers(rows, cols)
    runs = run_layers(compiled[rows, cols], layers, rows, cols, fold, drain, tmp_path)
    expected = simulate(LayerTable.from_records([_record(layer) for layer in layers]),
                        Hardware(rows=rows, cols=cols, dataflow="os", fold=fold, drain=drain, fuse=True))
    for i, (layer, run) in enumerate(zip(layers, runs)):
        np.testing.assert_array_equal(run.output, _conv(layer), err_msg=f"layer {i}")
    assert [run.cycles for run in runs] == (expected.layer_cycles + 1).tolist()


def test_the_layers_cover_what_the_rtl_must_show():
    """GEMM, 1xK and Kx1 layers; partial folds in both dimensions; odd sizes; stride 2; and FuSe
    folds shorter than the rows they drain (a hidden drain stalls), on every array."""
    for rows, cols in ARRAYS:
        table = LayerTable.from_records([_record(layer) for layer in _layers(rows, cols)])
        kinds = {record["kind"] for record in table.records()}
        assert {"conv", "pointwise", "dw_1xk", "dw_kx1"} <= kinds
        pixels = table.batch * table.out_h * table.out_w
        gemm = table.line_kernel == 0
        assert np.any(gemm & (pixels % rows > 0) & (pixels > rows))
        assert np.any(gemm & (table.num_filters % cols > 0) & (table.num_filters > cols))
        assert np.any(~gemm & (table.line_out % cols > 0) & (table.line_out > cols))
        assert {2, 1} <= set(table.stride[gemm].tolist()) and {2, 1} <= set(table.stride[~gemm].tolist())
        assert np.any(table.ifmap_h % 2 == 1) and len(table) == 8
        last_cols = table.line_out - (np.ceil(table.line_out / cols).astype(int) - 1) * cols
        fold_cycles = (last_cols - 1) * table.stride + table.line_kernel  # of a row fold's last column fold
        assert np.any(~gemm & (fold_cycles < np.minimum(table.batch * table.line_count, rows)))
