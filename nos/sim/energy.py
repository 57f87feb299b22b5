"""Energy (pJ) of every layer on every config: access counts times the per-access energies of a
:class:`nos.sim.tech.Tech` (derivations: ``docs/energy.md``).

Components (:data:`ENERGY_PARTS`), per layer:

* ``mac``: multiply-accumulates x ``mac_pj``;
* ``array``: words moved one PE along the array (a register write and one PE pitch of wire
  each). How far a word travels follows the fold convention (``Hardware.fold``): under
  ``padded`` a fold spans the whole array, so a word that streams along a row passes all
  ``cols`` PEs and one that streams down a column all ``rows``; under ``used`` it passes the
  PEs its fold uses, on average ``n / ceil(n / size)`` for ``n`` items folded over ``size``
  PEs. os/ws ifmap words cross the filter columns and os filter words the pixel rows; ws
  filter and is ifmap words (stationary, loaded from the top) cross the window rows, is
  filter words the pixel columns. Results leave down the columns to the ofmap SRAM at the
  bottom edge (``docs/fuse_dataflow.md`` section 7), whatever the fold convention: an os or
  FuSe output computed in row ``i`` enters the drain registers of rows ``i .. rows - 1``
  (``rows - i`` writes); a ws/is partial sum the sum register of every row. A FuSe input word
  shifts along its row's chain until the fold ends or it falls off the chain's far end (a
  ``padded`` fold lasts as long as a full one);
* ``fuse_bus``: FuSe taps broadcast on a row bus spanning ``cols`` PE pitches;
* ``ifmap_sram``, ``filter_sram``, ``ofmap_sram``: SRAM reads and writes, each buffer at its
  size: array-side reads (ifmap, filter) and stores (ofmap outputs and partial sums; the os
  count without SCALE-Sim's padding slots), plus the DRAM side (fills written, drains read);
* ``dram``: DRAM words (reads and writes).

A word is ``tech.word_bits`` wide everywhere, partial sums included (SCALE-Sim counts them as
words too). The PE pitch is the square root of the PE's area (:func:`nos.sim.area.pe_um2`).
"""
from __future__ import annotations

import numpy as np

from nos.sim.area import pe_um2
from nos.sim.gemm import IS, OS, USED, SramAccesses, ceil_div
from nos.sim.hardware import Columns
from nos.sim.memory import DramTraffic
from nos.sim.tech import Tech

ENERGY_PARTS = ("mac", "array", "fuse_bus", "ifmap_sram", "filter_sram", "ofmap_sram", "dram")


def _chain_hops(length: np.ndarray, chain: np.ndarray) -> np.ndarray:
    """Register writes of one fold of a shift chain of ``chain`` registers that takes one word
    per cycle for ``length`` cycles: the word entering in cycle t moves min(length - t, chain)
    times."""
    full = np.minimum(length, chain)
    return full * (full + 1) // 2 + (length - full) * chain


def fuse_chain_hops(n1d, out_len, kernel, stride, cols, padded=False) -> np.ndarray:
    """Register writes of the FuSe input chains of a layer (``cols * stride`` registers per
    row): every 1-D conv runs ``ceil(out_len / cols)`` column folds of ``(cu - 1) * stride + K``
    cycles each, a ``padded`` fold as long as a full one (``docs/fuse_dataflow.md``)."""
    col_folds = ceil_div(out_len, cols)
    last = np.where(padded, cols, out_len - (col_folds - 1) * cols)
    chain = cols * stride
    return n1d * ((col_folds - 1) * _chain_hops((cols - 1) * stride + kernel, chain)
                  + _chain_hops((last - 1) * stride + kernel, chain))


