"""The configuration of a search run: one set of dataclasses that is both the library's input
(:class:`RunConfig`) and the Hydra apps' structured-config schema (``conf/search.yaml``), and
:class:`Plan`, what a configuration resolves to.

Each setting is defined once: the schemas of the library's own frozen dataclasses
(:class:`nos.sim.Hardware`, :class:`nos.search.objectives.Budgets`,
:class:`nos.proxies.Budget`) are derived from them (:func:`schema`); the samplers are the files
of ``conf/sampler/`` (:func:`group_options`); ``conf/search.yaml`` holds only the choice of
each config group and the ``hydra:`` block, the defaults being these dataclasses'.

Values are checked in two places, both before anything is written: OmegaConf checks types and
refuses unknown keys when Hydra composes the config; :meth:`RunConfig.resolve` (and the
constructors it calls: ``Hardware``, ``Budgets``, ``Objectives``, the space, the evaluator)
checks values, each error naming the key and the allowed values.
"""
from __future__ import annotations

import dataclasses
import importlib.resources
import types
import typing
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping, Optional

import optuna
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from omegaconf import OmegaConf

from nos import proxies, sim
from nos.search.objectives import SUPERNETS, Budgets, Evaluator, Objectives
from nos.search.space import HardwareChoices, SearchSpace
from search_spaces import get_space

CONFIG_PACKAGE = "nos.conf"  # conf/, shipped in the package
_SCHEMA_TYPES = (int, float, bool, str)  # field types OmegaConf checks; others are Any


def _schema_type(hint: Any, optional: bool) -> Any:
    """``hint`` as a type OmegaConf understands: ``X | None`` -> ``Optional[X]``, an unsupported
    type -> ``Any``."""
    args = typing.get_args(hint) if isinstance(hint, types.UnionType) or typing.get_origin(hint) is typing.Union \
        else ()
    if args:
        others = [a for a in args if a is not type(None)]
        base = others[0] if len(others) == 1 and others[0] in _SCHEMA_TYPES else Any
        return Optional[base]
    base = hint if hint in _SCHEMA_TYPES else Any
    return Optional[base] if optional else base


def schema(cls: type, name: str, optional: bool = False) -> type:
    """A mutable dataclass with the fields of the (frozen) dataclass ``cls``, for Hydra.

    OmegaConf makes a frozen dataclass node read-only, so Hydra could not merge a config file
    into it; the schema keeps ``cls`` the one source of the fields, and ``cls(**fields)``
    validates the values. With ``optional`` every field is ``Optional`` with default None: the
    fields a user sets over a default instance, which its ``fields()`` method returns."""
    hints = typing.get_type_hints(cls)
    fields = [(f.name, _schema_type(hints[f.name], optional), field(default=None if optional else f.default))
              for f in dataclasses.fields(cls)]
    return dataclasses.make_dataclass(name, fields, namespace={"fields": _set_fields} if optional else {})


def _set_fields(node: Any) -> dict[str, Any]:
    """The fields of an optional schema that are set (not None)."""
    return {k: v for k, v in dataclasses.asdict(node).items() if v is not None}


HardwareSchema = schema(sim.Hardware, "HardwareSchema")
BudgetsSchema = schema(Budgets, "BudgetsSchema")
BudgetConfig = schema(proxies.Budget, "BudgetConfig", optional=True)
"""``proxy.budget`` and ``nos-train``'s ``budget``: :class:`nos.proxies.Budget` fields, null keeps the
default budget's value."""


def group_options(group: str) -> list[str]:
    """The options of a config group of ``conf/`` (its YAML files), e.g. the samplers."""
    folder = importlib.resources.files(CONFIG_PACKAGE) / group
    return sorted(p.name[:-len(".yaml")] for p in folder.iterdir() if p.name.endswith(".yaml"))


def group_option(group: str, option: str) -> dict[str, Any]:
    """The settings of one option of a config group, less the keys the app fills in by
    interpolation (``seed: ${seed}``)."""
    text = (importlib.resources.files(CONFIG_PACKAGE) / group / f"{option}.yaml").read_text()
    node = OmegaConf.to_container(OmegaConf.create(text), resolve=False)
    return {k: v for k, v in node.items() if k != "defaults" and not (isinstance(v, str) and "${" in v)}


