"""Standalone PyTorch source for an architecture: a ``model.py`` that needs only torch.

The generated file has four parts:

1. the spec dataclasses ``Stem``, ``Block``, ``Head``, ``Arch``, generated from the fields
   of :mod:`nos.arch` (no validation: the spec was validated before export);
2. the operator and network classes, which are the very code nos builds with, taken from
   :mod:`nos.ops` and :mod:`nos.network` by :func:`inspect.getsource` (only the operators the
   architecture uses) -- so the module tree and the state-dict keys equal those of
   ``nos.build(arch)`` by construction, dead expansion convs included;
3. the architecture as a literal, ``ARCH = Arch(...)`` with one ``Block(...)`` line per block;
4. ``build(num_classes=None, weights=None)``, which returns the network in eval mode,
   initialised as :func:`nos.build` does, optionally loading a state-dict file.
"""
from __future__ import annotations

import dataclasses
import inspect
import textwrap

from nos import ops
from nos.arch import ACTIVATIONS, Arch, Block, Head, Stem
from nos.network import Network, init_weights

_IMPORTS = """\
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn
"""

_MAKE_STAGE = '''\
def make_stage(op: str, channels: int, kernel: int, stride: int) -> nn.Module:
    """The spatial stage ``op`` on ``channels`` channels."""
    return OPERATOR_MODULES[op](channels, kernel, stride)
'''

_BUILD = '''\
def build(num_classes: int | None = None, weights: str | None = None) -> Network:
    """The network in eval mode (BatchNorm uses its running statistics, dropout is off; call
    ``.train()`` to train it), freshly initialised (as nos initialises it) or with ``weights``.

    Args:
        num_classes: classifier outputs; defaults to ``ARCH.num_classes``.
        weights: the exported ``model.pt2`` (its weights are taken) or a state-dict file such
            as ``weights.pt``.
    """
    net = Network(ARCH, ARCH.num_classes if num_classes is None else num_classes)
    init_weights(net)
    if weights is not None:
        state = torch.export.load(weights).state_dict if str(weights).endswith(".pt2") else \
            torch.load(weights, map_location="cpu", weights_only=True)
        net.load_state_dict(state)
    return net.eval()


if __name__ == "__main__":
    net = build()
    image = torch.randn(1, ARCH.in_channels, ARCH.input_size, ARCH.input_size)
    with torch.no_grad():
        logits = net(image)
    print(f"{ARCH.name}: {sum(p.numel() for p in net.parameters()):,} parameters, "
          f"output {tuple(logits.shape)}")
'''


def _dataclass_source(cls: type, methods: tuple[str, ...] = ()) -> str:
    """A frozen dataclass with the fields (and the named methods) of the nos spec class ``cls``."""
    doc = inspect.getdoc(cls)
    doc = textwrap.indent(f'"""{doc}\n"""' if "\n" in doc else f'"""{doc}"""', "    ")
    lines = ["@dataclass(frozen=True)", f"class {cls.__name__}:", doc, ""]
    for f in dataclasses.fields(cls):
        if f.default_factory is not dataclasses.MISSING:
            default = f" = field(default_factory={f.default_factory.__name__})"
        elif f.default is not dataclasses.MISSING:
            default = f" = {f.default!r}"
        else:
            default = ""
        lines.append(f"    {f.name}: {f.type}{default}")
    for name in methods:
        member = inspect.getattr_static(cls, name)
        lines += ["", inspect.getsource(member.fget if isinstance(member, property) else member).rstrip()]
    return "\n".join(lines) + "\n"


def _call(name: str, obj: object) -> str:
    """``Name(field=value, ...)`` for a spec dataclass, leaving out fields at their default."""
    args = []
    for f in dataclasses.fields(obj):
        value = getattr(obj, f.name)
        if f.default is dataclasses.MISSING or value != f.default:
            args.append(f"{f.name}={value!r}")
    return f"{name}({', '.join(args)})"


def arch_literal(arch: Arch) -> str:
    """``ARCH = Arch(...)``: the architecture as Python source, one block per line."""
    blocks = "\n".join(f"        {_call('Block', b)},  # blocks.{i}" for i, b in enumerate(arch.blocks))
    return (
        "ARCH = Arch(\n"
        f"    name={arch.name!r},\n"
        f"    stem={_call('Stem', arch.stem)},\n"
        f"    blocks=(\n{blocks}\n    ),\n"
        f"    head={_call('Head', arch.head)},\n"
        f"    input_size={arch.input_size!r},\n"
        f"    num_classes={arch.num_classes!r},\n"
        f"    in_channels={arch.in_channels!r},\n"
        ")\n"
    )


def model_source(arch: Arch, title: str) -> str:
    """The text of ``model.py`` for ``arch``; ``title`` opens its module docstring.

    The text needs only ``torch``; it never imports nos.
    """
    used_ops = [op for op in ops.OPERATOR_MODULES if any(b.op == op for b in arch.blocks)]
    stage_classes = [ops.OPERATOR_MODULES[op] for op in used_ops]
    registry = "OPERATOR_MODULES = {\n" + "".join(
        f"    {op!r}: {ops.OPERATOR_MODULES[op].__name__},\n" for op in used_ops) + "}\n"
    module_code = [ops.activation, ops.ConvBN, *stage_classes]
    tail_code = ([ops.SqueezeExcite] if any(b.se for b in arch.blocks) else []) + [
        ops.OperatorBlock, Network, init_weights]
    docstring = (
        f'"""{title}\n\n'
        "Plain PyTorch source generated by nos; it needs only torch, not nos.\n\n"
        "    from model import build\n"
        "    net = build()                       # freshly initialised, in eval mode\n"
        "    net = build(weights=\"model.pt2\")    # with the exported weights (or weights.pt)\n"
        "    net = build(num_classes=10)         # another class count\n"
        '"""\n'
    )
    sections = [
        docstring + _IMPORTS,
        f"ACTIVATIONS = {ACTIVATIONS!r}",
        "# ---------------------------------------------------------------- architecture spec",
        _dataclass_source(Stem),
        _dataclass_source(Block, ("stage_channels", "has_residual")),
        _dataclass_source(Head),
        _dataclass_source(Arch, ("in_channels_of",)),
        "# ---------------------------------------------------------------- operators and network",
        *(inspect.getsource(obj) for obj in module_code),
        registry,
        _MAKE_STAGE,
        *(inspect.getsource(obj) for obj in tail_code),
        "# ---------------------------------------------------------------- this architecture",
        arch_literal(arch),
        _BUILD,
    ]
    return "\n\n\n".join(section.rstrip("\n") for section in sections) + "\n"
