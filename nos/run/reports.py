"""The reports of one run directory, kept current as trials finish (a thin composition of the
writers in :mod:`nos.report`): per trial an appended line and TensorBoard scalars; every
``search.report_every`` trials and at the end the front (``pareto.json``, ``report.md``, the
figures as PNG and in TensorBoard, HParams)."""
from __future__ import annotations

import itertools
import re
from pathlib import Path
from typing import Callable, Mapping, Sequence

from nos.report.figures import Axis, front_figure, render
from nos.report.files import PARETO_JSON, TrialLog, atomic_write, write_records
from nos.report.markdown import RunSummary, report_markdown
from nos.report.tensorboard import TensorBoardReport
from nos.search.record import Evaluation, TrialRecord

FRONT_PNG, REPORT_MD = "front.png", "report.md"
AXES = {
    "latency_ms": Axis("latency_ms", "latency (ms, simulated, log scale)", log=True),
    "latency_cycles": Axis("latency_cycles", "latency (cycles, simulated, log scale)", log=True),
    "energy_uj": Axis("energy_uj", "energy per inference (uJ, simulated, log scale)", log=True),
    "area_mm2": Axis("area_mm2", "chip area (mm^2, log scale)", log=True),
}


def projections(metrics: Sequence[str]) -> list[tuple[str, str]]:
    """The (x, y) pairs to draw for a front in ``metrics``: every pair, the proxy on the y axis
    when it is one of them; the first is the proxy against the first other metric."""
    pairs = []
    for a, b in itertools.combinations(metrics, 2):
        pairs.append((a, b) if b == "proxy" else (b, a) if a == "proxy" else (a, b))
    return sorted(pairs, key=lambda pair: pair[1] != "proxy")


class RunReports:
    """Writers for one run directory.

    Args:
        run_dir: the run directory.
        choices: the space's choice names (trials.csv columns, HParams).
        constraints: budget names (trials.csv columns).
        title: the figures' and report's title.
        proxy_label: the proxy's name and unit (figure axis, report).
        metrics: the front's :class:`~nos.search.record.Evaluation` fields (its objectives).
        references: the paper's variants, drawn and compared with.
        arrays: the array is searched (the report names each member's array).
        budgets: the constraints that are set, name -> bound (drawn in the figures).
        reward: reward mode: the reward of an evaluation (a trials.csv column).
    """

    def __init__(self, run_dir: str | Path, choices: Sequence[str], budgets: Mapping[str, float], title: str,
                 proxy_label: str, metrics: Sequence[str], references: Mapping[str, Evaluation], arrays: bool,
                 reward: Callable[[Evaluation], float] | None = None):
        self.run_dir = Path(run_dir)
        self.title, self.proxy_label, self.references, self.arrays = title, proxy_label, dict(references), arrays
        self.budgets = dict(budgets)
        axes = {**AXES, "proxy": Axis("proxy", proxy_label)}
        self.figures = [(axes[x], axes[y]) for x, y in projections(metrics)]
        self.log = TrialLog(self.run_dir, choices, list(budgets), reward)
        self.tb = TensorBoardReport(self.run_dir / "tb")

    def start(self, records: Sequence[TrialRecord]) -> None:
        """Rewrite the trial files from the trials already in the study (a new or resumed run)."""
        self.log.rewrite(sorted(records, key=lambda r: r.number))

    def add(self, record: TrialRecord) -> None:
        self.log.append(record)
        self.tb.trial(record)

    def study(self, finished: int, hypervolume: float, front_size: int) -> None:
        self.tb.study(finished, hypervolume, front_size)

    def refresh(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord], summary: RunSummary) -> str:
        """The front in every form: pareto.json, report.md, the figures (PNG and TensorBoard),
        HParams; returns report.md's text."""
        self.log.flush()
        step = len(records)
        write_records(self.run_dir / PARETO_JSON, front)
        text = report_markdown(summary)
        atomic_write(self.run_dir / REPORT_MD, text)
        for i, (x, y) in enumerate(self.figures):
            fig = front_figure(records, front, self.references, x, y, self.title, staircase=len(self.figures) == 1,
                               budgets=self.budgets)
            png, rgb = render(fig)
            name = FRONT_PNG if i == 0 else f"front_{y.field}_vs_{x.field}.png"
            tmp = self.run_dir / f".{name}.tmp"
            tmp.write_bytes(png)
            tmp.replace(self.run_dir / name)
            self.tb.figure("pareto/front" if i == 0 else f"pareto/{y.field}_vs_{x.field}", rgb, step)
        self.tb.sessions(front, {r.number: hparams(r) for r in front})
        return text

    def finish(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord], summary: RunSummary) -> str:
        """Final reports; returns report.md's text."""
        text = self.refresh(records, front, summary)
        self.tb.text("report", text, len(records))
        self.tb.final_front(list(front))
        self.tb.close()
        self.log.close()
        return text


def hparams(record: TrialRecord) -> dict[str, str | int | float | bool]:
    """HParams of a front member: its trial number, its searched choices (the array's among them
    in a co-search) with block numbers padded to sort (``b03.op`` before ``b10.op``), and the paper
    variant it is, if any."""
    out: dict[str, str | int | float | bool] = {"trial": record.number}
    out.update({re.sub(r"^([bs])(\d+)\.", lambda m: f"{m[1]}{int(m[2]):02d}.", name): value
                for name, value in record.genome.items()})
    out["reference"] = record.reference or ""
    return out
