"""Closed-form cycles and SRAM accesses of the FuSe row-broadcast dataflow (ST-OS).

In FuSe mode every array row computes one independent 1-D convolution: the input
activations of that 1-D conv stream into the row's left edge (one element per cycle) and
shift right through a chain of ``stride`` registers per PE; the ``kernel`` filter taps are
broadcast on the row's bus, one tap per cycle; PE column ``q`` of a fold that uses ``cu``
columns accumulates output ``cu - 1 - q`` of that fold (output stationary). Rows need no
skew (each has its own input port and bus), so they all run in lockstep.

A fold of ``cu`` columns streams the input segment of its outputs,
``(cu - 1) * stride + kernel`` elements, and its last tap coincides with its last input:
under the ``used`` fold convention it lasts exactly that many cycles. Under ``padded``
(SCALE-Sim's convention: a partial fold costs the whole array) the start token waits for
the array's farthest PE, so every fold lasts ``(cols - 1) * stride + kernel`` cycles. Folds
do not overlap and a layer reports the index of its last cycle (``- 1``), the conventions of
SCALE-Sim's ``os`` model.

The outputs leave down the columns through the drain registers (``Hardware.drain``): under
``hidden`` a fold's outputs drain while the next fold computes, but a fold that loads ``R``
rows into the drain registers (its used rows, or all ``rows`` when ``padded``) cannot end
before ``R`` cycles have passed since the previous fold's outputs entered them, so it costs
``max(fold cycles, R)``; under ``charged`` every fold adds the ``rows`` cycles its outputs take
to leave. The derivation, the register-level model and a worked example are in
``docs/fuse_dataflow.md``; the cycle-stepped reference :mod:`nos.sim.stepped` and the RTL
model (``rtl/``) check every number here.
"""
from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from nos.sim.hardware import DRAINS, FOLDS

_ARGUMENTS = ("n1d", "in_len", "out_len", "kernel", "stride", "rows", "cols", "fold", "drain")
_USED, _CHARGED = FOLDS.index("used"), DRAINS.index("charged")


def _as_int_arrays(values: dict[str, ArrayLike]) -> dict[str, np.ndarray]:
    """Broadcast the arguments to one shape as int64 arrays; non-integers are errors."""
    arrays = {}
    for name, value in values.items():
        array = np.asarray(value)
        if array.dtype == bool or not np.issubdtype(array.dtype, np.integer):
            raise ValueError(f"rowbroadcast.{name}: must be integers, got dtype {array.dtype}")
        arrays[name] = array.astype(np.int64)
    try:
        shaped = np.broadcast_arrays(*arrays.values())
    except ValueError as error:
        shapes = ", ".join(f"{name}={a.shape}" for name, a in arrays.items())
        raise ValueError(f"rowbroadcast: argument shapes do not broadcast ({shapes})") from error
    return dict(zip(arrays, shaped))


def _require(condition: np.ndarray, name: str, rule: str, value: np.ndarray,
             expected: np.ndarray | None = None) -> None:
    """Raise a ValueError naming ``name`` and its first offending value unless ``condition`` holds."""
    if not np.all(condition):
        index = np.unravel_index(np.argmin(condition), condition.shape)
        wanted = f" = {int(expected[index])}" if expected is not None else ""
        where = f" at index {tuple(int(i) for i in index)}" if condition.ndim else ""
        raise ValueError(f"rowbroadcast.{name}: {rule}{wanted}, got {int(value[index])}{where}")


