"""The one shape of a trial: :class:`Evaluation` (what was measured for one architecture) and
:class:`TrialRecord` (a trial of a study: its number, state, choices, architecture and evaluation).

Search, reports, sweeps and export all read and write :class:`TrialRecord`; JSON is the exchange
format (:meth:`TrialRecord.to_dict` / :meth:`TrialRecord.from_dict`, flat keys, one object per
trial). A skipped proxy (an infeasible candidate is never scored) is ``None`` everywhere: ``null``
in JSON, an empty cell in CSV, a missing point in TensorBoard.
"""
from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from typing import Any, Mapping

from nos.arch import Arch, ArchError

RECORD_ATTR = "nos"  # the Optuna user attribute that holds a trial's evaluation (one storage write)
REFERENCE_ATTR = "reference"  # the user attribute naming the paper variant a trial evaluates
WORKER_ATTR = "worker"  # host:pid of the process that runs the trial (crash recovery)
STATES = ("COMPLETE", "FAIL", "RUNNING", "WAITING", "PRUNED")
OP_LETTERS = {"dw": "D", "full": "F", "fuse_half": "H", "fuse_full": "U"}
"""One letter per operator in :func:`operators`."""
METRICS = {"proxy": "maximize", "latency_ms": "minimize", "latency_cycles": "minimize", "energy_uj": "minimize",
           "area_mm2": "minimize"}
"""Objective metrics (:class:`Evaluation` fields) and their directions."""


def operators(arch: Arch) -> str:
    """The architecture's operators, one letter per block (:data:`OP_LETTERS`), e.g. ``DDHHUU...``."""
    return "".join(OP_LETTERS.get(b.op, "?") for b in arch.blocks)


class RecordError(ValueError):
    """A trial record (JSON) that does not have the documented fields."""


@dataclass(frozen=True)
class Evaluation:
    """What the evaluator measured for one architecture on one hardware configuration.

    Attributes:
        proxy: the proxy's value (higher = predicted more accurate, in the proxy's own unit),
            or None when it was skipped because a budget was broken.
        latency_cycles: simulated cycles of one inference (the run's latency model).
        latency_ms: the same in milliseconds at the hardware clock.
        params: parameters of the network (BN included).
        macs: conv + linear multiply-accumulates for one image at the deployment resolution.
        constraints: budget name -> Optuna constraint value ``measured / budget - 1`` (<= 0: met).
        energy_uj: energy of one inference on the hardware, microjoules (``nos.sim``'s model).
        area_mm2: chip area of the hardware, mm^2.
        hardware: the :class:`nos.sim.Hardware` fields of the array it was simulated on.
        proxy_label: what ``proxy`` is, with its unit (``nos.proxies.describe``), e.g.
            ``ImageNet top-1 (%), prior from published results``; not part of equality.
        proxy_std: the proxy's standard deviation of ``proxy``, in its unit, or None where the
            proxy has none (or was skipped).
    """

    proxy: float | None
    latency_cycles: int
    latency_ms: float
    params: int
    macs: int
    constraints: Mapping[str, float] = field(default_factory=dict)
    energy_uj: float | None = None
    area_mm2: float | None = None
    hardware: Mapping[str, Any] | None = None
    proxy_label: str | None = field(default=None, compare=False)
    proxy_std: float | None = None

    def __post_init__(self) -> None:
        if self.proxy is not None and not math.isfinite(self.proxy):
            raise RecordError(f"proxy: must be finite or None (skipped), got {self.proxy!r}")
        if self.proxy_std is not None and not (math.isfinite(self.proxy_std) and self.proxy_std >= 0):
            raise RecordError(f"proxy_std: must be a finite number >= 0 or None, got {self.proxy_std!r}")

    @property
    def feasible(self) -> bool:
        """Every budget is met."""
        return all(value <= 0 for value in self.constraints.values())

    def to_dict(self) -> dict[str, Any]:
        return {"proxy": self.proxy, "proxy_std": self.proxy_std, "proxy_label": self.proxy_label, "latency_cycles": self.latency_cycles, "latency_ms": self.latency_ms,
                "energy_uj": self.energy_uj, "area_mm2": self.area_mm2, "params": self.params, "macs": self.macs,
                "constraints": dict(self.constraints), "hardware": None if self.hardware is None else dict(self.hardware)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], where: str = "evaluation") -> Evaluation:
        hardware = data.get("hardware")
        if hardware is not None and not isinstance(hardware, Mapping):
            raise RecordError(f"{where}.hardware: expected an object of Hardware fields")
        return cls(proxy=_number(data, "proxy", float, where, optional=True),
                   latency_cycles=_number(data, "latency_cycles", int, where),
                   latency_ms=_number(data, "latency_ms", float, where),
                   params=_number(data, "params", int, where), macs=_number(data, "macs", int, where),
                   constraints=_constraints(data.get("constraints"), where),
                   energy_uj=_number(data, "energy_uj", float, where, optional=True),
                   area_mm2=_number(data, "area_mm2", float, where, optional=True),
                   hardware=None if hardware is None else dict(hardware), proxy_label=data.get("proxy_label"),
                   proxy_std=_number(data, "proxy_std", float, where, optional=True))

    def metric(self, name: str) -> float:
        """Objective metric ``name`` (:data:`METRICS`) as a number to optimise: a skipped proxy is
        -inf, a metric that was not measured +inf (never on a front)."""
        value = getattr(self, name)
        if value is None:
            return -math.inf if METRICS[name] == "maximize" else math.inf
        return float(value)


