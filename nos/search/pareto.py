"""Pareto set and 2-D hypervolume for (proxy up, latency down)."""
from __future__ import annotations

import numpy as np


def pareto_mask(proxy, latency, feasible=None) -> np.ndarray:
    """Boolean mask of the non-dominated points (maximize ``proxy``, minimize ``latency``).

    A point is dominated when another feasible point is at least as good in both objectives
    and strictly better in one. Infeasible points are never on the front and dominate
    nothing. Equal points are all kept.
    """
    p = np.asarray(proxy, dtype=float)
    lat = np.asarray(latency, dtype=float)
    ok = np.ones(p.shape, bool) if feasible is None else np.asarray(feasible, bool)
    ok = ok & np.isfinite(p) & np.isfinite(lat)
    pi, pj = p[:, None], p[None, :]
    li, lj = lat[:, None], lat[None, :]
    dominated_by = (pj >= pi) & (lj <= li) & ((pj > pi) | (lj < li)) & ok[None, :]
    return ok & ~dominated_by.any(axis=1)


def hypervolume_2d(proxy, latency, reference: tuple[float, float], feasible=None) -> float:
    """Area dominated by the front and bounded by ``reference`` = (proxy_ref, latency_ref),
    in units of proxy x latency. Points not better than the reference in both objectives
    add nothing."""
    ref_p, ref_l = reference
    mask = pareto_mask(proxy, latency, feasible)
    p = np.asarray(proxy, float)[mask]
    lat = np.asarray(latency, float)[mask]
    keep = (p > ref_p) & (lat < ref_l)
    p, lat = p[keep], lat[keep]
    if p.size == 0:
        return 0.0
    order = np.argsort(lat, kind="stable")
    p, lat = p[order], lat[order]
    best = np.maximum.accumulate(p)  # best proxy among points at most this latency
    widths = np.diff(np.append(lat, ref_l))
    return float(np.sum(widths * (best - ref_p)))


def reference_point(proxies, latencies, margin: float = 0.1) -> tuple[float, float]:
    """A fixed hypervolume reference from the space's reference architectures: ``margin``
    of the proxy span below the worst proxy and ``margin`` above the slowest latency."""
    p = np.asarray(proxies, float)
    lat = np.asarray(latencies, float)
    span = float(p.max() - p.min()) or abs(float(p.min())) or 1.0
    return float(p.min() - margin * span), float(lat.max() * (1 + margin))
