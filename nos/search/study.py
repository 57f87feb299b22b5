"""An Optuna study over a search space: samplers, storages, the objective with its genome
cache, and read-back of the recorded trials."""
from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import optuna
import sqlalchemy
from optuna.trial import FrozenTrial, TrialState

from nos.arch import Arch
from nos.search.objectives import Evaluation, Evaluator, mnas_reward
from nos.search.space import BackboneSpace, arch_key

SAMPLERS = ("tpe", "nsga2", "nsga3", "random", "gp")
OBJECTIVES = ("pareto", "reward")
WORKER = f"{socket.gethostname()}:{os.getpid()}"  # recorded on every trial this process runs
LATENCY_UNITS = ("ms", "cycles")


def make_sampler(name: str, seed: int | None = 0, **options: Any) -> optuna.samplers.BaseSampler:
    """Sampler ``name`` (one of :data:`SAMPLERS`) seeded with ``seed``; ``options`` go to its
    constructor (e.g. ``population_size`` for nsga2/nsga3, ``n_startup_trials`` for tpe/gp)."""
    table = {
        "tpe": optuna.samplers.TPESampler,
        "nsga2": optuna.samplers.NSGAIISampler,
        "nsga3": optuna.samplers.NSGAIIISampler,
        "random": optuna.samplers.RandomSampler,
        "gp": optuna.samplers.GPSampler,
    }
    if name not in table:
        raise ValueError(f"sampler.name: unknown sampler {name!r} (allowed: {', '.join(SAMPLERS)})")
    try:
        return table[name](seed=seed, **options)
    except TypeError as err:
        raise ValueError(f"sampler: bad options for {name}: {err}") from None


def make_storage(url: str | None, journal: str | Path | None = None) -> optuna.storages.BaseStorage:
    """The study storage: an Optuna storage URL (``sqlite:///...``, ``postgresql+psycopg2://...``),
    ``journal:<path>`` for a journal file, or (``url`` None) the journal file ``journal``.

    RDB storages get a heartbeat, so a trial whose worker died is marked failed and retried
    once by the next worker (Optuna's RetryHeartbeatStaleTrialCallback). Errors name ``storage.url`` and say why the storage is unusable.
    """
    if url is None or str(url).startswith("journal:"):
        path = Path(str(url)[len("journal:"):] if url else journal)
        if not path.parent.is_dir():
            raise ValueError(f"storage.path: folder {str(path.parent)!r} does not exist")
        return optuna.storages.JournalStorage(optuna.storages.journal.JournalFileBackend(str(path)))
    for attempt in range(3):
        try:
            return optuna.storages.RDBStorage(
                url, heartbeat_interval=10, grace_period=30,
                heartbeat_stale_trial_callback=optuna.storages.RetryHeartbeatStaleTrialCallback(max_retry=1),
                engine_kwargs=_engine_options(url))
        except (sqlalchemy.exc.IntegrityError, sqlalchemy.exc.ProgrammingError):
            # workers starting together on an empty database race to create its tables
            time.sleep(0.5 * (attempt + 1))
        except Exception as err:  # sqlalchemy raises many kinds; all mean "unusable storage"
            first = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise ValueError(f"storage.url: cannot open {url!r}: {first}") from None
    raise ValueError(f"storage.url: cannot open {url!r}: its tables could not be created")


def _engine_options(url: str) -> dict[str, Any]:
    return {"connect_args": {"connect_timeout": 10}} if url.startswith("postgresql") else {}


def open_study(name: str, storage: optuna.storages.BaseStorage, sampler: optuna.samplers.BaseSampler,
               objective: str = "pareto") -> optuna.Study:
    """Create the study or resume it when one of this name exists in the storage."""
    if objective not in OBJECTIVES:
        raise ValueError(f"search.objective: unknown objective {objective!r} (allowed: {', '.join(OBJECTIVES)})")
    directions = ["maximize", "minimize"] if objective == "pareto" else ["maximize"]
    study = optuna.create_study(study_name=name, storage=storage, sampler=sampler,
                                directions=directions, load_if_exists=True)
    if len(study.directions) != len(directions):
        raise ValueError(f"study_name: study {name!r} exists with {len(study.directions)} objective(s); "
                         f"search.objective={objective} needs {len(directions)}")
    return study


@dataclass
class Record:
    """A finished trial as the reports see it."""

    trial: int
    state: str
    arch: Arch | None
    evaluation: Evaluation | None

    @property
    def feasible(self) -> bool:
        return self.evaluation is not None and self.evaluation.feasible


