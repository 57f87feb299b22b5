"""The Pareto-front figure of a run (and of a sweep), rendered without pyplot's global state.

Figures are :class:`matplotlib.figure.Figure` objects drawn on an Agg canvas directly, so
importing or using this module never switches matplotlib's backend. :func:`render` gives the
PNG bytes (written into the run directory) and the RGB array (logged to TensorBoard).
"""
from __future__ import annotations

import io
import textwrap
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np
from PIL import Image
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

from nos.search.record import Evaluation, TrialRecord

REFERENCE_MARKERS = {"baseline": "*", "fuse_full": "^", "fuse_half": "D", "fuse_full_50": "v", "fuse_half_50": "s"}


@dataclass(frozen=True)
class Axis:
    """One plotted quantity: the :class:`Evaluation` field, its label with unit, a scale factor
    (shown value = field x scale) and whether a log scale fits it."""

    field: str
    label: str
    scale: float = 1.0
    log: bool = False

    def of(self, e: Evaluation) -> float | None:
        value = getattr(e, self.field)
        return None if value is None else value * self.scale


def _points(evaluations: Sequence[Evaluation], x: Axis, y: Axis) -> tuple[np.ndarray, np.ndarray]:
    pairs = [(x.of(e), y.of(e)) for e in evaluations]
    pairs = [(a, b) for a, b in pairs if a is not None and b is not None]
    return (np.array([a for a, _ in pairs]), np.array([b for _, b in pairs])) if pairs else (np.zeros(0), np.zeros(0))


