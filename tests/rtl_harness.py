"""Co-simulation of the RTL array (``rtl/``) with Icarus Verilog, driven from Python.

The harness plays the SRAM side of the array: it maps each layer onto folds exactly as
:mod:`nos.sim.stepped` does (GEMM: ``os``, pixel folds outer and filter folds inner; FuSe: row
folds of 1-D convs outer and column folds inner), writes every fold's configuration and its
edge inputs cycle by cycle (skewed GEMM operands; a FuSe segment, behind the zeros of a
``padded`` fold) into two hex files, runs ``rtl/tb.v`` under ``vvp`` and reads back when each
fold started and every word that left the bottom of the array. The RTL decides everything
else: when a fold ends, when its outputs may enter the drain registers, when the next fold
may start. A layer's cycles are the cycles from its first fold's start to the next layer's.

Each array size is compiled once (``iverilog``, about a second); one simulation runs many
layers back to back, as in a network.
"""
from __future__ import annotations

import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from nos.sim.gemm import fold_ranges

RTL = Path(__file__).resolve().parents[1] / "rtl"
SOURCES = ("tb.v", "array.v", "pe.v")
W, ACC, KMAX = 8, 32, 7


def tools_missing() -> str | None:
    """Why the RTL cannot be simulated here (None when ``iverilog`` and ``vvp`` are installed)."""
    missing = [tool for tool in ("iverilog", "vvp") if shutil.which(tool) is None]
    return f"{' and '.join(missing)} not installed (Debian package iverilog; make test installs it)" if missing else None


def compile_array(rows: int, cols: int, folder: Path) -> Path:
    """``rtl/tb.v`` for a ``rows`` x ``cols`` array, compiled into ``folder``; the vvp file."""
    target = folder / f"array_{rows}x{cols}.vvp"
    subprocess.run(["iverilog", "-g2012", "-o", str(target), "-P", f"tb.ROWS={rows}", "-P", f"tb.COLS={cols}",
                    *(str(RTL / name) for name in SOURCES)], check=True, capture_output=True, text=True)
    return target


@dataclass(frozen=True)
class Layer:
    """A conv to run: ``x`` (N, C, H, W) and ``w`` (M, C, R, S) integer arrays; FuSe layers
    (``fuse``) are 1xK or Kx1 depthwise, ``w`` (C, 1, 1, K) or (C, 1, K, 1)."""

    x: np.ndarray
    w: np.ndarray
    stride: int
    padding: tuple[int, int]
    fuse: bool = False


@dataclass
class _Fold:
    config: dict[str, int]
    lines: list[tuple[np.ndarray, ...]]  # per cycle: left, left_valid, left_first, left_last, top, top_valid, top_last
    words: list[tuple[int, int, int]]  # (column, output index) of each valid word, in the order they leave


def _padded(x: np.ndarray, padding: tuple[int, int]) -> np.ndarray:
    return np.pad(x, ((0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])))


def _gemm_folds(layer: Layer, rows: int, cols: int, padded: bool) -> tuple[list[_Fold], Callable]:
    xp = _padded(layer.x, layer.padding)
    filters, channels, kh, kw = layer.w.shape
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))[:, :, ::layer.stride, ::layer.stride]
    batch, _, out_h, out_w = windows.shape[:4]
    ifmap = windows.transpose(0, 2, 3, 1, 4, 5).reshape(batch * out_h * out_w, -1)
    weights = layer.w.reshape(filters, -1).T
    pixels, depth = ifmap.shape
    folds = []
    for r0, r1 in fold_ranges(pixels, rows):
        for c0, c1 in fold_ranges(filters, cols):
            used_rows, used_cols = r1 - r0, c1 - c0
            fed_rows, fed_cols = (rows, cols) if padded else (used_rows, used_cols)
            a, b = np.zeros((rows, depth), dtype=np.int64), np.zeros((depth, cols), dtype=np.int64)
            a[:used_rows], b[:, :used_cols] = ifmap[r0:r1], weights[:, c0:c1]
            lines = []
            for t in range(depth + max(fed_rows, fed_cols) - 1):
                k_row, k_col = t - np.arange(rows), t - np.arange(cols)
                in_row = (k_row >= 0) & (k_row < depth) & (np.arange(rows) < fed_rows)
                in_col = (k_col >= 0) & (k_col < depth) & (np.arange(cols) < fed_cols)
                lines.append((np.where(in_row, a[np.arange(rows), np.clip(k_row, 0, depth - 1)], 0), in_row,
                              in_row & (k_row == 0), in_row & (k_row == depth - 1),
                              np.where(in_col, b[np.clip(k_col, 0, depth - 1), np.arange(cols)], 0), in_col,
                              in_col & (k_col == depth - 1)))
            words = [(j, (r0 + i) * filters + c0 + j) for j in range(used_cols) for i in reversed(range(used_rows))]
            folds.append(_Fold(dict(fuse=0, stride2=0, kernel=0, sched_rows=fed_rows, sched_cols=fed_cols,
                                    used_rows=used_rows, used_cols=used_cols, taps=np.zeros((rows, KMAX), int)),
                               lines, words))
    return folds, lambda values: values.reshape(batch, out_h, out_w, filters).transpose(0, 3, 1, 2)


