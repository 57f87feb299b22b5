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
from typing import Callable, Mapping, Sequence

from nos import proxies, sim
from nos.arch import Arch
from nos.search.record import METRICS, Evaluation
from nos.search.space import arch_key, candidate_key

PROXIES = proxies.PROXIES  # what proxy.name may be (nos.proxies.make builds each)
SUPERNETS = proxies.SUPERNETS  # the proxies that read a trained supernet (prepared before the study opens)
LATENCY_MODELS = ("compute", "roofline")
LATENCY_UNITS = ("ms", "cycles")
MODES = ("pareto", "reward")
OBJECTIVES = {"proxy": "proxy", "latency": "latency_ms", "energy": "energy_uj", "area": "area_mm2"}
"""Objective names of ``search.objectives`` -> the :class:`Evaluation` field (latency: in ``latency_unit``)."""


@dataclass(frozen=True)
class Budgets:
    """Optional upper bounds; ``None`` switches a constraint off.

    Attributes:
        latency_ms: simulated latency at the configured clock, milliseconds.
        params: parameter count.
        macs: conv + linear multiply-accumulates per image.
        energy_uj: simulated energy of one inference, microjoules.
        area_mm2: chip area of the array, mm^2.
        pes: processing elements of the array (rows x cols).
    """

    latency_ms: float | None = None
    params: int | None = None
    macs: int | None = None
    energy_uj: float | None = None
    area_mm2: float | None = None
    pes: int | None = None

    def __post_init__(self) -> None:
        for name, value in vars(self).items():
            if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value <= 0):
                raise ValueError(f"constraints.{name}: expected a positive number or null, got {value!r}")

    def violations(self, measured: Mapping[str, float]) -> dict[str, float]:
        """Constraint values in Optuna's convention (<= 0 satisfied), relative to the budget;
        ``measured`` maps every budget name to its measured value."""
        return {name: measured[name] / bound - 1.0 for name, bound in vars(self).items() if bound is not None}


