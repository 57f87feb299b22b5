"""A search run: one run directory, one Optuna study, the paper's variants as references, the
trials (asked in batches, evaluated together, told back), the progress line and the reports.

:class:`Run` validates everything in its constructor and writes nothing; :meth:`Run.open`
creates or resumes the study (refusing a resume under settings that change the objectives);
:meth:`Run.search` runs the trials until ``search.n_trials``, ``search.timeout`` or Ctrl-C, and
always leaves complete reports and a resumable study behind.
"""
from __future__ import annotations

import dataclasses
import json
import logging
import signal
import threading
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from hydra.errors import InstantiationException
from hydra.utils import instantiate
from optuna.trial import TrialState

from nos.report.files import write_json
from nos.report.markdown import RunSummary, array_label
from nos.run.config import RunConfig, differences
from nos.run.progress import Progress, StepProgress
from nos.run.reports import RunReports
from nos.search import study as studies
from nos.search.objectives import SUPERNET
from nos.search.pareto import Front, reference_point
from nos.search.record import METRICS, REFERENCE_ATTR, Evaluation, TrialRecord
from nos.search.space import SearchSpace, candidate_key
from search_spaces import get_space

log = logging.getLogger("nos.run")
REFERENCES_ATTR, HV_REFERENCE_ATTR = "references", "hv_reference"
STOPS = ("n_trials", "timeout", "interrupted")
BEST = {"proxy": ("best proxy", ""), "latency_ms": ("fastest", " ms"), "latency_cycles": ("fastest", " cycles"),
        "energy_uj": ("lowest energy", " uJ"), "area_mm2": ("smallest area", " mm^2")}


@dataclass(frozen=True)
class Outcome:
    """What :meth:`Run.search` leaves.

    Attributes:
        stopped: why this invocation ended, one of :data:`STOPS`.
        trials_run: trials this invocation finished (complete or failed).
        front: the Pareto members, fastest first.
        hypervolume: of the front against the study's reference point.
        report: the text of ``report.md``.
    """

    stopped: str
    trials_run: int
    front: list[TrialRecord]
    hypervolume: float
    report: str


