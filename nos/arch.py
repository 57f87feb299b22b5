"""The architecture spec: one description of a network that every part of nos speaks.

An :class:`Arch` is a stem, a sequence of :class:`Block` s and a head. Each block is an
inverted-residual style block whose *spatial stage* is one of the four operators:

========== ==========================================================================
``dw``        KxK depthwise conv (the MobileNet depthwise-separable baseline)
``full``      full KxK conv (groups = 1) in place of the depthwise conv
``fuse_half`` 1xK depthwise on the first channel half, Kx1 on the second (FuSe-Half)
``fuse_full`` 1xK and Kx1 depthwise each on all channels, concatenated (FuSe-Full)
========== ==========================================================================

Block layout (module order = forward order)::

    [1x1 expand conv cin->exp, BN, act]  ->  spatial stage (convs + BNs)
    -> [squeeze-excite]  ->  [act]  ->  1x1 project conv -> BN  ->  [act]  ->  [+ input]

The spec is plain data (no torch): it round-trips losslessly through JSON (versioned
schema :data:`SCHEMA`) and through a compact text form with one line per block, and it
enumerates its conv/linear layers by shape arithmetic (:meth:`Arch.layers`) and as a
networkx graph (:meth:`Arch.graph`).
"""
from __future__ import annotations

import dataclasses
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import networkx as nx

SCHEMA = "nos.arch/1"
OPERATORS = ("dw", "full", "fuse_half", "fuse_full")
ACTIVATIONS = ("relu", "relu6", "hswish")
MAX_BLOCKS = 1000


class ArchError(ValueError):
    """A malformed architecture; the message names the offending block and field."""


def _fail(where: str, name: str, problem: str) -> None:
    raise ArchError(f"{where}.{name}: {problem}" if where else f"{name}: {problem}")


def _check_int(where: str, name: str, value: Any, minimum: int = 1) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(where, name, f"expected an integer >= {minimum}, got {value!r}")
    if value < minimum:
        _fail(where, name, f"must be >= {minimum}, got {value}")