@dataclass(frozen=True)
class Training:
    """A trial's architecture trained stand-alone (``nos-train``): its measured accuracy.

    Attributes:
        accuracy_pct: validation top-1 (%) on ``data`` after training.
        data: the data set's name (``digits``, ``cifar10``, ``folder`` ...).
        budget: the :class:`nos.proxies.Budget` fields it was trained with.
        seed: the training seed.
        seconds: wall-clock training time.
        arch: the network that was trained: the trial's architecture with the data set's
            classes (and the budget's width and resolution).
        weights: its state dict file, relative to the run directory.
    """

    accuracy_pct: float
    data: str
    budget: Mapping[str, Any]
    seed: int
    seconds: float
    arch: Arch
    weights: str

    def to_dict(self) -> dict[str, Any]:
        return {"accuracy_pct": self.accuracy_pct, "data": self.data, "budget": dict(self.budget), "seed": self.seed,
                "seconds": self.seconds, "arch": self.arch.to_dict(), "weights": self.weights}

    @classmethod
    def from_dict(cls, data: Any, where: str = "trained") -> Training:
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: expected a JSON object, got {type(data).__name__}")
        try:
            arch = Arch.from_dict(data.get("arch"))
        except (ArchError, TypeError, AttributeError) as err:
            raise RecordError(f"{where}.arch: {err}") from None
        for key in ("data", "weights"):
            if not isinstance(data.get(key), str):
                raise RecordError(f"{where}.{key}: expected a string, got {data.get(key)!r}")
        if not isinstance(data.get("budget"), Mapping):
            raise RecordError(f"{where}.budget: expected an object of Budget fields")
        return cls(accuracy_pct=_number(data, "accuracy_pct", float, where), data=data["data"],
                   budget=dict(data["budget"]), seed=_number(data, "seed", int, where),
                   seconds=_number(data, "seconds", float, where), arch=arch, weights=data["weights"])


