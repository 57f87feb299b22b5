"""TensorBoard reports of a search (``torch.utils.tensorboard``; no TensorFlow needed).

Under ``<run>/tb``:

* scalars ``trial/*`` per trial (step = trial number) and ``study/hypervolume``,
  ``study/pareto_size`` (step = finished trials);
* the figure ``pareto/front``: all trials grey, infeasible ones as red crosses, the front
  highlighted, the paper's reference variants as labelled points; refreshed as the study runs;
* ``pareto_front/proxy_vs_latency_us``: the final front as a scalar curve whose step is the
  latency in microseconds, so the fronts of all runs of a sweep overlay in one chart;
* HParams: one session per trial under ``tb/trials/<n>`` (operator per block as hparams,
  proxy and latency as metrics) for the Scatter Plot Matrix.
"""
from __future__ import annotations

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from torch.utils.tensorboard import SummaryWriter  # noqa: E402

from nos.search.objectives import Evaluation  # noqa: E402
from nos.search.study import Record  # noqa: E402


def front_figure(records: list[Record], front: list[Record], references: dict[str, Evaluation],
                 title: str = "") -> plt.Figure:
    """Proxy (up) vs latency in ms (down) for every evaluated trial."""
    fig, ax = plt.subplots(figsize=(7, 5), dpi=100)
    feasible = [r.evaluation for r in records if r.evaluation is not None and r.feasible]
    infeasible = [r.evaluation for r in records if r.evaluation is not None and not r.feasible]
    ax.scatter([e.latency_ms for e in feasible], [e.proxy for e in feasible], s=12, c="0.7", label="trials")
    if infeasible and feasible:
        low = min(e.proxy for e in feasible)
        ax.scatter([e.latency_ms for e in infeasible], [low] * len(infeasible), marker="x", c="tab:red",
                   s=20, label="infeasible (proxy skipped)")
    if front:
        xs, ys = [r.evaluation.latency_ms for r in front], [r.evaluation.proxy for r in front]
        ax.step(xs, ys, where="post", c="tab:blue", lw=1)
        ax.scatter(xs, ys, s=30, c="tab:blue", label="Pareto front", zorder=3)
    shown = [(label, e) for label, e in references.items() if math.isfinite(e.proxy)]
    if shown:
        ax.scatter([e.latency_ms for _, e in shown], [e.proxy for _, e in shown], marker="*", s=120,
                   c="tab:orange", zorder=4, label="paper's variants")
    for k, (label, e) in enumerate(sorted(shown, key=lambda item: item[1].latency_ms)):
        # alternate above/below so neighbouring labels do not print on top of each other
        ax.annotate(label, (e.latency_ms, e.proxy), textcoords="offset points", xytext=(5, 6 if k % 2 else -12),
                    fontsize=8)
    ax.set_xlabel("latency (ms, simulated)")
    ax.set_ylabel("proxy score (higher is better)")
    ax.set_title(title)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="best")
    fig.tight_layout()
    return fig


class TensorBoardReport:
    """Writes a search's events under ``logdir``."""

    def __init__(self, logdir: Path, title: str = ""):
        self.logdir = Path(logdir)
        self.title = title
        self.writer = SummaryWriter(str(self.logdir))

    def trial(self, record: Record) -> None:
        """Scalars and one HParams session for a finished trial."""
        e = record.evaluation
        if e is None:
            return
        step = record.trial
        if math.isfinite(e.proxy):
            self.writer.add_scalar("trial/proxy", e.proxy, step)
        self.writer.add_scalar("trial/latency_ms", e.latency_ms, step)
        self.writer.add_scalar("trial/latency_cycles", e.latency_cycles, step)
        self.writer.add_scalar("trial/params", e.params, step)
        self.writer.add_scalar("trial/feasible", float(record.feasible), step)
        hparams = {f"b{i:02d}.op": b.op for i, b in enumerate(record.arch.blocks)}
        hparams.update({f"b{i:02d}.kernel": b.kernel for i, b in enumerate(record.arch.blocks)})
        metrics = {"metric/latency_ms": e.latency_ms, "metric/params": float(e.params),
                   "metric/feasible": float(record.feasible)}
        if math.isfinite(e.proxy):
            metrics["metric/proxy"] = e.proxy
        self.writer.add_hparams(hparams, metrics, run_name=f"trials/{record.trial:05d}", global_step=step)

    def study(self, finished: int, hypervolume: float, front_size: int) -> None:
        self.writer.add_scalar("study/hypervolume", hypervolume, finished)
        self.writer.add_scalar("study/pareto_size", front_size, finished)

    def front(self, records: list[Record], front: list[Record], references: dict[str, Evaluation], step: int) -> None:
        fig = front_figure(records, front, references, self.title)
        self.writer.add_figure("pareto/front", fig, global_step=step, close=True)
        self.writer.flush()

    def final_front(self, front: list[Record]) -> None:
        for r in front:
            self.writer.add_scalar("pareto_front/proxy_vs_latency_us", r.evaluation.proxy,
                                   int(round(r.evaluation.latency_ms * 1000)))

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
