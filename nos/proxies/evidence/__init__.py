"""Published ImageNet top-1 results of networks nos can express, each with the :class:`Arch` that reproduces it.

The table is ``imagenet.csv`` beside this file (its columns and sources: ``README.md``); each row
names a base network and how the publisher derived the measured one from it:

* ``arch``: ``zoo:<name>`` or ``zoo:<name>/<variant>`` (:func:`nos.zoo.get`), or ``file:<stem>``
  (``archs/<stem>.txt`` beside this file, in the text form of :meth:`Arch.from_text`);
* ``width``: the publisher's width (depth) multiplier, applied by :func:`scale`;
* ``head``: ``scaled`` (the head convs are multiplied too) or ``keep_last`` (the last conv before the
  classifier keeps its width: slim's ``finegrain_classification_mode``, MnasNet's fixed 1280);
* ``resolution``: input side in pixels;
* ``ops``: empty, or an operator from :data:`nos.arch.OPERATORS` that replaces every block's.

Rows with ``split == "holdout"`` (the FuSeConv paper's own results) are for validation only and
are never used to fit, select features or choose a model.
"""
from __future__ import annotations

import csv
import dataclasses
from dataclasses import dataclass
from functools import cache
from importlib import resources

from nos import zoo
from nos.arch import OPERATORS, Arch

SPLITS = ("fit", "holdout")
HEADS = ("scaled", "keep_last")
PARAMS_TOLERANCE = 0.03  # relative; a published count may also differ by its own rounding
FIELDS = ("id", "family", "variant", "arch", "width", "head", "resolution", "ops", "params_m", "macs_m", "top1",
          "split", "source", "note", "params_note")


