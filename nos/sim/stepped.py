"""Cycle-stepped functional reference of the systolic-array dataflows nos models.

A literal register-level model that moves real numbers through a ``rows`` x ``cols`` array
one clock cycle at a time (numpy across the PE grid, a Python loop over cycles). It is slow
and meant for small layers in tests: its outputs must equal the convolution and its cycle
counts must equal the closed forms (:func:`nos.sim.gemm.gemm_cycles` for the ``os``, ``ws``
and ``is`` GEMM dataflows; :func:`nos.sim.fuse.rowbroadcast` for the FuSe row broadcast),
under either fold convention of :data:`nos.sim.hardware.FOLDS` and either drain setting of
:data:`nos.sim.hardware.DRAINS`.

Conventions shared by every array (see ``docs/fuse_dataflow.md``):

- An operand that enters an edge register in cycle ``c`` is used by that PE in cycle ``c``;
  registers pass their content one PE (one register) on per cycle.
- A PE does a MAC in a cycle in which all its operand registers are valid.
- Folds do not overlap: a fold starts with empty operand registers the cycle after the
  previous one ended. ``cycles`` counts every stepped cycle; SCALE-Sim reports the index of
  the last one, ``cycles - 1`` (:attr:`SteppedRun.last_cycle`).
- Fold conventions: ``padded`` schedules a fold over the whole array (PEs beyond the used
  ones are fed zeros, which are not SRAM reads) and ends it when every PE of the array has
  done its MACs; ``used`` feeds only the used PEs and ends the fold with the last MAC of the
  last used PE.
- Results leave the array down its columns into the ofmap SRAM at the bottom edge (section 7
  of the doc). Output-stationary folds (``os`` and FuSe) move their accumulators into the
  drain registers (:class:`_DrainChain`) at the edge that ends the fold; ``ws``/``is``
  partial sums flow down through the rows as they are formed and cross the rows below the
  used ones as plain registers. ``hidden`` drain: the next fold computes while the drain
  registers shift (a fold whose outputs cannot enter them yet waits); the layer's cycles end
  with its last fold (its outputs leave while the next layer computes, which the model
  assumes, like SCALE-Sim's, to start at once), so the drain registers start as a previous
  fold left them. ``charged`` drain: a fold starts only once the previous fold's results
  have left the array, and the layer's cycles end with its last result written.
- An operand register that holds nothing holds NaN, so a MAC on a missing operand poisons
  the output instead of passing silently.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nos.sim.gemm import fold_ranges
from nos.sim.hardware import DATAFLOWS, DRAINS, FOLDS

_EMPTY, _FOREIGN = -1, -2  # drain register tags: nothing, a word of an earlier layer (else: an output index)


@dataclass(frozen=True)
class SteppedRun:
    """Result of stepping one layer through the array.

    Attributes:
        output: the layer's output, (N, M, E, F) float64, as ``torch.nn.functional.conv2d``.
        cycles: clock cycles stepped, over all folds (and drain stalls).
        ifmap_reads: input words read from SRAM into the array edge.
        filter_reads: filter words read from SRAM into the array edge or a row bus.
        ofmap_writes: output words (``ws``/``is``: partial sums) written to SRAM.
        result_hops: register writes of results on their way out of the array: an ``os`` or
            FuSe output entering the drain register of its PE and every one below it, a
            ``ws``/``is`` partial sum entering the sum register of every row (what
            :mod:`nos.sim.energy` prices as the results' hops).
    """

    output: np.ndarray
    cycles: int
    ifmap_reads: int
    filter_reads: int
    ofmap_writes: int
    result_hops: int

    @property
    def last_cycle(self) -> int:
        """0-based index of the last cycle: the compute cycles SCALE-Sim reports."""
        return self.cycles - 1


@dataclass(frozen=True)
class _Fold:
    """What stepping one fold gives :func:`_run_folds`.

    ``cycles`` are its compute cycles (``ws``/``is``: up to its last MAC) and ``tail`` the
    cycles after them until its last partial sum has left the bottom row (``ws``/``is``
    only); ``loaded`` is the number of rows whose accumulators enter the drain registers at
    the end of the fold, with their output indices ``tags`` and values (``os``/FuSe; None
    for ``ws``/``is``, whose results leave as they are formed)."""

    cycles: int
    ifmap_reads: int
    filter_reads: int
    sram_writes: int
    hops: int
    tail: int = 0
    loaded: int = 0
    tags: np.ndarray | None = None
    values: np.ndarray | None = None


class _DrainChain:
    """The drain registers: one shift chain per array column, ``rows`` registers deep, its
    bottom register written into the ofmap SRAM every cycle.

    Each clock edge writes the bottom register's word (if it holds one) and moves every word
    one row down; on a *load* edge the top ``loaded`` rows take the ending fold's
    accumulators instead, which needs the rows ``0 .. loaded - 2`` empty (their words would
    otherwise be overwritten; row ``loaded - 1``'s word moves on to row ``loaded``).
    """

    def __init__(self, rows: int, cols: int, outputs: int, foreign: bool):
        self.tags = np.full((rows, cols), _FOREIGN if foreign else _EMPTY, dtype=np.int64)
        self.values = np.zeros((rows, cols))
        self.out = np.full(outputs, np.nan)
        self.writes = self.hops = 0

    def can_load(self, loaded: int) -> bool:
        return bool(np.all(self.tags[:loaded - 1] == _EMPTY))

    def holds_words(self) -> bool:
        return bool(np.any(self.tags != _EMPTY))

    def holds_outputs(self) -> bool:
        return bool(np.any(self.tags >= 0))

    def clock(self, fold: _Fold | None = None) -> None:
        """One clock edge; ``fold`` given: a load edge for its accumulators."""
        bottom = self.tags[-1] >= 0
        self.out[self.tags[-1][bottom]] = self.values[-1][bottom]
        self.writes += int(np.count_nonzero(bottom))
        self.tags[1:], self.values[1:] = self.tags[:-1].copy(), self.values[:-1].copy()
        self.tags[0], self.values[0] = _EMPTY, 0.0
        if fold is not None:
            self.tags[:fold.loaded] = fold.tags
            self.values[:fold.loaded] = fold.values
        self.hops += int(np.count_nonzero(self.tags >= 0))


def _run_folds(spatial_rows: int, spatial_cols: int, rows: int, cols: int, drain: str,
               step_fold: Callable[[int, int, int, int], _Fold],
               chain: _DrainChain | None) -> tuple[int, int, int, int, int]:
    """Step every fold of a (spatial_rows x spatial_cols) mapping, back to back, the column
    folds of a row fold consecutively, with the drain between them (``chain``: the drain
    registers of an output-stationary array; None for ``ws``/``is``).

    ``step_fold(r0, r1, c0, c1)`` steps the fold of spatial rows ``r0:r1`` and columns
    ``c0:c1`` and stores its ``ws``/``is`` results. Returns the cycles, ifmap reads, filter
    reads, ofmap writes and result hops of the layer.
    """
    charged = drain == "charged"
    cycles = ifmap_reads = filter_reads = writes = hops = 0
    for r0, r1 in fold_ranges(spatial_rows, rows):
        for c0, c1 in fold_ranges(spatial_cols, cols):
            fold = step_fold(r0, r1, c0, c1)
            cycles += fold.cycles + (fold.tail if charged else 0)
            ifmap_reads, filter_reads = ifmap_reads + fold.ifmap_reads, filter_reads + fold.filter_reads
            writes, hops = writes + fold.sram_writes, hops + fold.hops
            if chain is None:
                continue
            for _ in range(fold.cycles - 1):
                chain.clock()
            while not chain.can_load(fold.loaded):  # the fold's outputs wait for the drain registers
                chain.clock()
                cycles += 1
            chain.clock(fold)
            while charged and chain.holds_words():  # the next fold waits for these outputs to leave
                chain.clock()
                cycles += 1
    if chain is not None:
        while chain.holds_outputs():  # hidden: the last fold's outputs leave behind the next layer
            chain.clock()
        writes, hops = writes + chain.writes, hops + chain.hops
    return cycles, ifmap_reads, filter_reads, writes, hops


def _check_int(name: str, value: object) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
        raise ValueError(f"stepped.{name}: must be a positive integer, got {value!r}")
    return int(value)


def _check_choice(name: str, value: object, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise ValueError(f"stepped.{name}: unknown {name} {value!r} (allowed: {', '.join(allowed)})")
    return str(value)


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
    shifted = np.empty_like(registers)
    if axis == 1:
        shifted[:, 0], shifted[:, 1:] = edge, registers[:, :-1]
    else:
        shifted[0], shifted[1:] = edge, registers[:-1]
    return shifted


def _edge_stream(matrix: np.ndarray, cycle: int, fed: int) -> tuple[np.ndarray, np.ndarray]:
    """What enters each array row (a (rows, T) ``matrix``) in ``cycle``, skewed by the row
    index: row ``i`` gets ``matrix[i, cycle - i]``; only the first ``fed`` rows are fed.
    Returns the values (NaN where nothing enters) and where something entered."""
    index = np.arange(len(matrix))
    k = cycle - index
    valid = (k >= 0) & (k < matrix.shape[1]) & (index < fed)
    values = np.full(len(matrix), np.nan)
    values[valid] = matrix[index[valid], k[valid]]
    return values, valid


def _step_os_fold(a: np.ndarray, b: np.ndarray, rows: int, cols: int,
                  padded: bool) -> tuple[np.ndarray, int, int, int]:
    """Step one output-stationary fold: ``a`` (ru, T) times ``b`` (T, cu) on the array.

    Row ``i`` of ``a`` enters the left edge of array row ``i`` skewed by ``i`` cycles
    (element ``k`` in cycle ``k + i``) and moves right; column ``j`` of ``b`` enters the top
    of array column ``j`` skewed by ``j`` and moves down; PE ``(i, j)`` accumulates its
    output in place. ``padded``: rows and columns beyond ``ru``/``cu`` are fed zeros and the
    fold ends when every PE of the array has done its ``T`` MACs (SCALE-Sim); otherwise only
    the used PEs are fed and the fold ends when they have. Returns the (ru, cu) accumulators,
    the fold's cycles, and its ifmap and filter SRAM reads (words).
    """
    used_rows, depth = a.shape
    used_cols = b.shape[1]
    fed_rows, fed_cols = (rows, cols) if padded else (used_rows, used_cols)
    left = np.zeros((rows, depth))
    left[:used_rows] = a
    top = np.zeros((cols, depth))
    top[:used_cols] = b.T
    a_reg, b_reg = np.full((rows, cols), np.nan), np.full((rows, cols), np.nan)
    a_valid, b_valid = np.zeros((rows, cols), dtype=bool), np.zeros((rows, cols), dtype=bool)
    acc = np.zeros((rows, cols))
    macs = np.zeros((rows, cols), dtype=np.int64)
    cycle = ifmap_reads = filter_reads = 0
    while macs[:fed_rows, :fed_cols].min() < depth:
        a_edge, on_left = _edge_stream(left, cycle, fed_rows)
        b_edge, on_top = _edge_stream(top, cycle, fed_cols)
        a_reg, a_valid = _shift_in(a_reg, a_edge, axis=1), _shift_in(a_valid, on_left, axis=1)
        b_reg, b_valid = _shift_in(b_reg, b_edge, axis=0), _shift_in(b_valid, on_top, axis=0)
        fire = a_valid & b_valid
        acc += np.where(fire, a_reg * b_reg, 0.0)
        macs += fire
        ifmap_reads += np.count_nonzero(on_left[:used_rows])
        filter_reads += np.count_nonzero(on_top[:used_cols])
        cycle += 1
    return acc[:used_rows, :used_cols], cycle, ifmap_reads, filter_reads


def _step_stationary_fold(held: np.ndarray, streamed: np.ndarray, rows: int, cols: int,
                          padded: bool) -> tuple[np.ndarray, _Fold]:
    """Step one weight- or input-stationary fold: PE ``(i, j)`` holds ``held[i, j]`` (ru, cu)
    while ``streamed`` (T, ru) flows through; returns the (T, cu) partial sums
    ``streamed @ held`` and the fold's counts (held words as ifmap reads, streamed words as
    filter reads: the caller swaps them for ``ws``).

    Load: the held operand enters the top of the array one row per cycle, the bottom row's
    first, and moves down one PE per cycle, so it is in place after as many cycles as rows
    are loaded. Stream: ``streamed[t, i]`` enters the left edge of array row ``i`` in cycle
    ``t + i`` after the load and moves right; partial sums move down one PE per cycle, each
    PE adding its product to the sum arriving from above (0 in row 0), and leave the bottom
    row into the ofmap SRAM. ``padded``: all ``rows`` x ``cols`` PEs are loaded and fed
    (zeros beyond ``ru``/``cu``); otherwise only the used PEs are, and the rows below them
    pass the sums on as plain registers. The fold's cycles end with the last MAC of the last
    scheduled PE; its tail is the cycles until its last sum has left the bottom row.
    """
    used_rows, used_cols = held.shape
    depth = streamed.shape[0]
    fed_rows, fed_cols = (rows, cols) if padded else (used_rows, used_cols)
    padded_held = np.zeros((rows, cols))
    padded_held[:used_rows, :used_cols] = held
    col_fed = np.arange(cols) < fed_cols
    weights, weight_valid = np.full((rows, cols), np.nan), np.zeros((rows, cols), dtype=bool)
    for row in range(fed_rows - 1, -1, -1):  # one cycle per loaded row, the bottom one first
        weights = _shift_in(weights, np.where(col_fed, padded_held[row], np.nan), axis=0)
        weight_valid = _shift_in(weight_valid, col_fed, axis=0)
    left = np.zeros((rows, depth))
    left[:used_rows] = streamed.T
    a_reg, a_valid = np.full((rows, cols), np.nan), np.zeros((rows, cols), dtype=bool)
    sums, sum_valid = np.full((rows, cols), np.nan), np.zeros((rows, cols), dtype=bool)
    passing = (np.arange(rows) >= fed_rows)[:, None]  # rows below the scheduled ones pass sums on
    macs = np.zeros((rows, cols), dtype=np.int64)
    out = np.full((depth, used_cols), np.nan)
    columns = np.arange(used_cols)
    cycle = streamed_reads = writes = hops = 0
    compute = None  # cycles up to the last MAC
    while compute is None or writes < depth * used_cols:
        a_edge, on_left = _edge_stream(left, cycle, fed_rows)
        a_reg, a_valid = _shift_in(a_reg, a_edge, axis=1), _shift_in(a_valid, on_left, axis=1)
        fire = a_valid & weight_valid
        above = _shift_in(sums, np.zeros(cols), axis=0)  # each PE's sum from the PE above, last cycle
        from_above = _shift_in(sum_valid, np.zeros(cols, dtype=bool), axis=0)
        sum_valid = fire | (passing & from_above)
        sums = np.where(fire, above + a_reg * weights, np.where(sum_valid, above, np.nan))
        macs += fire
        hops += int(np.count_nonzero(sum_valid[:, :used_cols]))
        leaving = sum_valid[rows - 1, :used_cols]
        out[cycle - (rows - 1) - columns[leaving], columns[leaving]] = sums[rows - 1, :used_cols][leaving]
        writes += int(np.count_nonzero(leaving))
        streamed_reads += np.count_nonzero(on_left[:used_rows])
        cycle += 1
        if compute is None and macs[:fed_rows, :fed_cols].min() == depth:
            compute = cycle
    return out, _Fold(fed_rows + compute, held.size, streamed_reads, writes, hops, tail=cycle - compute)


def step_gemm_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: int | tuple[int, int],
                   rows: int, cols: int, *, dataflow: str, fold: str, drain: str) -> SteppedRun:
    """Step a dense conv (groups 1), GEMM-mapped, through an ``os``, ``ws`` or ``is`` array.

    The conv is lowered as in SCALE-Sim: an ifmap operand matrix (P x K) with P = N*E*F
    output pixels and K = C*R*S window elements, and a filter matrix (K x M). ``os`` maps
    P x M on the array and streams K; ``ws`` holds K x M filter tiles and streams the P
    pixels; ``is`` holds K x P ifmap tiles and streams the M filters. Folds walk the
    spatial columns fastest; ws/is write every row fold's partial sums (the ofmap SRAM
    accumulates them).

    Args:
        x: input (N, C, H, W); w: filters (M, C, R, S); stride: both dimensions;
        padding: zeros per side, an int or (pad_h, pad_w); rows, cols: array size (PEs);
        dataflow: one of :data:`nos.sim.hardware.DATAFLOWS`; fold: one of
        :data:`nos.sim.hardware.FOLDS`; drain: one of :data:`nos.sim.hardware.DRAINS`.
    """
    stride, rows, cols = (_check_int(n, v) for n, v in (("stride", stride), ("rows", rows), ("cols", cols)))
    dataflow, padded = _check_choice("dataflow", dataflow, DATAFLOWS), _check_choice("fold", fold, FOLDS) == "padded"
    drain = _check_choice("drain", drain, DRAINS)
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
    pixels, depth = ifmap.shape
    out = np.zeros((pixels, filters))
    chain = _DrainChain(rows, cols, pixels * filters, foreign=drain == "hidden") if dataflow == "os" else None

    def step_os(r0: int, r1: int, c0: int, c1: int) -> _Fold:
        acc, cycles, ifmap_reads, filter_reads = _step_os_fold(ifmap[r0:r1], weights[:, c0:c1], rows, cols, padded)
        tags = np.arange(r0, r1)[:, None] * filters + np.arange(c0, c1)[None, :]
        loaded = rows if padded else r1 - r0
        return _Fold(cycles, ifmap_reads, filter_reads, 0, 0, loaded=loaded, tags=_grid(tags, loaded, cols, _EMPTY),
                     values=_grid(acc, loaded, cols, 0.0))

    def step_ws(r0: int, r1: int, c0: int, c1: int) -> _Fold:
        sums, fold = _step_stationary_fold(weights[r0:r1, c0:c1], ifmap[:, r0:r1], rows, cols, padded)
        out[:, c0:c1] += sums
        return _Fold(fold.cycles, fold.filter_reads, fold.ifmap_reads, fold.sram_writes, fold.hops, tail=fold.tail)

    def step_is(r0: int, r1: int, c0: int, c1: int) -> _Fold:
        sums, fold = _step_stationary_fold(ifmap[c0:c1, r0:r1].T, weights[r0:r1].T, rows, cols, padded)
        out[c0:c1] += sums.T
        return fold

    mapping = {"os": (pixels, filters, step_os), "ws": (depth, filters, step_ws), "is": (depth, pixels, step_is)}
    counts = _run_folds(*mapping[dataflow][:2], rows, cols, drain, mapping[dataflow][2], chain)
    if chain is not None:
        out = chain.out.reshape(pixels, filters)
    return SteppedRun(out.reshape(batch, out_h, out_w, filters).transpose(0, 3, 1, 2), *counts)


def _grid(values: np.ndarray, rows: int, cols: int, fill: float | int) -> np.ndarray:
    """``values`` (ru, cu) in the top-left corner of a (rows, cols) grid of ``fill``."""
    grid = np.full((rows, cols), fill, dtype=np.asarray(values).dtype)
    grid[:values.shape[0], :values.shape[1]] = values
    return grid


def _step_fuse_fold(segments: np.ndarray, taps: np.ndarray, used_cols: int, stride: int,
                    rows: int, cols: int, padded: bool) -> tuple[np.ndarray, int, int, int]:
    """Step one row-broadcast fold: row ``i`` convolves ``segments[i]`` with ``taps[i]``.

    Each array row owns a shift chain of ``stride`` registers per PE (``cols * stride`` in
    all); its input enters the chain's left end one element per cycle, and PE ``q`` reads
    the chain register ``q * stride``. A start token travels with the first element; when it
    reaches the register of the farthest scheduled PE, the row's bus broadcasts tap 0 (read
    from the filter SRAM), then one tap per cycle. ``used``: the farthest used PE,
    ``used_cols - 1``, and the input is the segment. ``padded``: the array's farthest PE,
    ``cols - 1``, and the segment is preceded by ``(cols - used_cols) * stride`` zeros (not
    SRAM reads), so the used PEs stay ``0 .. used_cols - 1``. Either way PE ``q`` holds
    segment input ``(used_cols - 1 - q) * stride + t`` at tap ``t``, so it accumulates output
    ``used_cols - 1 - q``. Rows beyond ``ru = len(segments)`` get no input and stay idle.
    The fold ends with the last tap. Returns the (ru, used_cols) accumulators as they lie on
    the PEs (output ``used_cols - 1 - q`` in column ``q``), the fold's cycles, and its ifmap
    and filter SRAM reads (words).
    """
    used_rows, length = segments.shape
    kernel = taps.shape[1]
    scheduled_cols = cols if padded else used_cols
    lead = (scheduled_cols - used_cols) * stride
    stream = np.concatenate([np.zeros((used_rows, lead)), segments], axis=1)
    bus_taps = np.zeros((rows, kernel))
    bus_taps[:used_rows] = taps
    chain = np.full((rows, cols * stride), np.nan)
    token = np.zeros((rows, cols * stride), dtype=bool)
    tap = np.full(rows, -1)  # next tap each row broadcasts; -1 until its token arrives
    acc = np.zeros((rows, cols))
    pe_register = np.arange(cols) * stride
    row_used = np.arange(rows) < used_rows
    col_scheduled = np.arange(cols) < scheduled_cols
    far = (scheduled_cols - 1) * stride
    cycle = ifmap_reads = filter_reads = 0
    while np.any(tap[row_used] < kernel):
        edge = np.full(rows, np.nan)
        if cycle < stream.shape[1]:
            edge[:used_rows] = stream[:, cycle]
            ifmap_reads += used_rows * (cycle >= lead)
        chain = _shift_in(chain, edge, axis=1)
        token = _shift_in(token, row_used & (cycle == 0), axis=1)
        tap = np.where((tap < 0) & token[:, far], 0, tap)
        broadcasting = (tap >= 0) & (tap < kernel)
        bus = np.where(broadcasting, bus_taps[np.arange(rows), np.clip(tap, 0, kernel - 1)], 0.0)
        fire = broadcasting[:, None] & col_scheduled[None, :]
        acc += np.where(fire, chain[:, pe_register] * bus[:, None], 0.0)
        filter_reads += np.count_nonzero(broadcasting)
        tap += broadcasting
        cycle += 1
    return acc[:used_rows, :used_cols], cycle, ifmap_reads, filter_reads


def step_fuse_conv(x: np.ndarray, w: np.ndarray, stride: int, padding: int | tuple[int, int],
                   rows: int, cols: int, *, fold: str, drain: str) -> SteppedRun:
    """Step a 1xK or Kx1 depthwise conv through the FuSe row-broadcast array.

    A 1xK conv is N*C*E independent 1-D convs (one per batch image, channel and output row
    ``e``, which reads padded input row ``e * stride``), ordered batch, channel, row; they
    fill the array rows (row folds) and each one's outputs fill the columns (column folds).
    A Kx1 conv is the same with H and W swapped, so its 1-D convs also lie along array rows.

    Args:
        x: input (N, C, H, W); w: depthwise filters (C, 1, 1, K) or (C, 1, K, 1);
        stride: both dimensions; padding: zeros per side, an int or (pad_h, pad_w);
        rows, cols: array size (PEs); fold: one of :data:`nos.sim.hardware.FOLDS`; drain:
        one of :data:`nos.sim.hardware.DRAINS`.
    """
    stride, rows, cols = (_check_int(n, v) for n, v in (("stride", stride), ("rows", rows), ("cols", cols)))
    padded = _check_choice("fold", fold, FOLDS) == "padded"
    drain = _check_choice("drain", drain, DRAINS)
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
    chain = _DrainChain(rows, cols, len(signals) * out_len, foreign=drain == "hidden")

    def step(r0: int, r1: int, c0: int, c1: int) -> _Fold:
        acc, cycles, ifmap_reads, filter_reads = _step_fuse_fold(
            signals[r0:r1, c0 * stride:(c1 - 1) * stride + kernel], line_taps[r0:r1], c1 - c0, stride, rows, cols,
            padded)
        tags = np.arange(r0, r1)[:, None] * out_len + np.arange(c1 - 1, c0 - 1, -1)[None, :]  # column q: c1 - 1 - q
        loaded = rows if padded else r1 - r0
        return _Fold(cycles, ifmap_reads, filter_reads, 0, 0, loaded=loaded, tags=_grid(tags, loaded, cols, _EMPTY),
                     values=_grid(acc, loaded, cols, 0.0))

    counts = _run_folds(len(signals), out_len, rows, cols, drain, step, chain)
    output = chain.out.reshape(batch, channels, out_rows, out_len)
    if column_conv:
        output = output.transpose(0, 1, 3, 2)
    return SteppedRun(output, *counts)
