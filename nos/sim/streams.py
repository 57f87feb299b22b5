"""SRAM address streams: which operand words each dataflow reads from SRAM, in which order.

The DRAM traffic of SCALE-Sim's buffers (:mod:`nos.sim.buffers`) depends on the order of the
SRAM reads, so this module writes the order out, address by address, for one layer. It is
the reference the closed forms of :mod:`nos.sim.memory` are checked against, and what they
fall back to where no closed form is exact (``docs/simulator.md``, memory model).

Addresses follow SCALE-Sim's operand matrices, with a batch index added in front:

* ifmap ``((n * H + y) * W + x) * C + c`` (HWC per image), read through the window element
  ``j = (r * S + s) * C + c`` of output pixel ``p = (n * E + e) * F + f`` at
  ``y = e * stride + r``, ``x = f * stride + s``;
* filter ``m * K + j`` (``K = R * S * C``), the ofmap ``p * M + m``.

GEMM orders are SCALE-Sim v3's demand matrices (``scalesim/compute/systolic_compute_*.py``):
folds run filter/pixel column folds outer and row folds inner; within a fold an operand
that streams in time enters skewed, so cycle ``tau`` reads element ``tau - c`` of array
row/column ``c``, lines read in array order. FuSe orders follow ``docs/fuse_dataflow.md``.

A stream is a list of ``(addresses, repeats)`` segments: the int64 address array is read
``repeats`` times in a row before the next segment (a dataflow that re-streams an operand
block once per fold of the other operand reads the same block again and again).
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nos.sim.gemm import fold_ranges

Stream = list[tuple[np.ndarray, int]]


class Streams(NamedTuple):
    """The SRAM reads of one layer (one group of a grouped layer) and its ofmap stores.

    Attributes:
        ifmap, filter: the read streams (see the module docstring).
        ofmap_stores: words written to the ofmap SRAM in each cycle (int64, one entry per
            cycle of the layer, at most ``cols`` per cycle); what the write buffer drains.
    """

    ifmap: Stream
    filter: Stream
    ofmap_stores: np.ndarray


def _skew(depth: int, width: int) -> tuple[np.ndarray, np.ndarray]:
    """(t, c) of a depth x width operand block entering the array skewed: cycle t + c feeds
    element t of lane c; returned in read order (cycle, then lane)."""
    t, c = np.meshgrid(np.arange(depth), np.arange(width), indexing="ij")
    order = np.argsort(((t + c) * width + c).ravel(), kind="stable")
    return t.ravel()[order], c.ravel()[order]


def _skewed_counts(depth: int, used: int, lanes: int, start: int) -> np.ndarray:
    """Words per cycle of a depth x lanes skewed block whose lanes ``< used`` carry data and
    whose rows ``>= start`` do (the rest are SCALE-Sim's -1 padding)."""
    cycles = np.arange(depth + lanes - 1)[:, None] - np.arange(used)[None, :]
    return np.count_nonzero((cycles >= start) & (cycles < depth), axis=1)


class Conv:
    """One conv group as a GEMM, and its operand addresses.

    Args:
        n: images; h, w: padded input size; r, s: kernel; c, m: channels and filters of
            the group; stride: both dimensions.
    """

    def __init__(self, n: int, h: int, w: int, r: int, s: int, c: int, m: int, stride: int):
        self.h, self.w, self.r, self.s, self.c, self.m, self.stride = h, w, r, s, c, m, stride
        self.e, self.f = (h - r) // stride + 1, (w - s) // stride + 1
        self.pixels, self.window = n * self.e * self.f, r * s * c

    def ifmap(self, p: np.ndarray, j: np.ndarray) -> np.ndarray:
        """Address of window element ``j`` of output pixel ``p`` (broadcasting int arrays)."""
        image, pixel = np.divmod(p, self.e * self.f)
        e, f = np.divmod(pixel, self.f)
        kr, rest = np.divmod(j, self.s * self.c)
        ks, ch = np.divmod(rest, self.c)
        return (((image * self.h + e * self.stride + kr) * self.w + f * self.stride + ks) * self.c + ch).astype(np.int64)

    def filter(self, j: np.ndarray, m: np.ndarray) -> np.ndarray:
        """Address of window element ``j`` of filter ``m``."""
        return (m * self.window + j).astype(np.int64)


def _check_dataflow(dataflow: str) -> None:
    if dataflow not in ("os", "ws", "is"):
        raise ValueError(f"dataflow: unknown dataflow {dataflow!r} (allowed: os, ws, is)")


def gemm_ifmap_stream(conv: Conv, rows: int, cols: int, dataflow: str) -> Stream:
    """The ifmap SRAM reads of one conv group in SCALE-Sim's ``dataflow`` (os, ws or is)."""
    _check_dataflow(dataflow)
    p_total, k_total = conv.pixels, conv.window
    if dataflow == "is":  # window on rows, pixels on columns: each element loaded once
        blocks = []
        for p0, p1 in fold_ranges(p_total, cols):
            for k0, k1 in fold_ranges(k_total, rows):
                j, p = np.meshgrid(np.arange(k1 - 1, k0 - 1, -1), np.arange(p0, p1), indexing="ij")
                blocks.append(conv.ifmap(p.ravel(), j.ravel()))
        return [(np.concatenate(blocks), 1)]
    one_pass = []
    if dataflow == "os":  # pixels on rows, the window streams in time
        for p0, p1 in fold_ranges(p_total, rows):
            t, lane = _skew(k_total, p1 - p0)
            one_pass.append(conv.ifmap(p0 + lane, t))
    else:  # ws: window on rows, the pixels stream in time
        for k0, k1 in fold_ranges(k_total, rows):
            p, lane = _skew(p_total, k1 - k0)
            one_pass.append(conv.ifmap(p, k0 + lane))
    return [(np.concatenate(one_pass), -(-conv.m // cols))]  # once per filter (column) fold


def gemm_filter_stream(conv: Conv, rows: int, cols: int, dataflow: str) -> Stream:
    """The filter SRAM reads of one conv group in SCALE-Sim's ``dataflow``."""
    _check_dataflow(dataflow)
    p_total, k_total = conv.pixels, conv.window
    if dataflow == "os":  # each filter fold streams in time, once per pixel (row) fold
        stream = []
        for m0, m1 in fold_ranges(conv.m, cols):
            t, lane = _skew(k_total, m1 - m0)
            stream.append((conv.filter(t, m0 + lane), -(-p_total // rows)))
        return stream
    if dataflow == "ws":  # each weight loaded once
        blocks = []
        for m0, m1 in fold_ranges(conv.m, cols):
            for k0, k1 in fold_ranges(k_total, rows):
                j, m = np.meshgrid(np.arange(k1 - 1, k0 - 1, -1), np.arange(m0, m1), indexing="ij")
                blocks.append(conv.filter(j.ravel(), m.ravel()))
        return [(np.concatenate(blocks), 1)]
    one_pass = []  # is: all filters stream in time, once per pixel (column) fold
    for k0, k1 in fold_ranges(k_total, rows):
        m, lane = _skew(conv.m, k1 - k0)
        one_pass.append(conv.filter(k0 + lane, m))
    return [(np.concatenate(one_pass), -(-p_total // cols))]


def gemm_ofmap_stores(conv: Conv, rows: int, cols: int, dataflow: str) -> np.ndarray:
    """Words stored to the ofmap SRAM in each cycle of one conv group (SCALE-Sim's ofmap
    demand: os stores each fold's outputs at its end, ws/is store partial sums as they
    leave the array, once per window fold)."""
    _check_dataflow(dataflow)
    p_total, k_total, m_total = conv.pixels, conv.window, conv.m
    if dataflow == "os":
        folds = [np.concatenate([np.zeros(k_total - 1, dtype=np.int64),
                                 _skewed_counts(rows, m1 - m0, cols, rows - (p1 - p0))])
                 for m0, m1 in fold_ranges(m_total, cols) for p0, p1 in fold_ranges(p_total, rows)]
    elif dataflow == "ws":
        folds = [np.concatenate([np.zeros(2 * rows - 1, dtype=np.int64), _skewed_counts(p_total, m1 - m0, cols, 0)])
                 for m0, m1 in fold_ranges(m_total, cols) for _ in fold_ranges(k_total, rows)]
    else:
        folds = [np.concatenate([np.zeros(2 * rows - 1, dtype=np.int64), _skewed_counts(m_total, p1 - p0, cols, 0)])
                 for p0, p1 in fold_ranges(p_total, cols) for _ in fold_ranges(k_total, rows)]
    return np.concatenate(folds)


def fuse_streams(n: int, h: int, w: int, c: int, kernel_h: int, kernel_w: int, stride: int,
                 rows: int, cols: int) -> Streams:
    """The SRAM streams of a 1xK or Kx1 depthwise conv on the FuSe row-broadcast array.

    The 1-D convs (batch, channel, output row of a 1xK conv; output column of a Kx1 conv)
    fill the array rows in that order; per row fold, the column folds run back to back. In
    cycle ``tau`` of a column fold of ``cu`` outputs starting at output ``o0``, every used
    row reads input ``o0 * stride + tau`` of its 1-D conv while ``tau < (cu - 1) * stride + K``
    and, from cycle ``(cu - 1) * stride``, tap ``tau - (cu - 1) * stride`` of its channel
    (its own read: rows do not share a tap read). Each output is stored once, at most
    ``cols`` per cycle (the write path of the array's columns) after its fold.

    Args:
        n: images; h, w: padded input size; c: channels; kernel_h, kernel_w: 1 x K or K x 1;
        stride: both dimensions; rows, cols: the array.
    """
    if min(kernel_h, kernel_w) != 1 or max(kernel_h, kernel_w) < 2:
        raise ValueError(f"kernel: FuSe runs 1xK and Kx1 kernels (K > 1), got {kernel_h}x{kernel_w}")
    row_conv = kernel_h == 1  # 1xK: the 1-D convs run along input rows
    kernel = kernel_w if row_conv else kernel_h
    in_len = w if row_conv else h
    lines = ((h if row_conv else w) - 1) // stride + 1  # output rows (1xK) or columns (Kx1)
    out_len = (in_len - kernel) // stride + 1
    conv_index = np.arange(n * c * lines)
    image, rest = np.divmod(conv_index, c * lines)
    channel, line = np.divmod(rest, lines)
    ifmap, taps, stores = [], [], []
    for q0, q1 in fold_ranges(len(conv_index), rows):
        q = np.arange(q0, q1)
        for o0, o1 in fold_ranges(out_len, cols):
            along = o0 * stride + np.arange((o1 - o0 - 1) * stride + kernel)[:, None]  # (cycles, rows)
            across = line[q][None, :] * stride
            y, x = (across, along) if row_conv else (along, across)
            ifmap.append((((image[q] * h + y) * w + x) * c + channel[q]).ravel().astype(np.int64))
            taps.append((channel[q][None, :] * kernel + np.arange(kernel)[:, None]).ravel().astype(np.int64))
            full, rest_words = divmod((q1 - q0) * (o1 - o0), cols)
            stores.append(np.array([cols] * full + ([rest_words] if rest_words else []), dtype=np.int64))
    return Streams([(np.concatenate(ifmap), 1)], [(np.concatenate(taps), 1)], np.concatenate(stores))
