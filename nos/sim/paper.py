"""The FuSeConv authors' own latency model (Selvam et al., DATE 2021), quirks included.

Compute cycles only, output-stationary array of X rows x Y columns; formulas as stated in
``shared/reference/fuseconv.md``:

* GEMM (P x T times T x M, P = N*E*F, T = R*S*C): every fold costs
  ``T + rows_used + cols_used - 1``, folds do not overlap.
* Grouped/depthwise conv: ``groups`` GEMMs of C/groups channels and M/groups filters.
* 1xK depthwise on FuSe hardware: ``n1D = N*H*C`` (unpadded *input* height),
  ``row_folds = ceil(n1D / X) / s`` (not re-ceiled), ``col_folds = ceil(W_pad / Y)``,
  ``cycles = ceil(row_folds * (Y + K) * col_folds)``; Kx1 swaps H and W (X and Y are
  not swapped, as in the authors' code).

Two variants: ``released`` (E and F by floor, as the published code does now) and
``paper_era`` (true division for E and F, so stride-2 layers get fractional output sizes,
and FuSe column folds on the *unpadded* width), which produced the published table.
"""
from __future__ import annotations

import numpy as np

from nos.sim.layers import KIND

PUBLISHED_SPEEDUPS = {
    ("mobilenet_v1", "fuse_full"): "4.1", ("mobilenet_v1", "fuse_half"): "6.76",
    ("mobilenet_v1", "fuse_full_50"): "2.3", ("mobilenet_v1", "fuse_half_50"): "2.36",
    ("mobilenet_v2", "fuse_full"): "5.1", ("mobilenet_v2", "fuse_half"): "7.23",
    ("mobilenet_v2", "fuse_full_50"): "2.0", ("mobilenet_v2", "fuse_half_50"): "2.1",
    ("mnasnet_b1", "fuse_full"): "5.06", ("mnasnet_b1", "fuse_half"): "7.15",
    ("mnasnet_b1", "fuse_full_50"): "1.88", ("mnasnet_b1", "fuse_half_50"): "1.97",
    ("mobilenet_v3_small", "fuse_full"): "3.02", ("mobilenet_v3_small", "fuse_half"): "4.16",
    ("mobilenet_v3_small", "fuse_full_50"): "1.6", ("mobilenet_v3_small", "fuse_half_50"): "1.68",
    ("mobilenet_v3_large", "fuse_full"): "3.61", ("mobilenet_v3_large", "fuse_half"): "5.45",
    ("mobilenet_v3_large", "fuse_full_50"): "1.76", ("mobilenet_v3_large", "fuse_half_50"): "1.83",
}
"""The published speed-ups on a 64x64 array, as printed (Selvam et al., DATE 2021, the
speed-up table; transcribed in ``shared/reference/fuseconv.md``): cycles of the baseline on
the conventional array / cycles of the variant on the array with the FuSe bus."""


def paper_gemm(p: np.ndarray, t: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cycles of a P x T x M GEMM under the authors' fold formula (float64; P may be fractional)."""
    full_r, rem_r = np.floor_divide(p, rows), np.mod(p, rows)
    full_c, rem_c = np.floor_divide(m, cols), np.mod(m, cols)
    return (full_r * full_c * (t + rows + cols - 1)
            + (rem_r > 0) * full_c * (t + rem_r + cols - 1)
            + (rem_c > 0) * full_r * (t + rows + rem_c - 1)
            + ((rem_r > 0) & (rem_c > 0)) * (t + rem_r + rem_c - 1))


def paper_rowbroadcast(n1d: np.ndarray, fold_len: np.ndarray, kernel: np.ndarray, stride: np.ndarray,
                       rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """Cycles of a 1-D depthwise layer on FuSe hardware under the authors' formula."""
    row_folds = np.ceil(n1d / rows) / stride
    col_folds = np.ceil(fold_len / cols)
    return np.ceil(row_folds * (cols + kernel) * col_folds)


def paper_cycles(table, batch: np.ndarray, rows: np.ndarray, cols: np.ndarray, fuse: np.ndarray,
                 paper_era: bool) -> np.ndarray:
    """Per-layer cycles (float64, shape (configs, layers)) of ``table`` under the authors' model.

    Args:
        table: a :class:`nos.sim.LayerTable`.
        batch, rows, cols, fuse: per-config arrays shaped (configs, 1); ``batch`` multiplies
            the table's batch column.
        paper_era: use the paper-era variant (true division, unpadded FuSe column folds).
    """
    n = table.batch * batch
    s = table.stride
    if paper_era:
        out_h = (table.ifmap_h - table.filter_h + s) / s
        out_w = (table.ifmap_w - table.filter_w + s) / s
    else:
        out_h, out_w = table.out_h, table.out_w
    g = table.groups
    window = table.filter_h * table.filter_w * (table.channels // g)
    cycles = g * paper_gemm(n * out_h * out_w, window, table.num_filters // g, rows, cols)

    row_conv = table.kind == KIND["dw_1xk"]
    fused = (row_conv | (table.kind == KIND["dw_kx1"])) & fuse
    if not fused.any():
        return cycles.astype(np.float64)
    unpadded_h = table.ifmap_h - 2 * table.pad_h
    unpadded_w = table.ifmap_w - 2 * table.pad_w
    span_h, span_w = (unpadded_h, unpadded_w) if paper_era else (table.ifmap_h, table.ifmap_w)
    fuse_cycles = paper_rowbroadcast(
        n1d=n * table.channels * np.where(row_conv, unpadded_h, unpadded_w),
        fold_len=np.where(row_conv, span_w, span_h),
        kernel=np.where(row_conv, table.filter_w, table.filter_h),
        stride=s, rows=rows, cols=cols)
    return np.where(fused, fuse_cycles, cycles).astype(np.float64)
