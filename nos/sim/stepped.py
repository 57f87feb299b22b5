"""Cycle-stepped functional reference of the two systolic-array dataflows nos models.

A literal register-level model that moves real numbers through a ``rows`` x ``cols`` array
one clock cycle at a time (numpy across the PE grid, a Python loop over cycles). It is slow
and meant for small layers in tests: its outputs must equal the convolution and its cycle
counts must equal the closed forms (SCALE-Sim's ``os`` GEMM model; :func:`nos.sim.fuse.rowbroadcast`).

Conventions shared by both arrays (see ``docs/fuse_dataflow.md``):

- An operand that enters an edge register in cycle ``c`` is used by that PE in cycle ``c``;
  registers pass their content one PE (one register) on per cycle.
- Partial sums stay in the PE (output stationary); at the end of a fold they are copied to
  a shadow register and drained while the next fold runs, so draining costs no cycles.
- Folds do not overlap: a fold starts with empty operand registers the cycle after the
  previous one ended. ``cycles`` counts every stepped cycle; SCALE-Sim reports the index of
  the last one, ``cycles - 1`` (:attr:`SteppedRun.last_cycle`).
- An operand register that holds nothing holds NaN, so a MAC on a missing operand poisons
  the output instead of passing silently.
"""
from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


@dataclass(frozen=True)
class SteppedRun:
    """Result of stepping one layer through the array.

    Attributes:
        output: the layer's output, (N, M, E, F) float64, as ``torch.nn.functional.conv2d``.
        cycles: clock cycles stepped, over all folds.
        ifmap_reads: input words read from SRAM into the array edge.
        filter_reads: filter words read from SRAM into the array edge or a row bus.
        ofmap_writes: output words written to SRAM.
    """

    output: np.ndarray
    cycles: int
    ifmap_reads: int
    filter_reads: int
    ofmap_writes: int

    @property
    def last_cycle(self) -> int:
        """0-based index of the last cycle: the compute cycles SCALE-Sim reports."""
        return self.cycles - 1


def _folds(total: int, size: int) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive folds of at most ``size`` items covering ``total``."""
    for start in range(0, total, size):
        yield start, min(start + size, total)


def _run_folds(spatial_rows: int, spatial_cols: int, rows: int, cols: int,
               step_fold: Callable[[int, int, int, int], tuple[np.ndarray, int, int, int]],
               ) -> tuple[np.ndarray, int, int, int]:
    """Step every fold of a (spatial_rows x spatial_cols) output grid, back to back.

    ``step_fold(r0, r1, c0, c1)`` steps the fold of grid rows ``r0:r1`` and columns ``c0:c1``
    and returns its (r1 - r0, c1 - c0) outputs, cycles, ifmap reads and filter reads; the
    column folds of a row fold run consecutively. Returns the grid and the summed counts.
    """
    grid = np.empty((spatial_rows, spatial_cols))
    totals = np.zeros(3, dtype=np.int64)
    for r0, r1 in _folds(spatial_rows, rows):
        for c0, c1 in _folds(spatial_cols, cols):
            grid[r0:r1, c0:c1], *counts = step_fold(r0, r1, c0, c1)
            totals += counts
    cycles, ifmap_reads, filter_reads = (int(total) for total in totals)
    return grid, cycles, ifmap_reads, filter_reads


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"stepped.{name}: must be a positive integer, got {value!r}")
    return int(value)


def _padded(x: np.ndarray, padding: int | tuple[int, int]) -> np.ndarray:
    """``x`` (N, C, H, W) as float64 with ``padding`` (pad_h, pad_w) zeros on each side."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 4:
        raise ValueError(f"stepped.x: must be (N, C, H, W), got shape {x.shape}")
    pads = (padding, padding) if isinstance(padding, (int, np.integer)) else tuple(padding)
    if len(pads) != 2 or any(isinstance(p, bool) or not isinstance(p, (int, np.integer)) or p < 0 for p in pads):
        raise ValueError(f"stepped.padding: must be an int >= 0 or a pair (pad_h, pad_w) of them, got {padding!r}")
    pad_h, pad_w = pads
    return np.pad(x, ((0, 0), (0, 0), (pad_h, pad_h), (pad_w, pad_w)))


def _shift_in(registers: np.ndarray, edge: np.ndarray, axis: int) -> np.ndarray:
    """Registers after one clock: every entry moves one place along ``axis``, ``edge`` enters."""
    edge = np.expand_dims(edge, axis)
    kept = registers[:, :-1] if axis == 1 else registers[:-1, :]
    return np.concatenate([edge, kept], axis=axis)


