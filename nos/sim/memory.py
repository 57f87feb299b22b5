"""Memory model: per-layer DRAM traffic (words) and the bandwidth-bound (roofline) cycles.

Two models, chosen per config by ``Hardware.memory`` (derivations: ``docs/simulator.md``):

* ``scalesim`` -- SCALE-Sim v3's own buffers (:mod:`nos.sim.buffers`): equal to its
  detailed access report (DRAM ifmap reads, filter reads, ofmap writes) layer by layer. A
  read buffer fetches each word once until it holds half its SRAM, then empties itself; the
  write buffer writes every word the array stores (ws/is: every partial sum). In closed
  form where the operand stream allows it (it fits; or every pass reads distinct words;
  filters in any case); otherwise (overlapping conv windows, FuSe halos or FuSe taps whose
  distinct words do not fit) the stream of :mod:`nos.sim.streams` is run through the
  buffer, once per distinct (layer, config) and cached.
* ``ideal`` -- what a tiled accelerator with the same SRAMs would move: an operand whose
  distinct, non-padding words fit its SRAM is read once, else once per pass of the
  dataflow; ws/is partial sums stay in the ofmap SRAM when the outputs fit it, else they
  spill (written and read back once per extra window fold).

``memory_cycles = ceil(total words / dram_words_per_cycle)``; a layer is bound by
``max(compute_cycles, memory_cycles)`` (compute and transfers fully overlapped).

All functions broadcast layer columns shaped (layers,) against config columns (configs, 1).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from nos.sim.buffers import read_capacity, read_misses
from nos.sim.gemm import IS, OS, WS, ceil_div
from nos.sim.hardware import DATAFLOWS, MEMORY_MODELS
from nos.sim.layers import KIND
from nos.sim.streams import Conv, fuse_streams, gemm_ifmap_stream

SCALESIM, IDEAL = (MEMORY_MODELS.index(name) for name in ("scalesim", "ideal"))


class DramTraffic(NamedTuple):
    """Per-layer DRAM words (int64 arrays shaped (configs, layers))."""

    ifmap_reads: np.ndarray
    filter_reads: np.ndarray
    ofmap_writes: np.ndarray
    ofmap_reads: np.ndarray  # partial sums read back (``ideal`` spills only)

    @property
    def total(self) -> np.ndarray:
        return self.ifmap_reads + self.filter_reads + self.ofmap_writes + self.ofmap_reads


class Config(NamedTuple):
    """The hardware columns the memory model reads, each shaped (configs, 1)."""

    rows: np.ndarray
    cols: np.ndarray
    dataflow: np.ndarray  # index into DATAFLOWS
    batch: np.ndarray
    sram_words: tuple[np.ndarray, np.ndarray, np.ndarray]  # ifmap, filter, ofmap
    memory: np.ndarray  # index into MEMORY_MODELS


def _fits(words: np.ndarray, capacity: np.ndarray) -> np.ndarray:
    """SCALE-Sim's read buffer never empties itself while reading ``words`` distinct words."""
    return (capacity == 0) | (words < capacity)


