"""``report.md``: the run's front as a table and how it compares with the paper's variants."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Mapping, Sequence

from nos.search.record import Evaluation, TrialRecord

REFERENCE_ORDER = ("fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50", "baseline")
OP_LETTERS = {"dw": "D", "full": "F", "fuse_half": "H", "fuse_full": "U"}


@dataclass(frozen=True)
class RunSummary:
    """What ``report.md`` states about a run.

    Attributes:
        title: e.g. ``mobilenet_v2 on 64x64 os + FuSe``.
        proxy_label: the proxy's name and unit, e.g. ``parameters (10-class head)``.
        trials: trials in the study; complete, feasible: of those, how many.
        front: the Pareto members, fastest first.
        references: the paper's variants of the backbone, label -> evaluation.
        hypervolume: of the front, against ``hv_reference`` (proxy, latency ms).
        stopped: why this invocation stopped (``n_trials``, ``timeout``, ``interrupted``).
    """

    title: str
    proxy_label: str
    trials: int
    complete: int
    feasible: int
    front: Sequence[TrialRecord]
    references: Mapping[str, Evaluation]
    hypervolume: float
    hv_reference: Sequence[float]
    stopped: str = ""
    notes: Sequence[str] = field(default_factory=tuple)


def dominance(front: Sequence[TrialRecord], reference: Evaluation) -> TrialRecord | None:
    """The fastest front member with a proxy at least the reference's and strictly faster, if any."""
    if reference.proxy is None:
        return None
    better = [r for r in front if r.evaluation.proxy >= reference.proxy
              and r.evaluation.latency_cycles < reference.latency_cycles]
    return min(better, key=lambda r: r.evaluation.latency_cycles) if better else None


def _proxy(value: float | None) -> str:
    return "skipped" if value is None else f"{value:.5g}"


def report_markdown(s: RunSummary) -> str:
    lines = [f"# Search report: {s.title}", "",
             f"{s.trials} trials ({s.complete} complete, {s.feasible} feasible), {len(s.front)} on the Pareto front"
             + (f"; this invocation stopped: {s.stopped}" if s.stopped else "") + ".", "",
             f"Proxy: {s.proxy_label}. Hypervolume {s.hypervolume:.6g} (reference point: proxy "
             f"{s.hv_reference[0]:.6g}, latency {s.hv_reference[1]:.6g} ms).", *s.notes, "",
             "| trial | proxy | latency (ms) | cycles | params (M) | MACs (M) | operators | reference |",
             "|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in s.front:
        e = r.evaluation
        ops = "".join(OP_LETTERS[b.op] for b in r.arch.blocks)
        lines.append(f"| {r.number} | {_proxy(e.proxy)} | {e.latency_ms:.4f} | {e.latency_cycles} | "
                     f"{e.params / 1e6:.3f} | {e.macs / 1e6:.1f} | {ops} | {r.reference or ''} |")
    lines += ["", "Operators: one letter per block, D = dw, F = full, H = fuse_half, U = fuse_full.", ""]
    if s.references:
        lines += ["## Against the paper's variants of this backbone", ""]
    for label in [*REFERENCE_ORDER, *(k for k in s.references if k not in REFERENCE_ORDER)]:
        ref = s.references.get(label)
        if ref is None:
            continue
        head = f"- **{label}** (proxy {_proxy(ref.proxy)}, {ref.latency_ms:.4f} ms): "
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
