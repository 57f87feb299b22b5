"""LayerTable: the conv and linear layers of one or more networks as columns of numpy arrays.

Every column is an ``int64`` array with one entry per layer, in execution order. Spatial
columns follow SCALE-Sim's topology conventions: ``ifmap_h``/``ifmap_w`` are the *padded*
input sizes, ``stride`` is one stride for both dimensions, and a linear layer is a 1x1 conv
on a 1 x ``ifmap_w`` map (``ifmap_w`` = positions sharing the weights, 1 for a classifier).
Output sizes follow PyTorch's floor rule ``E = (ifmap_h - filter_h) // stride + 1``.

Three constructors:

* :meth:`LayerTable.from_arch` -- pure shape arithmetic on a :class:`nos.arch.Arch`; block
  rows are cached per (block, input shape) on top of :func:`nos.arch.block_layers`, so a
  list of archs sharing blocks is assembled by concatenating cached arrays.
* :meth:`LayerTable.from_module` -- traces any ``nn.Module`` with torch.fx (shapes by
  propagating a zero input); the traced graph is kept as a networkx DiGraph.
* :meth:`LayerTable.from_records` -- SCALE-Sim topology rows as dicts.
"""
from __future__ import annotations

import itertools
from typing import Any, Iterable, Sequence

import networkx as nx
import numpy as np

from nos.arch import Arch, Block, Head, Layer, Stem, block_layers
from nos.sim.flow import FLOW_COLUMNS, arch_reads, flow_rows

SHAPE_COLUMNS = ("kind", "ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride", "groups",
                 "batch", "out_h", "out_w", "pad_h", "pad_w", "macs",
                 "window", "group_filters", "line_count", "line_in", "line_out", "line_kernel")
COLUMNS = SHAPE_COLUMNS + FLOW_COLUMNS
"""Column names, in the order of :attr:`LayerTable.data`'s columns.

The shape columns' last six are derived once per row (cached with the block) so the cycle
models do no per-call division: ``window`` = R*S*C/groups and ``group_filters`` = M/groups (one
group's GEMM); for 1xK/Kx1 depthwise layers (else 0) the 1-D convs along the kernel axis:
``line_count`` = 1-D convs per image (channels x output rows for 1xK, x output columns for
Kx1), ``line_in`` = padded input length, ``line_out`` = outputs per 1-D conv and
``line_kernel`` = taps. The flow columns (:data:`nos.sim.flow.FLOW_COLUMNS`) say which earlier
layer's output a layer reads and what stays live across it."""

KINDS = ("conv", "pointwise", "linear", "depthwise", "dw_1xk", "dw_kx1", "grouped")
"""Layer kinds (the ``kind`` column holds an index into this tuple):

conv: dense KxK conv; pointwise: dense 1x1 conv; linear: fully connected; depthwise: KxK (or
1x1) depthwise conv (groups = channels = filters); dw_1xk / dw_kx1: 1xK / Kx1 depthwise conv
(K > 1), the layers the FuSe row-broadcast dataflow runs; grouped: any other grouped conv.
"""
KIND = {name: code for code, name in enumerate(KINDS)}
_COL = {name: index for index, name in enumerate(COLUMNS)}
RECORD_KEYS = ("ifmap_h", "ifmap_w", "filter_h", "filter_w", "channels", "num_filters", "stride", "groups")


def classify(linear: np.ndarray, filter_h: np.ndarray, filter_w: np.ndarray, channels: np.ndarray,
             num_filters: np.ndarray, groups: np.ndarray) -> np.ndarray:
    """The ``kind`` code (index into :data:`KINDS`) of each layer, vectorized."""
    depthwise = (groups > 1) & (groups == channels) & (groups == num_filters)
    return np.select(
        [linear, depthwise & (filter_h == 1) & (filter_w > 1), depthwise & (filter_w == 1) & (filter_h > 1),
         depthwise, groups > 1, (filter_h == 1) & (filter_w == 1)],
        [KIND["linear"], KIND["dw_1xk"], KIND["dw_kx1"], KIND["depthwise"], KIND["grouped"], KIND["pointwise"]],
        default=KIND["conv"]).astype(np.int64)


