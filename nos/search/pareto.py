"""Pareto sets and exact hypervolume for k objectives, each maximized or minimized.

Objective values are rows of an (n, k) array; ``directions`` names each column ``maximize`` or
``minimize``. Internally every column is turned into a minimization (maximized columns negated),
so one dominance rule and one hypervolume routine serve every objective mix.
"""
from __future__ import annotations

from typing import Sequence

import numpy as np

from nos.search.record import METRICS, TrialRecord
from nos.search.space import candidate_key

DIRECTIONS = ("maximize", "minimize")


def _minimized(values, directions: Sequence[str]) -> np.ndarray:
    """``values`` as an (n, k) float array with every column to be minimized."""
    v = np.asarray(values, dtype=float)
    if v.ndim != 2 or v.shape[1] != len(directions):
        raise ValueError(f"values: expected an (n, {len(directions)}) array, got shape {v.shape}")
    unknown = [d for d in directions if d not in DIRECTIONS]
    if unknown:
        raise ValueError(f"directions: unknown direction {unknown[0]!r} (allowed: {', '.join(DIRECTIONS)})")
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return v * sign


def dominates(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether minimized point ``a`` is at least as good as ``b`` everywhere and better somewhere."""
    return bool(np.all(a <= b) and np.any(a < b))


def pareto_mask(values, directions: Sequence[str], feasible=None) -> np.ndarray:
    """Boolean mask of the non-dominated rows of ``values``.

    A row is dominated when another feasible row is at least as good in every objective and
    strictly better in one. Infeasible rows and rows with a non-finite value are never on the
    front and dominate nothing; equal rows are all kept.
    """
    v = _minimized(values, directions)
    ok = np.isfinite(v).all(axis=1)
    if feasible is not None:
        ok &= np.asarray(feasible, dtype=bool)
    vi, vj = v[:, None, :], v[None, :, :]
    dominated_by = (vj <= vi).all(axis=2) & (vj < vi).any(axis=2) & ok[None, :]
    return ok & ~dominated_by.any(axis=1)


def hypervolume(values, directions: Sequence[str], reference: Sequence[float], feasible=None) -> float:
    """Volume dominated by the feasible front and bounded by ``reference`` (exact, any k).

    In units of the product of the objectives' units. Rows not strictly better than the
    reference in every objective add nothing. Computed by slicing along the last objective
    (HSO, While et al. 2006): exact, O(n^(k-1) log n), fine for fronts of hundreds of points.
    """
    v = _minimized(values, directions)
    ref = _minimized(np.asarray(reference, dtype=float)[None, :], directions)[0]
    mask = pareto_mask(values, directions, feasible)
    points = v[mask]
    points = points[(points < ref).all(axis=1)]
    return _slice_volume(np.unique(points, axis=0), ref) if len(points) else 0.0


def _slice_volume(points: np.ndarray, ref: np.ndarray) -> float:
    """Volume dominated by minimized ``points`` (all < ``ref``) inside the box up to ``ref``."""
    if points.shape[1] == 1:
        return float(ref[0] - points[:, 0].min())
    if points.shape[1] == 2:
        order = np.lexsort((points[:, 1], points[:, 0]))
        x, y = points[order, 0], points[order, 1]
        best = np.minimum.accumulate(y)  # best second objective among points up to this first one
        widths = np.diff(np.append(x, ref[0]))
        return float(np.sum(widths * (ref[1] - best)))
    order = np.argsort(points[:, -1], kind="stable")
    points = points[order]
    volume = 0.0
    for i in range(len(points)):
        upper = points[i + 1, -1] if i + 1 < len(points) else ref[-1]
        depth = upper - points[i, -1]
        if depth > 0:
            head = points[: i + 1, :-1]
            keep = pareto_mask(head, ["minimize"] * head.shape[1])
            volume += depth * _slice_volume(head[keep], ref[:-1])
    return volume


def reference_point(values, directions: Sequence[str], margin: float = 0.1) -> list[float]:
    """A fixed hypervolume reference from reference designs: per objective, ``margin`` of the
    span (or of the magnitude, for a zero span) beyond the worst value."""
    v = _minimized(values, directions)
    worst, best = v.max(axis=0), v.min(axis=0)
    span = np.where(worst > best, worst - best, np.maximum(np.abs(worst), 1.0))
    sign = np.array([-1.0 if d == "maximize" else 1.0 for d in directions])
    return [float(x) for x in (worst + margin * span) * sign]


class Front:
    """An incrementally maintained Pareto front of keyed points (O(front size) per insertion).

    ``add(key, values, feasible)`` returns whether the front changed; points with a key already
    seen are ignored (the first one is kept), so repeats of one architecture appear once.
    """

    def __init__(self, directions: Sequence[str]):
        self.directions = list(directions)
        self._sign = np.array([-1.0 if d == "maximize" else 1.0 for d in self.directions])
        self._members: dict[object, np.ndarray] = {}  # key -> minimized values
        self._seen: set[object] = set()

    def add(self, key: object, values: Sequence[float], feasible: bool = True) -> bool:
        if key in self._seen:
            return False
        self._seen.add(key)
        point = np.asarray(values, dtype=float) * self._sign
        if not feasible or not np.isfinite(point).all():
            return False
        if any(dominates(member, point) for member in self._members.values()):
            return False
        self._members = {k: m for k, m in self._members.items() if not dominates(point, m)}
        self._members[key] = point
        return True

    def __contains__(self, key: object) -> bool:
        return key in self._members

    def __len__(self) -> int:
        return len(self._members)

    @property
    def keys(self) -> list[object]:
        return list(self._members)

    def values(self) -> np.ndarray:
        """The members' values in the caller's directions, (members, k)."""
        if not self._members:
            return np.zeros((0, len(self.directions)))
        return np.array(list(self._members.values())) * self._sign

    def hypervolume(self, reference: Sequence[float]) -> float:
        return hypervolume(self.values(), self.directions, reference)


def front_records(records: Sequence[TrialRecord], metrics: Sequence[str] = ("proxy", "latency_ms")
                  ) -> list[TrialRecord]:
    """The Pareto members among complete records in ``metrics`` (fields of
    :class:`~nos.search.record.Evaluation`, directions from :data:`~nos.search.record.METRICS`):
    feasible and non-dominated, the earliest trial of each candidate, fastest first."""
    first: dict[str, TrialRecord] = {}
    for r in sorted((r for r in records if r.complete), key=lambda r: r.number):
        first.setdefault(candidate_key(r.arch, r.evaluation.hardware), r)
    done = list(first.values())
    if not done:
        return []
    values = [[r.evaluation.metric(m) for m in metrics] for r in done]
    mask = pareto_mask(values, [METRICS[m] for m in metrics], [r.feasible for r in done])
    front = [r for r, keep in zip(done, mask) if keep]
    return sorted(front, key=lambda r: (r.evaluation.latency_cycles, -r.evaluation.metric("proxy")))
