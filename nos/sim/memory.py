"""Memory model: per-layer DRAM traffic and the bandwidth-bound (roofline) cycles.

Modelled, not SCALE-Sim-exact (SCALE-Sim derives DRAM traffic from its address traces):

* each of the three operands of a (sub-)GEMM -- ifmap ``N*C*H_pad*W_pad``, filter
  ``M*C*R*S`` and ofmap ``N*M*E*F`` words, per group for a grouped conv -- is moved
  between DRAM and its SRAM once when it fits that SRAM;
* an operand that does not fit is moved once per pass the dataflow makes over it (the
  SRAM re-read counts of :class:`nos.sim.gemm.Refetch`: os/ws re-stream the ifmap once per
  filter fold, os/is the filters once per pixel fold, ws/is write partial sums once per
  window fold);
* FuSe row-broadcast layers stream every operand once;
* ``memory_cycles = ceil(total words / dram_words_per_cycle)``; a layer is bound by
  ``max(compute_cycles, memory_cycles)`` (compute and transfers fully overlapped).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nos.sim.gemm import Refetch


class DramTraffic(NamedTuple):
    """Per-layer DRAM words (int64 arrays)."""

    ifmap_reads: np.ndarray
    filter_reads: np.ndarray
    ofmap_writes: np.ndarray

    @property
    def total(self) -> np.ndarray:
        return self.ifmap_reads + self.filter_reads + self.ofmap_writes


def dram_traffic(table, batch: np.ndarray, passes: Refetch, streamed_once: np.ndarray,
                 sram_words: tuple[np.ndarray, np.ndarray, np.ndarray]) -> DramTraffic:
    """DRAM words each layer of ``table`` moves.

    Args:
        table: a :class:`nos.sim.LayerTable` (columns shaped (layers,)).
        batch: per-config batch, shaped (configs, 1), multiplying the table's batch column.
        passes: per-layer operand pass counts for the configured dataflow, shaped (configs, layers).
        streamed_once: bool (configs, layers), true where a layer runs on the FuSe dataflow.
        sram_words: (ifmap, filter, ofmap) SRAM capacities in words, each shaped (configs, 1).
    """
    g = table.groups
    n = table.batch * batch
    channels, filters = table.channels // g, table.num_filters // g
    words = (n * channels * table.ifmap_h * table.ifmap_w,
             filters * channels * table.filter_h * table.filter_w,
             n * filters * table.out_h * table.out_w)
    moved = [g * w * np.where(streamed_once | (w <= capacity), 1, p)
             for w, capacity, p in zip(words, sram_words, passes)]
    return DramTraffic(*moved)


def memory_cycles(traffic: DramTraffic, words_per_cycle: np.ndarray) -> np.ndarray:
    """Cycles to move a layer's DRAM traffic at ``words_per_cycle`` (shaped (configs, 1))."""
    return np.ceil(traffic.total / words_per_cycle).astype(np.int64)
