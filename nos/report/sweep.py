"""The fronts of all jobs of a Hydra multirun sweep in one view, compared.

:class:`SweepFronts` is a Hydra callback (configured in ``conf/search.yaml``): when a sweep ends
it reads every job's ``pareto.json`` (TrialRecords) and ``run.json`` (:class:`RunInfo`) and
writes, in the sweep folder:

* ``fronts.md``: one table of the jobs, each named by the overrides that set it apart, with its
  front size and its hypervolume in (proxy, latency ms) against ONE reference point for all jobs
  (10 % beyond the worst of every job's paper variants), the best job named; then each job's
  front;
* ``fronts.png``: the fronts overlaid, the legend inside the figure;
* ``tb/``: one TensorBoard run per job (``tb/job-<n>``: its front as the curve
  ``pareto_front/proxy_vs_latency_us`` and its hypervolume), and the figure and table in
  ``tb/`` itself, so ``tensorboard --logdir <sweep>/tb`` shows one run per job, all ticked.

It prints where these files are.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from torch.utils.tensorboard import SummaryWriter

from nos.report.figures import Axis, render, sweep_figure
from nos.report.files import PARETO_JSON, RUN_JSON, atomic_write, read_records
from nos.report.markdown import array_label, proxy_text
from nos.search.pareto import hypervolume, reference_point
from nos.search.record import RecordError, RunInfo, TrialRecord

METRICS, DIRECTIONS = ("proxy", "latency_ms"), ("maximize", "minimize")


@dataclass(frozen=True)
class Job:
    """One job of a sweep: its folder name (the job number), its run and its Pareto members."""

    name: str
    info: RunInfo
    front: list[TrialRecord]


def collect(sweep_dir: str | Path) -> list[Job]:
    """Every finished job under ``sweep_dir``, by job number."""
    out = []
    for pareto in sorted(Path(sweep_dir).glob(f"*/{PARETO_JSON}"), key=lambda p: (len(p.parent.name), p.parent.name)):
        info = RunInfo.from_dict(json.loads((pareto.parent / RUN_JSON).read_text()), str(pareto.parent / RUN_JSON))
        out.append(Job(pareto.parent.name, info, read_records(pareto)))
    return out


def job_labels(jobs: list[Job]) -> tuple[list[str], list[str]]:
    """(each job's overrides that differ between the jobs, the overrides all jobs share); a job
    with no recorded overrides is named by its space, array, sampler and proxy."""
    common = set.intersection(*(set(j.info.overrides) for j in jobs)) if jobs else set()
    labels = []
    for j in jobs:
        own = [o for o in j.info.overrides if o not in common and not o.startswith("hydra.")]
        labels.append(" ".join(own) if own else _describe(j.info))
    shared = [o for o in (jobs[0].info.overrides if jobs else ()) if o in common and not o.startswith("hydra.")]
    return labels, shared


def _describe(info: RunInfo) -> str:
    sampler = str(info.sampler.get("_target_", "")).rsplit(".", 1)[-1]
    return f"{info.space} {array_label(info.hardware)} {sampler} {info.proxy.get('name', '')}".strip()


def common_reference(jobs: list[Job]) -> list[float] | None:
    """One hypervolume reference point in (proxy, latency ms) for every job: 10 % beyond the
    worst of all jobs' paper variants (of all front members where no job has variants)."""
    points = [[e.metric(m) for m in METRICS] for j in jobs for e in j.info.references.values()
              if e.proxy is not None]
    if not points:
        points = [[r.evaluation.metric(m) for m in METRICS] for j in jobs for r in j.front]
    return reference_point(points, DIRECTIONS) if points else None


def write_sweep_report(sweep_dir: str | Path) -> list[Path]:
    """Write ``fronts.md``, ``fronts.png`` and ``tb/`` in ``sweep_dir``; returns the files written
    (none when no job finished)."""
    sweep_dir = Path(sweep_dir)
    jobs = collect(sweep_dir)
    if not jobs:
        return []
    labels, shared = job_labels(jobs)
    proxy_labels = {j.info.proxy_label for j in jobs}
    comparable = len(proxy_labels) == 1
    y_label = proxy_labels.pop() if comparable else "proxy (differs between jobs: see fronts.md)"
    reference = common_reference(jobs) if comparable else None
    volumes = [None if reference is None else
               hypervolume([[r.evaluation.metric(m) for m in METRICS] for r in j.front], DIRECTIONS, reference)
               if j.front else 0.0 for j in jobs]
    best = max(range(len(jobs)), key=lambda i: volumes[i]) if reference is not None else None
    lines = [f"# Pareto fronts of the sweep in {sweep_dir.name}", "",
             f"{len(jobs)} jobs" + (f", each with {' '.join(shared)}" if shared else "") + f"; proxy: {y_label}.", ""]
    if reference is not None:
        lines += [f"Hypervolume in (proxy, latency ms) against one reference point for every job: proxy "
                  f"{reference[0]:.6g}, latency {reference[1]:.6g} ms (10 % beyond the worst of the jobs' paper "
                  f"variants). Larger is better.", ""]
    else:
        lines += ["The jobs use different proxies, so their fronts and hypervolumes are not comparable and no job "
                  "is named best.", ""]
    lines += ["| job | overrides | front size | hypervolume | of the best |", "|---:|---|---:|---:|---:|"]
    for i, (j, label) in enumerate(zip(jobs, labels)):
        hv = "" if volumes[i] is None else f"{volumes[i]:.6g}"
        share = "" if best is None or not volumes[best] else f"{volumes[i] / volumes[best]:.0%}"
        lines.append(f"| {j.name} | {label} | {len(j.front)} | {hv} | {share} |")
    if best is not None:
        lines += ["", f"**Best: job {jobs[best].name}** ({labels[best]}), hypervolume {volumes[best]:.6g}."]
    lines.append("")
    for j, label in zip(jobs, labels):
        lines += [f"## Job {j.name}: {label}", "", "| trial | proxy | latency (ms) | cycles |", "|---:|---:|---:|---:|"]
        for r in j.front:
            e = r.evaluation
            lines.append(f"| {r.number} | {proxy_text(e.proxy, e.proxy_std)} | {e.latency_ms:.4f} | {e.latency_cycles} |")
        lines.append("")
    text = "\n".join(lines)
    first = jobs[0].info
    shared_array = all(j.info.hardware == first.hardware for j in jobs)
    fig = sweep_figure([(f"job {j.name}: {label}", j.front) for j, label in zip(jobs, labels)],
                       Axis("latency_ms", "latency (ms, simulated, log scale)", log=True), Axis("proxy", y_label),
                       title=f"Pareto fronts of {len(jobs)} jobs ({sweep_dir.name})",
                       references=dict(first.references) if shared_array else None)
    png, rgb = render(fig)
    atomic_write(sweep_dir / "fronts.md", text)
    (sweep_dir / "fronts.png").write_bytes(png)
    writer = SummaryWriter(str(sweep_dir / "tb"))
    writer.add_image("sweep/fronts", rgb, dataformats="HWC")
    writer.add_text("sweep/fronts", text)
    writer.close()
    for j, volume in zip(jobs, volumes):
        job_writer = SummaryWriter(str(sweep_dir / "tb" / f"job-{j.name}"))
        for r in j.front:
            if r.evaluation.proxy is not None:
                job_writer.add_scalar("pareto_front/proxy_vs_latency_us", r.evaluation.proxy,
                                      int(round(r.evaluation.latency_ms * 1000)))
        if volume is not None:
            job_writer.add_scalar("sweep/hypervolume", volume, 0)
        job_writer.close()
    return [sweep_dir / "fronts.md", sweep_dir / "fronts.png", sweep_dir / "tb"]


class SweepFronts(Callback):
    """Writes the sweep's summary when a multirun ends, and says where it is."""

    def on_multirun_end(self, config: Any, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        try:
            written = write_sweep_report(sweep_dir)
        except (OSError, RecordError) as err:
            print(f"nos-search: no sweep summary in {sweep_dir}: {err}")
            return
        if written:
            print(f"Sweep summary: {sweep_dir / 'fronts.md'}, {sweep_dir / 'fronts.png'}; "
                  f"TensorBoard, one run per job: tensorboard --logdir {sweep_dir / 'tb'}")