def _fuse_folds(layer: Layer, rows: int, cols: int, padded: bool) -> tuple[list[_Fold], Callable]:
    xp, w, s = _padded(layer.x, layer.padding), layer.w, layer.stride
    column_conv = w.shape[2] > 1
    if column_conv:  # a Kx1 conv runs as the 1xK conv of the transposed map
        xp, w = xp.transpose(0, 1, 3, 2), w.transpose(0, 1, 3, 2)
    kernel = w.shape[3]
    lines_ = xp[:, :, ::s, :]
    batch, channels, out_rows, in_len = lines_.shape
    out_len = (in_len - kernel) // s + 1
    signals = lines_.reshape(-1, in_len)
    taps = np.broadcast_to(w[None, :, :, 0, :], (batch, channels, out_rows, kernel)).reshape(-1, kernel)
    folds = []
    for r0, r1 in fold_ranges(len(signals), rows):
        for c0, c1 in fold_ranges(out_len, cols):
            used_rows, used_cols = r1 - r0, c1 - c0
            lead = (cols - used_cols) * s if padded else 0
            segment = signals[r0:r1, c0 * s:(c1 - 1) * s + kernel]
            stream = np.zeros((rows, lead + segment.shape[1]), dtype=np.int64)
            stream[:used_rows, lead:] = segment
            used = np.arange(rows) < used_rows
            none_rows, none_cols = np.zeros(rows, dtype=bool), np.zeros(cols, dtype=bool)
            lines = [(stream[:, t], used, used & (t == 0), none_rows, np.zeros(cols, dtype=np.int64), none_cols,
                      none_cols) for t in range(stream.shape[1])]
            fold_taps = np.zeros((rows, KMAX), dtype=np.int64)
            fold_taps[:used_rows, :kernel] = taps[r0:r1]
            words = [(j, (r0 + i) * out_len + c0 + used_cols - 1 - j)  # PE column j holds output cu - 1 - j
                     for j in range(used_cols) for i in reversed(range(used_rows))]
            folds.append(_Fold(dict(fuse=1, stride2=int(s == 2), kernel=kernel,
                                    sched_rows=rows if padded else used_rows, sched_cols=cols if padded else used_cols,
                                    used_rows=used_rows, used_cols=used_cols, taps=fold_taps), lines, words))
    def shaped(values: np.ndarray) -> np.ndarray:
        output = values.reshape(batch, channels, out_rows, out_len)
        return output.transpose(0, 1, 3, 2) if column_conv else output

    return folds, shaped


def _bits(values: np.ndarray, width: int) -> int:
    """The values as one unsigned integer, element 0 in the lowest ``width`` bits."""
    packed = 0
    for value in reversed(np.asarray(values).ravel().tolist()):
        packed = (packed << width) | (int(value) & ((1 << width) - 1))
    return packed


def _hex(fields: list[tuple[int, int]]) -> str:
    """Fields (value, width), the first the most significant, as one hex word."""
    packed, width = 0, 0
    for value, bits in fields:
        packed, width = (packed << bits) | value, width + bits
    return format(packed, f"0{-(-width // 4)}x")


@dataclass(frozen=True)
class LayerRun:
    output: np.ndarray  # as torch.nn.functional.conv2d
    cycles: int  # from the layer's first fold's start to the next layer's


def run_layers(vvp: Path, layers: list[Layer], rows: int, cols: int, fold: str, drain: str,
               folder: Path) -> list[LayerRun]:
    """Run ``layers`` back to back through the compiled ``rows`` x ``cols`` array."""
    padded = fold == "padded"
    plans = [(_fuse_folds if layer.fuse else _gemm_folds)(layer, rows, cols, padded) for layer in layers]
    config_lines, edge_lines = [], []
    for folds, _ in plans:
        for f in folds:
            c = f.config
            config_lines.append(_hex([(len(edge_lines), 32), (len(f.lines), 32), (c["fuse"], 1), (c["stride2"], 1),
                                      (int(drain == "charged"), 1), (c["kernel"], 4), (c["sched_rows"], 8),
                                      (c["sched_cols"], 8), (c["used_rows"], 8), (c["used_cols"], 8),
                                      (_bits(c["taps"], W), rows * KMAX * W)]))
            for left, left_valid, first, last, top, top_valid, top_last in f.lines:
                edge_lines.append(_hex([(_bits(left, W), rows * W), (_bits(left_valid, 1), rows),
                                        (_bits(first, 1), rows), (_bits(last, 1), rows), (_bits(top, W), cols * W),
                                        (_bits(top_valid, 1), cols), (_bits(top_last, 1), cols)]))
    (folder / "folds.hex").write_text("\n".join(config_lines) + "\n")
    (folder / "lines.hex").write_text("\n".join(edge_lines) + "\n")
    done = subprocess.run(["vvp", "-n", str(vvp), f"+folds={folder / 'folds.hex'}", f"+lines={folder / 'lines.hex'}",
                           f"+nfolds={len(config_lines)}"], check=True, capture_output=True, text=True)
    starts, columns = [], [[] for _ in range(cols)]
    for event in done.stdout.splitlines():
        kind, *values = event.split()
        if kind in ("F", "E"):
            starts.append(int(values[0]))
        elif kind == "W":
            columns[int(values[1])].append(int(values[2]))
        elif kind.startswith("tb:"):
            raise RuntimeError(event)
    runs, fold_index = [], 0
    for folds, shaped in plans:
        values = np.full(sum(len(f.words) for f in folds), np.nan)
        for f in folds:
            for column, index in f.words:
                values[index] = columns[column].pop(0)
        first, fold_index = fold_index, fold_index + len(folds)
        runs.append(LayerRun(shaped(values), starts[fold_index] - starts[first]))
    assert not any(columns), "words left over"
    return runs
