"""``report.md``: the run's front as a table and how it compares with the paper's variants."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

from nos.search.record import Evaluation, TrialRecord

REFERENCE_ORDER = ("fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50", "baseline")
OP_LETTERS = {"dw": "D", "full": "F", "fuse_half": "H", "fuse_full": "U"}


@dataclass(frozen=True)
class RunSummary:
    """What ``report.md`` states about a run.

    Attributes:
        title: e.g. ``mobilenet_v2 on 64x64 os + FuSe, used folds``.
        proxy_label: the proxy's name and unit, e.g. ``predicted ImageNet top-1 (%)``.
        trials: trials in the study; complete, feasible: of those, how many.
        front: the Pareto members, fastest first.
        references: the paper's variants of the backbone, label -> evaluation.
        metrics: the front's objectives (:class:`Evaluation` fields).
        hypervolume: of the front, against ``hv_reference`` (one value per metric).
        stopped: why this invocation stopped (``n_trials``, ``timeout``, ``interrupted``).
        arrays: the array was co-searched: name each member's array, and the best per area budget.
    """

    title: str
    proxy_label: str
    trials: int
    complete: int
    feasible: int
    front: Sequence[TrialRecord]
    references: Mapping[str, Evaluation]
    metrics: Sequence[str]
    hypervolume: float
    hv_reference: Sequence[float] | None
    stopped: str = ""
    arrays: bool = False


def dominance(front: Sequence[TrialRecord], reference: Evaluation) -> TrialRecord | None:
    """The fastest front member with a proxy at least the reference's and strictly faster, if any."""
    if reference.proxy is None:
        return None
    better = [r for r in front if r.evaluation.proxy >= reference.proxy
              and r.evaluation.latency_cycles < reference.latency_cycles]
    return min(better, key=lambda r: r.evaluation.latency_cycles) if better else None


def _proxy(value: float | None) -> str:
    return "skipped" if value is None else f"{value:.5g}"


def array_label(hardware: Mapping | None, fold: bool = False) -> str:
    """An array (its Hardware fields) in a few words, e.g. ``64x64 os + FuSe`` (with ``fold``:
    ``64x64 os + FuSe, used folds``)."""
    if not hardware:
        return ""
    h = hardware
    return f"{h['rows']}x{h['cols']} {h['dataflow']}{' + FuSe' if h['fuse'] else ''}" + \
        (f", {h['fold']} folds" if fold else "")


def _number(value: float | None, digits: str) -> str:
    return "" if value is None else format(value, digits)