def layer_rows(linear, ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, groups, batch,
               pad_h, pad_w, flow: np.ndarray | None = None) -> np.ndarray:
    """An (n, len(COLUMNS)) int64 matrix from per-layer sequences; output sizes (floor rule),
    kind and MACs (batch x E x F x filters x channels/groups x R x S) are derived. ``flow``:
    the (n, 4) flow columns (:func:`nos.sim.flow.flow_rows`); None: a chain, each layer
    reading the previous one's output (the first the network input), nothing held."""
    cols = [np.asarray(c, dtype=np.int64).reshape(-1) for c in
            (ifmap_h, ifmap_w, filter_h, filter_w, channels, num_filters, stride, groups, batch, pad_h, pad_w)]
    ih, iw, fh, fw, c, m, s, g, n, ph, pw = cols
    oh = (ih - fh) // s + 1
    ow = (iw - fw) // s + 1
    kind = classify(np.asarray(linear, dtype=bool).reshape(-1), fh, fw, c, m, g)
    window = fh * fw * (c // g)
    macs = n * oh * ow * m * window
    row_conv, col_conv = kind == KIND["dw_1xk"], kind == KIND["dw_kx1"]
    line = row_conv | col_conv
    line_count = np.where(line, c * np.where(row_conv, oh, ow), 0)
    line_in = np.select([row_conv, col_conv], [iw, ih], 0)
    line_out = np.select([row_conv, col_conv], [ow, oh], 0)
    line_kernel = np.select([row_conv, col_conv], [fw, fh], 0)
    if flow is None:
        flow = np.zeros((len(kind), len(FLOW_COLUMNS)), dtype=np.int64)
        flow[1:, :2] = (1, 1)
    return np.concatenate([np.stack([kind, ih, iw, fh, fw, c, m, s, g, n, oh, ow, ph, pw, macs,
                                     window, m // g, line_count, line_in, line_out, line_kernel], axis=1),
                           np.asarray(flow, dtype=np.int64).reshape(len(kind), len(FLOW_COLUMNS))], axis=1)


def _arch_layer_rows(layers: Sequence[Layer], residual: bool, before_words: int) -> tuple[np.ndarray, tuple[str, ...]]:
    """Rows and names of the *called* layers among ``layers`` (dead convs cost nothing) of one
    stem, block (``residual``: it adds its input to its output) or head whose input has
    ``before_words`` words."""
    called = [layer for layer in layers if layer.called]
    if not called:
        return np.zeros((0, len(COLUMNS)), dtype=np.int64), ()
    fields = [(x.kind == "linear", x.in_h + 2 * x.pad_h, x.in_w + 2 * x.pad_w, x.kh, x.kw, x.cin, x.cout, x.stride,
               x.groups, 1, x.pad_h, x.pad_w) for x in called]
    reads, vectors, skips = arch_reads(called, residual)
    flow = flow_rows(reads, vectors, skips, [x.cin * x.in_h * x.in_w for x in called],
                     [x.cout * x.out_h * x.out_w for x in called], [x.out_h * x.out_w == 1 for x in called],
                     before_words)
    return layer_rows(*zip(*fields), flow=flow), tuple(layer.name for layer in called)


# Rows are cached per (stem | block | head, its input shape) as transposed (columns, n) arrays,
# so a table of many archs is one np.concatenate along axis 1 and a zero-copy transpose. The
# key holds the spec's field values (a tuple hashes and compares in C, a dataclass in Python).
# A last row holds a key per cached row, never reused (LayerTable.row_keys).
_ROWS: dict[tuple, tuple[np.ndarray, tuple[str, ...], int]] = {}
_ROWS_LIMIT = 1 << 16
_keys_issued = 0


def clear_row_cache() -> None:
    """Forget every cached stem/block/head row (benchmarks measure cold starts with it)."""
    _ROWS.clear()
    block_layers.cache_clear()


def _store(key: tuple, layers: Sequence[Layer], out_h: int, residual: bool = False,
           before_words: int = 0) -> tuple[np.ndarray, tuple[str, ...], int]:
    global _keys_issued
    if len(_ROWS) >= _ROWS_LIMIT:
        _ROWS.clear()
    rows, names = _arch_layer_rows(layers, residual, before_words)
    keyed = np.empty((len(COLUMNS) + 1, len(rows)), dtype=np.int64)
    keyed[:-1] = rows.T
    keyed[-1] = np.arange(_keys_issued, _keys_issued + len(rows))
    _keys_issued += len(rows)
    _ROWS[key] = (keyed, names, out_h)
    return _ROWS[key]


def _block_rows(key: tuple, index: int, block: Block, cin: int, h: int) -> tuple[np.ndarray, tuple[str, ...], int]:
    """Rows (transposed), names and output height of one block on a ``cin`` x h x h input."""
    layers = block_layers(index, block, cin, h, h)
    return _store(key, layers, layers[-1].out_h, block.has_residual(cin), cin * h * h)


# Stem and head rows come from Arch.layers itself (the shape rules live in nos.arch only), run
# on a probe arch whose single block is a 1x1 conv that keeps the shape it is given.
def _identity_block(channels: int) -> Block:
    return Block("full", 1, 1, channels, channels, "relu", expand=False)


def _stem_rows(key: tuple, stem: Stem, in_channels: int, size: int) -> tuple[np.ndarray, tuple[str, ...], int]:
    """Rows (transposed), names and output height of the stem on an ``in_channels`` x size^2 input."""
    probe = Arch(stem=stem, blocks=(_identity_block(stem.out),), in_channels=in_channels, input_size=size)
    layer = probe.layers()[0]
    return _store(key, [layer], layer.out_h)


def _head_rows(key: tuple, head: Head, cin: int, size: int, num_classes: int) -> tuple[np.ndarray, tuple[str, ...], int]:
    """Rows (transposed) and names of the head on a ``cin`` x size^2 feature map (archs are square)."""
    probe = Arch(stem=Stem(cin, 1, 1, "relu"), blocks=(_identity_block(cin),), head=head,
                 num_classes=num_classes, input_size=size)
    return _store(key, [layer for layer in probe.layers() if layer.block < 0 and layer.role != "stem"], 1,
                  before_words=cin * size * size)


class LayerTable:
    """Conv/linear layers as numpy columns (see :data:`COLUMNS`), possibly of several networks.

    Attributes:
        data: (layers, len(COLUMNS)) int64 matrix, column-major; each column is also an
            attribute (``table.ifmap_h`` ...), a contiguous view into ``data``.
        offsets: int64 array of network boundaries: network ``i`` owns rows
            ``offsets[i]:offsets[i + 1]`` (one network: ``[0, len(table)]``).
        graph: for :meth:`from_module`, the traced torch.fx graph as a networkx DiGraph
            (nodes named like the fx nodes, with ``op``, ``target`` and ``shape``); else None.
        row_keys: for :meth:`from_arch` tables, an int64 per layer naming the cached row it
            came from (equal keys, equal rows), so results can be computed once per distinct
            row; else None.
    """

    kind: np.ndarray
    ifmap_h: np.ndarray
    ifmap_w: np.ndarray
    filter_h: np.ndarray
    filter_w: np.ndarray
    channels: np.ndarray
    num_filters: np.ndarray
    stride: np.ndarray
    groups: np.ndarray
    batch: np.ndarray
    out_h: np.ndarray
    out_w: np.ndarray
    pad_h: np.ndarray
    pad_w: np.ndarray
    macs: np.ndarray
    window: np.ndarray
    group_filters: np.ndarray
    line_count: np.ndarray
    line_in: np.ndarray
    line_out: np.ndarray
    line_kernel: np.ndarray
    source: np.ndarray
    sources: np.ndarray
    skip: np.ndarray
    held: np.ndarray

    def __init__(self, data: np.ndarray, names: Iterable[str] | Sequence[tuple[str, ...]],
                 offsets: np.ndarray | None = None, graph: nx.DiGraph | None = None, *, nested_names: bool = False,
                 row_keys: np.ndarray | None = None):
        self.data = np.asfortranarray(np.asarray(data, dtype=np.int64).reshape(-1, len(COLUMNS)))
        self.row_keys = row_keys
        for index, name in enumerate(COLUMNS):
            setattr(self, name, self.data[:, index])
        self._names = names
        self._nested_names = nested_names
        self.offsets = np.array([0, len(self.data)], dtype=np.int64) if offsets is None else offsets
        self.graph = graph

    def __len__(self) -> int:
        return len(self.data)

    def __repr__(self) -> str:
        return f"LayerTable({len(self)} layers, {self.num_networks} network(s))"

    @property
    def num_networks(self) -> int:
        return len(self.offsets) - 1

    @property
    def names(self) -> list[str]:
        """Layer names, in table order."""
        if self._nested_names:
            self._names = list(itertools.chain.from_iterable(self._names))
            self._nested_names = False
        elif not isinstance(self._names, list):
            self._names = list(self._names)
        return self._names

    def records(self) -> list[dict[str, Any]]:
        """The table as dicts with :data:`RECORD_KEYS` plus ``name`` and ``kind`` (JSON-ready)."""
        out = []
        for name, row in zip(self.names, self.data.tolist()):
            record = {"name": name, "kind": KINDS[row[_COL["kind"]]]}
            record.update({key: row[_COL[key]] for key in RECORD_KEYS})
            out.append(record)
        return out

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_arch(cls, arch: Arch | Sequence[Arch], input_size: int | None = None) -> LayerTable:
        """Layers of ``arch`` (or of each arch of a list, concatenated) by shape arithmetic.

        ``input_size`` defaults to each arch's own ``input_size``. Dead convs (``called``
        false) are skipped. Per-block rows are cached, so repeated blocks cost a dict lookup.
        """
        archs = [arch] if isinstance(arch, Arch) else list(arch)
        if not archs:
            raise ValueError("arch: expected an Arch or a non-empty list of Arch")
        parts: list[np.ndarray] = []
        names: list[tuple[str, ...]] = []
        counts = np.zeros(len(archs) + 1, dtype=np.int64)
        cached = _ROWS.get
        for i, a in enumerate(archs):
            if not isinstance(a, Arch):
                raise TypeError(f"arch[{i}]: expected a nos.Arch, got {type(a).__name__}")
            size = a.input_size if input_size is None else input_size
            key = ("stem", tuple(a.stem.__dict__.values()), a.in_channels, size)
            rows, own, h = cached(key) or _stem_rows(key, a.stem, a.in_channels, size)
            parts.append(rows)
            names.append(own)
            n, cin = rows.shape[1], a.stem.out
            for index, block in enumerate(a.blocks):
                key = ("block", index, tuple(block.__dict__.values()), cin, h)
                rows, own, h = cached(key) or _block_rows(key, index, block, cin, h)
                parts.append(rows)
                names.append(own)
                n += rows.shape[1]
                cin = block.out
            key = ("head", tuple(a.head.__dict__.values()), cin, h, a.num_classes)
            rows, own, _ = cached(key) or _head_rows(key, a.head, cin, h, a.num_classes)
            parts.append(rows)
            names.append(own)
            counts[i + 1] = n + rows.shape[1]
        keyed = np.concatenate(parts, axis=1)
        return cls(keyed[:-1].T, names, np.cumsum(counts), nested_names=True, row_keys=keyed[-1])

    @classmethod
    def from_records(cls, records: Sequence[dict[str, Any]]) -> LayerTable:
        """Layers from SCALE-Sim topology fields: dicts with :data:`RECORD_KEYS` (ifmap sizes
        already padded) and optionally ``name`` and ``batch`` (default 1)."""
        if isinstance(records, dict) or not isinstance(records, Sequence) or not records:
            raise ValueError("records: expected a non-empty list of layer dicts")
        optional = ("name", "batch", "kind")
        values = {key: [] for key in RECORD_KEYS + ("batch",)}
        names = []
        for i, record in enumerate(records):
            where = f"records[{i}]"
            if not isinstance(record, dict):
                raise ValueError(f"{where}: expected a dict, got {type(record).__name__}")
            for key in record:
                if key not in RECORD_KEYS and key not in optional:
                    raise ValueError(f"{where}.{key}: unknown field (allowed: {', '.join(RECORD_KEYS + optional)})")
            for key in RECORD_KEYS + ("batch",):
                if key not in record and key != "batch":
                    raise ValueError(f"{where}.{key}: missing (required: {', '.join(RECORD_KEYS)})")
                value = record.get(key, 1)
                if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
                    raise ValueError(f"{where}.{key}: must be a positive integer, got {value!r}")
                values[key].append(int(value))
            _check_record_shape(where, {key: values[key][-1] for key in values})
            names.append(str(record.get("name", f"layer{i}")))
        v = values
        zeros = [0] * len(records)
        rows = layer_rows(zeros, v["ifmap_h"], v["ifmap_w"], v["filter_h"], v["filter_w"], v["channels"],
                     v["num_filters"], v["stride"], v["groups"], v["batch"], zeros, zeros)
        return cls(rows, names)

    @classmethod
    def from_module(cls, module: Any, input_size: int = 224, in_channels: int | None = None) -> LayerTable:
        """Layers of any ``nn.Module`` called on a 1 x ``in_channels`` x ``input_size`` x
        ``input_size`` input, traced with torch.fx (in call order).

        ``in_channels`` defaults to the first Conv2d's input channels (3 without one). Only
        Conv2d (dilation 1, equal strides, zero padding) and Linear layers cost cycles;
        normalization, activations, pooling, elementwise ops and concatenation are free. Any
        other layer with weights or matrix products raises ValueError naming every one. A bare
        ``nn.Conv2d`` or ``nn.Linear`` is a one-layer network (named ``conv2d`` / ``linear``);
        a bare ``nn.Linear`` is called on one input vector (1 x ``in_features``).
        """
        from nos.sim.trace import trace_module

        fields, flow, names, graph = trace_module(module, input_size, in_channels)
        return cls(layer_rows(*zip(*fields), flow=flow), names, graph=graph)

    @classmethod
    def concat(cls, tables: Sequence[LayerTable]) -> LayerTable:
        """One table holding ``tables`` back to back (network boundaries kept)."""
        if not tables:
            raise ValueError("tables: expected a non-empty list of LayerTable")
        sizes = [np.diff(t.offsets) for t in tables]
        offsets = np.concatenate([[0], np.cumsum(np.concatenate(sizes))]).astype(np.int64)
        keys = None if any(t.row_keys is None for t in tables) else np.concatenate([t.row_keys for t in tables])
        return cls(np.concatenate([t.data for t in tables]), [t.names for t in tables], offsets, nested_names=True,
                   row_keys=keys)


def _check_record_shape(where: str, r: dict[str, int]) -> None:
    for size, kernel in (("ifmap_h", "filter_h"), ("ifmap_w", "filter_w")):
        if r[kernel] > r[size]:
            raise ValueError(f"{where}.{kernel}: larger than {size} ({r[kernel]} > {r[size]})")
    for key in ("channels", "num_filters"):
        if r[key] % r["groups"]:
            raise ValueError(f"{where}.groups: must divide {key} ({r[key]} % {r['groups']} != 0)")

