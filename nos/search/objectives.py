"""Objectives of a search: simulated latency (minimize) and proxy accuracy (maximize),
with budgets as constraints. Latency is computed first; an infeasible candidate never
pays for the proxy."""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from nos import proxies, sim
from nos.arch import Arch

SKIPPED = float("-inf")  # the proxy value recorded for an infeasible candidate
TRAIN = "train"  # the short-training proxy: validation accuracy after a short training budget
PROXIES = (*proxies.NAMES, TRAIN)
LATENCY_MODELS = ("compute", "roofline")


@dataclass(frozen=True)
class Budgets:
    """Optional upper bounds; ``None`` switches a constraint off.

    Attributes:
        latency_ms: simulated latency at the configured clock, milliseconds.
        params: parameter count.
        macs: conv + linear multiply-accumulates per image.
    """

    latency_ms: float | None = None
    params: int | None = None
    macs: int | None = None

    def __post_init__(self) -> None:
        for name in ("latency_ms", "params", "macs"):
            value = getattr(self, name)
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"constraints.{name}: expected a positive number or null, got {value!r}")

    def violations(self, latency_ms: float, params: int, macs: int) -> dict[str, float]:
        """Constraint values in Optuna's convention (<= 0 satisfied), relative to the budget."""
        measured = {"latency_ms": latency_ms, "params": params, "macs": macs}
        return {name: measured[name] / bound - 1.0 for name, bound in vars(self).items() if bound is not None}


@dataclass
class Evaluation:
    """What a search records for one architecture."""

    proxy: float
    latency_cycles: int
    latency_ms: float
    params: int
    macs: int
    constraints: dict[str, float] = field(default_factory=dict)

    @property
    def feasible(self) -> bool:
        return all(v <= 0 for v in self.constraints.values())

    def as_attrs(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "latency_cycles": self.latency_cycles, "latency_ms": self.latency_ms,
                "params": self.params, "macs": self.macs, "constraints": self.constraints}


class Evaluator:
    """Evaluates architectures on one hardware with one proxy.

    Args:
        hardware: the systolic array (latency at ``arch.input_size``, the deployment size).
        proxy: a zero-cost score from :data:`nos.proxies.NAMES`, or ``train`` for the
            short-training proxy (validation accuracy after ``train_budget``).
        data: data set name for the proxy.
        seed: proxy seed; the recorded score equals ``nos.proxies.score(arch, proxy, data=data, seed=seed)``
            (``nos.proxies.train_accuracy(arch, data, train_budget, seed)`` for ``train``).
        budgets: constraints.
        latency_model: ``compute`` (compute cycles, as the paper) or ``roofline`` (per layer the
            larger of compute and DRAM-transfer cycles at the hardware's bandwidth).
    """

    def __init__(self, hardware: sim.Hardware, proxy: str, data: str = "digits", seed: int = 0,
                 budgets: Budgets = Budgets(), latency_model: str = "compute",
                 train_budget: dict[str, Any] | None = None):
        if proxy not in PROXIES:
            raise ValueError(f"proxy.name: unknown proxy {proxy!r} (allowed: {', '.join(PROXIES)})")
        if proxy != TRAIN and train_budget:
            raise ValueError(f"proxy.budget: only the {TRAIN!r} proxy takes a training budget")
        self.train_budget = proxies.Budget() if train_budget is None else proxies.train.as_budget(train_budget)
        if latency_model not in LATENCY_MODELS:
            raise ValueError(f"search.latency_model: unknown model {latency_model!r} (allowed: {', '.join(LATENCY_MODELS)})")
        self.hardware, self.proxy, self.data, self.seed, self.budgets = hardware, proxy, data, seed, budgets
        self.latency_model = latency_model

    def latency(self, arch: Arch) -> tuple[int, float]:
        """(cycles, milliseconds) of one inference on the hardware."""
        result = sim.simulate(arch, self.hardware)
        if self.latency_model == "roofline":
            return int(result.roofline_cycles), float(result.roofline_latency_ms)
        return int(result.total_cycles), float(result.latency_ms)

    def __call__(self, arch: Arch) -> Evaluation:
        cycles, ms = self.latency(arch)
        params, macs = arch.params(), arch.macs()
        result = Evaluation(SKIPPED, cycles, ms, params, macs, self.budgets.violations(ms, params, macs))
        if result.feasible:
            result.proxy = self.proxy_score(arch)
        return result

    def proxy_score(self, arch: Arch) -> float:
        """The configured proxy of ``arch`` (higher = predicted more accurate)."""
        if self.proxy == TRAIN:
            return float(proxies.train_accuracy(arch, self.data, self.train_budget, self.seed))
        return float(proxies.score(arch, self.proxy, data=self.data, seed=self.seed))


def mnas_reward(accuracy: float, latency: float, target: float, w: float = -0.07) -> float:
    """MnasNet's scalarised objective ``accuracy * (latency / target) ** w`` (w < 0: soft
    latency penalty; MnasNet uses w = -0.07)."""
    if latency <= 0 or target <= 0:
        raise ValueError(f"latency and target must be positive, got latency={latency}, target={target}")
    return accuracy * math.pow(latency / target, w)