@dataclass(frozen=True)
class TrialRecord:
    """One trial of a search.

    Attributes:
        number: Optuna trial number.
        state: Optuna state name, one of :data:`STATES`.
        genome: the searched choices, e.g. ``{"b0.op": "dw", "b1.op": "fuse_half", ...}``.
        arch: the architecture (None for a trial that failed before it was decided).
        evaluation: what was measured (None for a trial without results).
        reference: the paper variant this trial evaluates (``fuse_half`` ...), else None.
        datetime_start: when the trial started, ISO 8601, or None.
        duration_s: seconds from start to completion, or None.
        cached_from: the earlier trial whose evaluation this repeated architecture reused.
        worker: ``host:pid`` of the process that ran it.
        trained: its stand-alone training by ``nos-train``, if any.
    """

    number: int
    state: str
    genome: Mapping[str, Any] = field(default_factory=dict)
    arch: Arch | None = None
    evaluation: Evaluation | None = None
    reference: str | None = None
    datetime_start: str | None = None
    duration_s: float | None = None
    cached_from: int | None = None
    worker: str | None = None
    trained: Training | None = None

    def __post_init__(self) -> None:
        if self.state not in STATES:
            raise RecordError(f"state: unknown state {self.state!r} (allowed: {', '.join(STATES)})")

    @property
    def complete(self) -> bool:
        """Finished with an evaluation (the trials reports and fronts are made of)."""
        return self.state == "COMPLETE" and self.evaluation is not None and self.arch is not None

    @property
    def feasible(self) -> bool:
        return self.evaluation is not None and self.evaluation.feasible

    def to_dict(self) -> dict[str, Any]:
        """Flat JSON-ready dict: identity fields, ``arch`` (the arch dict), then the evaluation's fields."""
        out = {"number": self.number, "state": self.state, "reference": self.reference,
               "datetime_start": self.datetime_start, "duration_s": self.duration_s,
               "cached_from": self.cached_from, "worker": self.worker, "genome": dict(self.genome),
               "feasible": self.feasible if self.evaluation is not None else None,
               "arch": None if self.arch is None else self.arch.to_dict(),
               "trained": None if self.trained is None else self.trained.to_dict()}
        if self.evaluation is not None:
            out.update(self.evaluation.to_dict())
        return out

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_dict(cls, data: Any, where: str = "record") -> TrialRecord:
        """Inverse of :meth:`to_dict`; raises :class:`RecordError` naming ``where`` and the field."""
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: expected a JSON object, got {type(data).__name__}")
        arch = None
        if data.get("arch") is not None:
            try:
                arch = Arch.from_dict(data["arch"])
            except ArchError as err:
                raise RecordError(f"{where}.arch: {err}") from None
        genome = data.get("genome") or {}
        if not isinstance(genome, Mapping):
            raise RecordError(f"{where}.genome: expected an object of choice -> value")
        evaluation = Evaluation.from_dict(data, where) if data.get("latency_cycles") is not None else None
        trained = None if data.get("trained") is None else Training.from_dict(data["trained"], f"{where}.trained")
        return cls(number=_number(data, "number", int, where), state=str(data.get("state")), genome=dict(genome),
                   arch=arch, evaluation=evaluation, reference=data.get("reference"),
                   datetime_start=data.get("datetime_start"),
                   duration_s=_number(data, "duration_s", float, where, optional=True),
                   cached_from=_number(data, "cached_from", int, where, optional=True), worker=data.get("worker"),
                   trained=trained)

    @classmethod
    def from_json(cls, text: str, where: str = "record") -> TrialRecord:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as err:
            raise RecordError(f"{where}: not valid JSON ({err.msg})") from None
        return cls.from_dict(data, where)

    def replace(self, **changes: Any) -> TrialRecord:
        return dataclasses.replace(self, **changes)


