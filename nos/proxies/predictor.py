"""Predicted ImageNet top-1 (%) of an :class:`Arch`, with a standard deviation, from its shapes alone.

The model has two parts, both on the logit scale of top-1 (``eta = ln(p / (1 - p))``, p in [0, 1]):

* a **size model** fitted on the published evidence (:mod:`nos.proxies.evidence`) of networks
  whose blocks are all depthwise: ``eta = b0 + sum_j b_j x_j`` over :data:`FEATURES` of the
  network with every block's operator set to ``dw`` (so MACs and parameters measure the backbone,
  not the operator). On the logit scale top-1 saturates towards 100 % with size; the MAC and
  parameter coefficients are constrained to be >= 0, so a wider network never predicts lower.
* **operator effects**: ``delta_op`` per operator, the change of eta when every block uses ``op``
  instead of ``dw``; a network with a fraction f_op of its blocks using ``op`` gets
  ``sum_op f_op * delta_op`` (position-independent, linear in the fraction).

The prediction is ``100 * sigmoid(eta + sum_op f_op delta_op)``; its std combines the size model's
leave-one-family-out residual std and each operator effect's std (``f_op * sigma_op``), converted
to points at the predicted accuracy.

**Outside the evidence** (a size feature beyond the range of the fitted rows, e.g. a 1024-px input
or a 3x wider network) the size model is not extrapolated: each feature is clamped to its range,
and the effect the clamped distance would have had (``|b_j| * distance``) is added to the std as
unknown, so the prediction stays at the evidence's edge and its std widens with the distance
(:meth:`Predictor.outside` says which feature and by how much).

**Differences within one backbone.** Two candidates of one operator search space share the
backbone, so the size model's error is common to both and cancels in their difference;
:meth:`Predictor.difference` gives the difference and its std from the operator effects alone. The fitted numbers ship as ``evidence/imagenet_predictor.json``,
written with their provenance by ``experiments/accuracy_predictor.py``.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from functools import cache, lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple

from nos.arch import OPERATORS, Arch, Block

FEATURES: dict[str, str] = {
    "log_macs": "ln(multiply-accumulates / 1e6) of the all-dw network at its input size",
    "log_params": "ln(parameters / 1e6) of the all-dw network with a 1000-class classifier",
    "log_resolution": "ln(input side / 224 pixels)",
    "se": "share of blocks with squeeze-excite",
    "hswish": "share of blocks whose activation is hard-swish",
    "kernel5": "share of blocks whose spatial kernel is 5 or larger",
    "residual": "share of blocks with an identity shortcut",
    "log_depth": "ln(number of conv and linear layers on the main path, squeeze-excite excluded)",
}
NONNEGATIVE = ("log_macs", "log_params")  # more compute or more parameters never lowers the prediction
REFERENCE_OP = "dw"


class Prediction(NamedTuple):
    """Predicted ImageNet top-1 and its standard deviation, both in %."""

    mean: float
    std: float


def _check_arch(arch: Any) -> None:
    if not isinstance(arch, Arch):
        raise ValueError(f"arch: the ImageNet predictor takes a nos.Arch, got {type(arch).__name__}")


def features(arch: Arch) -> dict[str, float]:
    """Every feature in :data:`FEATURES`, plus ``op_<name>``: the share of blocks using each operator
    (cached per architecture; do not modify the returned dict)."""
    _check_arch(arch)
    return _features(arch)


@lru_cache(maxsize=4096)
def _as_reference(block: Block) -> Block:
    """``block`` with the reference operator (cached: a search space reuses a few block shapes)."""
    return dataclasses.replace(block, op=REFERENCE_OP)


@lru_cache(maxsize=4096)
def _backbone_size(backbone: Arch) -> dict[str, float]:
    """Size features of an all-reference-operator network (cached: every architecture of an
    operator search space has the same backbone)."""
    layers = backbone.layers()
    return {
        "log_macs": math.log(sum(layer.macs for layer in layers) / 1e6),
        "log_params": math.log(sum(layer.params for layer in layers) / 1e6),
        "log_depth": math.log(sum(layer.called and not layer.role.startswith("se_") for layer in layers)),
    }


@lru_cache(maxsize=65536)
def _features(arch: Arch) -> dict[str, float]:
    n = len(arch.blocks)
    backbone = dataclasses.replace(arch, name="backbone", num_classes=1000, in_channels=3,
                                   blocks=tuple(map(_as_reference, arch.blocks)))
    residual = sum(b.has_residual(arch.in_channels_of(i)) for i, b in enumerate(arch.blocks))
    values = {
        **_backbone_size(backbone),
        "log_resolution": math.log(arch.input_size / 224),
        "se": sum(b.se > 0 for b in arch.blocks) / n,
        "hswish": sum(b.act == "hswish" for b in arch.blocks) / n,
        "kernel5": sum(b.kernel >= 5 for b in arch.blocks) / n,
        "residual": residual / n,
    }
    values.update({f"op_{op}": sum(b.op == op for b in arch.blocks) / n for op in OPERATORS})
    return values


@dataclass(frozen=True)
class Predictor:
    """A fitted predictor (see the module doc).

    Attributes:
        features: names of the size model's features (a subset of :data:`FEATURES`).
        intercept, coef: the size model on the logit scale.
        sigma: std of the size model's residuals on the logit scale (leave-one-family-out).
        effects: operator -> (delta, sigma): change of the logit when every block uses the operator
            instead of ``dw``, and its std.
        ranges: feature -> (lowest, highest) value among the fitted rows (the evidence); a feature
            without a range is never clamped.
        provenance: how and from what the numbers were fitted.
    """

    features: tuple[str, ...]
    intercept: float
    coef: tuple[float, ...]
    sigma: float
    effects: dict[str, tuple[float, float]] = field(default_factory=dict)
    ranges: dict[str, tuple[float, float]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"features: unknown {unknown} (allowed: {', '.join(FEATURES)})")
        if len(self.coef) != len(self.features):
            raise ValueError(f"coef: {len(self.coef)} coefficients for {len(self.features)} features")
        if set(self.effects) - set(OPERATORS) or REFERENCE_OP in self.effects:
            raise ValueError(f"effects: operators other than {REFERENCE_OP} expected, got {sorted(self.effects)}")
        if set(self.ranges) - set(self.features) or any(low > high for low, high in self.ranges.values()):
            raise ValueError(f"ranges: expected (low, high) for features of the model, got {self.ranges}")

    def _size(self, arch: Arch) -> tuple[float, float]:
        """(the size model's logit with every feature clamped to its range, the std (logit) the
        clamping adds: the sum of ``|coefficient| * distance`` beyond the ranges)."""
        values = features(arch)
        eta, unknown = self.intercept, 0.0
        for f, c in zip(self.features, self.coef):
            low, high = self.ranges.get(f, (-math.inf, math.inf))
            clamped = min(max(values[f], low), high)
            eta += c * clamped
            unknown += abs(c * (values[f] - clamped))
        return eta, unknown

    def backbone_logit(self, arch: Arch) -> float:
        """The size model's logit of ``arch`` (operators not counted; features clamped to the evidence)."""
        return self._size(arch)[0]

    def _operators(self, arch: Arch) -> dict[str, float]:
        values = features(arch)
        return {op: values[f"op_{op}"] for op in self.effects}

    def predict(self, arch: Arch) -> Prediction:
        """Predicted ImageNet top-1 (%) of ``arch`` and its std (%)."""
        eta, unknown = self._size(arch)
        variance = self.sigma ** 2 + unknown ** 2
        for op, share in self._operators(arch).items():
            delta, sigma = self.effects[op]
            eta += share * delta
            variance += (share * sigma) ** 2
        p = 1 / (1 + math.exp(-eta))
        return Prediction(100 * p, 100 * p * (1 - p) * math.sqrt(variance))

    def difference(self, a: Arch, b: Arch) -> Prediction:
        """Predicted top-1 of ``a`` minus that of ``b`` (points) and the std of that difference.

        When both have one backbone (the same size features: two candidates of one operator
        search space) the size model's error is shared and cancels; the std comes from the operator
        effects, whose errors are common to every block using the operator, so it scales with the
        difference of the shares (``|f_a - f_b| * sigma_op``). Otherwise the two errors are taken
        as independent."""
        pa, pb = self.predict(a), self.predict(b)
        same = all(features(a)[f] == features(b)[f] for f in self.features)
        if not same:
            return Prediction(pa.mean - pb.mean, math.hypot(pa.std, pb.std))
        p = (pa.mean + pb.mean) / 200
        shares_a, shares_b = self._operators(a), self._operators(b)
        logit_std = math.sqrt(sum(((shares_a[op] - shares_b[op]) * self.effects[op][1]) ** 2 for op in self.effects))
        return Prediction(pa.mean - pb.mean, 100 * p * (1 - p) * logit_std)

    def outside(self, arch: Arch) -> str:
        """Why ``arch`` lies outside the evidence, in one phrase (e.g. ``input 1024 px, the evidence
        has 96-224 px``), or ``""`` when every feature is within its range."""
        values, parts = features(arch), []
        units = {"log_macs": ("MACs", lambda v: f"{math.exp(v):,.0f} M"),
                 "log_params": ("parameters", lambda v: f"{math.exp(v):.2f} M"),
                 "log_resolution": ("input", lambda v: f"{224 * math.exp(v):.0f} px")}
        for f in self.features:
            low, high = self.ranges.get(f, (-math.inf, math.inf))
            if not low <= values[f] <= high:
                what, show = units.get(f, (f, lambda v: f"{v:.2f}"))
                parts.append(f"{what} {show(values[f])}, the evidence has {show(low)} to {show(high)}")
        return "; ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "intercept": self.intercept, "coef": list(self.coef),
                "sigma": self.sigma, "effects": {op: list(v) for op, v in self.effects.items()},
                "ranges": {f: list(v) for f, v in self.ranges.items()}, "provenance": self.provenance}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Predictor:
        return cls(tuple(data["features"]), float(data["intercept"]), tuple(float(c) for c in data["coef"]),
                   float(data["sigma"]), {op: (float(d), float(s)) for op, (d, s) in data["effects"].items()},
                   {f: (float(low), float(high)) for f, (low, high) in data.get("ranges", {}).items()},
                   dict(data.get("provenance", {})))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")


@cache
def default() -> Predictor:
    """The shipped predictor (``nos/proxies/evidence/imagenet_predictor.json``)."""
    text = resources.files("nos.proxies.evidence").joinpath("imagenet_predictor.json").read_text()
    return Predictor.from_dict(json.loads(text))


def predict(arch: Arch) -> Prediction:
    """Predicted ImageNet top-1 (%) of ``arch`` and its std (%), by the shipped predictor."""
    _check_arch(arch)
    return default().predict(arch)


def difference(a: Arch, b: Arch) -> Prediction:
    """Predicted ImageNet top-1 of ``a`` minus that of ``b`` (points) and the std of the difference,
    by the shipped predictor (:meth:`Predictor.difference`): a report can say which members of a
    front the evidence separates (a difference larger than about two stds)."""
    _check_arch(a)
    _check_arch(b)
    return default().difference(a, b)
