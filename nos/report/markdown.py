"""``report.md``: the run's front as a table (every searched choice of each member) and how it
compares with the paper's variants."""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Mapping, NamedTuple, Sequence

from nos.search.record import OP_LETTERS, Evaluation, TrialRecord, operators

REFERENCE_ORDER = ("fuse_full", "fuse_half", "fuse_full_50", "fuse_half_50", "baseline")
CHOICE_KINDS = {"kernel": "kernels", "expansion": "expansions"}  # searched per-block choices besides the operator


class Separation(NamedTuple):
    """Two front members next to each other in proxy order: ``first``'s proxy minus ``second``'s
    (``difference``, proxy units) and the std of that difference."""

    first: int
    second: int
    difference: float
    std: float


SEPARATED = 2.0  # a difference larger than this many stds of the difference separates two members


def separation_lines(separations: Sequence[Separation]) -> list[str]:
    """What the proxy's uncertainty lets a reader conclude about the front: which neighbours (in
    proxy order) differ by more than :data:`SEPARATED` stds, and the groups it cannot order."""
    if not separations:
        return []
    groups, split = [[separations[0].first]], 0
    for s in separations:
        if abs(s.difference) > SEPARATED * s.std:
            groups.append([s.second])
            split += 1
        else:
            groups[-1].append(s.second)
    tied = [g for g in groups if len(g) > 1]
    text = (f"Proxy uncertainty: of the {len(separations)} neighbouring pairs of front members (in proxy order), "
            f"{split} differ by more than {SEPARATED:g} stds of their difference.")
    if tied:
        text += (" Members the proxy cannot order (each group within that margin, trial numbers): "
                 + "; ".join("{" + ", ".join(map(str, g)) + "}" for g in tied) + ".")
    return [text, ""]


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
        stopped: why this invocation stopped (``n_trials``, ``total_trials``, ``timeout``,
            ``interrupted``; empty while it runs).
        arrays: the array was co-searched: name each member's array, compare at equal or lower
            area, and the best per area budget.
        budgets: the constraints that are set, name -> bound.
        cached: trials that repeated an earlier candidate (its numbers reused, not re-evaluated).
        best_by_reward: reward mode: the trial with the highest reward.
        reward: reward mode: the reward of an evaluation.
        warnings: one-line warnings the proxy raised (e.g. accuracy near chance).
        separations: the front's neighbours in proxy order, each pair's difference and its std
            (empty when the proxy has no std).
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
    budgets: Mapping[str, float] = field(default_factory=dict)
    cached: int = 0
    best_by_reward: TrialRecord | None = None
    reward: Callable[[Evaluation], float] | None = None
    warnings: Sequence[str] = ()
    separations: Sequence[Separation] = ()


def dominance(front: Sequence[TrialRecord], reference: Evaluation, arrays: bool = False) -> TrialRecord | None:
    """The fastest front member with a proxy at least the reference's and strictly faster (with
    ``arrays``: on a chip no larger than the reference's), if any."""
    if reference.proxy is None:
        return None
    better = [r for r in front if r.evaluation.proxy >= reference.proxy
              and r.evaluation.latency_cycles < reference.latency_cycles
              and (not arrays or _area(r.evaluation) <= _area(reference))]
    return min(better, key=lambda r: r.evaluation.latency_cycles) if better else None


def _area(e: Evaluation) -> float:
    return float("inf") if e.area_mm2 is None else e.area_mm2


def proxy_text(value: float | None, std: float | None = None) -> str:
    """A proxy value for people: 5 digits, or 4 with its std (``72.5 ± 2.8``); ``skipped`` when not scored."""
    if value is None:
        return "skipped"
    return f"{value:.5g}" if std is None else f"{value:.4g} ± {std:.2g}"


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