def _instantiate(node: dict[str, Any], key: str, **overrides: Any) -> Any:
    """``hydra.utils.instantiate`` with a one-line error naming ``key`` (and without Optuna's
    notes that a sampler or storage option is experimental)."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return instantiate(node, **overrides)
    except InstantiationException as err:
        cause = err.__cause__ if err.__cause__ is not None else err
        message = str(cause).strip().splitlines()[0] if str(cause).strip() else type(cause).__name__
        if isinstance(cause, ValueError) and message.startswith(f"{key}."):
            raise ValueError(message) from None
        raise ValueError(f"{key}: cannot build {node.get('_target_')}: {message}") from None


class Run:
    """One search run in ``run_dir``.

    Args:
        config: the run's configuration (validated here; nothing is written).
        run_dir: the run directory (created by :meth:`open`).
        resume_hint: the command that resumes this run, printed when it is interrupted.
    """

    def __init__(self, config: RunConfig, run_dir: str | Path, resume_hint: str | None = None):
        config.validate()
        self.config, self.run_dir, self.resume_hint = config, Path(run_dir), resume_hint
        self.space = SearchSpace(get_space(config.space.name, **config.space.options()), config.hardware_choices())
        self.objectives = config.search.spec()
        self.metrics = self.objectives.front  # the reported front's Evaluation fields
        self.evaluator = config.evaluator(self.space)
        self.evaluator.check_data()
        self.sampler = _instantiate(config.sampler, "sampler")
        if not isinstance(self.sampler, optuna.samplers.BaseSampler):
            raise ValueError(f"sampler: {config.sampler['_target_']} is not an Optuna sampler")
        self.batch = config.search.batch_size or config.sampler.get("population_size") or 1
        storage = dataclasses.asdict(config.storage)
        if storage["url"] is None and storage["path"] is None:
            raise ValueError("storage.url: missing; give storage.url=<database URL, e.g. "
                             "postgresql+psycopg2://user:password@host/db> or use storage=journal")
        if storage["url"] is None and storage["path"] is not None and not Path(storage["path"]).is_absolute():
            storage["path"] = str(self.run_dir / storage["path"])
        self._storage_node = storage
        self.storage_label = storage["url"] or f"journal:{Path(storage['path']).resolve()}"
        self.title = f"{self.space.name} on {self._hardware_label()}"
        self.proxy_label = self.evaluator.label
        self.study: optuna.Study | None = None

    def check_storage(self) -> None:
        """Fail now (ValueError naming ``storage.*``) if the storage cannot be used; creates no file.
        A database is connected to; a journal file's folder must exist (the run directory,
        which is created later, for a relative path)."""
        url, path = self._storage_node["url"], self._storage_node["path"]
        if url is not None and not url.startswith("journal:"):
            studies.rdb_storage(url)
            return
        file = Path(url[len("journal:"):] if url is not None else path)
        if not file.parent.is_dir() and file.parent != self.run_dir:
            key = "storage.url" if url is not None else "storage.path"
            raise ValueError(f"{key}: folder {str(file.parent)!r} does not exist")

    def _hardware_label(self) -> str:
        """The array in a few words: ``64x64 os + FuSe, used folds``, or the co-searched fields."""
        hw = self.space.hardware
        if hw.searched:
            return "co-searched arrays (" + "; ".join(
                f"{c.name[3:]} {'/'.join(map(str, c.options))}" for c in hw.choices) + ")"
        return array_label(dataclasses.asdict(hw.reference), fold=True)

    # ------------------------------------------------------------------ opening
    def open(self) -> Run:
        """Create or resume the study and the run directory's reports (a supernet proxy is
        trained, or read from its cache, first: a refused cache leaves nothing behind)."""
        if self.evaluator.proxy.name == SUPERNET:
            log.info("supernet of space %s on %s (seed %d): training, or reading it from %s",
                     self.space.name, self.config.proxy.data, self.config.proxy.seed, self.config.proxy.cache_path())
            self.evaluator.prepare(StepProgress("supernet training"))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.storage = _instantiate(self._storage_node, "storage")
        self.study = studies.open_study(self.config.study_name, self.storage, self.sampler, self.objectives)
        self._check_settings()
        new = not self.study.trials
        self.references = self._references()
        self.hv_reference = self._hv_reference()
        if new and self.config.search.seed_references:
            for label, (arch, array) in self.space.references.items():
                genome = self.space.genome_of(arch, array)
                if genome is not None:
                    self.study.enqueue_trial(genome, user_attrs={REFERENCE_ATTR: label}, skip_if_exists=True)
        for number in studies.recover_stale_trials(self.study, self.storage):
            log.warning("trial %d: its worker died mid-trial; marked failed, its choices are retried once", number)
        self.records: dict[int, TrialRecord] = {}
        self._first: dict[str, int] = {}
        self.front = Front([METRICS[m] for m in self.metrics])
        self.reports = RunReports(self.run_dir, [c.name for c in self.space.choices],
                                  [name for name, bound in vars(self.config.budgets()).items() if bound is not None],
                                  self.title, self.proxy_label, self.metrics, self.references,
                                  self.space.hardware.searched)
        self._merge_stored(report=False)
        for number, training in studies.trainings(self.study).items():  # nos-train's measured accuracies
            if number in self.records:
                self.records[number] = self.records[number].replace(trained=training)
        self.reports.start(self.records.values())
        write_json(self.run_dir / "run.json", self.describe())
        done = len(self.records)
        log.info("study %r (%s): %s; %d trials finished before; proxy: %s", self.config.study_name,
                 self.storage_label, "new" if new else "resumed", done, self.proxy_label)
        return self

    def _check_settings(self) -> None:
        """A resumed study must keep the settings that define its objectives."""
        stored = self.study.user_attrs.get(studies.CONFIG_ATTR)
        current = json.loads(json.dumps(self.config.defining()))
        if stored is None:
            self.study.set_user_attr(studies.CONFIG_ATTR, current)
            return
        changed = differences(stored, current)
        if changed:
            shown = ", ".join(f"{k}={_get(stored, k)!r} (now {_get(current, k)!r})" for k in changed[:4])
            raise ValueError(f"study_name: study {self.config.study_name!r} in {self.storage_label} was run with "
                             f"other settings: {shown}{' ...' if len(changed) > 4 else ''}; use the same settings "
                             f"or another study_name")

    def _references(self) -> dict[str, Evaluation]:
        """The paper's variants in this space, scored once per study (stored in it, so resumed
        runs and other workers compare against the same numbers)."""
        stored = self.study.user_attrs.get(REFERENCES_ATTR)
        if stored is not None:
            return {label: Evaluation.from_dict(e, f"study references.{label}") for label, e in stored.items()}
        references = {}
        for i, (label, (arch, array)) in enumerate(self.space.references.items(), 1):
            start = time.monotonic()
            e = references[label] = self.evaluator.evaluate([arch], array, score_all=True)[0]
            log.info("reference %s (%d/%d): proxy %.5g, %.4g ms (%.1f s)", label, i, len(self.space.references),
                     e.proxy, e.latency_ms, time.monotonic() - start)
        self.study.set_user_attr(REFERENCES_ATTR, {k: e.to_dict() for k, e in references.items()})
        return references

    def _hv_reference(self) -> list[float] | None:
        stored = self.study.user_attrs.get(HV_REFERENCE_ATTR)
        if stored is None and self.references:
            refs = list(self.references.values())
            stored = reference_point([[e.metric(m) for m in self.metrics] for e in refs],
                                     [METRICS[m] for m in self.metrics])
            self.study.set_user_attr(HV_REFERENCE_ATTR, stored)
        return None if stored is None else [float(v) for v in stored]

    def describe(self) -> dict[str, Any]:
        """``run.json``: the resolved configuration and the study's reference numbers."""
        c = self.config
        return {"study_name": c.study_name, "storage": self.storage_label, "space": c.space.name,
                "space_options": c.space.options(), "hardware": self.space.hardware.describe(),
                "hardware_searched": self.space.hardware.searched, "tech": dataclasses.asdict(c.tech_spec()),
                "proxy": {**dataclasses.asdict(c.proxy), "name": c.proxy.resolved_name, "label": self.proxy_label},
                "sampler": c.sampler, "seed": c.seed, "objective": c.search.objective,
                "objectives": self.objectives.names, "latency_model": c.search.latency_model,
                "budgets": dataclasses.asdict(c.budgets()), "input_size": self.space.operators.base.input_size,
                "batch_size": self.batch,
                "hv_reference": None if self.hv_reference is None else dict(zip(self.metrics, self.hv_reference)),
                "references": {k: e.to_dict() for k, e in self.references.items()}}

    # ------------------------------------------------------------------ the records
    def _add(self, record: TrialRecord, key: str | None, report: bool = True) -> bool:
        """Take a finished trial in; returns whether the front changed."""
        self.records[record.number] = record
        changed = False
        if record.complete:
            e = record.evaluation
            key = key or candidate_key(record.arch, e.hardware)
            self._first[key] = min(self._first.get(key, record.number), record.number)  # the earliest trial
            self.evaluator.remember(key, e)
            changed = self.front.add(key, [e.metric(m) for m in self.metrics], e.feasible)
        if report:
            self.reports.add(record)
            if record.reference and record.complete:
                log.info("trial %d is the paper's %s", record.number, record.reference)
        return changed

    def _merge_stored(self, report: bool = True) -> None:
        """Take in the finished trials of the study this worker has not seen (its past, other workers)."""
        for t in self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE, TrialState.FAIL)):
            if t.number not in self.records:
                self._add(studies.record_of(t), studies.stored_key(t), report)

    def front_records(self) -> list[TrialRecord]:
        """The Pareto members (the earliest trial of each candidate), fastest first."""
        members = [self.records[self._first[key]] for key in self.front.keys]
        return sorted(members, key=lambda r: (r.evaluation.latency_cycles, -r.evaluation.metric("proxy")))

    def hypervolume(self) -> float:
        return 0.0 if self.hv_reference is None else self.front.hypervolume(self.hv_reference)

    # ------------------------------------------------------------------ searching
    def search(self) -> Outcome:
        """Run trials until ``search.n_trials``, ``search.timeout`` or Ctrl-C; write the reports.

        The first Ctrl-C lets the trials of the running batch finish; a second one fails them at
        once. Either way the reports are written and the study can be resumed."""
        if self.study is None:
            self.open()
        s = self.config.search
        progress = Progress(s.n_trials, s.timeout)
        worker = studies.worker_id()
        pending: list[optuna.Trial] = []
        since_refresh, stopped = 0, ""
        try:
            with _StopOnCtrlC() as ctrl_c:
                while True:
                    if ctrl_c.requested:
                        stopped = "interrupted"
                        break
                    if s.n_trials is not None and progress.done >= s.n_trials:
                        stopped = "n_trials"
                        break
                    if s.timeout is not None and progress.elapsed >= s.timeout:
                        stopped = "timeout"
                        break
                    count = self.batch if s.n_trials is None else min(self.batch, s.n_trials - progress.done)
                    for record, key in studies.step(self.study, self.space, self.evaluator, self.objectives, count,
                                                    worker, pending, self._first):
                        if self._add(record, key):
                            self.reports.study(len(self.records), self.hypervolume(), len(self.front))
                        progress.update(record.feasible, self._best(), len(self.front))
                        since_refresh += 1
                    studies.sync(self.storage)
                    if since_refresh >= s.report_every:
                        since_refresh = 0
                        self._merge_stored()
                        self.reports.refresh(list(self.records.values()), self.front_records(), len(self.records))
        except KeyboardInterrupt:
            stopped = "interrupted"
            studies.fail(self.study, pending)
        except BaseException:
            studies.fail(self.study, pending)
            raise
        finally:
            progress.close(self._best(), len(self.front))
        return self._finish(stopped, progress)

    def _best(self) -> str:
        """The best value of each objective on the front so far."""
        values = self.front.values()
        if not len(values):
            return "no feasible trial yet"
        return ", ".join(f"{BEST[m][0]} {(values[:, i].max() if METRICS[m] == 'maximize' else values[:, i].min()):.4g}"
                         f"{BEST[m][1]}" for i, m in enumerate(self.metrics))

    def _finish(self, stopped: str, progress: Progress) -> Outcome:
        studies.sync(self.storage)
        self._merge_stored()
        s = self.config.search
        if stopped == "n_trials":
            log.info("stopped after %d trials (search.n_trials=%d) in %.1f s", progress.done, s.n_trials,
                     progress.elapsed)
        elif stopped == "timeout":
            log.info("stopped at the time limit (search.timeout=%g s) after %d trials", s.timeout, progress.done)
        else:
            log.warning("interrupted after %d trials; the running ones were marked failed", progress.done)
        front = self.front_records()
        records = list(self.records.values())
        summary = RunSummary(
            title=self.title, proxy_label=self.proxy_label, trials=len(records),
            complete=sum(r.complete for r in records), feasible=sum(r.feasible for r in records), front=front,
            references=self.references, metrics=self.metrics, hypervolume=self.hypervolume(),
            hv_reference=self.hv_reference, stopped=stopped, arrays=self.space.hardware.searched)
        report = self.reports.finish(records, front, summary, len(records))
        return Outcome(stopped, progress.done, front, summary.hypervolume, report)


class _StopOnCtrlC:
    """While active (in the main thread), the first SIGINT only sets :attr:`requested`, so the
    running batch can finish; a second one raises KeyboardInterrupt as usual."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: Any = None

    def _handle(self, signum: int, frame: Any) -> None:
        if self.requested:
            raise KeyboardInterrupt
        self.requested = True
        log.warning("Ctrl-C: finishing the running trials, then writing the reports (Ctrl-C again: stop at once)")

    def __enter__(self) -> _StopOnCtrlC:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc: Any) -> None:
        if self._previous is not None:
            signal.signal(signal.SIGINT, self._previous)


def _get(tree: dict[str, Any], dotted: str) -> Any:
    for part in dotted.split("."):
        tree = tree.get(part) if isinstance(tree, dict) else None
    return tree