def rowbroadcast(n1d: ArrayLike, in_len: ArrayLike, out_len: ArrayLike, kernel: ArrayLike, stride: ArrayLike,
                 rows: ArrayLike, cols: ArrayLike, fold: ArrayLike, drain: ArrayLike) -> dict[str, np.ndarray]:
    """Cycles and SRAM accesses of 1-D depthwise convs on the FuSe row-broadcast array.

    All arguments are broadcastable integer arrays (vectorized, no Python loop per layer):

    - ``n1d``: independent 1-D convolutions in the layer (a 1xK conv: batch x channels x
      output rows; a Kx1 conv: batch x channels x output columns),
    - ``in_len``: padded input length along the conv axis (elements),
    - ``out_len``: outputs per 1-D conv; must equal ``(in_len - kernel) // stride + 1``,
    - ``kernel``: taps K, ``stride``: s, ``rows`` x ``cols``: the array (PEs),
    - ``fold``: the fold convention, an index into :data:`nos.sim.hardware.FOLDS`,
    - ``drain``: the drain setting, an index into :data:`nos.sim.hardware.DRAINS`.

    With row folds ``RF = ceil(n1d / rows)`` and column folds ``CF = ceil(out_len / cols)``,
    a column fold computes for ``L = (span - 1) * s + K`` cycles, whatever the number of rows
    used, where ``span`` is the columns it uses (``used``) or all ``cols`` (``padded``). It
    costs ``max(L, R)`` with a ``hidden`` drain, where ``R`` is the rows it loads into the
    drain registers (its row fold's rows, or all ``rows`` when ``padded``), and ``L + rows``
    with a ``charged`` one. Without drain stalls, over a row fold the spans sum to
    ``col_span = out_len`` (``used``) or ``CF * cols`` (``padded``)::

        cycles        = RF * (CF * K + s * (col_span - CF)) - 1       (hidden, L >= R)
        ifmap_reads   = n1d * (CF * K + s * (out_len - CF))   (words streamed into used rows)
        filter_reads  = n1d * CF * K          (each used row reads its K taps per fold;
                                               rows do not share)
        ofmap_writes  = n1d * out_len         (each output written once)

    The SRAM counts are the same under both conventions: the padding a ``padded`` fold
    streams ahead of its segment is not read from SRAM.

    Returns:
        ``{"cycles", "ifmap_reads", "filter_reads", "ofmap_writes"}``: int64 arrays of the
        broadcast shape; cycles follow SCALE-Sim's convention (index of the last cycle),
        accesses are counted in words.

    Raises:
        ValueError: naming the argument, for non-integer or non-positive values, shapes that
            do not broadcast, ``kernel > in_len``, an ``out_len`` that is not the conv's, or a
            ``fold`` or ``drain`` that is not an index into FOLDS or DRAINS.
    """
    args = _as_int_arrays(dict(zip(_ARGUMENTS, (n1d, in_len, out_len, kernel, stride, rows, cols, fold, drain))))
    for name in ("n1d", "kernel", "stride", "rows", "cols"):
        _require(args[name] >= 1, name, "must be >= 1", args[name])
    n1d, in_len, out_len = args["n1d"], args["in_len"], args["out_len"]
    kernel, stride, rows, cols = args["kernel"], args["stride"], args["rows"], args["cols"]
    _require(in_len >= kernel, "in_len", "must be >= kernel", in_len)
    conv_out_len = (in_len - kernel) // stride + 1
    _require(out_len == conv_out_len, "out_len", "must equal (in_len - kernel) // stride + 1", out_len, conv_out_len)
    fold, drain = args["fold"], args["drain"]
    _require((fold >= 0) & (fold < len(FOLDS)), "fold", f"must index FOLDS {FOLDS}", fold)
    _require((drain >= 0) & (drain < len(DRAINS)), "drain", f"must index DRAINS {DRAINS}", drain)
    return rowbroadcast_counts(n1d, out_len, kernel, stride, rows, cols, fold, drain)


def rowbroadcast_counts(n1d: np.ndarray, out_len: np.ndarray, kernel: np.ndarray, stride: np.ndarray,
                        rows: np.ndarray, cols: np.ndarray, fold: np.ndarray, drain: np.ndarray
                        ) -> dict[str, np.ndarray]:
    """:func:`rowbroadcast` without its checks, for callers whose int64 arguments are valid by
    construction (``simulate``'s layer tables); same arguments (``in_len`` is not needed) and
    results."""
    row_folds = -(-n1d // rows)
    col_folds = -(-out_len // cols)
    used = fold == _USED
    full = (cols - 1) * stride + kernel  # compute cycles of a fold over every column
    last = np.where(used, (out_len - (col_folds - 1) * cols - 1) * stride + kernel, full)

    charged = drain == _CHARGED

    def row_fold(loaded: np.ndarray) -> np.ndarray:
        """Cycles of one row fold whose column folds load ``loaded`` rows into the drain registers."""
        if charged.all():
            return (col_folds - 1) * full + last + col_folds * rows
        hidden = (col_folds - 1) * np.maximum(full, loaded) + np.maximum(last, loaded)
        return np.where(charged, (col_folds - 1) * full + last + col_folds * rows, hidden) if charged.any() else hidden

    last_rows = np.where(used, n1d - (row_folds - 1) * rows, rows)
    streamed = col_folds * kernel + stride * (out_len - col_folds)
    counts = {
        "cycles": (row_folds - 1) * row_fold(rows) + row_fold(last_rows) - 1,
        "ifmap_reads": n1d * streamed,
        "filter_reads": n1d * col_folds * kernel,
        "ofmap_writes": n1d * out_len,
    }
    return {name: np.asarray(count, dtype=np.int64) for name, count in counts.items()}