def default_option(group: str) -> str:
    """The option ``conf/search.yaml`` chooses for ``group``."""
    text = (importlib.resources.files(CONFIG_PACKAGE) / "search.yaml").read_text()
    for entry in OmegaConf.create(text).defaults:
        if isinstance(entry, Mapping) and group in entry:
            return str(entry[group])
    raise KeyError(group)


def instantiate_node(node: Mapping[str, Any], key: str, **overrides: Any) -> Any:
    """``hydra.utils.instantiate`` with a one-line ValueError naming ``key`` (and without Optuna's
    notes that a sampler or storage option is experimental)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return instantiate(dict(node), **overrides)
    except InstantiationException as err:
        cause = err.__cause__ if err.__cause__ is not None else err
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if isinstance(cause, ValueError) and message.startswith(f"{key}."):
            raise ValueError(message) from None
        raise ValueError(f"{key}: cannot build {node.get('_target_')}: {message}") from None


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

    n_trials: Optional[int] = 400  # trials this invocation runs (make run's time: README); null: no limit
    total_trials: Optional[int] = None  # stop when the study holds this many complete trials (all workers, resumes)
    timeout: Optional[float] = None  # seconds this invocation may run, or null
    objective: str = "pareto"  # pareto: the objectives below, multi-objective; reward: MnasNet's single objective
    objectives: list[str] = field(default_factory=lambda: ["proxy", "latency"])  # 2+ of proxy, latency, energy, area
    latency_unit: str = "ms"  # ms | cycles
    latency_model: str = "compute"  # compute: compute cycles (as the paper); roofline: max(compute, DRAM) per layer
    reward_target_ms: Optional[float] = None  # reward: the latency target (ms)
    reward_w: float = -0.07  # reward: the latency exponent
    batch_size: Optional[int] = None  # trials proposed and simulated together; null: the sampler's population, else 1
    report_every: int = 100  # refresh pareto.json, report.md, the figures and TensorBoard's front every N trials
    seed_references: bool = True  # a new study first evaluates the paper's variants (baseline, Full, Half, 50 %)


@dataclass
class RunConfig:
    """Everything a search run needs (``conf/search.yaml`` composes one; ``RunConfig()`` has the
    same defaults).

    ``hardware`` holds :class:`nos.sim.Hardware` fields, each a value or a list of values the
    search chooses among (``conf/hardware/cosearch.yaml``); ``tech`` the :class:`nos.sim.Tech`
    fields that price energy and area; ``sampler`` an Optuna sampler as
    ``{"_target_": <class path>, <options>}`` (``conf/sampler/``; its seed is ``seed`` unless it
    names one); ``constraints`` the budgets (:class:`nos.search.objectives.Budgets`).
    """

    space: SpaceConfig = field(default_factory=SpaceConfig)
    hardware: Any = field(default_factory=dict)
    tech: Any = field(default_factory=dict)
    proxy: ProxyConfig = field(default_factory=ProxyConfig)
    sampler: Any = None  # None: the option conf/search.yaml chooses (conf/sampler/tpe.yaml)
    storage: StorageConfig = field(default_factory=StorageConfig)
    search: SearchSettings = field(default_factory=SearchSettings)
    constraints: BudgetsSchema = field(default_factory=BudgetsSchema)
    seed: int = 0  # the sampler's seed (workers of one study take different seeds)
    study_name: str = "nos"  # workers with the same study_name and storage share one study

    def resolve(self) -> Plan:
        """The run these settings describe, built once; raises ValueError (naming the key)
        unless every value is usable. Writes nothing (it loads the proxy's data set once)."""
        s = self.search
        for key in ("n_trials", "total_trials", "batch_size"):
            value = getattr(s, key)
            if value is not None and (isinstance(value, bool) or value < 1):
                raise ValueError(f"search.{key}: expected a positive integer or null, got {value!r}")
        if s.timeout is not None and not s.timeout > 0:
            raise ValueError(f"search.timeout: expected positive seconds or null, got {s.timeout!r}")
        if s.report_every < 1:
            raise ValueError(f"search.report_every: expected a positive integer, got {s.report_every!r}")
        sampler_node = group_option("sampler", default_option("sampler")) if self.sampler is None else self.sampler
        if not isinstance(sampler_node, Mapping) or not isinstance(sampler_node.get("_target_"), str):
            raise ValueError(f"sampler: expected a mapping with _target_ (one of conf/sampler/: "
                             f"{', '.join(group_options('sampler'))}), got {self.sampler!r}")
        if not self.study_name:
            raise ValueError("study_name: must not be empty")
        storage = dataclasses.asdict(self.storage)
        if storage["url"] is None and storage["path"] is None:
            raise ValueError("storage.url: missing; give storage.url=<database URL, e.g. "
                             "postgresql+psycopg2://user:password@host/db> or use storage=journal")
        tech = sim.Tech.from_dict(_plain(self.tech))
        hardware = HardwareChoices(_plain(self.hardware), tech)
        budgets = Budgets(**_plain(self.constraints))
        objectives = Objectives(s.objective, tuple(s.objectives), s.latency_unit, s.reward_target_ms, s.reward_w)
        space = SearchSpace(get_space(self.space.name, **self.space.options()), hardware)
        evaluator = self._evaluator(space, budgets, tech)
        evaluator.check_data()
        sampler = instantiate_node(sampler_node, "sampler", **({} if "seed" in sampler_node else {"seed": self.seed}))
        if not isinstance(sampler, optuna.samplers.BaseSampler):
            raise ValueError(f"sampler: {sampler_node['_target_']} is not an Optuna sampler")
        p = self.proxy
        defining = {"space": dataclasses.asdict(self.space), "hardware": hardware.describe(),
                    "tech": dataclasses.asdict(tech),
                    "proxy": {**{k: v for k, v in dataclasses.asdict(p).items() if k != "cache_dir"},
                              "name": p.resolved_name, "budget": p.budget.fields()},
                    "search": {"objective": s.objective, "objectives": list(s.objectives),
                               "latency_unit": s.latency_unit, "latency_model": s.latency_model,
                               "reward_target_ms": s.reward_target_ms, "reward_w": s.reward_w},
                    "constraints": dataclasses.asdict(budgets)}
        return Plan(self, space, objectives, budgets, tech, evaluator, sampler, dict(sampler_node),
                    s.batch_size or sampler_node.get("population_size") or 1, storage, defining)

    def _evaluator(self, space: SearchSpace, budgets: Budgets, tech: sim.Tech) -> Evaluator:
        """The :class:`Evaluator` of these settings for ``space`` (its operators' supernet for
        ``proxy=supernet``, untrained until :meth:`Evaluator.prepare`)."""
        p, o = self.proxy, space.operators
        supernet = proxies.Supernet(o.base, o.operator_choices) if p.resolved_name in SUPERNETS else None
        try:
            proxy = proxies.make(p.resolved_name, data=p.data, seed=p.seed, root=p.root, budget=p.budget.fields(),
                                 supernet=supernet, cache_dir=p.cache_path())
        except ValueError as err:
            raise ValueError(f"proxy.{err}") from None
        return Evaluator(space.hardware.reference, proxy, budgets=budgets, latency_model=self.search.latency_model,
                         tech=tech)


@dataclass(frozen=True)
class Plan:
    """A :class:`RunConfig` resolved: every object a run is made of, built once and checked.

    Attributes:
        config: the settings it was resolved from.
        space: the search space (operators and array choices).
        objectives: what Optuna optimizes.
        budgets: the constraints.
        tech: the technology table that prices energy and area.
        evaluator: the cached, batched evaluator (the proxy's data set checked).
        sampler: the Optuna sampler.
        sampler_config: its settings (``_target_`` and options).
        batch: trials proposed and evaluated together.
        storage: ``url`` and ``path`` of the study storage (a relative path is under the run directory).
        defining: the settings that define the study's objectives (a resumed study must keep them).
    """

    config: RunConfig
    space: SearchSpace
    objectives: Objectives
    budgets: Budgets
    tech: sim.Tech
    evaluator: Evaluator
    sampler: optuna.samplers.BaseSampler
    sampler_config: Mapping[str, Any]
    batch: int
    storage: Mapping[str, Any]
    defining: Mapping[str, Any]


def _plain(node: Any) -> dict[str, Any]:
    """A schema dataclass or a mapping as a plain dict."""
    if dataclasses.is_dataclass(node):
        return dataclasses.asdict(node)
    if isinstance(node, Mapping):
        return dict(node)
    raise ValueError(f"expected a mapping of fields, got {type(node).__name__}")
