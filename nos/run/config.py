"""The configuration of a search run: one set of dataclasses that is both the library's input
(:class:`RunConfig`) and the Hydra apps' structured-config schema (``conf/search.yaml``).

Field validation happens in two places, both before anything is written: OmegaConf checks
types and refuses unknown keys when Hydra composes the config; :meth:`RunConfig.validate` (and
the constructors it calls: ``Hardware``, ``Budgets``, ``Objectives``, the space, the proxy)
checks values, each error naming the key and the allowed values.
"""
from __future__ import annotations

import dataclasses
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from nos import proxies, sim
from nos.search.objectives import SUPERNET, Budgets, Evaluator, Objectives
from nos.search.space import HardwareChoices, SearchSpace

SAMPLER_TARGETS = {
    "tpe": "optuna.samplers.TPESampler",
    "nsga2": "optuna.samplers.NSGAIISampler",
    "nsga3": "optuna.samplers.NSGAIIISampler",
    "random": "optuna.samplers.RandomSampler",
    "gp": "optuna.samplers.GPSampler",
}  # the sampler configs of conf/sampler/, by name


def mutable_schema(cls: type) -> type:
    """A non-frozen dataclass with the fields, types and defaults of frozen dataclass ``cls``.

    OmegaConf makes a frozen dataclass node read-only, so Hydra could not merge a config file
    into it; the schema keeps one source of truth (``cls``) and ``cls(**fields)`` validates."""
    hints = typing.get_type_hints(cls)
    fields = [(f.name, hints[f.name], field(default=f.default)) for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(f"{cls.__name__}Schema", fields)


HardwareSchema = mutable_schema(sim.Hardware)
BudgetsSchema = mutable_schema(Budgets)


@dataclass
class SpaceConfig:
    """``space``: a registered search space (``search_spaces/``) and its options."""

    name: str = "mobilenet_v2"
    ops: Optional[list[str]] = None  # None: every operator
    kernels: Optional[list[int]] = None  # e.g. [3, 5, 7]; None: the backbone's
    expansions: Optional[list[float]] = None  # e.g. [3, 6]; None: the backbone's

    def options(self) -> dict[str, Any]:
        return {k: v for k, v in dataclasses.asdict(self).items() if k != "name" and v is not None}


@dataclass
class BudgetConfig:
    """``proxy.budget``: :class:`nos.proxies.Budget` fields for ``proxy=train`` and
    ``proxy=supernet``; a null field keeps the proxy's default budget's value."""

    epochs: Optional[float] = None
    steps: Optional[int] = None
    batch_size: Optional[int] = None
    lr: Optional[float] = None
    schedule: Optional[str] = None
    warmup: Optional[float] = None
    momentum: Optional[float] = None
    weight_decay: Optional[float] = None
    resolution: Optional[int] = None
    width: Optional[float] = None

    def fields(self) -> dict[str, Any]:
        """The fields that are set."""
        return {k: v for k, v in dataclasses.asdict(self).items() if v is not None}


@dataclass
class ProxyConfig:
    """``proxy``: the accuracy objective."""

    name: Optional[str] = None  # None: nos.proxies.DEFAULT
    data: str = "digits"  # a data set of nos.proxies.DATASETS
    root: Optional[str] = None  # the data set's folder, for data sets read from disk
    seed: int = 0  # the proxy's seed: a recorded value equals nos.proxies.score(arch, name, data, seed)
    budget: BudgetConfig = field(default_factory=BudgetConfig)  # proxy=train|supernet
    cache_dir: Optional[str] = None  # proxy=supernet: trained supernets; None: $XDG_CACHE_HOME/nos/supernets

    @property
    def resolved_name(self) -> str:
        return proxies.DEFAULT if self.name is None else self.name

    def cache_path(self) -> str:
        """The folder of trained supernets (shared by runs and workers; where it is does not
        change a result, so it is not part of what defines a study)."""
        if self.cache_dir is not None:
            return str(Path(self.cache_dir).expanduser())
        return str(proxies.supernet.default_cache_dir())


@dataclass
class StorageConfig:
    """``storage``: where the Optuna study lives (``nos.search.study.make_storage``)."""

    _target_: str = "nos.search.study.make_storage"
    url: Optional[str] = None  # any Optuna storage URL, or journal:<path>
    path: Optional[str] = "study.journal"  # the journal file, relative to the run directory


@dataclass
class SearchSettings:
    """``search``: how long to search and what to optimize."""

    n_trials: Optional[int] = 400  # trials this invocation runs; None: until the timeout
    timeout: Optional[float] = None  # seconds, or None
    objective: str = "pareto"  # pareto: (proxy, latency); reward: MnasNet's single objective
    latency_unit: str = "ms"  # ms | cycles
    latency_model: str = "compute"  # compute | roofline
    objectives: list[str] = field(default_factory=lambda: ["proxy", "latency"])  # pareto: 2+ of proxy, latency, energy, area
    reward_target_ms: Optional[float] = None
    reward_w: float = -0.07
    batch_size: Optional[int] = None  # trials proposed together; None: the sampler's population, else 1
    report_every: int = 100  # refresh pareto.json, the figures and TensorBoard's front every N trials
    seed_references: bool = True  # a new study first evaluates the paper's variants in the space

    def spec(self) -> Objectives:
        """The objectives these settings define."""
        return Objectives(self.objective, tuple(self.objectives), self.latency_unit, self.reward_target_ms,
                          self.reward_w)


@dataclass
class RunConfig:
    """Everything a search run needs (``conf/search.yaml`` composes one).

    ``hardware`` holds :class:`nos.sim.Hardware` fields, each a value or a list of values the
    search chooses among (``conf/hardware/cosearch.yaml``); ``tech`` the :class:`nos.sim.Tech`
    fields that price energy and area; ``sampler`` an Optuna sampler as
    ``{"_target_": <class path>, "seed": ..., <options>}``; ``constraints`` the budgets.
    """

    space: SpaceConfig = field(default_factory=SpaceConfig)
    hardware: Any = field(default_factory=dict)
    tech: Any = field(default_factory=dict)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    sampler: Any = field(default_factory=lambda: {"_target_": SAMPLER_TARGETS["tpe"], "seed": 0})
    storage: StorageConfig = field(default_factory=StorageConfig)
    search: SearchSettings = field(default_factory=SearchSettings)
    constraints: Any = field(default_factory=BudgetsSchema)
    seed: int = 0  # the sampler's seed (workers of one study take different seeds)
    study_name: str = "nos"

    def validate(self) -> None:
        """Raise ValueError (naming the key) unless every value is usable; writes nothing."""
        s = self.search
        if s.n_trials is not None and (isinstance(s.n_trials, bool) or s.n_trials < 1):
            raise ValueError(f"search.n_trials: expected a positive integer or null, got {s.n_trials!r}")
        if s.timeout is not None and not s.timeout > 0:
            raise ValueError(f"search.timeout: expected positive seconds or null, got {s.timeout!r}")
        if s.batch_size is not None and s.batch_size < 1:
            raise ValueError(f"search.batch_size: expected a positive integer or null, got {s.batch_size!r}")
        if s.report_every < 1:
            raise ValueError(f"search.report_every: expected a positive integer, got {s.report_every!r}")
        if not isinstance(self.sampler, dict) or not isinstance(self.sampler.get("_target_"), str):
            raise ValueError(f"sampler: expected a mapping with _target_ (one of conf/sampler/: "
                             f"{', '.join(SAMPLER_TARGETS)}), got {self.sampler!r}")
        if not self.study_name:
            raise ValueError("study_name: must not be empty")
        self.hardware_choices()
        self.budgets()
        s.spec()

    def tech_spec(self) -> sim.Tech:
        return sim.Tech.from_dict(_plain(self.tech))

    def hardware_choices(self) -> HardwareChoices:
        """The array: fixed fields, and the lists of choices of a co-search."""
        return HardwareChoices(_plain(self.hardware), self.tech_spec())

    def budgets(self) -> Budgets:
        return Budgets(**_plain(self.constraints))

    def evaluator(self, space: SearchSpace) -> Evaluator:
        """The :class:`Evaluator` of these settings for ``space`` (its operators' supernet for
        ``proxy=supernet``, untrained until :meth:`Evaluator.prepare`)."""
        p, o = self.proxy, space.operators
        supernet = proxies.Supernet(o.base, o.operator_choices) if p.resolved_name == SUPERNET else None
        try:
            proxy = proxies.make(p.resolved_name, p.data, p.seed, p.root, p.budget.fields(), supernet, p.cache_path())
        except ValueError as err:
            raise ValueError(f"proxy.{err}") from None
        return Evaluator(space.hardware.reference, proxy, budgets=self.budgets(), latency_model=self.search.latency_model,
                         tech=self.tech_spec())

    def defining(self) -> dict[str, Any]:
        """The settings that define the study's objectives: a resumed study must keep them."""
        s = self.search
        return {"space": dataclasses.asdict(self.space), "hardware": self.hardware_choices().describe(),
                "tech": dataclasses.asdict(self.tech_spec()),
                "proxy": {**{k: v for k, v in dataclasses.asdict(self.proxy).items() if k != "cache_dir"},
                          "name": self.proxy.resolved_name, "budget": self.proxy.budget.fields()},
                "search": {"objective": s.objective, "objectives": list(s.objectives), "latency_unit": s.latency_unit,
                           "latency_model": s.latency_model, "reward_target_ms": s.reward_target_ms,
                           "reward_w": s.reward_w},
                "constraints": dataclasses.asdict(self.budgets())}


def _plain(node: Any) -> dict[str, Any]:
    """A schema dataclass or a mapping as a plain dict."""
    if dataclasses.is_dataclass(node):
        return dataclasses.asdict(node)
    if isinstance(node, dict):
        return dict(node)
    raise ValueError(f"expected a mapping of fields, got {type(node).__name__}")


def differences(stored: Any, current: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts."""
    if isinstance(stored, dict) and isinstance(current, dict):
        out = []
        for key in sorted(set(stored) | set(current), key=str):
            out += differences(stored.get(key), current.get(key), f"{prefix}{key}.")
        return out
    return [] if stored == current else [prefix.rstrip(".")]
