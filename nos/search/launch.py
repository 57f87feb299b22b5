"""One search run end to end: build the pieces from a config, run the trials, and keep
the run directory's reports (run.json, trials.csv, pareto.json, report.md, tb/) current."""
from __future__ import annotations

import json
import logging
import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import optuna

from nos import proxies, sim
from nos.report.files import atomic_write, pareto_records, write_pareto_json, write_trials_csv
from nos.report.tensorboard import TensorBoardReport
from nos.search.objectives import Budgets, Evaluation, Evaluator
from nos.search.pareto import hypervolume_2d, reference_point
from nos.search.study import (Objective, Record, make_sampler, make_storage, open_study, records,
                              recover_stale_trials, run, to_record)
from search_spaces import get_space

log = logging.getLogger("nos.search")
REFERENCE_VARIANTS = ("fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50")


@dataclass
class SearchConfig:
    """Everything a search run needs; mirrors ``conf/search.yaml``."""

    space: str = "mobilenet_v2"
    space_options: dict[str, Any] = field(default_factory=dict)
    hardware: dict[str, Any] = field(default_factory=dict)
    proxy: str | None = None  # None: nos.proxies.DEFAULT
    data: str = "digits"
    train_budget: dict[str, Any] | None = None  # proxy "train" only: nos.proxies.Budget fields
    sampler: str = "tpe"
    sampler_options: dict[str, Any] = field(default_factory=dict)
    storage_url: str | None = None  # None: journal file ``storage_path`` in the run directory
    storage_path: str = "study.journal"
    study_name: str = "nos"
    seed: int = 0
    n_trials: int | None = 60
    timeout: float | None = None
    objective: str = "pareto"
    latency_unit: str = "ms"
    latency_model: str = "compute"
    reward_target_ms: float | None = None
    reward_w: float = -0.07
    report_every: int = 10
    seed_references: bool = True  # a new study first evaluates the paper's variants that lie in the space
    budgets: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.proxy is None:
            self.proxy = proxies.DEFAULT
        if self.n_trials is not None and (not isinstance(self.n_trials, int) or self.n_trials < 1):
            raise ValueError(f"search.n_trials: expected a positive integer or null, got {self.n_trials!r}")
        if self.timeout is not None and not self.timeout > 0:
            raise ValueError(f"search.timeout: expected positive seconds or null, got {self.timeout!r}")
        if not isinstance(self.seed, int) or isinstance(self.seed, bool):
            raise ValueError(f"seed: expected an integer, got {self.seed!r}")
        if not isinstance(self.report_every, int) or self.report_every < 1:
            raise ValueError(f"search.report_every: expected a positive integer, got {self.report_every!r}")


@dataclass
class SearchResult:
    run_dir: Path
    study: optuna.Study
    records: list[Record]
    front: list[Record]
    references: dict[str, Evaluation]
    hv_reference: tuple[float, float]
    hypervolume: float


