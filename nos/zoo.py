"""Reference networks of the FuSeConv paper and their variants, as :class:`nos.arch.Arch`.

Five families x five variants, exactly as the authors' models (``shared/reference/networks.md``):

* families: ``mobilenet_v1``, ``mobilenet_v2``, ``mnasnet_b1``, ``mobilenet_v3_small``,
  ``mobilenet_v3_large``;
* variants: ``baseline`` (depthwise-separable), ``fuse_full`` and ``fuse_half`` (every block
  FuSe), ``fuse_full_50`` and ``fuse_half_50`` (the paper's "50 %" hybrids: a hand-picked
  list of blocks FuSe, the rest baseline).

Each family is a compact block table (timm style: one row per block or per group of
repeated blocks); one function turns a table plus a variant into an ``Arch``.
"""
from __future__ import annotations

import dataclasses

from nos.arch import Arch, Block, Head, Stem

VARIANTS = ("baseline", "fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50")


def _groups(rows, first_cin: int, act: str, rounding=int):
    """Expand (t, c, n, s, k) groups into blocks; hidden width = rounding(cin * t)."""
    blocks, cin = [], first_cin
    for t, c, n, s, k in rows:
        for i in range(n):
            blocks.append(Block("dw", k, s if i == 0 else 1, rounding(cin * t), c, act))
            cin = c
    return blocks


def _mobilenet_v1() -> Arch:
    rows = [(64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2)] + [(512, 1)] * 5 + [(1024, 2), (1024, 1)]
    blocks, cin = [], 32
    for c, s in rows:
        blocks.append(Block("dw", 3, s, cin, c, "relu", expand=False, proj_act=True, skip=False))
        cin = c
    return Arch("mobilenet_v1", Stem(32, 3, 2, "relu"), tuple(blocks), Head(0, 0, "relu", 0.2))


def _mobilenet_v2() -> Arch:
    first = Block("dw", 3, 1, 32, 16, "relu6", expand=False)
    rows = [(6, 24, 2, 2, 3), (6, 32, 3, 2, 3), (6, 64, 4, 2, 3), (6, 96, 3, 1, 3), (6, 160, 3, 2, 3), (6, 320, 1, 1, 3)]
    blocks = [first] + _groups(rows, 16, "relu6", rounding=round)
    return Arch("mobilenet_v2", Stem(32, 3, 2, "relu6"), tuple(blocks), Head(1280, 0, "relu6", 0.2))


def _mnasnet_b1() -> Arch:
    sep_conv = Block("dw", 3, 1, 32, 16, "relu6", expand=False)
    rows = [(3, 24, 3, 2, 3), (3, 40, 3, 2, 5), (6, 80, 3, 2, 5), (6, 96, 2, 1, 3), (6, 192, 4, 2, 5), (6, 320, 1, 1, 3)]
    blocks = [sep_conv] + _groups(rows, 16, "relu6")
    return Arch("mnasnet_b1", Stem(32, 3, 2, "relu6"), tuple(blocks), Head(1280, 0, "relu6", 0.5))


def _v3(name: str, rows, head_conv: int) -> Arch:
    """MobileNet-V3 from (k, exp, out, se, act, stride) rows."""
    act = {"RE": "relu", "HS": "hswish"}
    blocks = tuple(Block("dw", k, s, e, c, act[nl], se=0.25 if se else 0.0) for k, e, c, se, nl, s in rows)
    return Arch(name, Stem(16, 3, 2, "hswish"), blocks, Head(head_conv, 1280, "hswish", 0.2))


def _mobilenet_v3_small() -> Arch:
    rows = [(3, 16, 16, 1, "RE", 2), (3, 72, 24, 0, "RE", 2), (3, 88, 24, 0, "RE", 1), (5, 96, 40, 1, "HS", 2),
            (5, 240, 40, 1, "HS", 1), (5, 240, 40, 1, "HS", 1), (5, 120, 48, 1, "HS", 1), (5, 144, 48, 1, "HS", 1),
            (5, 288, 96, 1, "HS", 2), (5, 576, 96, 1, "HS", 1), (5, 576, 96, 1, "HS", 1)]
    return _v3("mobilenet_v3_small", rows, 576)


def _mobilenet_v3_large() -> Arch:
    rows = [(3, 16, 16, 0, "RE", 1), (3, 64, 24, 0, "RE", 2), (3, 72, 24, 0, "RE", 1), (5, 72, 40, 1, "RE", 2),
            (5, 120, 40, 1, "RE", 1), (5, 120, 40, 1, "RE", 1), (3, 240, 80, 0, "HS", 2), (3, 200, 80, 0, "HS", 1),
            (3, 184, 80, 0, "HS", 1), (3, 184, 80, 0, "HS", 1), (3, 480, 112, 1, "HS", 1), (3, 672, 112, 1, "HS", 1),
            (5, 672, 160, 1, "HS", 2), (5, 960, 160, 1, "HS", 1), (5, 960, 160, 1, "HS", 1)]
    return _v3("mobilenet_v3_large", rows, 960)


# family -> (baseline builder, blocks replaced in the 50 % hybrids; 0-based indices into
# Arch.blocks, where MnasNet's block 0 is its SepConv and stays baseline in the hybrids)
_FAMILIES = {
    "mobilenet_v1": (_mobilenet_v1, range(0, 5)),
    "mobilenet_v2": (_mobilenet_v2, range(1, 10)),
    "mnasnet_b1": (_mnasnet_b1, range(1, 10)),
    "mobilenet_v3_small": (_mobilenet_v3_small, (2, 4, 5, 6, 7)),
    "mobilenet_v3_large": (_mobilenet_v3_large, range(1, 8)),
}


def _fuse(block: Block, op: str, family: str) -> Block:
    """``block`` with its depthwise stage replaced by ``op``, with the authors' family quirks."""
    changes: dict = {"op": op}
    if family == "mobilenet_v1":
        changes["mid_act"] = False  # the authors' V1 FuSe block has no activation before the pointwise conv
    if family == "mobilenet_v2" and not block.expand:
        changes["dead_expand"] = True  # their V2 FuSe block creates (and never calls) an expansion conv for t = 1
    return dataclasses.replace(block, **changes)


def names() -> list[str]:
    """The zoo's network families."""
    return list(_FAMILIES)


def get(name: str, variant: str = "baseline") -> Arch:
    """The reference network ``name`` in ``variant`` (one of :data:`VARIANTS`)."""
    if name not in _FAMILIES:
        raise ValueError(f"name: unknown zoo network {name!r} (allowed: {', '.join(_FAMILIES)})")
    if variant not in VARIANTS:
        raise ValueError(f"variant: unknown variant {variant!r} (allowed: {', '.join(VARIANTS)})")
    make, hybrid = _FAMILIES[name]
    base = make()
    if variant == "baseline":
        return dataclasses.replace(base, name=f"{name}/baseline")
    op = "fuse_full" if variant.startswith("fuse_full") else "fuse_half"
    chosen = set(hybrid) if variant.endswith("_50") else set(range(len(base.blocks)))
    blocks = tuple(_fuse(b, op, name) if i in chosen else b for i, b in enumerate(base.blocks))
    return dataclasses.replace(base, name=f"{name}/{variant}", blocks=blocks)


def all_archs() -> dict[tuple[str, str], Arch]:
    """All 25 networks keyed by (name, variant)."""
    return {(n, v): get(n, v) for n in names() for v in VARIANTS}