@dataclass(frozen=True)
class RunInfo:
    """A search run as ``run.json`` states it: its study, the settings that define its
    objectives and the numbers every report of it compares with. ``nos-search`` writes it
    (:meth:`to_dict`); export, ``nos-train`` and sweep summaries read it (:meth:`from_dict`).

    Attributes:
        study_name, storage: the Optuna study and its storage (a URL, or ``journal:<path>``).
        space, space_options: the search space's name and options (``ops``, ``kernels``, ...).
        hardware: :class:`nos.sim.Hardware` fields, a value or the list of choices of a co-search.
        hardware_searched: the array is co-searched (some field has choices).
        tech: the :class:`nos.sim.Tech` fields that price energy and area.
        proxy: the proxy's settings (``name``, ``data``, ``seed``, ``budget`` ...) and ``label``,
            its name with its unit.
        sampler: the Optuna sampler as configured (``_target_`` and its options).
        seed: the sampler's seed.
        objective: ``pareto`` or ``reward``.
        objectives: the study's metric names (Optuna's ``study.metric_names``).
        metrics: the reported front's :class:`Evaluation` fields.
        latency_model: ``compute`` or ``roofline``.
        budgets: the constraints (:class:`nos.search.objectives.Budgets` fields; None = off).
        input_size: the deployment image size the latency was simulated at (pixels).
        batch_size: trials proposed and evaluated together.
        hv_reference: the hypervolume reference point, metric -> value (None without references).
        references: the paper's variants in the space, label -> their evaluation.
        overrides: the command line's overrides (a sweep names each job by them).
    """

    study_name: str
    storage: str
    space: str = ""
    space_options: Mapping[str, Any] = field(default_factory=dict)
    hardware: Mapping[str, Any] = field(default_factory=dict)
    hardware_searched: bool = False
    tech: Mapping[str, Any] = field(default_factory=dict)
    proxy: Mapping[str, Any] = field(default_factory=dict)
    sampler: Mapping[str, Any] = field(default_factory=dict)
    seed: int = 0
    objective: str = "pareto"
    objectives: tuple[str, ...] = ("proxy", "latency_ms")
    metrics: tuple[str, ...] = ("proxy", "latency_ms")
    latency_model: str = "compute"
    budgets: Mapping[str, Any] = field(default_factory=dict)
    input_size: int | None = None
    batch_size: int = 1
    hv_reference: Mapping[str, float] | None = None
    references: Mapping[str, Evaluation] = field(default_factory=dict)
    overrides: tuple[str, ...] = ()

    @property
    def proxy_label(self) -> str:
        """The proxy with its unit, e.g. ``predicted ImageNet top-1 (%)`` (its name if unrecorded)."""
        return str(self.proxy.get("label") or self.proxy.get("name") or "proxy")

    def to_dict(self) -> dict[str, Any]:
        out = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        out.update(objectives=list(self.objectives), metrics=list(self.metrics), overrides=list(self.overrides),
                   references={k: e.to_dict() for k, e in self.references.items()},
                   hv_reference=None if self.hv_reference is None else dict(self.hv_reference))
        return json.loads(json.dumps(out))  # plain JSON types throughout

    @classmethod
    def from_dict(cls, data: Any, where: str = "run.json") -> RunInfo:
        """Inverse of :meth:`to_dict`; raises :class:`RecordError` naming ``where`` and the field."""
        if not isinstance(data, Mapping):
            raise RecordError(f"{where}: expected a JSON object, got {type(data).__name__}")
        missing = [key for key in ("study_name", "storage") if not isinstance(data.get(key), str)]
        if missing:
            raise RecordError(f"{where}: lacks the field(s) {', '.join(missing)}")
        known = {f.name: f for f in dataclasses.fields(cls)}
        values = {k: v for k, v in data.items() if k in known and v is not None}
        for key in ("space_options", "hardware", "tech", "proxy", "sampler", "budgets", "references"):
            if not isinstance(values.get(key, {}), Mapping):
                raise RecordError(f"{where}.{key}: expected an object")
        for key in ("objectives", "metrics", "overrides"):
            if not isinstance(values.get(key, []), list):
                raise RecordError(f"{where}.{key}: expected a list")
            if key in values:
                values[key] = tuple(values[key])
        values["references"] = {k: Evaluation.from_dict(e, f"{where}.references.{k}")
                                for k, e in values.get("references", {}).items()}
        if data.get("hv_reference") is None:
            values["hv_reference"] = None
        return cls(**values)


def _number(data: Mapping[str, Any], key: str, kind: type, where: str, optional: bool = False) -> Any:
    value = data.get(key)
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RecordError(f"{where}.{key}: expected a number, got {value!r}")
    if kind is int and value != int(value):
        raise RecordError(f"{where}.{key}: expected an integer, got {value!r}")
    return kind(value)


def _constraints(value: Any, where: str) -> dict[str, float]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise RecordError(f"{where}.constraints: expected an object of name -> value")
    return {str(k): _number(value, k, float, f"{where}.constraints") for k in value}