def drain_hops(lines: np.ndarray, per_line: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Drain-register writes of ``lines x per_line`` output-stationary results whose ``lines``
    fill the array rows in row folds of ``rows`` (the last one partial): a result of row ``i``
    makes ``rows - i`` writes on its way down, so a row fold of ``r`` rows costs
    ``per_line (r rows - r (r - 1) / 2)``."""
    def fold(r: np.ndarray) -> np.ndarray:
        return r * rows - r * (r - 1) // 2

    row_folds = ceil_div(lines, rows)
    return per_line * ((row_folds - 1) * fold(rows) + fold(lines - (row_folds - 1) * rows))


def _extent(n: np.ndarray, size: np.ndarray, used: np.ndarray) -> np.ndarray:
    """PEs a word crosses along an array dimension of ``size`` PEs over which ``n`` items are
    folded: the whole dimension (``padded``), or the average span a fold uses (``used``)."""
    return np.where(used, n / ceil_div(n, size), size)


def _check_words(hw: Columns, tech: Tech) -> None:
    if np.any(hw.word_bytes * 8 != tech.word_bits):
        raise ValueError(f"hardware.word_bytes: the tech table is for {tech.word_bits}-bit words, "
                         f"got {int(hw.word_bytes[hw.word_bytes * 8 != tech.word_bits][0])} bytes")


def _sram_pj(hw: Columns, tech: Tech, name: str, reads: np.ndarray, writes: np.ndarray) -> np.ndarray:
    """pJ of ``reads`` and ``writes`` words of the ``name`` SRAM of each config, at its size."""
    field = f"{name}_sram_kb"
    kib = getattr(hw, field).astype(np.float64)
    return tech.word_bits * (reads * tech.sram("read_pj_per_bit", kib, field)
                             + writes * tech.sram("write_pj_per_bit", kib, field))


def array_energy(table, hw: Columns, tech: Tech, macs: np.ndarray, sram: SramAccesses,
                 fused: np.ndarray) -> dict[str, np.ndarray]:
    """The array side of each :data:`ENERGY_PARTS` component, pJ, each shaped (configs, layers):
    MACs, hops, the FuSe bus, and the SRAM accesses the array makes (ifmap and filter reads,
    ofmap stores); the DRAM side is :func:`memory_energy`'s.

    Args:
        table: the :class:`nos.sim.LayerTable`; hw: the configs' columns
            (:func:`nos.sim.hardware.columns`).
        macs, sram, fused: the result's MACs, SRAM accesses (SCALE-Sim mapping, FuSe layers by
            row broadcast) and FuSe mask, shaped (configs, layers).

    Raises:
        ValueError: a config's words are not ``tech.word_bits`` wide, or an SRAM size is
            outside the tech table.
    """
    _check_words(hw, tech)
    rows, cols, batch = hw.rows, hw.cols, hw.batch
    bits = tech.word_bits
    pitch_mm = np.sqrt(sum(pe_um2(hw, tech))) / 1000
    hop_pj = bits * (tech.register_pj_per_bit + tech.wire_pj_per_bit_mm * pitch_mm)
    bus_pj = bits * tech.wire_pj_per_bit_mm * pitch_mm * cols
    shape = fused.shape

    is_, os_ = hw.dataflow == IS, hw.dataflow == OS
    used = hw.fold == USED
    pixels = table.batch * batch * table.out_h * table.out_w  # P of one group's GEMM
    window, filters = table.window, table.group_filters  # K and M
    stores = np.where(os_ & ~fused, pixels * table.num_filters, sram.ofmap_writes)  # os: outputs, not padding
    ifmap_span = np.where(is_, _extent(window, rows, used), _extent(filters, cols, used))
    filter_span = np.select([os_, is_], [_extent(pixels, rows, used), _extent(pixels, cols, used)],
                            _extent(window, rows, used))
    results = np.where(os_, table.groups * drain_hops(pixels, filters, rows), stores * rows)
    hops = sram.ifmap_reads * ifmap_span + sram.filter_reads * filter_span + results
    bus = np.zeros(shape)
    if fused.any():
        i, j = np.nonzero(fused)
        n1d = table.batch[j] * batch[i, 0] * table.line_count[j]
        chain = fuse_chain_hops(n1d, table.line_out[j], table.line_kernel[j], table.stride[j], cols[i, 0],
                                ~used[i, 0])
        hops[i, j] = chain + drain_hops(n1d, table.line_out[j], rows[i, 0])
        bus[i, j] = sram.filter_reads[i, j] * bus_pj[i, 0]
    zero = np.zeros(shape)
    parts = {
        "mac": macs * tech.mac_pj,
        "array": hops * hop_pj,
        "fuse_bus": bus,
        "ifmap_sram": _sram_pj(hw, tech, "ifmap", sram.ifmap_reads, zero),
        "filter_sram": _sram_pj(hw, tech, "filter", sram.filter_reads, zero),
        "ofmap_sram": _sram_pj(hw, tech, "ofmap", zero, stores),
        "dram": zero,
    }
    return {name: np.broadcast_to(value, shape).astype(np.float64) for name, value in parts.items()}


def memory_energy(hw: Columns, tech: Tech, dram: DramTraffic) -> dict[str, np.ndarray]:
    """The DRAM side of each :data:`ENERGY_PARTS` component, pJ, each shaped (configs, layers):
    the SRAM fills (ifmap, filter), the ofmap SRAM's drains and partial sums read back, and the
    DRAM words."""
    _check_words(hw, tech)
    zero = np.zeros(dram.total.shape)
    return {"mac": zero, "array": zero, "fuse_bus": zero,
            "ifmap_sram": _sram_pj(hw, tech, "ifmap", zero, dram.ifmap_reads),
            "filter_sram": _sram_pj(hw, tech, "filter", zero, dram.filter_reads),
            "ofmap_sram": _sram_pj(hw, tech, "ofmap", dram.ofmap_writes, dram.ofmap_reads),
            "dram": dram.total * (tech.word_bits * tech.dram_pj_per_bit)}
