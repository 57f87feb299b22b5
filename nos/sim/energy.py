"""Energy (pJ) of every layer on every config: access counts times the per-access energies of a
:class:`nos.sim.tech.Tech` (derivations: ``docs/energy.md``).

Components (:data:`ENERGY_PARTS`), per layer:

* ``mac``: multiply-accumulates x ``mac_pj``;
* ``array``: words moved one PE along the array (a register write and one PE pitch of wire
  each). A fold is scheduled over the whole array (SCALE-Sim's convention), so a word that
  streams along a row passes all ``cols`` PEs and one that streams down a column all
  ``rows``: os/ws ifmap words cross ``cols`` PEs and filter words ``rows``; is ifmap
  (stationary, loaded from the top) ``rows`` and filter words ``cols``; every output or
  partial sum drains down ``rows`` PEs. A FuSe input word shifts along its row's chain until
  the fold ends or it falls off the chain's far end;
* ``fuse_bus``: FuSe taps broadcast on a row bus spanning ``cols`` PE pitches;
* ``ifmap_sram``, ``filter_sram``, ``ofmap_sram``: SRAM reads and writes, each buffer at its
  size: array-side reads (ifmap, filter) and stores (ofmap outputs and partial sums; the os
  count without SCALE-Sim's padding slots), plus the DRAM side (fills written, drains read);
* ``dram``: DRAM words (reads and writes).

A word is ``tech.word_bits`` wide everywhere, partial sums included (SCALE-Sim counts them as
words too). The PE pitch is the square root of the PE's area (FuSe additions included).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from nos.sim.gemm import IS, OS, SramAccesses, ceil_div
from nos.sim.hardware import DATAFLOWS, Hardware
from nos.sim.memory import DramTraffic
from nos.sim.tech import Tech

ENERGY_PARTS = ("mac", "array", "fuse_bus", "ifmap_sram", "filter_sram", "ofmap_sram", "dram")


def _chain_hops(length: np.ndarray, chain: np.ndarray) -> np.ndarray:
    """Register writes of one fold of a shift chain of ``chain`` registers that takes one word
    per cycle for ``length`` cycles: the word entering in cycle t moves min(length - t, chain)
    times."""
    full = np.minimum(length, chain)
    return full * (full + 1) // 2 + (length - full) * chain


def fuse_chain_hops(n1d, out_len, kernel, stride, cols) -> np.ndarray:
    """Register writes of the FuSe input chains of a layer (``cols * stride`` registers per
    row): every 1-D conv runs ``ceil(out_len / cols)`` column folds of ``(cu - 1) * stride + K``
    cycles each (``docs/fuse_dataflow.md``)."""
    col_folds = ceil_div(out_len, cols)
    last = out_len - (col_folds - 1) * cols
    chain = cols * stride
    return n1d * ((col_folds - 1) * _chain_hops((cols - 1) * stride + kernel, chain)
                  + _chain_hops((last - 1) * stride + kernel, chain))


def layer_energy(table, configs: Sequence[Hardware], tech: Tech, macs: np.ndarray, sram: SramAccesses,
                 dram: DramTraffic, fused: np.ndarray) -> dict[str, np.ndarray]:
    """Energy of each :data:`ENERGY_PARTS` component, pJ, each shaped (configs, layers).

    Args:
        table: the :class:`nos.sim.LayerTable`; configs: the hardware configs.
        macs, sram, dram, fused: the result's MACs, SRAM accesses (SCALE-Sim mapping, FuSe
            layers by row broadcast), DRAM traffic and FuSe mask, shaped (configs, layers).

    Raises:
        ValueError: a config's words are not ``tech.word_bits`` wide, or an SRAM size is
            outside the tech table.
    """
    for h in configs:
        if h.word_bytes * 8 != tech.word_bits:
            raise ValueError(f"hardware.word_bytes: the tech table is for {tech.word_bits}-bit words, "
                             f"got {h.word_bytes} bytes")

    def col(values, dtype=np.int64):
        return np.array(values, dtype=dtype).reshape(-1, 1)

    rows, cols, batch = (col([getattr(h, name) for h in configs]) for name in ("rows", "cols", "batch"))
    dataflow = col([DATAFLOWS.index(h.dataflow) for h in configs])
    fuse = col([h.fuse for h in configs], bool)
    bits = tech.word_bits
    pitch_mm = np.sqrt(tech.pe_um2() + np.where(fuse, tech.fuse_pe_um2(), 0.0)) / 1000
    hop_pj = bits * (tech.register_pj_per_bit + tech.wire_pj_per_bit_mm * pitch_mm)
    bus_pj = bits * tech.wire_pj_per_bit_mm * pitch_mm * cols
    shape = fused.shape

    is_ = dataflow == IS
    outputs = table.batch * batch * table.out_h * table.out_w * table.num_filters
    stores = np.where((dataflow == OS) & ~fused, outputs, sram.ofmap_writes)  # os: outputs, not padding slots
    hops = (sram.ifmap_reads * np.where(is_, rows, cols) + sram.filter_reads * np.where(is_, cols, rows)
            + stores * rows).astype(np.float64)
    bus = np.zeros(shape)
    if fused.any():
        i, j = np.nonzero(fused)
        chain = fuse_chain_hops(table.batch[j] * batch[i, 0] * table.line_count[j], table.line_out[j],
                                table.line_kernel[j], table.stride[j], cols[i, 0])
        hops[i, j] = chain + stores[i, j] * rows[i, 0]
        bus[i, j] = sram.filter_reads[i, j] * bus_pj[i, 0]

    def sram_pj(name: str, reads: np.ndarray, writes: np.ndarray) -> np.ndarray:
        field = f"{name}_sram_kb"
        kib = col([getattr(h, field) for h in configs], np.float64)
        return bits * (reads * tech.sram("read_pj_per_bit", kib, field)
                       + writes * tech.sram("write_pj_per_bit", kib, field))

    parts = {
        "mac": macs * tech.mac_pj,
        "array": hops * hop_pj,
        "fuse_bus": bus,
        "ifmap_sram": sram_pj("ifmap", sram.ifmap_reads, dram.ifmap_reads),
        "filter_sram": sram_pj("filter", sram.filter_reads, dram.filter_reads),
        "ofmap_sram": sram_pj("ofmap", dram.ofmap_writes, stores + dram.ofmap_reads),
        "dram": dram.total * (bits * tech.dram_pj_per_bit),
    }
    return {name: np.broadcast_to(value, shape).astype(np.float64) for name, value in parts.items()}