def _check_choice(where: str, name: str, value: Any, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        _fail(where, name, f"unknown value {value!r} (allowed: {', '.join(allowed)})")


def _check_bool(where: str, name: str, value: Any) -> None:
    if not isinstance(value, bool):
        _fail(where, name, f"expected true or false, got {value!r}")


def _check_fraction(where: str, name: str, value: Any, upper: float) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < upper:
        _fail(where, name, f"expected a number in [0, {upper}), got {value!r}")


def check_kernel(where: str, kernel: Any) -> None:
    """Raise :class:`ArchError` unless ``kernel`` is a positive odd integer."""
    _check_int(where, "kernel", kernel)
    if kernel % 2 == 0:
        _fail(where, "kernel", f"must be odd (3, 5, 7, ...) so padding keeps the shape, got {kernel}")


@dataclass(frozen=True)
class Block:
    """One block of the network.

    Attributes:
        op: spatial operator, one of :data:`OPERATORS`.
        kernel: spatial kernel size K (odd).
        stride: stride of the spatial stage, applied to both dimensions.
        exp: channels entering the spatial stage (the expanded width; equals the block's
            input channels when ``expand`` is false).
        out: output channels of the block.
        act: block nonlinearity, one of :data:`ACTIVATIONS`.
        se: squeeze-excite ratio on the spatial stage's output (0 = no SE); the squeeze
            width is ``int(channels * se)``; SE linears have no bias, gate is h-sigmoid.
        expand: a 1x1 expansion conv (input -> ``exp``) with BN and act precedes the stage.
        mid_act: the activation follows the spatial stage (after SE).
        proj_act: the activation follows the projection BN (MobileNet-V1 style).
        skip: add an identity shortcut when stride is 1 and in/out channels are equal.
        dead_expand: reproduction quirk of the authors' MobileNet-V2 FuSe blocks with
            t = 1: a 1x1 conv input -> input with BN is created but never called. It counts
            parameters, no MACs and no cycles. Requires ``expand`` false.
    """

    op: str
    kernel: int
    stride: int
    exp: int
    out: int
    act: str
    se: float = 0.0
    expand: bool = True
    mid_act: bool = True
    proj_act: bool = False
    skip: bool = True
    dead_expand: bool = False

    def __post_init__(self) -> None:
        self.validate("block")

    def validate(self, where: str) -> None:
        _check_choice(where, "op", self.op, OPERATORS)
        check_kernel(where, self.kernel)
        _check_int(where, "stride", self.stride)
        _check_int(where, "exp", self.exp)
        _check_int(where, "out", self.out)
        _check_choice(where, "act", self.act, ACTIVATIONS)
        _check_fraction(where, "se", self.se, 1.0)
        for flag in ("expand", "mid_act", "proj_act", "skip", "dead_expand"):
            _check_bool(where, flag, getattr(self, flag))
        if self.op == "fuse_half" and self.exp % 2:
            _fail(where, "exp", f"fuse_half splits channels in halves and needs an even count, got {self.exp}")
        if self.dead_expand and self.expand:
            _fail(where, "dead_expand", "only allowed when expand is false")

    @property
    def stage_channels(self) -> int:
        """Channels out of the spatial stage (= projection input): 2*exp for fuse_full."""
        return 2 * self.exp if self.op == "fuse_full" else self.exp

    def has_residual(self, cin: int) -> bool:
        return self.skip and self.stride == 1 and cin == self.out


@dataclass(frozen=True)
class Stem:
    """KxK conv (no bias) -> BN -> act on the input image."""

    out: int = 32
    kernel: int = 3
    stride: int = 2
    act: str = "relu6"

    def __post_init__(self) -> None:
        self.validate("stem")

    def validate(self, where: str) -> None:
        _check_int(where, "out", self.out)
        check_kernel(where, self.kernel)
        _check_int(where, "stride", self.stride)
        _check_choice(where, "act", self.act, ACTIVATIONS)


@dataclass(frozen=True)
class Head:
    """[1x1 conv ``conv`` -> BN -> act] -> global avg pool -> [1x1 conv ``pre_logits`` with
    bias -> act] -> dropout -> linear classifier. 0 disables a conv."""

    conv: int = 1280
    pre_logits: int = 0
    act: str = "relu6"
    dropout: float = 0.2

    def __post_init__(self) -> None:
        self.validate("head")

    def validate(self, where: str) -> None:
        _check_int(where, "conv", self.conv, minimum=0)
        _check_int(where, "pre_logits", self.pre_logits, minimum=0)
        _check_choice(where, "act", self.act, ACTIVATIONS)
        _check_fraction(where, "dropout", self.dropout, 1.0)


class Layer(NamedTuple):
    """One Conv2d or Linear layer of an :class:`Arch`, by shape arithmetic (batch 1).

    ``in_h``/``in_w`` are the unpadded input sizes; padding is ``pad_h``/``pad_w`` per side.
    A linear layer has ``kind == "linear"`` and 1x1 spatial sizes.
    """

    block: int  # block index, -1 for stem and head layers
    role: str  # stem, expand, dw, full, dw_1xk, dw_kx1, se_reduce, se_expand, project, head, pre_logits, classifier
    kind: str  # conv | linear
    cin: int
    cout: int
    kh: int
    kw: int
    stride: int
    pad_h: int
    pad_w: int
    groups: int
    in_h: int
    in_w: int
    out_h: int
    out_w: int
    bias: bool
    bn: bool
    act: str  # activation right after this layer (after BN), "" for none
    called: bool  # False only for a dead_expand conv

    @property
    def name(self) -> str:
        return self.role if self.block < 0 else f"blocks.{self.block}.{self.role}"

    @property
    def macs(self) -> int:
        """Multiply-accumulates (conv: output elements x cin/groups x kh x kw)."""
        if not self.called:
            return 0
        return self.out_h * self.out_w * self.cout * (self.cin // self.groups) * self.kh * self.kw

    @property
    def params(self) -> int:
        """Parameters: weights, bias, and the BN's weight and bias."""
        weights = self.cout * (self.cin // self.groups) * self.kh * self.kw
        return weights + (self.cout if self.bias else 0) + (2 * self.cout if self.bn else 0)


def _conv(block, role, cin, cout, kh, kw, stride, groups, h, w, act="", bn=True, bias=False, called=True) -> Layer:
    pad_h, pad_w = kh // 2, kw // 2
    out_h = (h + 2 * pad_h - kh) // stride + 1
    out_w = (w + 2 * pad_w - kw) // stride + 1
    return Layer(block, role, "conv", cin, cout, kh, kw, stride, pad_h, pad_w, groups, h, w, out_h, out_w,
                 bias, bn, act, called)


def _linear(block, role, cin, cout, bias, act="") -> Layer:
    return Layer(block, role, "linear", cin, cout, 1, 1, 1, 0, 0, 1, 1, 1, 1, 1, bias, False, act, True)


@lru_cache(maxsize=65536)
def block_layers(index: int, block: Block, cin: int, h: int, w: int) -> tuple[Layer, ...]:
    """The Conv2d/Linear layers of ``block`` (module order) for a ``cin`` x ``h`` x ``w`` input."""
    b, k, s, e = block, block.kernel, block.stride, block.exp
    layers = []
    if b.expand or b.dead_expand:
        layers.append(_conv(index, "expand", cin, e, 1, 1, 1, 1, h, w, b.act, called=b.expand))
    mid = b.act if (b.mid_act and not b.se) else ""
    if b.op == "dw":
        layers.append(_conv(index, "dw", e, e, k, k, s, e, h, w, mid))
    elif b.op == "full":
        layers.append(_conv(index, "full", e, e, k, k, s, 1, h, w, mid))
    else:
        c = e // 2 if b.op == "fuse_half" else e
        layers.append(_conv(index, "dw_1xk", c, c, 1, k, s, c, h, w, mid))
        layers.append(_conv(index, "dw_kx1", c, c, k, 1, s, c, h, w, mid))
    oh, ow = layers[-1].out_h, layers[-1].out_w
    if b.se:
        c = b.stage_channels
        squeeze = max(1, int(c * b.se))
        layers.append(_linear(index, "se_reduce", c, squeeze, False, "relu"))
        layers.append(_linear(index, "se_expand", squeeze, c, False, "hsigmoid"))
    layers.append(_conv(index, "project", b.stage_channels, b.out, 1, 1, 1, 1, oh, ow, b.act if b.proj_act else ""))
    return tuple(layers)


@dataclass(frozen=True)
class Arch:
    """A whole network: stem, blocks, head, input size and class count."""

    name: str = "arch"
    stem: Stem = field(default_factory=Stem)
    blocks: tuple[Block, ...] = ()
    head: Head = field(default_factory=Head)
    input_size: int = 224
    num_classes: int = 1000
    in_channels: int = 3

    def __post_init__(self) -> None:
        if not isinstance(self.blocks, tuple):
            object.__setattr__(self, "blocks", tuple(self.blocks))
        if not isinstance(self.name, str):
            _fail("", "name", f"expected a string, got {self.name!r}")
        _check_int("", "input_size", self.input_size)
        _check_int("", "num_classes", self.num_classes)
        _check_int("", "in_channels", self.in_channels)
        if not 1 <= len(self.blocks) <= MAX_BLOCKS:
            _fail("", "blocks", f"need 1 to {MAX_BLOCKS} blocks, got {len(self.blocks)}")
        cin = self.stem.out
        for i, block in enumerate(self.blocks):
            if not isinstance(block, Block):
                _fail(f"blocks[{i}]", "type", f"expected a Block, got {type(block).__name__}")
            if not block.expand and block.exp != cin:
                _fail(f"blocks[{i}]", "exp", f"without an expansion conv exp must equal the input channels {cin}, got {block.exp}")
            cin = block.out

    # ---------------------------------------------------------------- channels and layers
    def in_channels_of(self, index: int) -> int:
        """Input channels of block ``index``."""
        return self.stem.out if index == 0 else self.blocks[index - 1].out

    def layers(self, input_size: int | None = None) -> list[Layer]:
        """All Conv2d/Linear layers in module order (dead convs have ``called=False``)."""
        size = self.input_size if input_size is None else input_size
        _check_int("", "input_size", size)
        st = self.stem
        layers = [_conv(-1, "stem", self.in_channels, st.out, st.kernel, st.kernel, st.stride, 1, size, size, st.act)]
        cin, h, w = st.out, layers[0].out_h, layers[0].out_w
        for i, block in enumerate(self.blocks):
            own = block_layers(i, block, cin, h, w)
            layers.extend(own)
            cin, h, w = block.out, own[-1].out_h, own[-1].out_w
        hd = self.head
        if hd.conv:
            layers.append(_conv(-1, "head", cin, hd.conv, 1, 1, 1, 1, h, w, hd.act))
            cin = hd.conv
        if hd.pre_logits:
            layers.append(_conv(-1, "pre_logits", cin, hd.pre_logits, 1, 1, 1, 1, 1, 1, hd.act, bn=False, bias=True))
            cin = hd.pre_logits
        layers.append(_linear(-1, "classifier", cin, self.num_classes, True))
        return layers

    def params(self) -> int:
        """Parameters of the built network (BN weight and bias included, dead convs included)."""
        return sum(layer.params for layer in self.layers())

    def macs(self, input_size: int | None = None) -> int:
        """Conv + linear multiply-accumulates for one image."""
        return sum(layer.macs for layer in self.layers(input_size))

    def scaled(self, width: float) -> Arch:
        """The same network with every channel count multiplied by ``width``, rounded to
        a multiple of 8 (MobileNet's make_divisible); blocks without an expansion conv keep
        exp equal to their input channels. Used to make small proxy networks."""
        if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
            _fail("", "width", f"expected a positive number, got {width!r}")

        def div8(c: int) -> int:
            new = max(8, int(c * width + 4) // 8 * 8)
            return new + 8 if new < 0.9 * c * width else new

        stem = dataclasses.replace(self.stem, out=div8(self.stem.out))
        blocks, cin = [], stem.out
        for b in self.blocks:
            blocks.append(dataclasses.replace(b, exp=div8(b.exp) if b.expand else cin, out=div8(b.out)))
            cin = blocks[-1].out
        head = dataclasses.replace(self.head, conv=div8(self.head.conv) if self.head.conv else 0,
                                   pre_logits=div8(self.head.pre_logits) if self.head.pre_logits else 0)
        return dataclasses.replace(self, stem=stem, blocks=tuple(blocks), head=head)

    # ---------------------------------------------------------------- graph
    def graph(self, input_size: int | None = None) -> nx.DiGraph:
        """The network as a DAG: Conv2d/Linear layers and tensor ops as nodes, tensors as edges.

        Layer nodes are named like the built module's parameters (``stem``,
        ``blocks.3.expand``, ...) and carry the :class:`Layer` fields as attributes
        (``op="conv"`` or ``op="linear"``). Other nodes are ``input``, ``split``, ``concat``,
        ``se_pool``/``se_scale``, ``add`` (residual), ``pool`` and ``output``. Each edge
        carries the tensor ``shape`` (channels, height, width). A dead conv (``called``
        false) is an isolated node.
        """
        g = nx.DiGraph(name=self.name)
        by_name = {layer.name: layer for layer in self.layers(input_size)}
        size = self.input_size if input_size is None else input_size

        def shape(node: str) -> tuple[int, int, int]:
            attrs = g.nodes[node]
            return attrs["shape"] if "shape" in attrs else (attrs["cout"], attrs["out_h"], attrs["out_w"])

        def add_layer(name: str, src: str | None) -> str:
            layer = by_name[name]
            g.add_node(name, op=layer.kind, **layer._asdict())
            if src is not None:
                g.add_edge(src, name, shape=shape(src))
            return name

        def add_op(name: str, op: str, srcs: list[str], out: tuple[int, int, int]) -> str:
            g.add_node(name, op=op, shape=out)
            for src in srcs:
                g.add_edge(src, name, shape=shape(src))
            return name

        g.add_node("input", op="input", shape=(self.in_channels, size, size))
        x = add_layer("stem", "input")
        cin = self.stem.out
        for i, block in enumerate(self.blocks):
            p = f"blocks.{i}"
            start = x
            if block.dead_expand:
                add_layer(f"{p}.expand", None)
            if block.expand:
                x = add_layer(f"{p}.expand", x)
            if block.op in ("dw", "full"):
                x = add_layer(f"{p}.{block.op}", x)
            else:
                src = add_op(f"{p}.split", "split", [x], shape(x)) if block.op == "fuse_half" else x
                a, b = add_layer(f"{p}.dw_1xk", src), add_layer(f"{p}.dw_kx1", src)
                x = add_op(f"{p}.concat", "concat", [a, b], (block.stage_channels,) + shape(a)[1:])
            if block.se:
                stage = shape(x)
                pool = add_op(f"{p}.se_pool", "pool", [x], (stage[0], 1, 1))
                gate = add_layer(f"{p}.se_expand", add_layer(f"{p}.se_reduce", pool))
                x = add_op(f"{p}.se_scale", "scale", [x, gate], stage)
            x = add_layer(f"{p}.project", x)
            if block.has_residual(cin):
                x = add_op(f"{p}.add", "add", [x, start], shape(x))
            cin = block.out
        if self.head.conv:
            x = add_layer("head", x)
        x = add_op("pool", "pool", [x], (shape(x)[0], 1, 1))
        if self.head.pre_logits:
            x = add_layer("pre_logits", x)
        x = add_layer("classifier", x)
        add_op("output", "output", [x], (self.num_classes, 1, 1))
        return g

    # ---------------------------------------------------------------- JSON
    def to_dict(self) -> dict[str, Any]:
        return {
            "schema": SCHEMA,
            "name": self.name,
            "input_size": self.input_size,
            "in_channels": self.in_channels,
            "num_classes": self.num_classes,
            "stem": dict(vars(self.stem)),  # flat dataclasses of scalars: vars() is asdict() without
            "blocks": [dict(vars(b)) for b in self.blocks],  # its recursive deep copy (10x faster)
            "head": dict(vars(self.head)),
        }

    def to_json(self, indent: int | None = 1) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: Any) -> Arch:
        """Build from a dict as written by :meth:`to_dict`; errors name the field."""
        if not isinstance(data, dict):
            raise ArchError(f"arch: expected a JSON object, got {type(data).__name__}")
        top = {"schema", "name", "input_size", "in_channels", "num_classes", "stem", "blocks", "head"}
        _check_keys("", data, top, required={"schema", "blocks"})
        if data["schema"] != SCHEMA:
            _fail("", "schema", f"unsupported schema {data['schema']!r} (supported: {SCHEMA})")
        blocks = data["blocks"]
        if not isinstance(blocks, list):
            _fail("", "blocks", f"expected a list of blocks, got {type(blocks).__name__}")
        if len(blocks) > MAX_BLOCKS:
            _fail("", "blocks", f"need 1 to {MAX_BLOCKS} blocks, got {len(blocks)}")
        kwargs = {k: data[k] for k in ("name", "input_size", "in_channels", "num_classes") if k in data}
        return cls(
            stem=_from_fields(Stem, data.get("stem", {}), "stem"),
            blocks=tuple(_from_fields(Block, b, f"blocks[{i}]") for i, b in enumerate(blocks)),
            head=_from_fields(Head, data.get("head", {}), "head"),
            **kwargs,
        )

    @classmethod
    def from_json(cls, text: str) -> Arch:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise ArchError(f"arch JSON: not valid JSON ({err.msg} at line {err.lineno} column {err.colno})") from None
        return cls.from_dict(data)

    # ---------------------------------------------------------------- text
    def to_text(self) -> str:
        """Compact form, one line per block, e.g. ``fuse_half k3 s2 e96 c24 relu6``."""
        st, hd = self.stem, self.head
        lines = [
            f"{SCHEMA} {self.name}",
            f"input {self.input_size} channels {self.in_channels} classes {self.num_classes}",
            f"stem k{st.kernel} s{st.stride} c{st.out} {st.act}",
        ]
        for b in self.blocks:
            tokens = [b.op, f"k{b.kernel}", f"s{b.stride}", f"e{b.exp}", f"c{b.out}", b.act]
            tokens += [f"se{b.se!r}"] if b.se else []
            tokens += [flag for flag, (name, value) in _FLAG_FIELDS.items() if getattr(b, name) == value]
            lines.append(" ".join(tokens))
        head = ["head"] + ([f"c{hd.conv}"] if hd.conv else []) + ([f"p{hd.pre_logits}"] if hd.pre_logits else [])
        lines.append(" ".join(head + [hd.act, f"drop{hd.dropout!r}"]))
        return "\n".join(lines) + "\n"

    @classmethod
    def from_text(cls, text: str) -> Arch:
        """Parse :meth:`to_text` output; errors name the line, block and field."""
        lines = [(n, ln.split("#", 1)[0].split()) for n, ln in enumerate(text.splitlines(), 1)]
        lines = [(n, toks) for n, toks in lines if toks]
        if not lines or lines[0][1][0] != SCHEMA:
            raise ArchError(f"arch text: line 1: must start with '{SCHEMA} <name>'")
        name = " ".join(lines[0][1][1:]) or "arch"
        top: dict[str, Any] = {"name": name}
        stem = head = None
        blocks = []
        for n, toks in lines[1:]:
            where = f"line {n}"
            key = toks[0]
            if key == "input":
                top.update(_parse_pairs(where, toks[1:], {"channels": "in_channels", "classes": "num_classes"}, first="input_size"))
            elif key == "stem":
                stem = _from_fields(Stem, _parse_tokens(where, toks[1:], {"k": "kernel", "s": "stride", "c": "out"}), f"{where} stem")
            elif key == "head":
                fields = _parse_tokens(where, toks[1:], {"c": "conv", "p": "pre_logits", "drop": "dropout"})
                head = _from_fields(Head, {"conv": 0, **fields}, f"{where} head")
            elif key in OPERATORS:
                fields = _parse_tokens(f"{where} block {len(blocks)}", toks[1:],
                                       {"k": "kernel", "s": "stride", "e": "exp", "c": "out", "se": "se"}, flags=True)
                blocks.append(_from_fields(Block, {"op": key, **fields}, f"{where} blocks[{len(blocks)}]"))
            else:
                raise ArchError(f"arch text: {where}: unknown line kind {key!r} "
                                f"(allowed: input, stem, head, {', '.join(OPERATORS)})")
        if stem is None or head is None:
            raise ArchError("arch text: needs a 'stem ...' line and a 'head ...' line")
        return cls(stem=stem, blocks=tuple(blocks), head=head, **top)


@dataclass(frozen=True)
class OperatorChoices:
    """What every block of a backbone may choose: its operator and optionally its kernel and
    expansion ratio. The one definition the search space (``nos.search.space.BackboneSpace``) and
    the weight-sharing supernet (``nos.proxies.Supernet``) both use.

    Attributes:
        ops: operators (distinct, from :data:`OPERATORS`); ``fuse_half`` splits the channels in
            two, so a block offers it only where every width it can take is even.
        kernels: kernel sizes (odd); None keeps each block's own.
        expansions: expansion ratios (hidden width = ``round(cin * t)``) for blocks with an
            expansion conv; None keeps each block's own width.
    """

    ops: tuple[str, ...] = OPERATORS
    kernels: tuple[int, ...] | None = None
    expansions: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        ops = tuple(self.ops) if isinstance(self.ops, (list, tuple)) else self.ops
        if not isinstance(ops, tuple) or not ops or any(op not in OPERATORS for op in ops) or len(set(ops)) != len(ops):
            _fail("", "ops", f"expected distinct operators from {', '.join(OPERATORS)}, got {self.ops!r}")
        object.__setattr__(self, "ops", ops)
        if self.kernels is not None:
            object.__setattr__(self, "kernels", tuple(self.kernels) or None)
            for k in self.kernels or ():
                check_kernel("kernels", k)
        if self.expansions is not None:
            ratios = tuple(self.expansions)
            if not ratios or any(isinstance(t, bool) or not isinstance(t, (int, float)) or t <= 0 for t in ratios):
                _fail("", "expansions", f"expected positive ratios, got {self.expansions!r}")
            object.__setattr__(self, "expansions", ratios)

    def widths(self, base: Arch, index: int) -> tuple[int, ...]:
        """The hidden widths block ``index`` of ``base`` can take (one per ratio, in order)."""
        block = base.blocks[index]
        if not self.expansions or not block.expand:
            return (block.exp,)
        return tuple(round(base.in_channels_of(index) * t) for t in self.expansions)

    def ops_at(self, base: Arch, index: int) -> tuple[str, ...]:
        """The operators block ``index`` of ``base`` offers: :attr:`ops`, less ``fuse_half`` where
        some width it can take is odd."""
        even = all(w % 2 == 0 for w in self.widths(base, index))
        return tuple(op for op in self.ops if op != "fuse_half" or even)

    def options(self, base: Arch, index: int) -> tuple[Block, ...]:
        """Every block ``index`` of ``base`` can become, operator-major then kernel then width (two
        ratios that round to one width give that block twice, as a uniform sampler draws it)."""
        block = base.blocks[index]
        kernels = self.kernels or (block.kernel,)
        return tuple(dataclasses.replace(block, op=op, kernel=k, exp=w)
                     for op in self.ops_at(base, index) for k in kernels for w in self.widths(base, index))


# text flag -> (Block field, the value the flag stands for; the other value is the default)
_FLAG_FIELDS = {"noexpand": ("expand", False), "nomidact": ("mid_act", False), "projact": ("proj_act", True),
                "noskip": ("skip", False), "deadexpand": ("dead_expand", True)}
_TOKEN = re.compile(r"^([a-z_]+?)(\d+(?:\.\d+)?(?:e-?\d+)?)$")


def _number(text: str) -> int | float:
    return float(text) if any(ch in text for ch in ".e") else int(text)


def _parse_tokens(where: str, tokens: list[str], keys: dict[str, str], flags: bool = False) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for tok in tokens:
        if tok in ACTIVATIONS:
            out["act"] = tok
            continue
        if flags and tok in _FLAG_FIELDS:
            name, value = _FLAG_FIELDS[tok]
            out[name] = value
            continue
        m = _TOKEN.match(tok)
        if not m or m.group(1) not in keys:
            allowed = [f"{k}<number>" for k in keys] + list(ACTIVATIONS) + (list(_FLAG_FIELDS) if flags else [])
            raise ArchError(f"arch text: {where}: unknown token {tok!r} (allowed: {', '.join(allowed)})")
        out[keys[m.group(1)]] = _number(m.group(2))
    return out


def _parse_pairs(where: str, tokens: list[str], keys: dict[str, str], first: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if tokens and tokens[0].isdigit():
        out[first] = int(tokens[0])
        tokens = tokens[1:]
    if len(tokens) % 2:
        raise ArchError(f"arch text: {where}: expected 'input <size> channels <n> classes <n>'")
    for key, value in zip(tokens[::2], tokens[1::2]):
        if key not in keys or not value.isdigit():
            raise ArchError(f"arch text: {where}: bad pair {key} {value} (allowed keys: {', '.join(keys)})")
        out[keys[key]] = int(value)
    return out


def _check_keys(where: str, data: dict[str, Any], allowed: set[str], required: set[str]) -> None:
    for key in data:
        if key not in allowed:
            _fail(where, str(key), f"unknown field (allowed: {', '.join(sorted(allowed))})")
    for key in sorted(required - set(data)):
        _fail(where, key, "missing")


def _from_fields(cls: type, data: Any, where: str):
    """Construct a Stem/Block/Head from a dict, re-raising errors with ``where`` as prefix."""
    if not isinstance(data, dict):
        raise ArchError(f"{where}: expected an object with fields, got {type(data).__name__}")
    names = {f.name for f in dataclasses.fields(cls)}
    required = {f.name for f in dataclasses.fields(cls)
                if f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING}
    _check_keys(where, data, names, required)
    obj = cls.__new__(cls)
    for f in dataclasses.fields(cls):
        object.__setattr__(obj, f.name, data.get(f.name, f.default))
    obj.validate(where)
    return obj
