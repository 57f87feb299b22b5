"""TensorBoard events of a search run (``torch.utils.tensorboard``; no TensorFlow needed).

Under ``<run>/tb``, one writer holds:

* scalars ``trial/*`` per trial (step = trial number) and ``study/hypervolume``,
  ``study/pareto_size`` (step = finished trials);
* the figure ``pareto/front`` (refreshed every ``search.report_every`` trials and at the end)
  and the text ``report``;
* ``pareto_front/proxy_vs_latency_us``: the final front as a curve whose step is the latency in
  microseconds, so the fronts of the runs of a sweep overlay in one chart.

HParams: one session per member of the current Pareto front (``tb/hparams/trial-<n>``: the
trial number and the searched choices as hparams, the array's ``hw.*`` fields among them in a
co-search, and the objectives as metrics) for the table, parallel-coordinates and scatter
views; a trial that leaves the front loses its session, so the sessions are the front.
Every trial is in ``trials.csv``, so the run selector stays short.
"""
from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any, Sequence

import numpy as np
from torch.utils.tensorboard import SummaryWriter

from nos.search.record import TrialRecord

HPARAMS_DIR = "hparams"


class TensorBoardReport:
    """Writes a search's events under ``logdir``."""

    def __init__(self, logdir: str | Path):
        self.logdir = Path(logdir)
        self.writer = SummaryWriter(str(self.logdir))

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

    def sessions(self, members: Sequence[TrialRecord], hparams: dict[int, dict[str, Any]]) -> None:
        """One HParams session per front member (``hparams[n]``: its hparams): sessions of trials
        no longer on the front are removed, new members get one. The session folders are the
        record of what was written, so a resumed run carries on from them."""
        folder = self.logdir / HPARAMS_DIR
        wanted = {r.number: r for r in members if r.evaluation is not None}
        if folder.is_dir():
            for session in folder.iterdir():
                number = re.fullmatch(r"trial-(\d+)", session.name)
                if number and int(number[1]) not in wanted:
                    shutil.rmtree(session, ignore_errors=True)
        for number, r in wanted.items():
            run_name = f"{HPARAMS_DIR}/trial-{number:05d}"
            if (self.logdir / run_name).exists():
                continue
            e = r.evaluation
            metrics = {"metric/latency_ms": e.latency_ms, "metric/params_M": e.params / 1e6,
                       "metric/macs_M": e.macs / 1e6}
            for name in ("proxy", "energy_uj", "area_mm2"):
                if getattr(e, name) is not None:
                    metrics[f"metric/{name}"] = getattr(e, name)
            self.writer.add_hparams(hparams[number], metrics, run_name=run_name, global_step=number)

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
