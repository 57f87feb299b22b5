"""The reports of one run directory, kept current as trials finish (a thin composition of the
writers in :mod:`nos.report`): per trial an appended line and TensorBoard scalars; every
``search.report_every`` trials and at the end the front (``pareto.json``, ``front.png``,
TensorBoard's figure and HParams); at the end ``report.md``."""
from __future__ import annotations

from pathlib import Path
from typing import Mapping, Sequence

from nos.report.figures import Axis, front_figure, render
from nos.report.files import PARETO_JSON, TrialLog, atomic_write, write_records
from nos.report.markdown import RunSummary, report_markdown
from nos.report.tensorboard import TensorBoardReport
from nos.search.record import Evaluation, TrialRecord

FRONT_PNG, REPORT_MD = "front.png", "report.md"


class RunReports:
    """Writers for one run directory.

    Args:
        run_dir: the run directory.
        choices: the space's choice names (trials.csv columns, HParams).
        constraints: budget names (trials.csv columns).
        title: the figure's and report's title.
        proxy_label: the proxy's name and unit (figure axis, report).
        latency_label: the latency axis label.
        references: the paper's variants, drawn and compared with.
    """

    def __init__(self, run_dir: str | Path, choices: Sequence[str], constraints: Sequence[str], title: str,
                 proxy_label: str, latency_label: str, references: Mapping[str, Evaluation]):
        self.run_dir = Path(run_dir)
        self.title, self.proxy_label, self.references = title, proxy_label, dict(references)
        self.axes = (Axis("latency_ms", latency_label, log=True), Axis("proxy", proxy_label))
        self.log = TrialLog(self.run_dir, choices, constraints)
        self.tb = TensorBoardReport(self.run_dir / "tb")

    def start(self, records: Sequence[TrialRecord]) -> None:
        """Rewrite the trial files from the trials already in the study (a new or resumed run)."""
        self.log.rewrite(sorted(records, key=lambda r: r.number))

    def add(self, record: TrialRecord) -> None:
        self.log.append(record)
        self.tb.trial(record)

    def study(self, finished: int, hypervolume: float, front_size: int) -> None:
        self.tb.study(finished, hypervolume, front_size)

    def refresh(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord], step: int) -> None:
        """The front in every form: pareto.json, front.png, TensorBoard's figure and sessions."""
        self.log.flush()
        write_records(self.run_dir / PARETO_JSON, front)
        x, y = self.axes
        png, rgb = render(front_figure(records, front, self.references, x, y, self.title))
        tmp = self.run_dir / f".{FRONT_PNG}.tmp"
        tmp.write_bytes(png)
        tmp.replace(self.run_dir / FRONT_PNG)
        self.tb.figure("pareto/front", rgb, step)
        self.tb.sessions(list(front), {r.number: _hparams(r) for r in front})

    def finish(self, records: Sequence[TrialRecord], front: Sequence[TrialRecord], summary: RunSummary,
               step: int) -> str:
        """Final reports; returns report.md's text."""
        self.refresh(records, front, step)
        text = report_markdown(summary)
        atomic_write(self.run_dir / REPORT_MD, text)
        self.tb.text("report", text, step)
        self.tb.final_front(list(front))
        self.tb.close()
        self.log.close()
        return text


def _hparams(record: TrialRecord) -> dict[str, str | int | float]:
    """HParams of a trial: its searched choices, plus whether it is a paper variant."""
    out: dict[str, str | int | float] = {name: value for name, value in record.genome.items()}
    out["reference"] = record.reference or ""
    return out