def to_record(trial: FrozenTrial) -> Record:
    attrs = trial.user_attrs
    if "arch" not in attrs or "latency_cycles" not in attrs:
        return Record(trial.number, trial.state.name, None, None)
    evaluation = Evaluation(attrs["proxy"], attrs["latency_cycles"], attrs["latency_ms"], attrs["params"],
                            attrs["macs"], dict(attrs.get("constraints", {})))
    return Record(trial.number, trial.state.name, Arch.from_json(attrs["arch"]), evaluation)


def records(study: optuna.Study) -> list[Record]:
    """Every trial of the study, in trial-number order."""
    return [to_record(t) for t in study.get_trials(deepcopy=False)]


class Objective:
    """The function Optuna calls: genome -> arch -> (proxy, latency) with a genome cache.

    The cache is keyed by :func:`nos.search.space.arch_key`; on a miss in this process it
    looks through the completed trials in the storage, so workers sharing a storage share
    results.
    """

    def __init__(self, space: BackboneSpace, evaluator: Evaluator, objective: str = "pareto",
                 latency_unit: str = "ms", reward_target_ms: float | None = None, reward_w: float = -0.07):
        if latency_unit not in LATENCY_UNITS:
            raise ValueError(f"search.latency_unit: unknown unit {latency_unit!r} (allowed: {', '.join(LATENCY_UNITS)})")
        if objective == "reward" and not reward_target_ms:
            raise ValueError("search.reward_target_ms: the reward objective needs a positive latency target in ms")
        self.space, self.evaluator = space, evaluator
        self.objective, self.latency_unit = objective, latency_unit
        self.reward_target_ms, self.reward_w = reward_target_ms, reward_w
        self._cache: dict[str, dict[str, Any]] = {}

    def _lookup(self, study: optuna.Study, key: str) -> dict[str, Any] | None:
        if key not in self._cache:
            for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)):
                if t.user_attrs.get("arch_key") == key:
                    self._cache[key] = {**t.user_attrs, "cached_from": t.number}
                    break
        return self._cache.get(key)

    def __call__(self, trial: optuna.Trial) -> float | tuple[float, float]:
        trial.set_user_attr("worker", WORKER)
        arch = self.space.to_arch(self.space.suggest(trial))
        key = arch_key(arch)
        trial.set_user_attr("arch_key", key)  # the architecture is decided: a crash from here on retries it
        attrs = self._lookup(trial.study, key)
        if attrs is None:
            attrs = {**self.evaluator(arch).as_attrs(), "arch": arch.to_json(indent=None), "arch_key": key}
            self._cache[key] = attrs
        for name, value in attrs.items():
            trial.set_user_attr(name, value)
        for name, value in attrs["constraints"].items():
            trial.set_constraint(name, value)
        return self.values(attrs["proxy"], attrs["latency_cycles"], attrs["latency_ms"])

    def values(self, proxy: float, cycles: int, ms: float) -> float | tuple[float, float]:
        if self.objective == "reward":
            return mnas_reward(proxy, ms, self.reward_target_ms, self.reward_w)
        return proxy, float(ms if self.latency_unit == "ms" else cycles)


def _alive(worker: str) -> bool:
    """Whether the process ``host:pid`` still runs (unknown hosts count as alive)."""
    host, _, pid = worker.rpartition(":")
    if host != socket.gethostname():
        return True
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def recover_stale_trials(study: optuna.Study, storage: optuna.storages.BaseStorage) -> list[int]:
    """Mark RUNNING trials whose worker process died as FAIL and retry each architecture once.

    Storages with a heartbeat (RDB) do this themselves (``heartbeat_interval`` and
    :class:`optuna.storages.RetryFailedTrialCallback`); for the journal file, which has no
    heartbeat, every trial records its worker as ``host:pid`` and a worker starting on the
    same host checks that the process is gone. Returns the trial numbers marked failed.
    """
    if isinstance(storage, optuna.storages.RDBStorage):
        return []
    study_id = storage.get_study_id_from_name(study.study_name)
    failed = []
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        worker = t.user_attrs.get("worker")
        if worker is None or _alive(worker):
            continue
        trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, t.number)
        try:
            storage.set_trial_state_values(trial_id, TrialState.FAIL)
        except optuna.exceptions.UpdateFinishedTrialError:
            continue  # another worker recovered it first
        failed.append(t.number)
        if "retry_of" not in t.user_attrs and t.params:
            study.enqueue_trial(t.params, user_attrs={"retry_of": t.number}, skip_if_exists=False)
    return failed


def run(study: optuna.Study, objective: Objective, n_trials: int | None, timeout: float | None,
        callbacks: Sequence[Callable[[optuna.Study, FrozenTrial], None]] = ()) -> None:
    """Run trials in this process (one at a time; scale out with more processes on one storage)."""
    study.optimize(objective, n_trials=n_trials, timeout=timeout, callbacks=list(callbacks), n_jobs=1)

