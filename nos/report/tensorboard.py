"""TensorBoard events of a search run (``torch.utils.tensorboard``; no TensorFlow needed).

Under ``<run>/tb``, one writer holds:

* scalars ``trial/*`` per trial (step = trial number) and ``study/hypervolume``,
  ``study/pareto_size`` (step = finished trials);
* the figure ``pareto/front`` (refreshed every ``search.report_every`` trials and at the end)
  and the text ``report``;
* ``pareto_front/proxy_vs_latency_us``: the final front as a curve whose step is the latency in
  microseconds, so the fronts of the runs of a sweep overlay in one chart.

HParams: one session per trial that reaches the Pareto front (``tb/hparams/trial-<n>``; the
searched choices as hparams, the array's ``hw.*`` fields among them in a co-search, and the
objectives as metrics) for the parallel-coordinates and scatter views; every trial is in
``trials.csv``, so the run selector stays short.
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from nos.search.record import TrialRecord

HPARAMS_DIR = "hparams"


class TensorBoardReport:
    """Writes a search's events under ``logdir``."""

    def __init__(self, logdir: str | Path):
        self.logdir = Path(logdir)
        self.writer = SummaryWriter(str(self.logdir))
        self._sessions: set[int] = set()

    def trial(self, record: TrialRecord) -> None:
        """The scalars of a finished trial."""
        e = record.evaluation
        if e is None:
            return
        step, add = record.number, self.writer.add_scalar
        if e.proxy is not None:
            add("trial/proxy", e.proxy, step)
        add("trial/latency_ms", e.latency_ms, step)
        add("trial/latency_cycles", e.latency_cycles, step)
        add("trial/params", e.params, step)
        add("trial/feasible", float(e.feasible), step)
        for name in ("energy_uj", "area_mm2"):
            if getattr(e, name) is not None:
                add(f"trial/{name}", getattr(e, name), step)

    def study(self, finished: int, hypervolume: float, front_size: int) -> None:
        self.writer.add_scalar("study/hypervolume", hypervolume, finished)
        self.writer.add_scalar("study/pareto_size", front_size, finished)

    def figure(self, tag: str, rgb: np.ndarray, step: int) -> None:
        self.writer.add_image(tag, rgb, global_step=step, dataformats="HWC")
        self.writer.flush()

    def text(self, tag: str, markdown: str, step: int) -> None:
        self.writer.add_text(tag, markdown, global_step=step)

    def sessions(self, members: list[TrialRecord], hparams: dict[int, dict[str, Any]]) -> None:
        """An HParams session for each front member not written yet (``hparams[n]``: its hparams)."""
        for r in members:
            if r.number in self._sessions or r.evaluation is None:
                continue
            self._sessions.add(r.number)
            e = r.evaluation
            metrics = {"metric/latency_ms": e.latency_ms, "metric/params_M": e.params / 1e6,
                       "metric/macs_M": e.macs / 1e6}
            for name in ("proxy", "energy_uj", "area_mm2"):
                if getattr(e, name) is not None:
                    metrics[f"metric/{name}"] = getattr(e, name)
            self.writer.add_hparams(hparams[r.number], metrics, run_name=f"{HPARAMS_DIR}/trial-{r.number:05d}",
                                    global_step=r.number)

    def final_front(self, front: list[TrialRecord]) -> None:
        for r in front:
            if r.evaluation.proxy is not None:
                self.writer.add_scalar("pareto_front/proxy_vs_latency_us", r.evaluation.proxy,
                                       int(round(r.evaluation.latency_ms * 1000)))

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        self.writer.flush()
        self.writer.close()