def _covered(end: np.ndarray, count: np.ndarray, length: np.ndarray, step: np.ndarray) -> np.ndarray:
    """Positions in ``[0, end)`` covered by ``count`` intervals ``[i * step, i * step + length)``."""
    end = np.maximum(end, 0)
    contiguous = np.minimum(end, (count - 1) * step + length)
    whole = np.minimum(end // step, count)
    disjoint = whole * length + np.where(whole < count, np.minimum(end - whole * step, length), 0)
    return np.where(count > 0, np.where(step <= length, contiguous, disjoint), 0)


def _inside(size: np.ndarray, pad: np.ndarray, count, length, step) -> np.ndarray:
    """Covered positions (see :func:`_covered`) that are not padding (``pad`` each side)."""
    return _covered(size - pad, count, length, step) - _covered(pad, count, length, step)


def write_buffer_writes(stores: np.ndarray, ofmap_words: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """SCALE-Sim's DRAM ofmap writes for ``stores`` words stored by the array (closed form of
    :func:`nos.sim.buffers.write_buffer_writes`): every store, plus the ``cols - 1`` empty
    slots of one line counted as data when the drain batch ``d = ofmap_words // 2`` is a
    multiple of two or more lines and more than ``d + 1`` words are stored."""
    drain = ofmap_words // 2
    padded_line = (stores > drain + 1) & (drain % cols == 0) & (drain >= 2 * cols)
    return stores + (cols - 1) * padded_line


def _os_filter_reads(p, k, m, rows, cols, capacity) -> np.ndarray:
    """SCALE-Sim's filter DRAM reads in ``os``: filter fold ``i`` (``K x cols`` words, the
    last one ``K x (M mod cols)``) is streamed ``ceil(P / rows)`` times in a row. A fold of
    ``b >= capacity`` words misses on every read; a smaller one is fetched once, plus once
    more for the part read before the buffer emptied itself in its first pass (every
    ``ceil(capacity / b) - 1`` folds, when ``capacity - m b`` words of it)."""
    repeats = ceil_div(p, rows)
    cap = np.maximum(capacity, 1)
    block, full = k * cols, m // cols
    last = k * (m % cols)
    big = block >= cap
    fill = np.maximum(ceil_div(cap, block) - 1, 1)  # folds per refill of a small fold
    full_reads = np.where(big, full * repeats * block,
                          full * block + np.where(full > 0, (full - 1) // fill, 0) * (cap - fill * block))
    held = np.where(big, (full * repeats * block) % cap, np.where(full > 0, ((full - 1) % fill + 1) * block, 0))
    last_reads = np.select([last == 0, last >= cap, held + last < cap], [0, repeats * last, last],
                           last + cap - held)
    return np.where((repeats == 1) | _fits(k * m, capacity), k * m, full_reads + last_reads)


@lru_cache(maxsize=4096)
def _streamed_ifmap_reads(n, h, w, r, s, c, m, stride, rows, cols, dataflow, capacity) -> int:
    conv = Conv(n, h, w, r, s, c, m, stride)
    return read_misses(gemm_ifmap_stream(conv, rows, cols, DATAFLOWS[dataflow]), capacity)


@lru_cache(maxsize=4096)
def _streamed_fuse_reads(n, h, w, c, kernel_h, kernel_w, stride, rows, cols, ifmap_capacity,
                         filter_capacity) -> tuple[int, int]:
    streams = fuse_streams(n, h, w, c, kernel_h, kernel_w, stride, rows, cols)
    return read_misses(streams.ifmap, ifmap_capacity), read_misses(streams.filter, filter_capacity)


def _gemm(table, hw: Config) -> DramTraffic:
    """DRAM words of every layer run as ``groups`` GEMMs, under each config's model."""
    g, s = table.groups, table.stride
    n = table.batch * hw.batch
    e, f, r, sw = table.out_h, table.out_w, table.filter_h, table.filter_w
    c, m, k = table.channels // g, table.group_filters, table.window
    p = n * e * f
    ifmap_words, filter_words, ofmap_words = hw.sram_words
    os_, is_ = hw.dataflow == OS, hw.dataflow == IS
    ifmap_passes = np.where(is_, 1, ceil_div(m, hw.cols))
    filter_passes = np.select([os_, hw.dataflow == WS], [ceil_div(p, hw.rows), 1], ceil_div(p, hw.cols))
    stores = np.where(os_, 1, ceil_div(k, hw.rows)) * p * m  # ws/is store a partial sum per window fold
    out = np.zeros((len(MEMORY_MODELS), len(DramTraffic._fields)) + np.broadcast_shapes(p.shape, hw.rows.shape),
                   dtype=np.int64)
    for model in np.unique(hw.memory):
        if model == SCALESIM:
            cap_i, cap_f = read_capacity(ifmap_words), read_capacity(filter_words)
            distinct = n * np.minimum((e - 1) * s + r, e * r) * np.minimum((f - 1) * s + sw, f * sw) * c
            ifmap = np.where(_fits(distinct, cap_i), distinct, ifmap_passes * distinct)
            overlap = ((s < r) & (e > 1)) | ((s < sw) & (f > 1))  # some word is read by two pixels
            streamed = (hw.memory == SCALESIM) & overlap & ~_fits(distinct, cap_i)
            filters = np.select([os_, is_ & ~_fits(k * m, cap_f)],
                                [_os_filter_reads(p, k, m, hw.rows, hw.cols, cap_f), filter_passes * k * m], k * m)
            writes = write_buffer_writes(stores, ofmap_words, hw.cols)
            reads = np.zeros_like(writes)
        else:
            inside = (n * c * _inside(table.ifmap_h, table.pad_h, e, r, s)
                      * _inside(table.ifmap_w, table.pad_w, f, sw, s))
            ifmap = np.where(inside <= ifmap_words, inside, ifmap_passes * inside)
            filters = np.where(k * m <= filter_words, k * m, filter_passes * k * m)
            spill = ~os_ & (p * m > ofmap_words)
            writes = np.where(spill, stores, p * m)
            reads = np.where(spill, stores - p * m, 0)
        out[model] = np.broadcast_arrays(ifmap, filters, writes, reads)
    chosen = np.where(hw.memory == SCALESIM, out[SCALESIM], out[IDEAL])
    if np.any(hw.memory == SCALESIM):
        nb = np.broadcast_to(n, streamed.shape)
        for i, j in zip(*np.nonzero(streamed)):
            chosen[0, i, j] = _streamed_ifmap_reads(
                int(nb[i, j]), int(table.ifmap_h[j]), int(table.ifmap_w[j]), int(r[j]), int(sw[j]), int(c[j]),
                int(m[j]), int(s[j]), int(hw.rows[i, 0]), int(hw.cols[i, 0]), int(hw.dataflow[i, 0]),
                int(cap_i[i, 0]))
    return DramTraffic(*(g * counts for counts in chosen))


def _fuse(table, hw: Config, where: tuple[np.ndarray, np.ndarray]) -> DramTraffic:
    """DRAM words of the FuSe row-broadcast layers at ``where`` = (config index, layer index)."""
    i, j = where
    n = table.batch[j] * hw.batch[i, 0]
    rows, cols = hw.rows[i, 0], hw.cols[i, 0]
    s, kernel, out_len, in_len = table.stride[j], table.line_kernel[j], table.line_out[j], table.line_in[j]
    channels, n1d = table.channels[j], n * table.line_count[j]
    ifmap_words, filter_words, ofmap_words = (words[i, 0] for words in hw.sram_words)
    scalesim = hw.memory[i, 0] == SCALESIM
    col_folds = ceil_div(out_len, cols)
    per_conv = np.where(s <= kernel, (out_len - 1) * s + kernel, col_folds * kernel + s * (out_len - col_folds))
    outputs = n1d * out_len
    # ideal: the non-padding inputs of the 1-D convs that lie on non-padding lines
    row_conv = table.kind[j] == KIND["dw_1xk"]
    across, across_pad = np.where(row_conv, table.ifmap_h[j], table.ifmap_w[j]), np.where(
        row_conv, table.pad_h[j], table.pad_w[j])
    along_pad = np.where(row_conv, table.pad_w[j], table.pad_h[j])
    lines = table.line_count[j] // channels
    last = out_len - (col_folds - 1) * cols
    segment, last_start = (cols - 1) * s + kernel, (col_folds - 1) * cols * s
    segments = np.where(s <= kernel, _inside(in_len, along_pad, out_len, kernel, s),
                        _inside(in_len, along_pad, col_folds - 1, segment, cols * s)
                        + np.clip(np.minimum(in_len - along_pad, last_start + (last - 1) * s + kernel)
                                  - np.maximum(last_start, along_pad), 0, None))
    inside = n * channels * _inside(across, across_pad, lines, 1, s) * segments
    row_folds = ceil_div(n1d, rows)
    period = lines // np.gcd(lines, rows)  # row folds after which a fold boundary meets a channel boundary
    tap_groups = n * channels + (row_folds - 1) - (row_folds - 1) // period
    ifmap = np.where(scalesim, n1d * per_conv, inside)
    filters = np.where(scalesim | (channels * kernel <= filter_words), channels * kernel, kernel * tap_groups)
    writes = np.where(scalesim, write_buffer_writes(outputs, ofmap_words, cols), outputs)
    cap_i, cap_f = read_capacity(ifmap_words), read_capacity(filter_words)
    hard = scalesim & ((~_fits(n1d * per_conv, cap_i) & (s < kernel) & (col_folds > 1))
                       | ~_fits(channels * kernel, cap_f))
    for q in np.flatnonzero(hard):
        layer = j[q]
        reads = _streamed_fuse_reads(int(n[q]), int(table.ifmap_h[layer]), int(table.ifmap_w[layer]),
                                     int(channels[q]), int(table.filter_h[layer]), int(table.filter_w[layer]),
                                     int(s[q]), int(rows[q]), int(cols[q]), int(cap_i[q]), int(cap_f[q]))
        ifmap[q], filters[q] = reads
    return DramTraffic(ifmap, filters, writes, np.zeros_like(writes))


def dram_traffic(table, hw: Config, fused: np.ndarray) -> DramTraffic:
    """DRAM words each layer of ``table`` moves on each config.

    Args:
        table: a :class:`nos.sim.LayerTable` (columns shaped (layers,)).
        hw: the config columns, each shaped (configs, 1).
        fused: bool (configs, layers), true where a layer runs on the FuSe dataflow.
    """
    traffic = _gemm(table, hw)
    if fused.any():
        where = np.nonzero(fused)
        for counts, fuse_counts in zip(traffic, _fuse(table, hw, where)):
            counts[where] = fuse_counts
    return traffic


def memory_cycles(traffic: DramTraffic, words_per_cycle: np.ndarray) -> np.ndarray:
    """Cycles to move a layer's DRAM traffic at ``words_per_cycle`` (shaped (configs, 1))."""
    return np.ceil(traffic.total / words_per_cycle).astype(np.int64)
