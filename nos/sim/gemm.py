"""SCALE-Sim v3's GEMM dataflows (os, ws, is) in closed form, vectorized, under either fold
convention and either drain setting.

A conv lowered to a GEMM has ``P`` output pixels (batch x E x F), window ``K`` = R x S x C
and ``M`` filters. Each dataflow maps two of them onto the array and streams the third in
time (``shared/reference/scalesim.md``):

========  ============  ============  ==========  ===========================  =========================
dataflow  spatial rows  spatial cols  temporal T  cycles per fold, ``padded``  cycles per fold, ``used``
========  ============  ============  ==========  ===========================  =========================
os        P             M             K           T + A_r + A_c - 2            T + r_u + c_u - 2
ws        K             M             P           T + 2 A_r + A_c - 2          T + 2 r_u + c_u - 2
is        K             P             M           T + 2 A_r + A_c - 2          T + 2 r_u + c_u - 2
========  ============  ============  ==========  ===========================  =========================

``folds = ceil(spatial rows / A_r) * ceil(spatial cols / A_c)``; a fold uses ``r_u <= A_r``
rows and ``c_u <= A_c`` columns. ``padded`` (SCALE-Sim v3 exactly) charges every fold the
whole ``A_r x A_c`` array; ``used`` ends a fold at its last used PE (derived on the
cycle-stepped model, ``docs/fuse_dataflow.md`` section 1). A layer takes the sum over its
folds minus 1 (SCALE-Sim reports the index of the last output write).

The drain (``Hardware.drain``, ``docs/fuse_dataflow.md`` section 7): finished results leave
the array down its columns. ``hidden`` costs a GEMM nothing (an os fold always lasts at least
as long as its rows take to clear the drain registers; ws/is partial sums cross idle rows
behind the next fold). ``charged`` adds, per os fold, the ``A_r`` cycles its outputs take to
leave the array, and per ws/is fold the ``A_r - r_u`` idle rows its last partial sums cross
(0 under ``padded``).

All functions broadcast: layer arrays shaped (L,) against hardware arrays shaped (H, 1) give
(H, L) results in one pass.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nos.sim.hardware import DATAFLOWS, DRAINS, FOLDS

OS, WS, IS = (DATAFLOWS.index(name) for name in ("os", "ws", "is"))
PADDED, USED = (FOLDS.index(name) for name in ("padded", "used"))
HIDDEN, CHARGED = (DRAINS.index(name) for name in ("hidden", "charged"))


def ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer ceil(a / b) for positive int arrays."""
    return -(-a // b)


def fold_ranges(total: int, size: int) -> list[tuple[int, int]]:
    """(start, stop) of the consecutive folds of at most ``size`` items that cover ``total``."""
    return [(start, min(start + size, total)) for start in range(0, total, size)]


class Refetch(NamedTuple):
    """How many times each operand streams through the array (SRAM reads per word of the
    lowered operand); the memory model reuses them as DRAM re-fetch counts."""

    ifmap: np.ndarray  # os/ws: ceil(M / A_c), is: 1
    filter: np.ndarray  # os: ceil(P / A_r), ws: 1, is: ceil(P / A_c)
    ofmap: np.ndarray  # os: 1, ws/is: ceil(K / A_r) partial-sum passes


class SramAccesses(NamedTuple):
    """SRAM accesses in words (int64 arrays)."""

    ifmap_reads: np.ndarray
    filter_reads: np.ndarray
    ofmap_writes: np.ndarray


def _pick(codes: np.ndarray, *values: np.ndarray) -> np.ndarray:
    """``values[code]`` for each entry of ``codes`` (indices into DATAFLOWS or FOLDS, one per
    config): a plain pick, without a full-size select, when every config has the same code
    (the usual case)."""
    codes = np.asarray(codes)
    first = codes.flat[0]
    if codes.size == 1 or (codes == first).all():
        return values[first]
    return np.select([codes == code for code in range(len(values) - 1)], values[:-1], values[-1])


def refetch(p: np.ndarray, k: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray,
            dataflow: np.ndarray) -> Refetch:
    """Operand pass counts of a P x K x M GEMM, shaped like the broadcast arguments;
    ``dataflow`` holds indices into DATAFLOWS."""
    shape = np.broadcast_shapes(*(np.shape(a) for a in (p, k, m, rows, cols, dataflow)))
    one = np.ones(shape, dtype=np.int64)
    passes = (_pick(dataflow, ceil_div(m, cols), ceil_div(m, cols), one),
              _pick(dataflow, ceil_div(p, rows), one, ceil_div(p, cols)),
              _pick(dataflow, one, ceil_div(k, rows), ceil_div(k, rows)))
    return Refetch(*(np.broadcast_to(count, shape) for count in passes))


def gemm_cycles(p: np.ndarray, k: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                dataflow: np.ndarray, fold: np.ndarray, drain: np.ndarray) -> np.ndarray:
    """Compute cycles of a P x K x M GEMM: the sum of its fold costs, minus 1.

    Summed over the ``RF x CF`` folds, the per-fold costs of the module table give
    ``RF * CF * (T - 2 + a * A_r + A_c) - 1`` under ``padded`` and
    ``RF * CF * (T - 2) + a * CF * S_r + RF * S_c - 1`` under ``used`` (``a`` = 1 for os, 2
    for ws/is; ``S_r`` x ``S_c`` the spatial rows and columns: over the folds, the rows used
    sum to ``CF * S_r`` and the columns used to ``RF * S_c``). A ``charged`` drain adds
    ``RF * CF * A_r`` (os) or ``CF * (RF * A_r - S_r)`` (ws/is under ``used``).

    Args:
        p, k, m: output pixels, window size and filters (int64, broadcastable).
        rows, cols: array size A_r x A_c (int64, broadcastable).
        dataflow: index into :data:`nos.sim.hardware.DATAFLOWS` (broadcastable).
        fold: index into :data:`nos.sim.hardware.FOLDS` (broadcastable).
        drain: index into :data:`nos.sim.hardware.DRAINS` (broadcastable).
    """
    temporal = _pick(dataflow, k, p, m)
    spatial_rows, spatial_cols = _pick(dataflow, p, k, k), _pick(dataflow, m, m, p)
    skews = _pick(dataflow, 1, 2, 2)
    row_folds, col_folds = ceil_div(spatial_rows, rows), ceil_div(spatial_cols, cols)
    row_span = _pick(fold, row_folds * rows, spatial_rows)  # the rows of all row folds, summed
    col_span = _pick(fold, col_folds * cols, spatial_cols)
    cycles = row_folds * col_folds * (temporal - 2) + skews * col_folds * row_span + row_folds * col_span - 1
    charged = np.asarray(drain) == CHARGED
    if not charged.any():
        return cycles
    idle_rows = col_folds * (row_folds * rows - row_span)  # idle rows below the used ones, over the folds
    return cycles + np.where(charged, _pick(dataflow, row_folds * col_folds * rows, idle_rows, idle_rows), 0)


def gemm_sram(p: np.ndarray, k: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray,
              dataflow: np.ndarray, fold: np.ndarray) -> SramAccesses:
    """SRAM ifmap reads, filter reads and ofmap writes of a P x K x M GEMM (words); arguments
    as :func:`gemm_cycles` (the drain changes no count).

    Both conventions read the same operand words (padding fed to unused PEs is not an SRAM
    read). Under ``padded`` the os ofmap writes are SCALE-Sim v3's, ``P * M + folds * (A_r +
    A_c)``: the second term is the padding of its output trace, not data. Under ``used`` they
    are the ``P * M`` outputs. ws/is write every partial sum once per row fold in both.
    """
    passes = refetch(p, k, m, rows, cols, dataflow)
    # os: folds = ceil(P / A_r) * ceil(M / A_c), the filter and ifmap pass counts
    trace_padding = np.where(np.asarray(fold) == PADDED, passes.filter * passes.ifmap * (rows + cols), 0)
    return SramAccesses(
        ifmap_reads=passes.ifmap * p * k,
        filter_reads=passes.filter * k * m,
        ofmap_writes=_pick(dataflow, p * m + trace_padding, passes.ofmap * p * m, passes.ofmap * p * m),
    )