def searched_kinds(front: Sequence[TrialRecord]) -> list[str]:
    """The per-block choice kinds besides the operator that the members' genomes hold (``kernel``,
    ``expansion``), in :data:`CHOICE_KINDS` order."""
    kinds = {name.rsplit(".", 1)[-1] for r in front for name in r.genome}
    return [kind for kind in CHOICE_KINDS if kind in kinds]


def choices(record: TrialRecord, kind: str) -> str:
    """A member's searched values of one kind, in genome order: kernels as digits (``35737``),
    expansion ratios separated by ``/``."""
    values = [v for name, v in record.genome.items() if name.rsplit(".", 1)[-1] == kind and not name.startswith("hw.")]
    if kind == "kernel" and all(isinstance(v, int) and 0 <= v <= 9 for v in values):
        return "".join(map(str, values))
    return "/".join(format(v, "g") for v in values)


def report_markdown(s: RunSummary) -> str:
    hv = ("" if s.hv_reference is None else
          f" Hypervolume {s.hypervolume:.6g} (reference point: " +
          ", ".join(f"{m} {v:.6g}" for m, v in zip(s.metrics, s.hv_reference)) + ").")
    trained = sorted({r.trained.data for r in s.front if r.trained is not None})
    kinds = searched_kinds(s.front)
    budgets = "; ".join(f"{k} <= {v:g}" for k, v in s.budgets.items())
    head = ["trial", "proxy", *(["reward"] if s.reward else []), "latency (ms)", "cycles", "energy (uJ)",
            "params (M)", "MACs (M)", *(["array", "area (mm^2)"] if s.arrays else []),
            *(["trained (%)"] if trained else []), "operators", *(CHOICE_KINDS[k] for k in kinds), "reference"]
    right = {"trial", "proxy", "reward", "latency (ms)", "cycles", "energy (uJ)", "params (M)", "MACs (M)",
             "area (mm^2)", "trained (%)"}
    lines = [f"# Search report: {s.title}", "",
             f"{s.trials} trials ({s.complete} complete, {s.feasible} feasible), {len(s.front)} on the Pareto front"
             + (f"; this invocation stopped: {s.stopped}" if s.stopped else "; running") + "."
             + (f" {s.cached} trials repeated an earlier candidate (its numbers reused, not re-evaluated)."
                if s.cached else ""), "",
             f"Objectives: {', '.join(s.metrics)}. Proxy: {s.proxy_label}.{hv}"
             + (f" Budgets: {budgets}." if budgets else ""), ""]
    lines += [f"**Warning** (proxy): {w}" for w in s.warnings] + ([""] if s.warnings else [])
    if s.best_by_reward is not None:
        b = s.best_by_reward
        lines += [f"Best by reward: trial {b.number}, reward {s.reward(b.evaluation):.5g} (proxy "
                  f"{proxy_text(b.evaluation.proxy)}, {b.evaluation.latency_ms:.4f} ms).", ""]
    lines += ["| " + " | ".join(head) + " |", "|" + "|".join("---:" if h in right else "---" for h in head) + "|"]
    for r in s.front:
        e = r.evaluation
        cells = [str(r.number), proxy_text(e.proxy, e.proxy_std),
                 *([_number(s.reward(e), ".5g")] if s.reward else []), f"{e.latency_ms:.4f}", str(e.latency_cycles),
                 _number(e.energy_uj, ".1f"), f"{e.params / 1e6:.3f}", f"{e.macs / 1e6:.1f}",
                 *([array_label(e.hardware), _number(e.area_mm2, ".2f")] if s.arrays else []),
                 *([_number(None if r.trained is None else r.trained.accuracy_pct, ".2f")] if trained else []),
                 operators(r.arch), *(choices(r, k) for k in kinds), r.reference or ""]
        lines.append("| " + " | ".join(cells) + " |")
    legend = ", ".join(f"{letter} = {op}" for op, letter in OP_LETTERS.items())
    lines += ["", f"Operators: one letter per block, {legend}."
              + (f" {', '.join(CHOICE_KINDS[k].capitalize() for k in kinds)}: the searched value of each choice, "
                 f"in the space's order." if kinds else "")
              + (" Proxy ± its standard deviation where the proxy has one."
                 if any(r.evaluation.proxy_std for r in s.front) else "")
              + (f" Trained: validation top-1 after stand-alone training by nos-train on {', '.join(trained)}."
                 if trained else ""), ""]
    lines += separation_lines(s.separations)
    if s.arrays:
        lines += best_arrays(s.front)
    if s.references:
        lines += ["## Against the paper's variants of this backbone", ""]
        if s.arrays:
            lines += ["A member beats a variant when it is at least as accurate, strictly faster and its chip is no "
                      "larger than the paper's array.", ""]
    for label in [*REFERENCE_ORDER, *(k for k in s.references if k not in REFERENCE_ORDER)]:
        ref = s.references.get(label)
        if ref is not None:
            lines.append(_against(label, ref, s))
    return "\n".join(lines) + "\n"