class Evaluator:
    """Evaluates candidates, (architecture, array) pairs: simulates them, checks the budgets, asks
    the proxy for the feasible ones; remembers every result.

    Args:
        hardware: the array candidates run on unless :meth:`evaluate` is given others (latency
            at ``arch.input_size``, the deployment size).
        proxy: the accuracy proxy (:func:`nos.proxies.make`), or a name of :data:`PROXIES` that
            needs no more arguments (built with its defaults: digits, seed 0).
        budgets: constraints.
        latency_model: ``compute`` (compute cycles, as the paper) or ``roofline`` (per layer the
            larger of compute and DRAM-transfer cycles at the hardware's bandwidth).
        tech: energies and areas of the arrays (:class:`nos.sim.Tech`).
    """

    def __init__(self, hardware: sim.Hardware, proxy: proxies.Proxy | str, *, budgets: Budgets = Budgets(),
                 latency_model: str = "compute", tech: sim.Tech | None = None):
        if isinstance(proxy, str):
            try:
                proxy = proxies.make(proxy)
            except ValueError as err:
                raise ValueError(f"proxy.{err}") from None
        if not isinstance(proxy, proxies.Proxy):
            raise TypeError(f"proxy: expected a nos.proxies.Proxy or a proxy name, got {type(proxy).__name__}")
        if latency_model not in LATENCY_MODELS:
            raise ValueError(f"search.latency_model: unknown model {latency_model!r} "
                             f"(allowed: {', '.join(LATENCY_MODELS)})")
        self.hardware, self.proxy, self.budgets, self.latency_model = hardware, proxy, budgets, latency_model
        self.tech = sim.Tech() if tech is None else tech
        self._cache: dict[str, Evaluation] = {}
        self._scores: dict[str, proxies.Score] = {}

    @property
    def label(self) -> str:
        """What the proxy's value is, with its unit."""
        return self.proxy.label

    @property
    def warnings(self) -> list[str]:
        """The proxy's one-line guard-rail findings about the candidates scored so far."""
        return list(self.proxy.warnings)

    def check_data(self) -> None:
        """Load the proxy's data set once, so a missing or malformed one fails before any trial
        (the error names the config key, ``proxy.data`` or ``proxy.root``)."""
        try:
            self.proxy.check()
        except ValueError as err:
            raise ValueError(f"proxy.{err}") from None

    def prepare(self, progress: Callable[[int, int], None] | None = None) -> None:
        """The proxy's one-time work before the first candidate (the supernet's training, or
        reading it from its cache); ``progress`` gets (steps done, total steps) while it trains."""
        try:
            self.proxy.prepare(progress)
        except ValueError as err:
            raise ValueError(f"proxy.{err}") from None

    def measure(self, archs: Sequence[Arch], hardware: Sequence[sim.Hardware]) -> list[tuple[int, float, float, float]]:
        """(cycles, milliseconds, energy uJ, area mm^2) of one inference of each ``archs[i]`` on
        ``hardware[i]``, from one simulator call over the distinct architectures and arrays."""
        archs_at = {arch_key(a): a for a in archs}
        arrays_at = {h: None for h in hardware}
        arch_index = {key: i for i, key in enumerate(archs_at)}
        array_index = {h: i for i, h in enumerate(arrays_at)}
        result = sim.simulate(list(archs_at.values()), list(arrays_at), tech=self.tech)
        if self.latency_model == "roofline":
            cycles, ms = result.roofline_cycles, result.roofline_latency_ms
        else:
            cycles, ms = result.total_cycles, result.latency_ms
        energy, area = result.energy_pj, sim.area_mm2(list(arrays_at), self.tech)
        out = []
        for a, h in zip(archs, hardware):
            i, j = array_index[h], arch_index[arch_key(a)]
            out.append((int(cycles[i, j]), float(ms[i, j]), float(energy[i, j]) / 1e6, float(area[i])))
        return out

    def evaluate(self, archs: Sequence[Arch], hardware: sim.Hardware | Sequence[sim.Hardware] | None = None,
                 score_all: bool = False) -> list[Evaluation]:
        """The evaluation of every arch (on ``hardware``: the evaluator's array, one array for all,
        or one per arch), in order. Candidates not seen before are simulated together in one
        call; the proxy runs only for those that meet every budget, unless ``score_all`` (the
        paper's variants are compared whatever the budgets say)."""
        hardware = self.hardware if hardware is None else hardware
        arrays = [hardware] * len(archs) if isinstance(hardware, sim.Hardware) else list(hardware)
        if len(arrays) != len(archs):
            raise ValueError(f"hardware: {len(arrays)} arrays for {len(archs)} architectures")
        keys = [candidate_key(a, h) for a, h in zip(archs, arrays)]
        new = {key: (a, h) for key, a, h in zip(keys, archs, arrays) if key not in self._cache}
        if new:
            pairs = list(new.values())
            for (key, (arch, h)), (c, t, energy, area) in zip(new.items(), self.measure(*zip(*pairs))):
                params, macs = arch.params(), arch.macs()
                measured = {"latency_ms": t, "params": params, "macs": macs, "energy_uj": energy,
                            "area_mm2": area, "pes": h.rows * h.cols}
                constraints = self.budgets.violations(measured)
                feasible = all(v <= 0 for v in constraints.values())
                self._cache[key] = Evaluation(None, c, t, params, macs, constraints, energy, area,
                                              dataclasses.asdict(h), self.label)
            scored = [arch for key, (arch, _) in new.items() if self._cache[key].feasible]
            self._score(scored)
            for key, (arch, _) in new.items():
                if self._cache[key].feasible:
                    self._cache[key] = self._with_score(self._cache[key], arch)
        out = [self._cache[key] for key in keys]
        if score_all:
            self._score([arch for e, arch in zip(out, archs) if e.proxy is None])
            out = [e if e.proxy is not None else self._with_score(e, arch) for e, arch in zip(out, archs)]
        return out

    def _score(self, archs: Sequence[Arch]) -> None:
        """Ask the proxy, in one batch, for the architectures it has not scored yet."""
        todo = list({arch_key(a): a for a in archs if arch_key(a) not in self._scores}.items())
        if todo:
            for (key, _), value in zip(todo, self.proxy.score([a for _, a in todo])):
                self._scores[key] = value

    def _with_score(self, evaluation: Evaluation, arch: Arch) -> Evaluation:
        value = self._scores[arch_key(arch)]
        return dataclasses.replace(evaluation, proxy=float(value.value), proxy_std=value.std)

    def __call__(self, arch: Arch) -> Evaluation:
        return self.evaluate([arch])[0]

    def __len__(self) -> int:
        """Distinct candidates evaluated so far."""
        return len(self._cache)

    def remember(self, key: str, evaluation: Evaluation) -> None:
        """Take an evaluation made elsewhere (another worker's trial) into the cache."""
        self._cache.setdefault(key, evaluation)


