"""Memory model: per-layer DRAM traffic (words) and the bandwidth-bound (roofline) cycles.

Three models, chosen per config by ``Hardware.memory`` (derivations: ``docs/simulator.md``):

* ``scalesim`` -- SCALE-Sim v3's own buffers (:mod:`nos.sim.buffers`): equal to its
  detailed access report (DRAM ifmap reads, filter reads, ofmap writes) layer by layer. A
  read buffer fetches each word once until it holds half its SRAM, then empties itself; the
  write buffer writes every word the array stores (ws/is: every partial sum). In closed
  form where the operand stream allows it (it fits; or every pass reads distinct words;
  filters in any case); otherwise (overlapping conv windows, FuSe halos or FuSe taps whose
  distinct words do not fit) the stream of :mod:`nos.sim.streams` is run through the
  buffer, once per distinct (layer, config) and cached.
* ``ideal`` -- what a tiled accelerator with the same SRAMs would move: an operand is read
  once when the part the dataflow re-streams fits its SRAM (the whole ifmap or filters; in
  os one filter fold), else once per pass, counting only distinct, non-padding words; ws/is
  partial sums stay in the ofmap SRAM when the outputs being accumulated fit it (ws: one
  filter fold's, is: one pixel fold's), else they spill (written and read back once per
  extra window fold).
* ``resident`` -- ``ideal`` within each layer, and between layers the activations stay on
  chip when they fit (:func:`keep_resident`): a layer keeps the part of its output that fits
  the activation SRAMs (ifmap + ofmap) beside its input and the activations held across it
  (a residual's input, a FuSe stage's other branch; the table's flow columns,
  :mod:`nos.sim.flow`), writes only the rest, and the layers that read it fetch only that
  rest; a residual add fetches the spilled part of the block's input again; the network's
  input is read and its output written in full.

``memory_cycles = ceil(total words / dram_words_per_cycle)``; a layer is bound by
``max(compute_cycles, memory_cycles)`` (compute and transfers fully overlapped).

All functions broadcast layer columns shaped (layers,) against config columns (configs, 1).
"""
from __future__ import annotations

from functools import lru_cache
from typing import NamedTuple

import numpy as np

from nos.sim.buffers import read_capacity, read_misses
from nos.sim.gemm import IS, OS, Refetch, ceil_div
from nos.sim.hardware import DATAFLOWS, MEMORY_MODELS, Columns
from nos.sim.layers import KIND
from nos.sim.streams import Conv, fuse_streams, gemm_ifmap_stream

SCALESIM, IDEAL, RESIDENT = (MEMORY_MODELS.index(name) for name in ("scalesim", "ideal", "resident"))


class DramTraffic(NamedTuple):
    """Per-layer DRAM words (int64 arrays shaped (configs, layers))."""

    ifmap_reads: np.ndarray
    filter_reads: np.ndarray
    ofmap_writes: np.ndarray
    ofmap_reads: np.ndarray  # partial sums read back (``ideal`` spills only)

    @property
    def total(self) -> np.ndarray:
        return self.ifmap_reads + self.filter_reads + self.ofmap_writes + self.ofmap_reads


def _capacity(words: np.ndarray) -> np.ndarray:
    """SCALE-Sim's read-buffer capacity (:func:`nos.sim.buffers.read_capacity`), with "never
    empties itself" (0) as the largest int64, so ``distinct < capacity`` tests for fitting."""
    capacity = read_capacity(words)
    return np.where(capacity > 0, capacity, np.iinfo(np.int64).max)


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


