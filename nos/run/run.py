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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import optuna
from optuna.trial import TrialState

from nos.report.files import RUN_JSON, write_json
from nos.proxies.proxy import Score
from nos.report.markdown import RunSummary, Separation, array_label
from nos.run.config import RunConfig, instantiate_node
from nos.run.progress import Progress, StepProgress
from nos.run.reports import RunReports
from nos.search import study as studies
from nos.search.objectives import SUPERNETS
from nos.search.pareto import Front, reference_point
from nos.search.record import METRICS, REFERENCE_ATTR, Evaluation, RunInfo, TrialRecord
from nos.search.space import candidate_key
from nos.tree import differences, lookup

log = logging.getLogger("nos.run")
REFERENCES_ATTR, HV_REFERENCE_ATTR = "references", "hv_reference"
STOPS = ("n_trials", "total_trials", "timeout", "interrupted")
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
        signal: the signal that interrupted it (SIGINT or SIGTERM), else None.
    """

    stopped: str
    trials_run: int
    front: list[TrialRecord]
    hypervolume: float
    report: str
    signal: int | None = None


class Run:
    """One search run in ``run_dir``.

    Args:
        config: the run's configuration (resolved and checked here; nothing is written).
        run_dir: the run directory (created by :meth:`open`).
        overrides: the command line's overrides, recorded in ``run.json`` (a sweep names its jobs by them).
    """

    def __init__(self, config: RunConfig, run_dir: str | Path, overrides: tuple[str, ...] = ()):
        self.plan = plan = config.resolve()
        self.config, self.run_dir, self.overrides = config, Path(run_dir), overrides
        self.space, self.objectives, self.evaluator = plan.space, plan.objectives, plan.evaluator
        self.metrics = self.objectives.front  # the reported front's Evaluation fields
        storage = dict(plan.storage)
        if storage["url"] is None and not Path(storage["path"]).is_absolute():
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
        label = "proxy preparation"
        if self.evaluator.proxy.name in SUPERNETS:
            log.info("supernet of space %s on %s (seed %d): training, or reading it from %s",
                     self.space.name, self.config.proxy.data, self.config.proxy.seed, self.config.proxy.cache_path())
            label = "supernet training"
        self.evaluator.prepare(StepProgress(label))
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.storage = instantiate_node(self._storage_node, "storage")
        self.study = studies.open_study(self.config.study_name, self.storage, self.plan.sampler, self.objectives)
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
                                  {name: bound for name, bound in vars(self.plan.budgets).items() if bound is not None},
                                  self.title, self.proxy_label, self.metrics, self.references,
                                  self.space.hardware.searched,
                                  self.reward if self.objectives.mode == "reward" else None)
        self._merge_stored(report=False)
        for number, training in studies.trainings(self.study).items():  # nos-train's measured accuracies
            if number in self.records:
                self.records[number] = self.records[number].replace(trained=training)
        self.reports.start(self.records.values())
        write_json(self.run_dir / RUN_JSON, self.info().to_dict())
        done = len(self.records)
        log.info("study %r (%s): %s; %d trials finished before; proxy: %s", self.config.study_name,
                 self.storage_label, "new" if new else "resumed", done, self.proxy_label)
        return self

    def _check_settings(self) -> None:
        """A resumed study must keep the settings that define its objectives."""
        stored = self.study.user_attrs.get(studies.CONFIG_ATTR)
        current = json.loads(json.dumps(self.plan.defining))
        if stored is None:
            self.study.set_user_attr(studies.CONFIG_ATTR, current)
            return
        changed = differences(stored, current)
        if changed:
            shown = ", ".join(f"{k}={lookup(stored, k)!r} (now {lookup(current, k)!r})" for k in changed[:4])
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

    def info(self) -> RunInfo:
        """What ``run.json`` states about this run."""
        c, p = self.config, self.plan
        return RunInfo(
            study_name=c.study_name, storage=self.storage_label, space=c.space.name, space_options=c.space.options(),
            hardware=self.space.hardware.describe(), hardware_searched=self.space.hardware.searched,
            tech=dataclasses.asdict(p.tech),
            proxy={**dataclasses.asdict(c.proxy), "name": c.proxy.resolved_name, "label": self.proxy_label},
            sampler=dict(p.sampler_config), seed=c.seed, objective=c.search.objective,
            objectives=tuple(self.objectives.names),
            metrics=tuple(self.metrics), latency_model=c.search.latency_model, budgets=dataclasses.asdict(p.budgets),
            input_size=self.space.operators.base.input_size, batch_size=p.batch,
            hv_reference=None if self.hv_reference is None else dict(zip(self.metrics, self.hv_reference)),
            references=self.references, overrides=tuple(self.overrides))

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
    def complete_in_study(self) -> int:
        """Complete trials in the study, from every worker and invocation (what
        ``search.total_trials`` counts, as Optuna's ``MaxTrialsCallback`` does)."""
        return len(self.study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,)))

    def search(self) -> Outcome:
        """Run trials until ``search.n_trials`` (this invocation), ``search.total_trials`` (the
        study), ``search.timeout``, Ctrl-C or SIGTERM; write the reports.

        The first Ctrl-C (or SIGTERM) lets the trials of the running batch finish; a second one
        fails them at once. Either way the reports are written and the study can be resumed."""
        if self.study is None:
            self.open()
        s = self.config.search
        planned = s.n_trials
        if s.total_trials is not None:
            left = max(s.total_trials - self.complete_in_study(), 0)
            planned = left if planned is None else min(planned, left)
        progress = Progress(planned, s.timeout)
        worker = studies.worker_id()
        pending: list[optuna.Trial] = []
        since_refresh, stopped = 0, ""
        stop = _StopOnSignals()
        try:
            with stop:
                while True:
                    count = self.plan.batch
                    if s.n_trials is not None:
                        count = min(count, s.n_trials - progress.done)
                    if s.total_trials is not None:
                        count = min(count, s.total_trials - self.complete_in_study())
                    if stop.signal is not None:
                        stopped = "interrupted"
                    elif s.n_trials is not None and progress.done >= s.n_trials:
                        stopped = "n_trials"
                    elif count <= 0:
                        stopped = "total_trials"
                    elif s.timeout is not None and progress.elapsed >= s.timeout:
                        stopped = "timeout"
                    if stopped:
                        break
                    for record, key in studies.step(self.study, self.space, self.evaluator, self.objectives, count,
                                                    worker, pending, self._first):
                        if self._add(record, key):
                            self.reports.study(len(self.records), self.hypervolume(), len(self.front))
                        progress.update(record.feasible, self._best(), len(self.front), record.cached_from is not None)
                        since_refresh += 1
                    studies.sync(self.storage)
                    if since_refresh >= s.report_every:
                        since_refresh = 0
                        self._merge_stored()
                        self.reports.refresh(list(self.records.values()), self.front_records(), self._summary(""))
        except KeyboardInterrupt:
            stopped = "interrupted"
            studies.fail(self.study, pending)
        except BaseException:
            studies.fail(self.study, pending)
            raise
        finally:
            progress.close(self._best(), len(self.front))
        return self._finish(stopped, progress, stop.signal or (signal.SIGINT if stopped == "interrupted" else None))

    def _best(self) -> str:
        """The best value of each objective on the front so far (reward mode: the best reward first)."""
        values = self.front.values()
        if not len(values):
            return "no feasible trial yet"
        best = ", ".join(f"{BEST[m][0]} {(values[:, i].max() if METRICS[m] == 'maximize' else values[:, i].min()):.4g}"
                         f"{BEST[m][1]}" for i, m in enumerate(self.metrics))
        top = self.best_by_reward()
        return best if top is None else f"best reward {self.reward(top.evaluation):.4g} (trial {top.number}), {best}"

    def reward(self, e: Evaluation) -> float:
        """The MnasNet reward of an evaluation (``search.objective=reward``; -inf without a proxy)."""
        return self.objectives.values(e)[0]

    def best_by_reward(self) -> TrialRecord | None:
        """Reward mode: the feasible trial with the highest reward (the earliest of equals); else None."""
        if self.objectives.mode != "reward":
            return None
        done = [r for r in self.records.values() if r.complete and r.feasible and r.evaluation.proxy is not None]
        return max(sorted(done, key=lambda r: r.number), key=lambda r: self.reward(r.evaluation), default=None)

    def _summary(self, stopped: str) -> RunSummary:
        records = list(self.records.values())
        return RunSummary(
            title=self.title, proxy_label=self.proxy_label, trials=len(records),
            complete=sum(r.complete for r in records), feasible=sum(r.feasible for r in records),
            front=self.front_records(), references=self.references, metrics=self.metrics,
            hypervolume=self.hypervolume(), hv_reference=self.hv_reference, stopped=stopped,
            arrays=self.space.hardware.searched,
            budgets={k: v for k, v in vars(self.plan.budgets).items() if v is not None},
            cached=sum(r.cached_from is not None for r in records), best_by_reward=self.best_by_reward(),
            reward=self.reward if self.objectives.mode == "reward" else None,
            warnings=tuple(getattr(self.evaluator, "warnings", ())), separations=self._separations())

    def _separations(self) -> list[Separation]:
        """The front's neighbours in proxy order (most accurate first): each pair's difference and
        its std, where the proxy has one (:meth:`nos.proxies.Proxy.difference`)."""
        ranked = sorted((r for r in self.front_records() if r.evaluation.proxy is not None),
                        key=lambda r: (-r.evaluation.proxy, r.number))
        out = []
        for a, b in zip(ranked, ranked[1:]):
            d = self.evaluator.proxy.difference(a.arch, b.arch, Score(a.evaluation.proxy, a.evaluation.proxy_std),
                                                Score(b.evaluation.proxy, b.evaluation.proxy_std))
            if d is None:
                return []
            out.append(Separation(a.number, b.number, d.value, d.std))
        return out

    def _finish(self, stopped: str, progress: Progress, signum: int | None) -> Outcome:
        studies.sync(self.storage)
        self._merge_stored()
        s = self.config.search
        if stopped == "n_trials":
            log.info("stopped after %d trials (search.n_trials=%d) in %.1f s", progress.done, s.n_trials,
                     progress.elapsed)
        elif stopped == "total_trials":
            log.info("stopped after %d trials: the study holds search.total_trials=%d complete trials (%.1f s)",
                     progress.done, s.total_trials, progress.elapsed)
        elif stopped == "timeout":
            log.info("stopped at the time limit (search.timeout=%g s) after %d trials", s.timeout, progress.done)
        else:
            log.warning("interrupted (%s) after %d trials; the running ones were marked failed",
                        signal.Signals(signum).name, progress.done)
        summary = self._summary(stopped)
        for warning in summary.warnings:
            log.warning("proxy: %s", warning)
        report = self.reports.finish(list(self.records.values()), summary.front, summary)
        return Outcome(stopped, progress.done, list(summary.front), summary.hypervolume, report, signum)


class _StopOnSignals:
    """While active (in the main thread), the first SIGINT (Ctrl-C) or SIGTERM only records the
    signal (:attr:`signal`), so the running batch can finish; a second one raises
    KeyboardInterrupt, which fails the running trials at once."""

    SIGNALS = (signal.SIGINT, signal.SIGTERM)

    def __init__(self) -> None:
        self.signal: int | None = None
        self._previous: dict[int, Any] = {}

    def _handle(self, signum: int, frame: Any) -> None:
        if self.signal is not None:
            raise KeyboardInterrupt
        self.signal = signum
        name = "Ctrl-C" if signum == signal.SIGINT else signal.Signals(signum).name
        log.warning("%s: finishing the running trials, then writing the reports (again: stop at once)", name)

    def __enter__(self) -> _StopOnSignals:
        if threading.current_thread() is threading.main_thread():
            self._previous = {s: signal.signal(s, self._handle) for s in self.SIGNALS}
        return self

    def __exit__(self, *exc: Any) -> None:
        for s, previous in self._previous.items():
            signal.signal(s, previous)
