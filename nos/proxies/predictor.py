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
to points at the predicted accuracy. The fitted numbers ship as ``evidence/imagenet_predictor.json``,
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

import numpy as np

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


def logit(top1: np.ndarray | float) -> np.ndarray | float:
    """ln(p / (1 - p)) of a top-1 given in %."""
    p = np.asarray(top1, float) / 100
    return np.log(p / (1 - p))


def fit_size_model(x: np.ndarray, top1: np.ndarray, names: tuple[str, ...]) -> tuple[float, np.ndarray]:
    """Least-squares (intercept, coefficients) of logit(top1) on the feature matrix ``x`` (rows x
    ``names``), with the coefficients of :data:`NONNEGATIVE` features bounded below by 0."""
    from scipy import optimize  # fitting only; predicting needs numpy alone

    design = np.column_stack([np.ones(len(x)), x])
    lower = np.array([-np.inf] + [0.0 if n in NONNEGATIVE else -np.inf for n in names])
    solution = optimize.lsq_linear(design, logit(top1), bounds=(lower, np.full(len(lower), np.inf)))
    return float(solution.x[0]), solution.x[1:]


@dataclass(frozen=True)
class Predictor:
    """A fitted predictor (see the module doc).

    Attributes:
        features: names of the size model's features (a subset of :data:`FEATURES`).
        intercept, coef: the size model on the logit scale.
        sigma: std of the size model's residuals on the logit scale (leave-one-family-out).
        effects: operator -> (delta, sigma): change of the logit when every block uses the operator
            instead of ``dw``, and its std.
        provenance: how and from what the numbers were fitted.
    """

    features: tuple[str, ...]
    intercept: float
    coef: tuple[float, ...]
    sigma: float
    effects: dict[str, tuple[float, float]] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        unknown = [f for f in self.features if f not in FEATURES]
        if unknown:
            raise ValueError(f"features: unknown {unknown} (allowed: {', '.join(FEATURES)})")
        if len(self.coef) != len(self.features):
            raise ValueError(f"coef: {len(self.coef)} coefficients for {len(self.features)} features")
        if set(self.effects) - set(OPERATORS) or REFERENCE_OP in self.effects:
            raise ValueError(f"effects: operators other than {REFERENCE_OP} expected, got {sorted(self.effects)}")

    def backbone_logit(self, arch: Arch) -> float:
        """The size model's logit of ``arch`` (operators not counted)."""
        values = features(arch)
        return self.intercept + sum(c * values[f] for f, c in zip(self.features, self.coef))

    def predict(self, arch: Arch) -> Prediction:
        """Predicted ImageNet top-1 (%) of ``arch`` and its std (%)."""
        values = features(arch)
        eta, variance = self.backbone_logit(arch), self.sigma ** 2
        for op, (delta, sigma) in self.effects.items():
            share = values[f"op_{op}"]
            eta += share * delta
            variance += (share * sigma) ** 2
        p = 1 / (1 + math.exp(-eta))
        return Prediction(100 * p, 100 * p * (1 - p) * math.sqrt(variance))

    def to_dict(self) -> dict[str, Any]:
        return {"features": list(self.features), "intercept": self.intercept, "coef": list(self.coef),
                "sigma": self.sigma, "effects": {op: list(v) for op, v in self.effects.items()},
                "provenance": self.provenance}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Predictor:
        return cls(tuple(data["features"]), float(data["intercept"]), tuple(float(c) for c in data["coef"]),
                   float(data["sigma"]), {op: (float(d), float(s)) for op, (d, s) in data["effects"].items()},
                   dict(data.get("provenance", {})))

    def save(self, path: str | Path) -> None:
        Path(path).write_text(json.dumps(self.to_dict(), indent=1) + "\n")


def transfer_effects(shares: np.ndarray, accuracy: np.ndarray, full_effect: float, full_sigma: float,
                     resamples: int = 2000, seed: int = 0) -> dict[str, tuple[float, float]]:
    """Operator effects on the ImageNet logit scale from a small training signal.

    ``shares`` (archs x operators other than dw, in :data:`OPERATORS` order) are the shares of
    blocks per operator and ``accuracy`` the trained accuracy (any unit). A least-squares fit
    ``accuracy ~ 1 + shares`` gives each operator's effect b_op; its ratio to the dw -> full effect,
    b_op / b_full, is assumed to carry over to ImageNet, where the dw -> full effect is
    ``full_effect`` (logit, std ``full_sigma``): delta_op = b_op / b_full * full_effect. Its spread
    is half the 16-84 % width of a bootstrap over architectures (and over the ImageNet effect); each
    effect's std then adds, in quadrature, the effect itself: the transfer to another data set and
    network keeps the sign and trusts no magnitude.

    Raises:
        ValueError: the signal does not show a positive dw -> full effect, so no ratio can be formed.
    """
    others = [op for op in OPERATORS if op != REFERENCE_OP]
    if shares.shape != (len(accuracy), len(others)):
        raise ValueError(f"shares: expected {len(accuracy)} x {len(others)} ({', '.join(others)}), got {shares.shape}")
    design = np.column_stack([np.ones(len(accuracy)), shares])
    full = others.index("full")
    b = np.linalg.lstsq(design, accuracy, rcond=None)[0][1:]
    if b[full] <= 0:
        raise ValueError(f"training signal: the dw -> full effect is {b[full]:.4g} (not positive); "
                         "operator effects cannot be scaled by it")
    rng = np.random.default_rng(seed)
    draws = []
    for _ in range(resamples):
        pick = rng.integers(len(accuracy), size=len(accuracy))
        boot = np.linalg.lstsq(design[pick], accuracy[pick], rcond=None)[0][1:]
        draws.append(boot / boot[full] * rng.normal(full_effect, full_sigma))
    draws = np.array(draws)
    effects = {}
    for j, op in enumerate(others):
        low, high = np.percentile(draws[:, j], [16, 84])
        mean, spread = (full_effect, full_sigma) if op == "full" else (b[j] / b[full] * full_effect, (high - low) / 2)
        effects[op] = (float(mean), float(math.hypot(spread, mean)))
    return effects


@cache
def default() -> Predictor:
    """The shipped predictor (``nos/proxies/evidence/imagenet_predictor.json``)."""
    text = resources.files("nos.proxies.evidence").joinpath("imagenet_predictor.json").read_text()
    return Predictor.from_dict(json.loads(text))


def predict(arch: Arch) -> Prediction:
    """Predicted ImageNet top-1 (%) of ``arch`` and its std (%), by the shipped predictor."""
    _check_arch(arch)
    return default().predict(arch)
