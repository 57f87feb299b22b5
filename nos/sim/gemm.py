"""SCALE-Sim v3's GEMM dataflows (os, ws, is) in closed form, vectorized.

A conv lowered to a GEMM has ``P`` output pixels (batch x E x F), window ``K`` = R x S x C
and ``M`` filters. Each dataflow maps two of them onto the array and streams the third in
time (``shared/reference/scalesim.md``):

========  ============  ============  ==========  ============================
dataflow  spatial rows  spatial cols  temporal T  cycles per fold
========  ============  ============  ==========  ============================
os        P             M             K           T + A_r + A_c - 2
ws        K             M             P           T + 2 A_r + A_c - 2
is        K             P             M           T + 2 A_r + A_c - 2
========  ============  ============  ==========  ============================

``folds = ceil(rows_dim / A_r) * ceil(cols_dim / A_c)``; a layer takes
``folds * cycles_per_fold - 1`` cycles (SCALE-Sim reports the index of the last output
write). All functions broadcast: layer arrays shaped (L,) against hardware arrays shaped
(H, 1) give (H, L) results in one pass.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nos.sim.hardware import DATAFLOWS

OS, WS, IS = (DATAFLOWS.index(name) for name in ("os", "ws", "is"))


def ceil_div(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Integer ceil(a / b) for positive int arrays."""
    return -(-a // b)


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


def refetch(p: np.ndarray, k: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray,
            dataflow: np.ndarray) -> Refetch:
    """Operand pass counts of a P x K x M GEMM; ``dataflow`` holds indices into DATAFLOWS."""
    one = np.ones_like(p)
    return Refetch(
        ifmap=np.where(dataflow == IS, one, ceil_div(m, cols)),
        filter=np.select([dataflow == OS, dataflow == WS], [ceil_div(p, rows), one], ceil_div(p, cols)),
        ofmap=np.where(dataflow == OS, one, ceil_div(k, rows)),
    )


def _folds(p, k, m, rows, cols, dataflow) -> np.ndarray:
    """ceil(spatial rows / A_r) * ceil(spatial cols / A_c)."""
    spatial_rows = np.where(dataflow == OS, p, k)
    spatial_cols = np.where(dataflow == IS, p, m)
    return ceil_div(spatial_rows, rows) * ceil_div(spatial_cols, cols)


def scalesim_cycles(p: np.ndarray, k: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                    dataflow: np.ndarray) -> np.ndarray:
    """SCALE-Sim v3 compute cycles of a P x K x M GEMM (``folds * cycles_per_fold - 1``).

    Args:
        p, k, m: output pixels, window size and filters (int64, broadcastable).
        rows, cols: array size A_r x A_c (int64, broadcastable).
        dataflow: index into :data:`nos.sim.hardware.DATAFLOWS` (broadcastable).
    """
    is_os = dataflow == OS
    temporal = np.select([is_os, dataflow == WS], [k, p], m)
    per_fold = temporal + np.where(is_os, rows, 2 * rows) + cols - 2
    return _folds(p, k, m, rows, cols, dataflow) * per_fold - 1


def scalesim_sram(p: np.ndarray, k: np.ndarray, m: np.ndarray, rows: np.ndarray, cols: np.ndarray,
                  dataflow: np.ndarray) -> SramAccesses:
    """SCALE-Sim v3 SRAM ifmap reads, filter reads and ofmap writes of a P x K x M GEMM (words);
    arguments as :func:`scalesim_cycles`."""
    passes = refetch(p, k, m, rows, cols, dataflow)
    os_writes = p * m + _folds(p, k, m, rows, cols, dataflow) * (rows + cols)
    return SramAccesses(
        ifmap_reads=passes.ifmap * p * k,
        filter_reads=passes.filter * k * m,
        ofmap_writes=np.where(dataflow == OS, os_writes, passes.ofmap * p * m),
    )