def front_figure(records: Sequence[TrialRecord], front: Sequence[TrialRecord], references: Mapping[str, Evaluation],
                 x: Axis, y: Axis, title: str = "", staircase: bool = True,
                 budgets: Mapping[str, float] | None = None) -> Figure:
    """Every evaluated trial (grey), the front (blue, with the proxy's std as error bars where it
    has one; joined by steps along ``x`` when it is the front of these two objectives,
    ``staircase``, and shown as points when it is a projection of a front of more), infeasible
    trials (red crosses at their values; a skipped proxy just below the lowest value), the budgets on
    these axes (dashed lines) and the paper's variants, each with its own marker. The legend sits
    below the axes, inside the figure."""
    fig = Figure(figsize=(8.5, 5.6), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    done = [r for r in records if r.complete]
    feasible = [r.evaluation for r in done if r.feasible]
    infeasible = [r.evaluation for r in done if not r.feasible]
    fx, fy = _points(feasible, x, y)
    ax.scatter(fx, fy, s=10, c="0.72", lw=0, label=f"trials ({len(feasible)})")
    if infeasible:
        ix = np.array([_edge(x.of(e), [x.of(r.evaluation) for r in done]) for e in infeasible], dtype=float)
        iy = np.array([_edge(y.of(e), [y.of(r.evaluation) for r in done]) for e in infeasible], dtype=float)
        skipped = any(x.of(e) is None or y.of(e) is None for e in infeasible)
        ax.scatter(ix, iy, marker="x", s=14, c="tab:red", lw=0.8,
                   label=f"infeasible ({len(infeasible)}): a budget broken"
                         + ("; an unscored proxy drawn below the lowest score" if skipped else ""))
    for name, bound in (budgets or {}).items():
        for axis, draw in ((x, ax.axvline), (y, ax.axhline)):
            if axis.field == name:
                draw(bound * axis.scale, c="tab:red", ls="--", lw=1.0, label=f"budget: {name} <= {bound:g}")
    members = [r for r in front if r.evaluation is not None]
    px, py = _points([r.evaluation for r in members], x, y)
    if px.size:
        if staircase:
            order = np.argsort(px)
            ax.step(px[order], py[order], where="post", c="tab:blue", lw=1.2)
        ax.scatter(px, py, s=28, c="tab:blue", zorder=3,
                   label=f"Pareto front ({len(front)})" if staircase else f"Pareto front, projected ({len(front)})")
        std = np.array([np.nan if r.evaluation.proxy_std is None else r.evaluation.proxy_std for r in members])
        if px.size == len(members) and not np.isnan(std).all() and "proxy" in (x.field, y.field):
            proxy_axis = y if y.field == "proxy" else x
            err = {"yerr" if proxy_axis is y else "xerr": np.nan_to_num(std) * proxy_axis.scale}
            ax.errorbar(px, py, fmt="none", ecolor="tab:blue", elinewidth=0.8, capsize=2, alpha=0.6, zorder=2,
                        label="proxy ± std", **err)
    for label, e in references.items():
        rx, ry = x.of(e), y.of(e)
        if rx is None or ry is None:
            continue
        ax.scatter([rx], [ry], marker=REFERENCE_MARKERS.get(label, "P"), s=90, c="tab:orange",
                   edgecolors="black", linewidths=0.6, zorder=4, label=f"paper: {label}")
    _decorate(fig, ax, x, y, title)
    return fig


def _edge(value: float | None, values: Sequence[float | None]) -> float:
    """``value``, or for a missing one (a skipped proxy) the low edge of the known values."""
    if value is not None:
        return value
    known = [v for v in values if v is not None]
    if not known:
        return 0.0
    low, high = min(known), max(known)
    return low - 0.03 * ((high - low) or abs(low) or 1.0)


def _decorate(fig: Figure, ax, x: Axis, y: Axis, title: str, columns: int = 3) -> None:
    """Scales, labels, title, grid, and the legend below the axes, wrapped to fit the figure."""
    _scale(ax, "x", x.log)
    _scale(ax, "y", y.log)
    ax.set_xlabel(x.label)
    ax.set_ylabel(y.label)
    ax.set_title(textwrap.fill(title, 90), fontsize=9)
    ax.grid(alpha=0.3, which="both")
    handles, labels = ax.get_legend_handles_labels()
    width = max(20, 110 // columns)
    fig.legend(handles, [textwrap.fill(label, width) for label in labels], loc="outside lower center",
               ncols=min(columns, len(labels)) or 1, fontsize=7.5, frameon=False)


def sweep_figure(runs: Sequence[tuple[str, list[TrialRecord]]], x: Axis, y: Axis, title: str,
                 references: Mapping[str, Evaluation] | None = None) -> Figure:
    """The fronts of several runs (one line each) with the paper's variants of the first run;
    the legend below the axes, inside the figure."""
    fig = Figure(figsize=(9, 5.6), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    for label, front in runs:
        px, py = _points([r.evaluation for r in front], x, y)
        order = np.argsort(px)
        ax.step(px[order], py[order], where="post", marker="o", ms=3, label=label)
    for label, e in (references or {}).items():
        if x.of(e) is not None and y.of(e) is not None:
            ax.scatter([x.of(e)], [y.of(e)], marker=REFERENCE_MARKERS.get(label, "P"), s=80, c="tab:orange",
                       edgecolors="black", linewidths=0.6, zorder=4, label=f"paper: {label}")
    _decorate(fig, ax, x, y, title, columns=2)
    return fig


def _scale(ax, which: str, log: bool) -> None:
    """Axis ``which`` (x or y) on a log scale labelled 0.2, 0.5, 1, 2, 5 ... in plain numbers."""
    if not log:
        return
    getattr(ax, f"set_{which}scale")("log")
    axis = getattr(ax, f"{which}axis")
    axis.set_major_locator(LogLocator(base=10, subs=(1.0, 2.0, 5.0)))
    axis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    axis.set_minor_formatter(NullFormatter())


def render(fig: Figure) -> tuple[bytes, np.ndarray]:
    """(PNG bytes, RGB array (H, W, 3) uint8) of ``fig``, drawn once."""
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    rgba = np.asarray(canvas.buffer_rgba())
    png = io.BytesIO()
    Image.fromarray(rgba).save(png, format="png")
    return png.getvalue(), rgba[..., :3].copy()
