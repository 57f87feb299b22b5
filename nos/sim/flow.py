"""Activations between layers: which earlier layer's output each layer reads, what is added to its
output, and which other activations must stay live while it runs.

These are the last four columns of a :class:`nos.sim.LayerTable` (:data:`FLOW_COLUMNS`), read by
the ``resident`` memory model (:mod:`nos.sim.memory`), which keeps a layer's output on chip for
the layers that read it when it fits. Offsets are relative (a row means the same wherever its
block sits), so block rows cache with them:

* ``source``: the layer reads the output of the layer ``source`` rows before it (and of the
  ``sources - 1`` rows before that one: a concatenation of consecutive layers' outputs); 0: the
  network's input (or, for a module, outputs of layers that are not consecutive), read from
  DRAM; -1: a vector (one pixel: pooled features, an SE gate, a classifier's input), which is
  always on chip and not tracked.
* ``skip``: the output of the layer ``skip`` rows before is added to this layer's output (a
  residual; 0: none).
* ``held``: words per image of the activations produced earlier and read later that must stay
  while this layer runs, besides the part of them it reads itself (a block's input until its
  residual add; a FuSe stage's input until its second branch; the first branch's output until
  the projection).

:func:`arch_reads` derives the reads of an ``nos.arch`` block from its layers' roles,
:mod:`nos.sim.trace` those of a module from its traced graph; :func:`flow_rows` turns either into
the columns, so the two agree on every zoo network (``tests/test_sim_layers.py``).
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from nos.arch import Layer

FLOW_COLUMNS = ("source", "sources", "skip", "held")
BEFORE = -1
"""In :func:`flow_rows`'s ``reads``: the tensor produced just before the given layers (a block's input)."""
_STAGE_ROLES = ("dw", "full", "dw_1xk", "dw_kx1")


def arch_reads(layers: Sequence[Layer], residual: bool) -> tuple[list[list[int]], list[bool], list[int | None]]:
    """(reads, vector inputs, skips) of the called ``layers`` of one stem, block or head, by role
    (see :func:`flow_rows`): the stem reads the network input; a block's expansion reads the
    block input, its spatial stage the expansion's output (or the block input), its SE linears
    vectors, its projection the stage's outputs, plus the block input when ``residual``; the
    head's conv reads the last block's output, its linears vectors."""
    position = {layer.role: i for i, layer in enumerate(layers)}
    expanded = position.get("expand", BEFORE)
    reads, vectors, skips = [], [], []
    for layer in layers:
        vector = layer.role in ("se_reduce", "se_expand", "pre_logits", "classifier")
        if layer.role == "stem":
            read = []
        elif layer.role in ("expand", "head"):
            read = [BEFORE]
        elif layer.role in _STAGE_ROLES:
            read = [expanded]
        elif layer.role == "project":
            read = [position[role] for role in _STAGE_ROLES if role in position]
        else:
            read = []
        reads.append([] if vector else read)
        vectors.append(vector)
        skips.append(BEFORE if residual and layer.role == "project" else None)
    return reads, vectors, skips


def flow_rows(reads: Sequence[Sequence[int]], vector_input: Sequence[bool], skips: Sequence[int | None],
              in_words: Sequence[int], out_words: Sequence[int], out_vector: Sequence[bool],
              before_words: int = 0) -> np.ndarray:
    """The (n, len(FLOW_COLUMNS)) int64 flow columns of ``n`` layers in execution order.

    Args:
        reads: for each layer, the indices of the layers whose outputs it reads (:data:`BEFORE`:
            the tensor produced before these layers; empty: the network input).
        vector_input: the layer reads a vector (``source`` -1).
        skips: the index of the layer whose output is added to this layer's output, or None.
        in_words, out_words: words per image the layer reads and writes.
        out_vector: the layer's output is a vector (never held).
        before_words: words per image of the tensor produced before these layers.
    """
    n = len(reads)
    words = {BEFORE: before_words, **{i: out_words[i] for i in range(n) if not out_vector[i]}}
    last_use: dict[int, int] = {}
    for i in range(n):
        for t in list(reads[i]) + ([skips[i]] if skips[i] is not None else []):
            last_use[t] = max(last_use.get(t, i), i)
    rows = np.zeros((n, len(FLOW_COLUMNS)), dtype=np.int64)
    for i in range(n):
        produced = sorted(reads[i])
        if vector_input[i]:
            rows[i, :2] = (-1, 0)
        elif produced and produced[-1] - produced[0] + 1 == len(produced):
            rows[i, :2] = (i - produced[-1], len(produced))
        rows[i, 2] = 0 if skips[i] is None else i - skips[i]
        live = sum(words[t] for t, last in last_use.items() if t in words and t < i <= last)
        rows[i, 3] = live - (in_words[i] if produced else 0)
    return rows