class Search:
    """A prepared search: every input validated before the first trial runs."""

    def __init__(self, config: SearchConfig, run_dir: Path):
        self.config, self.run_dir = config, Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.space = get_space(config.space, **config.space_options)
        self.hardware = sim.Hardware.from_dict(config.hardware)
        self.evaluator = Evaluator(self.hardware, config.proxy, config.data, config.seed, Budgets(**config.budgets),
                                   config.latency_model, config.train_budget)
        self.objective = Objective(self.space, self.evaluator, config.objective, config.latency_unit,
                                   config.reward_target_ms, config.reward_w)
        sampler = make_sampler(config.sampler, config.seed, **config.sampler_options)
        self.storage = make_storage(config.storage_url, self.run_dir / config.storage_path)
        self.study = open_study(config.study_name, self.storage, sampler, config.objective)
        self.references = self._evaluate_references()
        if config.seed_references and not self.study.trials:
            for arch in self.space.references.values():
                genome = self.space.genome_of(arch)
                if genome is not None:
                    self.study.enqueue_trial(genome, skip_if_exists=True)
        self.hv_reference = self._hv_reference()
        self.tb = TensorBoardReport(self.run_dir / "tb", title=f"{config.space} on {self._hardware_label()}")
        atomic_write(self.run_dir / "run.json", json.dumps(self.describe(), indent=1) + "\n")

    def _hardware_label(self) -> str:
        h = self.hardware
        return f"{h.rows}x{h.cols} {h.dataflow}{' + FuSe' if h.fuse else ''}"

    def _evaluate_references(self) -> dict[str, Evaluation]:
        """The space's paper variants, scored like trials (proxy computed even when infeasible)."""
        out = {}
        for label, arch in self.space.references.items():
            cycles, ms = self.evaluator.latency(arch)
            params, macs = arch.params(), arch.macs()
            out[label] = Evaluation(self.evaluator.proxy_score(arch), cycles, ms, params, macs,
                                    self.evaluator.budgets.violations(ms, params, macs))
        return out

    def _hv_reference(self) -> tuple[float, float]:
        """Fixed per study (stored in it, so resumed runs and other workers use the same)."""
        stored = self.study.user_attrs.get("hv_reference")
        if stored is None:
            refs = list(self.references.values())
            stored = list(reference_point([e.proxy for e in refs], [e.latency_ms for e in refs]))
            self.study.set_user_attr("hv_reference", stored)
        return float(stored[0]), float(stored[1])

    def describe(self) -> dict[str, Any]:
        c = self.config
        return {"study_name": c.study_name,
                "storage": c.storage_url or f"journal:{(self.run_dir / c.storage_path).resolve()}",
                "space": c.space, "space_options": c.space_options, "hardware": asdict(self.hardware),
                "proxy": {"name": c.proxy, "data": c.data, "train_budget": c.train_budget}, "seed": c.seed, "sampler": c.sampler,
                "objective": c.objective, "latency_model": c.latency_model, "budgets": c.budgets, "input_size": self.space.base.input_size,
                "hv_reference": {"proxy": self.hv_reference[0], "latency_ms": self.hv_reference[1]},
                "references": {k: asdict(v) for k, v in self.references.items()}}

    # ------------------------------------------------------------------ running
    def hypervolume(self, recs: list[Record]) -> float:
        done = [r for r in recs if r.evaluation is not None and r.state == "COMPLETE"]
        return hypervolume_2d([r.evaluation.proxy for r in done], [r.evaluation.latency_ms for r in done],
                              self.hv_reference, [r.feasible for r in done])

    def _after_trial(self, study: optuna.Study, trial: optuna.trial.FrozenTrial) -> None:
        recs = records(study)
        front = write_pareto_json(recs, self.run_dir / "pareto.json")
        write_trials_csv(recs, self.run_dir / "trials.csv")
        record = to_record(trial)
        self.tb.trial(record)
        finished = sum(r.state == "COMPLETE" for r in recs)
        hv = self.hypervolume(recs)
        self.tb.study(finished, hv, len(front))
        if finished % self.config.report_every == 0:
            self.tb.front(recs, front, self.references, finished)
        e = record.evaluation
        if e is not None:
            proxy = f"{e.proxy:.4g}" if math.isfinite(e.proxy) else "skipped (infeasible)"
            log.info("trial %d [%d done]: proxy %s, latency %.4f ms (%d cycles)%s, front %d, hypervolume %.4g",
                     trial.number, finished, proxy, e.latency_ms, e.latency_cycles,
                     f", cached from trial {trial.user_attrs['cached_from']}" if "cached_from" in trial.user_attrs else "",
                     len(front), hv)

    def run(self) -> SearchResult:
        c = self.config
        finished = sum(t.state.is_finished() for t in self.study.get_trials(deepcopy=False))
        log.info("study %r: %d trials finished before this run; hypervolume reference (proxy, ms) = %s",
                 c.study_name, finished, self.hv_reference)
        for number in recover_stale_trials(self.study, self.storage):
            log.warning("trial %d: its worker died mid-trial; marked failed, its architecture is retried once", number)
        run(self.study, self.objective, c.n_trials, c.timeout, callbacks=[self._after_trial])
        recs = records(self.study)
        front = write_pareto_json(recs, self.run_dir / "pareto.json")
        write_trials_csv(recs, self.run_dir / "trials.csv")
        finished = sum(r.state == "COMPLETE" for r in recs)
        self.tb.front(recs, front, self.references, finished)
        self.tb.final_front(front)
        self.tb.close()
        result = SearchResult(self.run_dir, self.study, recs, front, self.references, self.hv_reference,
                              self.hypervolume(recs))
        atomic_write(self.run_dir / "report.md", report_markdown(result))
        return result


