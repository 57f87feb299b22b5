"""The fronts of all runs of a Hydra multirun sweep in one view.

:class:`SweepFronts` is a Hydra callback (configured in ``conf/search.yaml``): when a sweep
ends it reads every job's ``pareto.json`` and ``run.json`` and writes, in the sweep folder,
``fronts.md`` (a table per run) and ``tb/`` (one TensorBoard figure with every front, and the
same table as text). Each job's own ``tb/`` also holds its front as the scalar curve
``pareto_front/proxy_vs_latency_us``, so ``tensorboard --logdir <sweep dir>`` overlays them.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from hydra.experimental.callback import Callback  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from nos.report.files import atomic_write  # noqa: E402


def run_label(run: dict[str, Any]) -> str:
    h = run["hardware"]
    return f"{run['space']} {h['rows']}x{h['cols']} {h['dataflow']}{'+fuse' if h['fuse'] else ''} {run['sampler']} {run['proxy']['name']}"


def collect(sweep_dir: Path) -> list[tuple[str, list[dict[str, Any]]]]:
    """(label, pareto members) of every finished job under ``sweep_dir``."""
    out = []
    for pareto in sorted(Path(sweep_dir).glob("*/pareto.json")):
        run = json.loads((pareto.parent / "run.json").read_text())
        out.append((f"{pareto.parent.name}: {run_label(run)}", json.loads(pareto.read_text())))
    return out


def write_sweep_report(sweep_dir: Path) -> None:
    runs = collect(sweep_dir)
    if not runs:
        return
    fig, ax = plt.subplots(figsize=(8, 5), dpi=100)
    lines = ["# Pareto fronts of this sweep", ""]
    for label, front in runs:
        xs, ys = [m["latency_ms"] for m in front], [m["proxy"] for m in front]
        ax.step(xs, ys, where="post", marker="o", ms=3, label=label)
        lines += [f"## {label}", "", "| trial | proxy | latency (ms) | cycles |", "|---:|---:|---:|---:|"]
        lines += [f"| {m['trial']} | {m['proxy']:.5g} | {m['latency_ms']:.4f} | {m['latency_cycles']} |" for m in front]
        lines.append("")
    ax.set_xlabel("latency (ms, simulated)")
    ax.set_ylabel("proxy score")
    ax.set_xscale("log")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    text = "\n".join(lines)
    atomic_write(Path(sweep_dir) / "fronts.md", text + "\n")
    writer = SummaryWriter(str(Path(sweep_dir) / "tb"))
    writer.add_figure("sweep/fronts", fig, close=True)
    writer.add_text("sweep/fronts", text)
    writer.close()


class SweepFronts(Callback):
    def on_multirun_end(self, config, **kwargs: Any) -> None:
        write_sweep_report(Path(config.hydra.sweep.dir))