def make_divisible(value: float, divisor: int = 8) -> int:
    """``value`` rounded to the nearest multiple of ``divisor`` (at least ``divisor``), rounded up when
    rounding down would lose more than 10 %: the width rule of the slim, TPU and torchvision
    MobileNet/MnasNet code."""
    new = max(divisor, int(value + divisor / 2) // divisor * divisor)
    return new + divisor if new < 0.9 * value else new


def scale(arch: Arch, width: float, head: str = "scaled") -> Arch:
    """``arch`` with the publishers' width multiplier: every channel count c becomes
    ``make_divisible(c * width)``; an expansion width becomes ``make_divisible(cin' * t)`` from the
    scaled input cin' and the block's ratio t = exp / cin (blocks without an expansion conv keep
    exp = cin'); the head convs are all scaled (``head="scaled"``), or all but the last one before
    the classifier (``head="keep_last"``)."""
    if head not in HEADS:
        raise ValueError(f"head: unknown head rule {head!r} (allowed: {', '.join(HEADS)})")
    if isinstance(width, bool) or not isinstance(width, (int, float)) or width <= 0:
        raise ValueError(f"width: expected a positive number, got {width!r}")
    if width == 1:
        return arch
    stem = dataclasses.replace(arch.stem, out=make_divisible(arch.stem.out * width))
    blocks, cin = [], stem.out
    for i, b in enumerate(arch.blocks):
        ratio = b.exp / arch.in_channels_of(i)
        exp = make_divisible(cin * ratio) if b.expand else cin
        blocks.append(dataclasses.replace(b, exp=exp, out=make_divisible(b.out * width)))
        cin = blocks[-1].out
    hd = arch.head
    conv = make_divisible(hd.conv * width) if hd.conv else 0
    pre_logits = make_divisible(hd.pre_logits * width) if hd.pre_logits else 0
    if head == "keep_last":
        conv, pre_logits = (conv, hd.pre_logits) if hd.pre_logits else (hd.conv, 0)
    return dataclasses.replace(arch, stem=stem, blocks=tuple(blocks),
                               head=dataclasses.replace(hd, conv=conv, pre_logits=pre_logits))


@dataclass(frozen=True)
class Row:
    """One published result (units: parameters and MACs in millions, top-1 in %)."""

    id: str
    family: str
    variant: str
    arch_spec: str
    width: float
    head: str
    resolution: int
    ops: str
    params_m: float
    params_text: str  # the published count as printed (its digits give its rounding)
    macs_m: float | None
    top1: float
    split: str
    source: str
    note: str
    params_note: str  # non-empty: why nos's count may differ from the published one by more than the tolerance

    def arch(self) -> Arch:
        """The network that reproduces this row (built from the base, width, head, resolution and ops)."""
        return _arch(self.arch_spec, self.width, self.head, self.resolution, self.ops, self.id)

    def params_tolerance(self) -> float:
        """Allowed |nos - published| in millions: 3 % of the published count, or half a unit of its
        last printed digit when that is larger (``0.5`` printed means 0.45 .. 0.55)."""
        decimals = len(self.params_text.split(".")[1]) if "." in self.params_text else 0
        return max(PARAMS_TOLERANCE * self.params_m, 0.5 * 10.0 ** -decimals)


def _base(spec: str, where: str) -> Arch:
    kind, _, name = spec.partition(":")
    if kind == "zoo":
        family, _, variant = name.partition("/")
        return zoo.get(family, variant or "baseline")
    if kind == "file":
        path = resources.files(__name__).joinpath("archs", f"{name}.txt")
        if not path.is_file():
            raise ValueError(f"{where}.arch: no file archs/{name}.txt in nos.proxies.evidence")
        return Arch.from_text(path.read_text())
    raise ValueError(f"{where}.arch: expected zoo:<name>[/<variant>] or file:<name>, got {spec!r}")


@cache
def _arch(spec: str, width: float, head: str, resolution: int, ops: str, where: str) -> Arch:
    arch = scale(_base(spec, where), width, head)
    if ops:
        if ops not in OPERATORS:
            raise ValueError(f"{where}.ops: unknown operator {ops!r} (allowed: {', '.join(OPERATORS)})")
        arch = dataclasses.replace(arch, blocks=tuple(dataclasses.replace(b, op=ops) for b in arch.blocks))
    return dataclasses.replace(arch, name=where, input_size=resolution)


def _row(record: dict[str, str], line: int) -> Row:
    where = f"imagenet.csv line {line}"
    missing = [f for f in FIELDS if f not in record]
    if missing:
        raise ValueError(f"{where}: missing columns {missing}")
    if record["split"] not in SPLITS:
        raise ValueError(f"{where}.split: unknown split {record['split']!r} (allowed: {', '.join(SPLITS)})")
    if record["head"] not in HEADS:
        raise ValueError(f"{where}.head: unknown head rule {record['head']!r} (allowed: {', '.join(HEADS)})")
    return Row(id=record["id"], family=record["family"], variant=record["variant"], arch_spec=record["arch"],
               width=float(record["width"]), head=record["head"], resolution=int(record["resolution"]),
               ops=record["ops"], params_m=float(record["params_m"]), params_text=record["params_m"],
               macs_m=float(record["macs_m"]) if record["macs_m"] else None, top1=float(record["top1"]),
               split=record["split"], source=record["source"], note=record["note"],
               params_note=record["params_note"])


@cache
def rows() -> tuple[Row, ...]:
    """Every row of the table, in file order."""
    text = resources.files(__name__).joinpath("imagenet.csv").read_text()
    records = list(csv.DictReader(text.splitlines()))
    table = tuple(_row(r, i + 2) for i, r in enumerate(records))
    ids = [r.id for r in table]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise ValueError(f"imagenet.csv: duplicate ids {duplicates}")
    return table


def fit_rows() -> tuple[Row, ...]:
    """The rows a model may be fitted on (every row except the held-out FuSeConv results)."""
    return tuple(r for r in rows() if r.split == "fit")


def holdout_rows() -> tuple[Row, ...]:
    """The FuSeConv paper's results, kept for validation only."""
    return tuple(r for r in rows() if r.split == "holdout")
