"""Objectives of a search: a cached, batched :class:`Evaluator` (architecture -> :class:`Evaluation`)
and :class:`Objectives` (an evaluation -> the values Optuna optimizes).

Latency is simulated first, for a whole batch of candidates in one :func:`nos.sim.simulate`
call; budgets become constraints; a candidate that breaks a budget never pays for the proxy
(its proxy is recorded as ``None``).
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from nos import proxies, sim
from nos.arch import Arch
from nos.search.record import Evaluation
from nos.search.space import arch_key

TRAIN = "train"  # the short-training proxy: validation accuracy after a short training budget
PROXIES = (*proxies.NAMES, TRAIN)
LATENCY_MODELS = ("compute", "roofline")
LATENCY_UNITS = ("ms", "cycles")
MODES = ("pareto", "reward")


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


class Evaluator:
    """Evaluates architectures on one hardware with one proxy; remembers every result.

    Args:
        hardware: the systolic array (latency at ``arch.input_size``, the deployment size).
        proxy: a score from :data:`nos.proxies.NAMES`, or ``train`` for the short-training
            proxy (validation accuracy after ``train_budget``).
        data: data set name for the proxy; ``root`` its folder where the data set needs one.
        seed: proxy seed; the recorded score equals ``nos.proxies.score(arch, proxy, data=data,
            seed=seed)`` (``nos.proxies.train_accuracy(arch, data, train_budget, seed)`` for ``train``).
        budgets: constraints.
        latency_model: ``compute`` (compute cycles, as the paper) or ``roofline`` (per layer the
            larger of compute and DRAM-transfer cycles at the hardware's bandwidth).
    """

    def __init__(self, hardware: sim.Hardware, proxy: str, data: str = "digits", seed: int = 0,
                 budgets: Budgets = Budgets(), latency_model: str = "compute",
                 train_budget: Mapping[str, Any] | None = None, root: str | None = None):
        if proxy not in PROXIES:
            raise ValueError(f"proxy.name: unknown proxy {proxy!r} (allowed: {', '.join(PROXIES)})")
        if proxy != TRAIN and train_budget:
            raise ValueError(f"proxy.budget: only the {TRAIN!r} proxy takes a training budget")
        if latency_model not in LATENCY_MODELS:
            raise ValueError(f"search.latency_model: unknown model {latency_model!r} "
                             f"(allowed: {', '.join(LATENCY_MODELS)})")
        self.train_budget = proxies.Budget() if train_budget is None else proxies.train.as_budget(train_budget)
        self.hardware, self.proxy, self.data, self.seed, self.budgets = hardware, proxy, data, seed, budgets
        self.latency_model, self.root = latency_model, root
        self._cache: dict[str, Evaluation] = {}
        self._proxies: dict[str, float] = {}

    def check_data(self) -> None:
        """Load the proxy's data set once, so a missing or malformed one fails before any trial
        (the error names the config key, ``proxy.data`` or ``proxy.root``)."""
        try:
            proxies.load(self.data, root=self.root)
        except ValueError as err:
            raise ValueError(f"proxy.{err}") from None

    def latencies(self, archs: Sequence[Arch]) -> tuple[np.ndarray, np.ndarray]:
        """(cycles, milliseconds) of one inference of each arch, from one simulator call."""
        result = sim.simulate(list(archs), self.hardware)
        if self.latency_model == "roofline":
            return np.atleast_1d(result.roofline_cycles), np.atleast_1d(result.roofline_latency_ms)
        return np.atleast_1d(result.total_cycles), np.atleast_1d(result.latency_ms)

    def evaluate(self, archs: Sequence[Arch], score_all: bool = False) -> list[Evaluation]:
        """The evaluation of every arch, in order. Architectures not seen before are simulated
        together in one call; the proxy runs only for those that meet every budget, unless
        ``score_all`` (the paper's variants are compared whatever the budgets say)."""
        keys = [arch_key(a) for a in archs]
        new = {key: arch for key, arch in zip(keys, archs) if key not in self._cache}
        if new:
            cycles, ms = self.latencies(list(new.values()))
            for (key, arch), c, t in zip(new.items(), cycles.tolist(), ms.tolist()):
                params, macs = arch.params(), arch.macs()
                constraints = self.budgets.violations(t, params, macs)
                feasible = all(v <= 0 for v in constraints.values())
                proxy = self._proxy(key, arch) if feasible else None
                self._cache[key] = Evaluation(proxy, int(c), float(t), params, macs, constraints)
        out = [self._cache[key] for key in keys]
        if score_all:
            out = [e if e.proxy is not None else dataclasses.replace(e, proxy=self._proxy(key, arch))
                   for e, key, arch in zip(out, keys, archs)]
        return out

    def _proxy(self, key: str, arch: Arch) -> float:
        if key not in self._proxies:
            self._proxies[key] = self.proxy_score(arch)
        return self._proxies[key]

    def __call__(self, arch: Arch) -> Evaluation:
        return self.evaluate([arch])[0]

    def __len__(self) -> int:
        """Distinct architectures evaluated so far."""
        return len(self._cache)

    def remember(self, key: str, evaluation: Evaluation) -> None:
        """Take an evaluation made elsewhere (another worker's trial) into the cache."""
        self._cache.setdefault(key, evaluation)

    def proxy_score(self, arch: Arch) -> float:
        """The configured proxy of ``arch`` (higher = predicted more accurate), even when infeasible."""
        if self.proxy == TRAIN:
            return float(proxies.train_accuracy(arch, self.data, self.train_budget, self.seed, root=self.root))
        return float(proxies.score(arch, self.proxy, data=self.data, seed=self.seed, root=self.root))


@dataclass(frozen=True)
class Objectives:
    """What Optuna optimizes, from an :class:`Evaluation`.

    ``pareto`` mode: (proxy up, latency down); ``reward`` mode: MnasNet's single objective
    ``proxy * (latency_ms / reward_target_ms) ** reward_w``. A skipped proxy counts as -inf
    for the sampler (the trial is also infeasible, so it never reaches a front).

    Attributes:
        mode: one of :data:`MODES`.
        latency_unit: ``ms`` or ``cycles`` (the latency objective's unit).
        reward_target_ms, reward_w: the reward's latency target and exponent.
    """

    mode: str = "pareto"
    latency_unit: str = "ms"
    reward_target_ms: float | None = None
    reward_w: float = -0.07

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"search.objective: unknown objective {self.mode!r} (allowed: {', '.join(MODES)})")
        if self.latency_unit not in LATENCY_UNITS:
            raise ValueError(f"search.latency_unit: unknown unit {self.latency_unit!r} "
                             f"(allowed: {', '.join(LATENCY_UNITS)})")
        if self.mode == "reward" and not (self.reward_target_ms and self.reward_target_ms > 0):
            raise ValueError("search.reward_target_ms: the reward objective needs a positive latency target in ms")

    @property
    def names(self) -> list[str]:
        """Metric names, as Optuna's ``study.metric_names``."""
        return ["reward"] if self.mode == "reward" else ["proxy", f"latency_{self.latency_unit}"]

    @property
    def directions(self) -> list[str]:
        return ["maximize"] if self.mode == "reward" else ["maximize", "minimize"]

    def values(self, e: Evaluation) -> list[float]:
        proxy = -math.inf if e.proxy is None else e.proxy
        if self.mode == "reward":
            return [-math.inf if e.proxy is None else mnas_reward(proxy, e.latency_ms, self.reward_target_ms,
                                                                  self.reward_w)]
        return [proxy, float(e.latency_ms if self.latency_unit == "ms" else e.latency_cycles)]


def mnas_reward(accuracy: float, latency: float, target: float, w: float = -0.07) -> float:
    """MnasNet's scalarised objective ``accuracy * (latency / target) ** w`` (w < 0: soft
    latency penalty; MnasNet uses w = -0.07)."""
    if latency <= 0 or target <= 0:
        raise ValueError(f"latency and target must be positive, got latency={latency}, target={target}")
    return accuracy * math.pow(latency / target, w)