def ofmap_dram_writes(stores: np.ndarray, ofmap_words: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """SCALE-Sim's DRAM ofmap writes for ``stores`` words stored by the array (closed form of
    :func:`nos.sim.buffers.simulate_write_buffer`): every store, plus the ``cols - 1`` empty
    slots of one line counted as data when the drain batch ``d = ofmap_words // 2`` is a
    multiple of two or more lines and more than ``d + 1`` words are stored."""
    drain = ofmap_words // 2
    whole_lines = (drain % cols == 0) & (drain >= 2 * cols)
    if not np.any(whole_lines):
        return stores
    return stores + (cols - 1) * (whole_lines & (stores > drain + 1))


def _os_filter_reads(repeats, k, m, cols, capacity) -> np.ndarray:
    """SCALE-Sim's filter DRAM reads in ``os`` when the filters do not fit and each filter fold
    (``K x cols`` words, the last one ``K x (M mod cols)``) is streamed ``repeats > 1`` times
    in a row: a fold of ``b >= capacity`` words misses on every read; a smaller one is fetched
    once, plus once more for the part read before the buffer emptied itself in its first
    pass (every ``ceil(capacity / b) - 1`` folds, ``capacity - (that many) b`` words)."""
    block, full = k * cols, m // cols
    last = k * (m % cols)
    big = block >= capacity
    fill = np.maximum(ceil_div(capacity, block) - 1, 1)  # folds per refill of a small fold
    full_reads = np.where(big, full * repeats * block,
                          full * block + np.where(full > 0, (full - 1) // fill, 0) * (capacity - fill * block))
    held = np.where(big, (full * repeats * block) % capacity,
                    np.where(full > 0, ((full - 1) % fill + 1) * block, 0))
    last_reads = np.select([last == 0, last >= capacity, held + last < capacity], [0, repeats * last, last],
                           last + capacity - held)
    return full_reads + last_reads


@lru_cache(maxsize=4096)
def _streamed_ifmap_reads(n, h, w, r, s, c, m, stride, rows, cols, dataflow, capacity) -> int:
    conv = Conv(n, h, w, r, s, c, m, stride)
    return read_misses(gemm_ifmap_stream(conv, rows, cols, DATAFLOWS[dataflow]), capacity)


@lru_cache(maxsize=4096)
def _streamed_fuse_reads(n, h, w, c, kernel_h, kernel_w, stride, rows, cols, ifmap_capacity,
                         filter_capacity) -> tuple[int, int]:
    streams = fuse_streams(n, h, w, c, kernel_h, kernel_w, stride, rows, cols)
    return read_misses(streams.ifmap, ifmap_capacity), read_misses(streams.filter, filter_capacity)


def _scalesim(table, hw: Columns, passes: Refetch, fused: np.ndarray) -> DramTraffic:
    """SCALE-Sim's DRAM counts of every layer run as ``groups`` GEMMs (FuSe layers: :func:`_fuse`)."""
    g, s = table.groups, table.stride
    e, f, r, sw = table.out_h, table.out_w, table.filter_h, table.filter_w
    c, m, k = table.channels // g, table.group_filters, table.window
    n = table.batch * hw.batch
    cap_i, cap_f = _capacity(hw.sram_words[0]), _capacity(hw.sram_words[1])
    area = np.minimum((e - 1) * s + r, e * r) * np.minimum((f - 1) * s + sw, f * sw) * c  # words read per image
    distinct = n * area
    fits = distinct < cap_i
    ifmap = np.where(fits, distinct, passes.ifmap * distinct)  # every pass of distinct words misses them all
    overlap = ((s < r) & (e > 1)) | ((s < sw) & (f > 1))  # some word is read by two pixels
    for i, j in zip(*np.nonzero(~fits & overlap & ~fused)):  # the count depends on the read order
        ifmap[i, j] = _streamed_ifmap_reads(int(n[i, j]), int(table.ifmap_h[j]), int(table.ifmap_w[j]), int(r[j]),
                                            int(sw[j]), int(c[j]), int(m[j]), int(s[j]), int(hw.rows[i, 0]),
                                            int(hw.cols[i, 0]), int(hw.dataflow[i, 0]), int(cap_i[i, 0]))
    words = k * m
    spills = words >= cap_f
    filters = np.where((hw.dataflow == IS) & spills, passes.filter * words, words)
    refilled = (hw.dataflow == OS) & spills & (passes.filter > 1)
    if refilled.any():
        i, j = np.nonzero(refilled)
        filters[i, j] = _os_filter_reads(passes.filter[i, j], k[j], m[j], hw.cols[i, 0], cap_f[i, 0])
    writes = ofmap_dram_writes(passes.ofmap * (n * e * f) * m, hw.sram_words[2], hw.cols)  # ws/is: partial sums
    traffic = DramTraffic(g * ifmap, g * filters, g * writes, np.broadcast_to(np.int64(0), ifmap.shape))
    if fused.any():
        _fuse(table, hw, np.nonzero(fused), traffic, scalesim=True)
    return traffic


def _ideal(table, hw: Columns, passes: Refetch, fused: np.ndarray) -> DramTraffic:
    """The ``ideal`` model's DRAM counts of every layer (FuSe layers: :func:`_fuse`)."""
    g, s = table.groups, table.stride
    e, f, r, sw = table.out_h, table.out_w, table.filter_h, table.filter_w
    c, m, k = table.channels // g, table.group_filters, table.window
    n = table.batch * hw.batch
    ifmap_words, filter_words, ofmap_words = hw.sram_words
    inside = n * c * _inside(table.ifmap_h, table.pad_h, e, r, s) * _inside(table.ifmap_w, table.pad_w, f, sw, s)
    ifmap = np.where(inside <= ifmap_words, inside, passes.ifmap * inside)
    # os re-streams one filter fold (K x cols words) per pixel fold; is all the filters per pixel fold
    working_set = np.where(hw.dataflow == OS, k * np.minimum(m, hw.cols), k * m)
    filters = np.where(working_set <= filter_words, k * m, passes.filter * k * m)
    outputs = n * e * f * m
    # ws accumulates the outputs of one filter fold (P x cols words) over the window folds, is those of one
    # pixel fold (cols x M); partial sums that do not fit the ofmap SRAM spill to DRAM
    working_set = np.where(hw.dataflow == IS, np.minimum(n * e * f, hw.cols) * m, n * e * f * np.minimum(m, hw.cols))
    spill = (passes.ofmap > 1) & (working_set > ofmap_words)
    writes = np.where(spill, passes.ofmap * outputs, outputs)
    reads = np.where(spill, (passes.ofmap - 1) * outputs, 0)
    traffic = DramTraffic(*(g * np.broadcast_to(counts, fused.shape) for counts in (ifmap, filters, writes, reads)))
    if fused.any():
        _fuse(table, hw, np.nonzero(fused), traffic, scalesim=False)
    return traffic


def _fuse(table, hw: Columns, where: tuple[np.ndarray, np.ndarray], traffic: DramTraffic, scalesim: bool) -> None:
    """Write, in place into ``traffic``, the DRAM words of the FuSe row-broadcast layers at
    ``where`` = (config index, layer index), under SCALE-Sim's buffers or the ideal model."""
    i, j = where
    n = table.batch[j] * hw.batch[i, 0]
    rows, cols = hw.rows[i, 0], hw.cols[i, 0]
    s, kernel, out_len, in_len = table.stride[j], table.line_kernel[j], table.line_out[j], table.line_in[j]
    channels, n1d = table.channels[j], n * table.line_count[j]
    ifmap_words, filter_words, ofmap_words = (words[i, 0] for words in hw.sram_words)
    col_folds = ceil_div(out_len, cols)
    outputs = n1d * out_len
    if scalesim:  # every input the 1-D convs stream, the taps, the outputs; hard cases streamed
        per_conv = np.where(s <= kernel, (out_len - 1) * s + kernel, col_folds * kernel + s * (out_len - col_folds))
        ifmap, filters = n1d * per_conv, channels * kernel
        cap_i, cap_f = _capacity(ifmap_words), _capacity(filter_words)
        hard = ((ifmap >= cap_i) & (s < kernel) & (col_folds > 1)) | (filters >= cap_f)
        for q in np.flatnonzero(hard):
            layer = j[q]
            ifmap[q], filters[q] = _streamed_fuse_reads(
                int(n[q]), int(table.ifmap_h[layer]), int(table.ifmap_w[layer]), int(channels[q]),
                int(table.filter_h[layer]), int(table.filter_w[layer]), int(s[q]), int(rows[q]), int(cols[q]),
                int(cap_i[q]), int(cap_f[q]))
        traffic.ifmap_reads[where], traffic.filter_reads[where] = ifmap, filters
        traffic.ofmap_writes[where] = ofmap_dram_writes(outputs, ofmap_words, cols)
        return
    # ideal: the non-padding inputs of the 1-D convs that lie on non-padding lines
    row_conv = table.kind[j] == KIND["dw_1xk"]
    across = np.where(row_conv, table.ifmap_h[j], table.ifmap_w[j])
    across_pad = np.where(row_conv, table.pad_h[j], table.pad_w[j])
    along_pad = np.where(row_conv, table.pad_w[j], table.pad_h[j])
    lines = table.line_count[j] // channels
    last = out_len - (col_folds - 1) * cols
    segment, last_start = (cols - 1) * s + kernel, (col_folds - 1) * cols * s
    segments = np.where(s <= kernel, _inside(in_len, along_pad, out_len, kernel, s),
                        _inside(in_len, along_pad, col_folds - 1, segment, cols * s)
                        + np.clip(np.minimum(in_len - along_pad, last_start + (last - 1) * s + kernel)
                                  - np.maximum(last_start, along_pad), 0, None))
    traffic.ifmap_reads[where] = n * channels * _inside(across, across_pad, lines, 1, s) * segments
    row_folds = ceil_div(n1d, rows)
    period = lines // np.gcd(lines, rows)  # row folds after which a fold boundary meets a channel boundary
    tap_groups = n * channels + (row_folds - 1) - (row_folds - 1) // period
    traffic.filter_reads[where] = np.where(channels * kernel <= filter_words, channels * kernel, kernel * tap_groups)
    traffic.ofmap_writes[where] = outputs
    traffic.ofmap_reads[where] = 0


_MODELS = {SCALESIM: _scalesim, IDEAL: _ideal, RESIDENT: _ideal}  # resident: ideal, then keep_resident


def keep_resident(table, hw: Columns, traffic: DramTraffic) -> DramTraffic:
    """``traffic`` (the ``ideal`` model's, within each layer) less the activations that stay on
    chip between layers, for the configs whose model is ``resident`` (the others unchanged).

    A layer keeps ``min(output, max(0, capacity - input - held))`` words of its output on chip,
    ``capacity`` being the ifmap and ofmap SRAMs together (they hold activations; between layers
    they swap roles) and ``held`` the activations held across it (:mod:`nos.sim.flow`), counted
    whole; the last layer of a network keeps nothing. Its DRAM ofmap writes fall by what it
    keeps; a layer reading the outputs of earlier layers (``source``, ``sources``) fetches the
    spilled share of them, so its DRAM ifmap reads are ``ideal``'s times that share (0 for a
    vector, all for the network's input); a residual add (``skip``) fetches the spilled part of
    the tensor it adds.
    """
    resident = hw.chose("memory", "resident")
    if not resident.any():
        return traffic
    n = table.batch * hw.batch
    in_words = n * table.channels * (table.ifmap_h - 2 * table.pad_h) * (table.ifmap_w - 2 * table.pad_w)
    out_words = n * table.num_filters * table.out_h * table.out_w
    capacity = hw.sram_words[0] + hw.sram_words[2]
    kept = np.clip(capacity - in_words - n * table.held, 0, out_words)
    kept[:, table.offsets[1:] - 1] = 0  # a network's output leaves the chip
    layer = np.arange(len(table))
    reads = table.source > 0
    last = np.where(reads, layer - table.source, 0)  # the producers of a layer's input: rows first..last
    first = np.where(reads, last - table.sources + 1, 0)

    def between(values: np.ndarray) -> np.ndarray:
        summed = np.concatenate([np.zeros((values.shape[0], 1), dtype=np.int64), np.cumsum(values, axis=1)], axis=1)
        return summed[:, last + 1] - summed[:, first]

    made, made_kept = between(np.broadcast_to(out_words, kept.shape)), between(kept)
    ifmap = np.select([reads, table.source < 0], [traffic.ifmap_reads * (made - made_kept) // np.maximum(made, 1), 0],
                      traffic.ifmap_reads)
    added = table.skip > 0
    skipped = np.where(added, layer - table.skip, 0)
    ifmap = ifmap + np.where(added, np.broadcast_to(out_words, kept.shape)[:, skipped] - kept[:, skipped], 0)
    return DramTraffic(np.where(resident, ifmap, traffic.ifmap_reads), traffic.filter_reads,
                       np.where(resident, traffic.ofmap_writes - kept, traffic.ofmap_writes), traffic.ofmap_reads)


def dram_traffic(table, hw: Columns, passes: Refetch, fused: np.ndarray) -> DramTraffic:
    """DRAM words each layer of ``table`` moves on each config on its own, under each config's
    model (``resident``: ``ideal``'s, which :func:`keep_resident` then reduces on whole networks).

    Args:
        table: a :class:`nos.sim.LayerTable` (columns shaped (layers,)).
        hw: the config columns (:func:`nos.sim.hardware.columns`), each shaped (configs, 1).
        passes: the dataflow's operand pass counts (:func:`nos.sim.gemm.refetch`), (configs, layers).
        fused: bool (configs, layers), true where a layer runs on the FuSe dataflow.
    """
    models = hw.memory[:, 0]
    if np.all(models == models[0]):
        return _MODELS[int(models[0])](table, hw, passes, fused)
    out = DramTraffic(*(np.zeros(fused.shape, dtype=np.int64) for _ in DramTraffic._fields))
    for model in np.unique(models):
        index = np.flatnonzero(models == model)
        part = _MODELS[int(model)](table, hw.take(index), Refetch(*(np.broadcast_to(p, fused.shape)[index]
                                                                    for p in passes)), fused[index])
        for counts, values in zip(out, part):
            counts[index] = values
    return out


def memory_cycles(traffic: DramTraffic, words_per_cycle: np.ndarray) -> np.ndarray:
    """Cycles to move a layer's DRAM traffic at ``words_per_cycle`` (shaped (configs, 1))."""
    return np.ceil(traffic.total / words_per_cycle).astype(np.int64)
