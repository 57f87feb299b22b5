"""The fronts of all runs of a Hydra multirun sweep in one view.

:class:`SweepFronts` is a Hydra callback (configured in ``conf/search.yaml``): when a sweep
ends it reads every job's ``pareto.json`` (TrialRecords) and ``run.json`` and writes, in the
sweep folder, ``fronts.md`` (a table per run), ``fronts.png`` and ``tb/`` (the same figure and
table). Each job's own ``tb/`` also holds its front as the scalar curve
``pareto_front/proxy_vs_latency_us``, so ``tensorboard --logdir <sweep dir>`` overlays them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from hydra.experimental.callback import Callback
from torch.utils.tensorboard import SummaryWriter

from nos.report.figures import Axis, render, sweep_figure
from nos.report.files import PARETO_JSON, atomic_write, read_records
from nos.report.markdown import array_label
from nos.search.record import Evaluation, TrialRecord


def run_label(run: dict[str, Any]) -> str:
    """A job of a sweep in a few words: space, array, sampler, proxy."""
    h = run["hardware"]
    sampler = str(run["sampler"].get("_target_", "")).rsplit(".", 1)[-1] if isinstance(run["sampler"], dict) \
        else run["sampler"]
    return f"{run['space']} {array_label(h)} {sampler} {run['proxy']['name']}"


def collect(sweep_dir: str | Path) -> list[tuple[str, dict[str, Any], list[TrialRecord]]]:
    """(label, run.json, Pareto members) of every finished job under ``sweep_dir``."""
    out = []
    for pareto in sorted(Path(sweep_dir).glob(f"*/{PARETO_JSON}"), key=lambda p: (len(p.parent.name), p.parent.name)):
        run = json.loads((pareto.parent / "run.json").read_text())
        out.append((f"{pareto.parent.name}: {run_label(run)}", run, read_records(pareto)))
    return out


def write_sweep_report(sweep_dir: str | Path) -> None:
    sweep_dir = Path(sweep_dir)
    runs = collect(sweep_dir)
    if not runs:
        return
    proxy_labels = {run["proxy"].get("label", run["proxy"]["name"]) for _, run, _ in runs}
    y_label = proxy_labels.pop() if len(proxy_labels) == 1 else "proxy (differs between runs: see fronts.md)"
    lines = [f"# Pareto fronts of the sweep in {sweep_dir.name}", "", f"{len(runs)} runs; proxy: {y_label}.", ""]
    for label, _, front in runs:
        lines += [f"## {label}", "", "| trial | proxy | latency (ms) | cycles |", "|---:|---:|---:|---:|"]
        lines += [f"| {r.number} | {r.evaluation.proxy:.5g} | {r.evaluation.latency_ms:.4f} | "
                  f"{r.evaluation.latency_cycles} |" for r in front]
        lines.append("")
    text = "\n".join(lines)
    first = runs[0][1]
    references = {k: Evaluation.from_dict(v) for k, v in (first.get("references") or {}).items()}
    shared = all(json.dumps(run.get("hardware"), sort_keys=True) == json.dumps(first.get("hardware"), sort_keys=True)
                 for _, run, _ in runs)
    fig = sweep_figure([(label, front) for label, _, front in runs],
                       Axis("latency_ms", "latency (ms, simulated, log scale)", log=True), Axis("proxy", y_label),
                       title=f"Pareto fronts of {len(runs)} runs ({sweep_dir.name})",
                       references=references if shared else None)
    png, rgb = render(fig)
    atomic_write(sweep_dir / "fronts.md", text + "\n")
    (sweep_dir / "fronts.png").write_bytes(png)
    writer = SummaryWriter(str(sweep_dir / "tb"))
    writer.add_image("sweep/fronts", rgb, dataformats="HWC")
    writer.add_text("sweep/fronts", text)
    writer.close()


class SweepFronts(Callback):
    def on_multirun_end(self, config, **kwargs: Any) -> None:
        write_sweep_report(Path(config.hydra.sweep.dir))