def dominance(front: list[Record], reference: Evaluation) -> Record | None:
    """The fastest front member at least as good in proxy and strictly faster, if any."""
    better = [r for r in front if r.evaluation.proxy >= reference.proxy
              and r.evaluation.latency_cycles < reference.latency_cycles]
    return min(better, key=lambda r: r.evaluation.latency_cycles) if better else None


def report_markdown(result: SearchResult) -> str:
    """The run's summary: the front as a table and how it compares with the paper's variants."""
    lines = [f"# Search report: {len(result.records)} trials, {len(result.front)} on the Pareto front", "",
             f"Hypervolume {result.hypervolume:.6g} (reference point: proxy {result.hv_reference[0]:.6g}, "
             f"latency {result.hv_reference[1]:.6g} ms)", "",
             "| trial | proxy | latency (ms) | cycles | params (M) | MACs (M) | operators |",
             "|---:|---:|---:|---:|---:|---:|---|"]
    for r in result.front:
        e = r.evaluation
        ops = " ".join(_short(b.op) for b in r.arch.blocks)
        lines.append(f"| {r.trial} | {e.proxy:.5g} | {e.latency_ms:.4f} | {e.latency_cycles} | "
                     f"{e.params / 1e6:.3f} | {e.macs / 1e6:.1f} | {ops} |")
    lines += ["", "Operators: D = dw, F = full, H = fuse_half, U = fuse_full (one letter per block).", "",
              "## Against the paper's variants of this backbone", ""]
    for label in [*REFERENCE_VARIANTS, "baseline"]:
        ref = result.references.get(label)
        if ref is None:
            continue
        found = dominance(result.front, ref)
        head = f"- **{label}** (proxy {ref.proxy:.5g}, {ref.latency_ms:.4f} ms): "
        if found is not None:
            e = found.evaluation
            lines.append(head + f"dominated by trial {found.trial} (proxy {e.proxy:.5g}, {e.latency_ms:.4f} ms, "
                         f"{ref.latency_cycles / e.latency_cycles:.2f}x faster).")
        else:
            faster = [r for r in result.front if r.evaluation.latency_cycles < ref.latency_cycles]
            same = [r for r in result.front if r.evaluation.latency_cycles == ref.latency_cycles]
            why = (f"the best front member that is faster scores {max(r.evaluation.proxy for r in faster):.5g}"
                   if faster else "no architecture found is faster")
            if same:
                twin = max(same, key=lambda r: r.evaluation.proxy).evaluation
                why += (f"; trial {max(same, key=lambda r: r.evaluation.proxy).trial} has the same latency "
                        f"with proxy {twin.proxy:.5g} (the space's version of this design when the zoo variant "
                        f"carries the authors' unused expansion conv)")
            lines.append(head + f"not dominated: {why}.")
    return "\n".join(lines) + "\n"


def _short(op: str) -> str:
    return {"dw": "D", "full": "F", "fuse_half": "H", "fuse_full": "U"}[op]