def report_markdown(s: RunSummary) -> str:
    hv = ("" if s.hv_reference is None else
          f" Hypervolume {s.hypervolume:.6g} (reference point: " +
          ", ".join(f"{m} {v:.6g}" for m, v in zip(s.metrics, s.hv_reference)) + ").")
    trained = sorted({r.trained.data for r in s.front if r.trained is not None})
    lines = [f"# Search report: {s.title}", "",
             f"{s.trials} trials ({s.complete} complete, {s.feasible} feasible), {len(s.front)} on the Pareto front"
             + (f"; this invocation stopped: {s.stopped}" if s.stopped else "") + ".", "",
             f"Objectives: {', '.join(s.metrics)}. Proxy: {s.proxy_label}.{hv}", "",
             "| trial | proxy | latency (ms) | cycles | energy (uJ) | params (M) | MACs (M) |"
             + (" array | area (mm^2) |" if s.arrays else "") + (" trained (%) |" if trained else "")
             + " operators | reference |",
             "|---:|---:|---:|---:|---:|---:|---:|" + ("---|---:|" if s.arrays else "") + ("---:|" if trained else "")
             + "---|---|"]
    for r in s.front:
        e = r.evaluation
        ops = "".join(OP_LETTERS[b.op] for b in r.arch.blocks)
        array = f" {array_label(e.hardware)} | {_number(e.area_mm2, '.2f')} |" if s.arrays else ""
        if trained:
            array += f" {_number(None if r.trained is None else r.trained.accuracy_pct, '.2f')} |"
        lines.append(f"| {r.number} | {_proxy(e.proxy)} | {e.latency_ms:.4f} | {e.latency_cycles} | "
                     f"{_number(e.energy_uj, '.1f')} | {e.params / 1e6:.3f} | {e.macs / 1e6:.1f} |{array} {ops} | "
                     f"{r.reference or ''} |")
    lines += ["", "Operators: one letter per block, D = dw, F = full, H = fuse_half, U = fuse_full."
              + (f" Trained: validation top-1 after stand-alone training by nos-train on {', '.join(trained)}."
                 if trained else ""), ""]
    if s.arrays:
        lines += best_arrays(s.front)
    if s.references:
        lines += ["## Against the paper's variants of this backbone", ""]
    for label in [*REFERENCE_ORDER, *(k for k in s.references if k not in REFERENCE_ORDER)]:
        ref = s.references.get(label)
        if ref is None:
            continue
        head = f"- **{label}** (proxy {_proxy(ref.proxy)}, {ref.latency_ms:.4f} ms"
        head += f" on {array_label(ref.hardware)}): " if s.arrays else "): "
        found = dominance(s.front, ref)
        if found is not None:
            e = found.evaluation
            lines.append(head + f"dominated by trial {found.number} (proxy {_proxy(e.proxy)}, {e.latency_ms:.4f} ms, "
                         f"{ref.latency_cycles / e.latency_cycles:.2f}x faster).")
            continue
        faster = [r for r in s.front if r.evaluation.latency_cycles < ref.latency_cycles]
        why = (f"the best faster front member scores {max(r.evaluation.proxy for r in faster):.5g}"
               if faster else "no architecture found is faster")
        same = [r for r in s.front if r.evaluation.latency_cycles == ref.latency_cycles]
        if same:
            twin = max(same, key=lambda r: r.evaluation.proxy)
            why += (f"; trial {twin.number} has the same latency with proxy {_proxy(twin.evaluation.proxy)} "
                    f"(the space's version of this design when the zoo variant carries the authors' unused "
                    f"expansion conv)")
        lines.append(head + f"not dominated: {why}.")
    return "\n".join(lines) + "\n"


def best_arrays(front: Sequence[TrialRecord]) -> list[str]:
    """The best array per area budget: for each chip area a front member occupies (ascending),
    the most accurate and the fastest member within that area, with their arrays."""
    members = [r for r in front if r.evaluation.area_mm2 is not None]
    if not members:
        return []
    lines = ["## The best array per area budget", "",
             "For each area a front member occupies: the most accurate and the fastest front member whose "
             "chip fits in it.", "",
             "| area budget (mm^2) | most accurate: trial, proxy, array | fastest: trial, ms, array | "
             "lowest energy: trial, uJ, array |", "|---:|---|---|---|"]
    for budget in sorted({r.evaluation.area_mm2 for r in members}):
        fits = [r for r in members if r.evaluation.area_mm2 <= budget]
        best = max(fits, key=lambda r: (r.evaluation.proxy, -r.evaluation.latency_cycles))
        fastest = min(fits, key=lambda r: (r.evaluation.latency_cycles, -r.evaluation.proxy))
        frugal = min(fits, key=lambda r: (r.evaluation.energy_uj or 0.0, r.evaluation.latency_cycles))
        lines.append(f"| {budget:.2f} | {best.number}, {_proxy(best.evaluation.proxy)}, "
                     f"{array_label(best.evaluation.hardware)} | {fastest.number}, "
                     f"{fastest.evaluation.latency_ms:.4f}, {array_label(fastest.evaluation.hardware)} | "
                     f"{frugal.number}, {_number(frugal.evaluation.energy_uj, '.1f')}, "
                     f"{array_label(frugal.evaluation.hardware)} |")
    return lines + [""]