def _step_os_fold(a: np.ndarray, b: np.ndarray, rows: int, cols: int) -> tuple[np.ndarray, int, int, int]:
    """Step one output-stationary fold: ``a`` (ru, T) times ``b`` (T, cu) on the array.

    Row ``i`` of ``a`` enters the left edge of array row ``i`` skewed by ``i`` cycles
    (element ``k`` in cycle ``k + i``) and moves right; column ``j`` of ``b`` enters the top
    of array column ``j`` skewed by ``j`` and moves down; a PE does a MAC in every cycle in
    which both its operand registers are valid. As SCALE-Sim, a fold is scheduled over the
    whole array: rows and columns beyond ``ru``/``cu`` are fed zeros (not SRAM reads), and
    the fold ends when every PE has done its ``T`` MACs. Returns the (ru, cu) partial sums,
    the fold's cycles, and its ifmap and filter SRAM reads (words).
    """
    used_rows, depth = a.shape
    used_cols = b.shape[1]
    left = np.zeros((rows, depth))
    left[:used_rows] = a
    top = np.zeros((depth, cols))
    top[:, :used_cols] = b
    a_reg, b_reg = np.full((rows, cols), np.nan), np.full((rows, cols), np.nan)
    a_valid, b_valid = np.zeros((rows, cols), dtype=bool), np.zeros((rows, cols), dtype=bool)
    acc = np.zeros((rows, cols))
    macs = np.zeros((rows, cols), dtype=np.int64)
    row_index, col_index = np.arange(rows), np.arange(cols)
    cycle = ifmap_reads = filter_reads = 0
    while macs.min() < depth:
        k_left, k_top = cycle - row_index, cycle - col_index
        on_left, on_top = (k_left >= 0) & (k_left < depth), (k_top >= 0) & (k_top < depth)
        a_edge = np.where(on_left, left[row_index, np.clip(k_left, 0, depth - 1)], np.nan)
        b_edge = np.where(on_top, top[np.clip(k_top, 0, depth - 1), col_index], np.nan)
        a_reg, a_valid = _shift_in(a_reg, a_edge, axis=1), _shift_in(a_valid, on_left, axis=1)
        b_reg, b_valid = _shift_in(b_reg, b_edge, axis=0), _shift_in(b_valid, on_top, axis=0)
        fire = a_valid & b_valid
        acc += np.where(fire, a_reg * b_reg, 0.0)
        macs += fire
        ifmap_reads += np.count_nonzero(on_left[:used_rows])
        filter_reads += np.count_nonzero(on_top[:used_cols])
        cycle += 1
    return acc[:used_rows, :used_cols], cycle, ifmap_reads, filter_reads


def step_os_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: int | tuple[int, int],
                 rows: int, cols: int) -> SteppedRun:
    """Step a dense conv (groups 1) through an output-stationary array, GEMM-mapped.

    The conv is lowered as in SCALE-Sim's ``os`` dataflow: ifmap operand matrix (P x T) with
    P = N*E*F output pixels on the array rows and T = C*R*S window elements in time, filter
    matrix (T x M) with the M filters on the array columns; folds walk the filters fastest.

    Args:
        x: input (N, C, H, W); w: filters (M, C, R, S); stride: both dimensions;
        padding: zeros per side, an int or (pad_h, pad_w); rows, cols: array size (PEs).
    """
    stride, rows, cols = (_check_int(n, v) for n, v in (("stride", stride), ("rows", rows), ("cols", cols)))
    xp = _padded(x, padding)
    w = np.asarray(w, dtype=np.float64)
    if w.ndim != 4 or w.shape[1] != xp.shape[1]:
        raise ValueError(f"stepped.w: must be (M, C={xp.shape[1]}, R, S), got shape {w.shape}")
    filters, channels, kh, kw = w.shape
    if kh > xp.shape[2] or kw > xp.shape[3]:
        raise ValueError(f"stepped.w: kernel {kh}x{kw} exceeds the padded input {xp.shape[2]}x{xp.shape[3]}")
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::stride, ::stride]
    batch, _, out_h, out_w = windows.shape[:4]
    ifmap = windows.transpose(0, 2, 3, 1, 4, 5).reshape(batch * out_h * out_w, channels * kh * kw)
    weights = w.reshape(filters, -1).T
    out, *counts = _run_folds(
        ifmap.shape[0], filters, rows, cols,
        lambda r0, r1, c0, c1: _step_os_fold(ifmap[r0:r1], weights[:, c0:c1], rows, cols))
    output = out.reshape(batch, out_h, out_w, filters).transpose(0, 3, 1, 2)
    return SteppedRun(output, *counts, ofmap_writes=out.size)