@dataclass(frozen=True)
class Objectives:
    """What Optuna optimizes, from an :class:`Evaluation`.

    ``pareto`` mode: the ``metrics`` (two or more of :data:`OBJECTIVES`: ``proxy`` up,
    ``latency``, ``energy``, ``area`` down); ``reward`` mode: MnasNet's single objective
    ``proxy * (latency_ms / reward_target_ms) ** reward_w``. A skipped proxy counts as -inf
    for the sampler (the trial is also infeasible, so it never reaches a front).

    Attributes:
        mode: one of :data:`MODES`.
        metrics: the objectives of the ``pareto`` mode.
        latency_unit: ``ms`` or ``cycles`` (the latency objective's unit).
        reward_target_ms, reward_w: the reward's latency target and exponent.
    """

    mode: str = "pareto"
    metrics: tuple[str, ...] = ("proxy", "latency")
    latency_unit: str = "ms"
    reward_target_ms: float | None = None
    reward_w: float = -0.07

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise ValueError(f"search.objective: unknown objective {self.mode!r} (allowed: {', '.join(MODES)})")
        unknown = [m for m in self.metrics if m not in OBJECTIVES]
        if unknown or len(set(self.metrics)) != len(self.metrics) or len(self.metrics) < 2:
            raise ValueError(f"search.objectives: expected two or more distinct of {', '.join(OBJECTIVES)}, "
                             f"got {list(self.metrics)}")
        if self.latency_unit not in LATENCY_UNITS:
            raise ValueError(f"search.latency_unit: unknown unit {self.latency_unit!r} "
                             f"(allowed: {', '.join(LATENCY_UNITS)})")
        if self.mode == "reward" and not (self.reward_target_ms and self.reward_target_ms > 0):
            raise ValueError("search.reward_target_ms: the reward objective needs a positive latency target in ms")

    @property
    def front(self) -> list[str]:
        """The :class:`Evaluation` fields of the reported Pareto front (``reward`` mode: proxy, latency)."""
        metrics = self.metrics if self.mode == "pareto" else ("proxy", "latency")
        return [f"latency_{self.latency_unit}" if m == "latency" else OBJECTIVES[m] for m in metrics]

    @property
    def names(self) -> list[str]:
        """Metric names, as Optuna's ``study.metric_names``."""
        return ["reward"] if self.mode == "reward" else self.front

    @property
    def directions(self) -> list[str]:
        return ["maximize"] if self.mode == "reward" else [METRICS[name] for name in self.front]

    def values(self, e: Evaluation) -> list[float]:
        if self.mode == "reward":
            return [-math.inf if e.proxy is None else mnas_reward(e.proxy, e.latency_ms, self.reward_target_ms,
                                                                  self.reward_w)]
        return [e.metric(name) for name in self.front]


def mnas_reward(accuracy: float, latency: float, target: float, w: float = -0.07) -> float:
    """MnasNet's scalarised objective ``accuracy * (latency / target) ** w`` (w < 0: soft
    latency penalty; MnasNet uses w = -0.07)."""
    if latency <= 0 or target <= 0:
        raise ValueError(f"latency and target must be positive, got latency={latency}, target={target}")
    return accuracy * math.pow(latency / target, w)