def _against(label: str, ref: Evaluation, s: RunSummary) -> str:
    """One line: the front member that beats the variant ``label``, or why none does."""
    where = f" on {array_label(ref.hardware)}, {_number(ref.area_mm2, '.2f')} mm^2" if s.arrays else ""
    head = f"- **{label}** (proxy {proxy_text(ref.proxy)}, {ref.latency_ms:.4f} ms{where}): "
    broken = [f"{name} {_measured(ref, name):.4g} > {s.budgets[name]:g}" for name, value in ref.constraints.items()
              if value > 0 and name in s.budgets]
    excluded = (f" It breaks the budget ({'; '.join(broken)}): the search keeps to the budget, which excludes "
                f"this design itself." if broken else "")
    found = dominance(s.front, ref, s.arrays)
    if found is not None:
        e = found.evaluation
        area = f", {_number(e.area_mm2, '.2f')} mm^2" if s.arrays else ""
        return (head + f"dominated by trial {found.number} (proxy {proxy_text(e.proxy)}, {e.latency_ms:.4f} ms{area}, "
                f"{ref.latency_cycles / e.latency_cycles:.2f}x faster).{excluded}")
    candidates = [r for r in s.front if not s.arrays or _area(r.evaluation) <= _area(ref)]
    faster = [r for r in candidates if r.evaluation.latency_cycles < ref.latency_cycles]
    scope = " at equal or lower area" if s.arrays else ""
    why = (f"the best faster front member{scope} scores {max(r.evaluation.proxy for r in faster):.5g}"
           if faster else f"no architecture found{scope} is faster")
    same = [r for r in candidates if r.evaluation.latency_cycles == ref.latency_cycles]
    if same:
        twin = max(same, key=lambda r: r.evaluation.proxy)
        why += (f"; trial {twin.number} has the same latency with proxy {proxy_text(twin.evaluation.proxy)} "
                f"(the space's version of this design when the zoo variant carries the authors' unused "
                f"expansion conv)")
    return head + f"not dominated: {why}.{excluded}"


_MEASURED = {"pes": lambda e: e.hardware["rows"] * e.hardware["cols"] if e.hardware else float("nan")}


def _measured(e: Evaluation, name: str) -> float:
    """The measured value a budget ``name`` bounds (an :class:`Evaluation` field, or the PE count)."""
    return _MEASURED[name](e) if name in _MEASURED else float(getattr(e, name))


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
        lines.append(f"| {budget:.2f} | {best.number}, {proxy_text(best.evaluation.proxy)}, "
                     f"{array_label(best.evaluation.hardware)} | {fastest.number}, "
                     f"{fastest.evaluation.latency_ms:.4f}, {array_label(fastest.evaluation.hardware)} | "
                     f"{frugal.number}, {_number(frugal.evaluation.energy_uj, '.1f')}, "
                     f"{array_label(frugal.evaluation.hardware)} |")
    return lines + [""]