def _step_fuse_fold(segments: np.ndarray, taps: np.ndarray, used_cols: int, stride: int,
                    rows: int, cols: int) -> tuple[np.ndarray, int, int, int]:
    """Step one row-broadcast fold: row ``i`` convolves ``segments[i]`` with ``taps[i]``.

    Each array row owns a shift chain of ``stride`` registers per PE (``cols * stride`` in
    all); its input segment enters the chain's left end one element per cycle, and PE ``q``
    reads the chain register ``q * stride``. A start token travels with the segment's first
    element; when it reaches the register of the farthest used PE (``used_cols - 1``), the
    row's bus broadcasts tap 0 (read from the filter SRAM), then one tap per cycle. PE ``q``
    then holds input ``(used_cols - 1 - q) * stride + t`` at tap ``t``, so it accumulates
    output ``used_cols - 1 - q``. Rows beyond ``ru = len(segments)`` get no input and stay
    idle. The fold ends with the last tap of the used rows. Returns the (ru, used_cols)
    outputs in output order, the fold's cycles, and its ifmap and filter SRAM reads (words).
    """
    used_rows, length = segments.shape
    kernel = taps.shape[1]
    bus_taps = np.zeros((rows, kernel))
    bus_taps[:used_rows] = taps
    chain = np.full((rows, cols * stride), np.nan)
    token = np.zeros((rows, cols * stride), dtype=bool)
    tap = np.full(rows, -1)  # next tap each row broadcasts; -1 until its token arrives
    acc = np.zeros((rows, cols))
    pe_register = np.arange(cols) * stride
    row_used = np.arange(rows) < used_rows
    col_used = np.arange(cols) < used_cols
    far = (used_cols - 1) * stride
    cycle = ifmap_reads = filter_reads = 0
    while np.any(tap[row_used] < kernel):
        edge = np.full(rows, np.nan)
        if cycle < length:
            edge[:used_rows] = segments[:, cycle]
            ifmap_reads += used_rows
        chain = _shift_in(chain, edge, axis=1)
        token = _shift_in(token, row_used & (cycle == 0), axis=1)
        tap = np.where((tap < 0) & token[:, far], 0, tap)
        broadcasting = (tap >= 0) & (tap < kernel)
        bus = np.where(broadcasting, bus_taps[np.arange(rows), np.clip(tap, 0, kernel - 1)], 0.0)
        fire = broadcasting[:, None] & col_used[None, :]
        acc += np.where(fire, chain[:, pe_register] * bus[:, None], 0.0)
        filter_reads += np.count_nonzero(broadcasting)
        tap += broadcasting
        cycle += 1
    return acc[:used_rows, used_cols - 1::-1], cycle, ifmap_reads, filter_reads


def step_fuse_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: int | tuple[int, int],
                   rows: int, cols: int) -> SteppedRun:
    """Step a 1xK or Kx1 depthwise conv through the FuSe row-broadcast array.

    A 1xK conv is N*C*E independent 1-D convs (one per batch image, channel and output row
    ``e``, which reads padded input row ``e * stride``), ordered batch, channel, row; they
    fill the array rows (row folds) and each one's outputs fill the columns (column folds).
    A Kx1 conv is the same with H and W swapped, so its 1-D convs also lie along array rows.

    Args:
        x: input (N, C, H, W); w: depthwise filters (C, 1, 1, K) or (C, 1, K, 1);
        stride: both dimensions; padding: zeros per side, an int or (pad_h, pad_w);
        rows, cols: array size (PEs).
    """
    stride, rows, cols = (_check_int(n, v) for n, v in (("stride", stride), ("rows", rows), ("cols", cols)))
    xp = _padded(x, padding)
    w = np.asarray(w, dtype=np.float64)
    channels = xp.shape[1]
    if w.ndim != 4 or w.shape[:2] != (channels, 1) or min(w.shape[2:]) != 1:
        raise ValueError(f"stepped.w: must be depthwise 1xK (C={channels}, 1, 1, K) or Kx1 "
                         f"(C={channels}, 1, K, 1), got shape {w.shape}")
    column_conv = w.shape[2] > 1  # Kx1: run on the transposed map
    if column_conv:
        xp, w = xp.transpose(0, 1, 3, 2), w.transpose(0, 1, 3, 2)
    kernel = w.shape[3]
    if kernel > xp.shape[3]:
        raise ValueError(f"stepped.w: kernel {kernel} exceeds the padded input length {xp.shape[3]}")
    lines = xp[:, :, ::stride, :]  # the input row of each output row
    batch, _, out_rows, in_len = lines.shape
    out_len = (in_len - kernel) // stride + 1
    signals = lines.reshape(-1, in_len)
    line_taps = np.broadcast_to(w[None, :, :, 0, :], (batch, channels, out_rows, kernel)).reshape(-1, kernel)
    out, *counts = _run_folds(
        signals.shape[0], out_len, rows, cols,
        lambda r0, r1, c0, c1: _step_fuse_fold(signals[r0:r1, c0 * stride:(c1 - 1) * stride + kernel],
                                               line_taps[r0:r1], c1 - c0, stride, rows, cols))
    output = out.reshape(batch, channels, out_rows, out_len)
    if column_conv:
        output = output.transpose(0, 1, 3, 2)
    return SteppedRun(output, *counts, ofmap_writes=out.size)
